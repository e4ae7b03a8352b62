// Peer for emails/s: raw pooled nodemailer sending straight into the same SMTP sink.
import net from 'node:net';
import nodemailer from 'nodemailer';
import { pool } from '../lib/drive.ts';

/** Seconds to send `count` messages through one pooled transport, `inFlight` sendMail calls at a time. */
export async function pooledNodemailer(options: {
  smtpUrl: string;
  count: number;
  inFlight: number;
  maxConnections: number;
  subject: (index: number) => string;
  /**
   * Hands nodemailer sockets with TCP_NODELAY (plain SMTP only): not the plain way, measured to
   * show what Nagle's algorithm costs a pooled client (docs/performance.md, emails).
   */
  noDelay?: boolean;
}): Promise<number> {
  // Host and port given as options: createTransport({ url, pool }) would ignore `pool`.
  const url = new URL(options.smtpUrl);
  const transport = nodemailer.createTransport({
    host: url.hostname,
    port: Number(url.port),
    secure: false,
    pool: true,
    maxConnections: options.maxConnections,
    ...(options.noDelay
      ? {
          // A connected socket (the pool only takes `connection` from getSocket).
          getSocket: (_opts: unknown, callback: (err: Error | null, socket: unknown) => void) => {
            const socket = net.connect({
              host: url.hostname,
              port: Number(url.port),
              noDelay: true,
            });
            const failed = (err: Error) => callback(err, undefined);
            socket.once('error', failed);
            socket.once('connect', () => {
              socket.off('error', failed);
              callback(null, { connection: socket });
            });
          },
        }
      : {}),
  });
  try {
    const started = performance.now();
    await pool(options.count, options.inFlight, async (i) => {
      await transport.sendMail({
        from: 'SecureVault <no-reply@securevault.test>',
        to: 'recipient@example.org',
        subject: options.subject(i),
        text: 'Hello from the benchmark.',
      });
    });
    return (performance.now() - started) / 1000;
  } finally {
    transport.close();
  }
}
