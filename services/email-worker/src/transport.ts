// The pooled SMTP transport: a few long-lived connections shared by every send, with short timeouts.
import nodemailer, { type Transporter } from 'nodemailer';
import SMTPPool from 'nodemailer/lib/smtp-pool/index.js';
import type { Logger } from '@securevault/observability';

export type SmtpTransport = Transporter<SMTPPool.SentMessageInfo, SMTPPool.Options>;

export function createSmtpTransport(options: {
  url: string;
  maxConnections: number;
  timeoutMs: number;
  logger: Logger;
}): SmtpTransport {
  // The pool is built directly: createTransport(url, opts) treats `opts` as message defaults and
  // createTransport({ url, ... }) drops everything but the URL, so neither would pool or time out.
  // `maxRequeues` is a pool option that nodemailer's type definitions do not list yet.
  const poolOptions: SMTPPool.Options & { maxRequeues: number } = {
    url: options.url,
    pool: true,
    maxConnections: options.maxConnections,
    connectionTimeout: options.timeoutMs,
    greetingTimeout: options.timeoutMs,
    socketTimeout: options.timeoutMs,
    // nodemailer re-sends a message whose connection closed mid-send, without limit by default:
    // that second send would bypass the send record (and could duplicate a message the server
    // already took) and never end against a server that keeps hanging up. The job retries instead.
    maxRequeues: 0,
    logger: false,
  };
  const pool = new SMTPPool(poolOptions);
  const transport = nodemailer.createTransport(pool);
  // A pooled connection failing between sends is emitted here; unhandled it would crash the process.
  transport.on('error', (err: Error) => {
    options.logger.warn({ err: err.message }, 'smtp transport error');
  });
  return transport;
}
