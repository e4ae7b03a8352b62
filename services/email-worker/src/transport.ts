// The pooled SMTP transport: a few long-lived connections shared by every send, with short timeouts.
import net from 'node:net';
import nodemailer, { type Transporter } from 'nodemailer';
import SMTPPool from 'nodemailer/lib/smtp-pool/index.js';
import type { Logger } from '@securevault/observability';

export type SmtpTransport = Transporter<SMTPPool.SentMessageInfo, SMTPPool.Options>;

/**
 * Opens the TCP connection for the pool with TCP_NODELAY. nodemailer's own sockets keep Nagle's
 * algorithm on, so the last small write of each message waited for the server's delayed ACK
 * (~40 ms): about 20 messages/s per connection, whatever the server (docs/performance.md, emails).
 * The pool runs SMTP over the connected socket itself, STARTTLS or (with `secure`) TLS included.
 */
export function connectWithNoDelay(
  target: { host?: string | undefined; port?: number | undefined; secure?: boolean | undefined },
  timeoutMs: number,
  callback: (err: Error | null, socketOptions?: { connection: net.Socket }) => void,
): void {
  // nodemailer's defaults when the URL names no host or port.
  const host = target.host || 'localhost';
  const port = Number(target.port) || (target.secure ? 465 : 587);
  const socket = net.connect({ host, port, noDelay: true });
  const finish = (err?: Error) => {
    clearTimeout(timer);
    socket.off('error', finish);
    socket.off('connect', connected);
    if (err) {
      socket.destroy();
      callback(err);
    } else {
      callback(null, { connection: socket });
    }
  };
  const connected = () => finish();
  const timer = setTimeout(
    () => finish(Object.assign(new Error('Connection timeout'), { code: 'ETIMEDOUT' })),
    timeoutMs,
  );
  socket.once('error', finish);
  socket.once('connect', connected);
}

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
    getSocket: (target, callback) => connectWithNoDelay(target, options.timeoutMs, callback),
  };
  const pool = new SMTPPool(poolOptions);
  const transport = nodemailer.createTransport(pool);
  // A pooled connection failing between sends is emitted here; unhandled it would crash the process.
  transport.on('error', (err: Error) => {
    options.logger.warn({ err: err.message }, 'smtp transport error');
  });
  return transport;
}
