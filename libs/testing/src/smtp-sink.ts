// A local SMTP sink (real SMTP via smtp-server) that keeps every message for tests and `make dev`.
import { createServer as createHttpServer } from 'node:http';
import type { Server as HttpServer } from 'node:http';
import type { AddressInfo, Server as NetServer } from 'node:net';
import { SMTPServer } from 'smtp-server';
import type { SMTPServerOptions } from 'smtp-server';
import { simpleParser } from 'mailparser';
import type { AddressObject, ParsedMail } from 'mailparser';

export interface ReceivedMessage {
  /** The From header as written (e.g. `SecureVault <no-reply@securevault.local>`); '' when absent. */
  from: string;
  /** Envelope recipients (RCPT TO), which include Bcc recipients the headers never show. */
  to: string[];
  subject: string;
  text: string;
  html: string;
  messageId: string;
  /** Header names lower-cased; repeated headers (e.g. Received) joined with ", ". */
  headers: Record<string, string>;
  /** The message exactly as received after DATA, for tests that check signing or encoding. */
  raw: string;
  receivedAt: Date;
  /** Envelope sender (MAIL FROM); may differ from the From header. */
  envelopeFrom: string;
}

export interface SmtpSinkOptions {
  /** 0 (default) picks a free port. */
  port?: number;
  host?: string;
  /** Return an SMTP code (e.g. 550, 450) to reject that RCPT TO; undefined accepts it. */
  failRecipients?: (address: string) => number | undefined;
  /** When given, serve a read-only viewer of the received mail on this port (0 = random). */
  httpPort?: number;
  /** Implicit TLS (smtps://) with smtp-server's built-in self-signed certificate. */
  secure?: boolean;
  /** Silent by default so test output stays readable. */
  log?: (message: string) => void;
}

export interface SmtpSink {
  port: number;
  /** A nodemailer transport URL. */
  url: string;
  /** Set when httpPort was given. */
  httpPort: number | undefined;
  httpUrl: string | undefined;
  /** Live array: tests may read it directly. */
  messages: ReceivedMessage[];
  waitFor(
    predicate: (message: ReceivedMessage) => boolean,
    timeoutMs?: number,
  ): Promise<ReceivedMessage>;
  clear(): void;
  close(): Promise<void>;
}

const MAX_SIZE = 10 * 1024 * 1024;

function smtpError(message: string, responseCode: number): Error {
  // smtp-server reads responseCode off the error to choose the reply code.
  return Object.assign(new Error(message), { responseCode });
}

function addressText(value: AddressObject | AddressObject[] | undefined): string {
  if (value === undefined) return '';
  // Rebuilt from the parsed parts: mailparser's own .text quotes display names ("Name" <a@b>),
  // while tests and people expect the plain `Name <a@b>` form with MIME words decoded.
  return (Array.isArray(value) ? value : [value])
    .flatMap((v) => v.value)
    .map((a) => (a.name ? `${a.name} <${a.address ?? ''}>` : (a.address ?? '')))
    .join(', ');
}

function headerRecord(parsed: ParsedMail): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const { key, line } of parsed.headerLines) {
    // headerLines keep the raw "Name: value" line, folded; unfold it and drop the name.
    const colon = line.indexOf(':');
    const value = (colon === -1 ? '' : line.slice(colon + 1)).replace(/\r?\n[ \t]+/g, ' ').trim();
    const name = key.toLowerCase();
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
  }
  return headers;
}

function escapeHtml(value: string): string {
  return value
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');
}

function renderPage(messages: readonly ReceivedMessage[]): string {
  // The HTML body of a mail is shown as escaped source, never rendered: it is untrusted input.
  const rows = [...messages]
    .reverse()
    .map(
      (m) => `<article>
<h2>${escapeHtml(m.subject || '(no subject)')}</h2>
<p><b>From:</b> ${escapeHtml(m.from)}<br><b>To:</b> ${escapeHtml(m.to.join(', '))}<br>
<b>Received:</b> ${escapeHtml(m.receivedAt.toISOString())}<br><b>Message-ID:</b> ${escapeHtml(m.messageId)}</p>
<pre>${escapeHtml(m.text)}</pre>
${m.html ? `<details><summary>HTML source</summary><pre>${escapeHtml(m.html)}</pre></details>` : ''}
</article>`,
    )
    .join('\n<hr>\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>SecureVault mail sink</title>
<meta http-equiv="refresh" content="5">
<style>body{font-family:system-ui,sans-serif;max-width:60rem;margin:1rem auto;padding:0 1rem}pre{white-space:pre-wrap;background:#f4f4f4;padding:.5rem}</style>
</head><body>
<h1>SecureVault mail sink: ${messages.length} message${messages.length === 1 ? '' : 's'}</h1>
<p><a href="/messages.json">messages.json</a></p>
${rows || '<p>No mail yet.</p>'}
</body></html>`;
}

function listen(server: NetServer, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    server.once('error', onError);
    server.listen(port, host, () => {
      server.removeListener('error', onError);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

export async function startSmtpSink(options: SmtpSinkOptions = {}): Promise<SmtpSink> {
  const host = options.host ?? '127.0.0.1';
  const log = options.log ?? (() => {});
  const messages: ReceivedMessage[] = [];
  const waiters = new Set<(message: ReceivedMessage) => void>();

  const serverOptions: SMTPServerOptions = {
    secure: options.secure === true,
    authOptional: true,
    // Without TLS material we must not advertise STARTTLS, or nodemailer would try to upgrade.
    disabledCommands: options.secure === true ? [] : ['STARTTLS'],
    size: MAX_SIZE,
    logger: false,
    banner: 'SecureVault SMTP sink',
    // smtp-server otherwise waits up to 30 s for idle clients on close, which stalls test teardown.
    closeTimeout: 1000,
    onAuth(auth, _session, callback) {
      callback(null, { user: auth.username ?? 'anonymous' });
    },
    onRcptTo(address, _session, callback) {
      const code = options.failRecipients?.(address.address);
      if (code !== undefined) {
        log(`smtp-sink: rejecting RCPT ${address.address} with ${code}`);
        callback(smtpError(`Recipient ${address.address} rejected by the sink`, code));
        return;
      }
      callback();
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('error', (err: Error) => callback(err));
      stream.on('end', () => {
        if (stream.sizeExceeded) {
          callback(smtpError('Message exceeds the 10 MB limit', 552));
          return;
        }
        const raw = Buffer.concat(chunks);
        const envelopeFrom =
          session.envelope.mailFrom === false ? '' : session.envelope.mailFrom.address;
        const to = session.envelope.rcptTo.map((r) => r.address);
        simpleParser(raw).then(
          (parsed) => {
            const message: ReceivedMessage = {
              from: addressText(parsed.from),
              to,
              subject: parsed.subject ?? '',
              text: parsed.text ?? '',
              html: typeof parsed.html === 'string' ? parsed.html : '',
              messageId: parsed.messageId ?? '',
              headers: headerRecord(parsed),
              raw: raw.toString('utf8'),
              receivedAt: new Date(),
              envelopeFrom,
            };
            messages.push(message);
            log(`smtp-sink: received "${message.subject}" for ${to.join(', ')}`);
            for (const waiter of [...waiters]) waiter(message);
            callback(null, 'Message queued by the SecureVault sink');
          },
          (err: unknown) => {
            callback(smtpError(`Could not parse message: ${String(err)}`, 554));
          },
        );
      });
    },
  };
  const smtp = new SMTPServer(serverOptions);
  // Errors on single client sockets land here; without a listener they would crash the process.
  smtp.on('error', (err) => log(`smtp-sink: ${err.message}`));
  // SMTPServer.listen only forwards to its net.Server; using that directly gives us its address.
  const port = await listen(smtp.server, options.port ?? 0, host);

  let http: HttpServer | undefined;
  let httpPort: number | undefined;
  if (options.httpPort !== undefined) {
    http = createHttpServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { allow: 'GET, HEAD' }).end();
      } else if (path === '/messages.json') {
        res.writeHead(200, {
          'content-type': 'application/json; charset=utf-8',
          'cache-control': 'no-store',
        });
        res.end(JSON.stringify(messages));
      } else if (path === '/') {
        res.writeHead(200, {
          'content-type': 'text/html; charset=utf-8',
          'cache-control': 'no-store',
          // Defence in depth on top of escaping: the page needs no scripts or remote content.
          'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'",
        });
        res.end(renderPage(messages));
      } else {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      }
    });
    try {
      httpPort = await listen(http, options.httpPort, host);
    } catch (err) {
      await new Promise<void>((resolve) => smtp.close(() => resolve()));
      throw err;
    }
  }
  log(
    `smtp-sink: listening on ${host}:${port}${httpPort === undefined ? '' : `, viewer on http://${host}:${httpPort}`}`,
  );

  return {
    port,
    url: `${options.secure === true ? 'smtps' : 'smtp'}://${host}:${port}`,
    httpPort,
    httpUrl: httpPort === undefined ? undefined : `http://${host}:${httpPort}`,
    messages,
    waitFor(predicate, timeoutMs = 5000) {
      const existing = messages.find(predicate);
      if (existing) return Promise.resolve(existing);
      return new Promise<ReceivedMessage>((resolve, reject) => {
        const waiter = (message: ReceivedMessage): void => {
          if (!predicate(message)) return;
          clearTimeout(timer);
          waiters.delete(waiter);
          resolve(message);
        };
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          reject(
            new Error(
              `smtp-sink: no matching message within ${timeoutMs} ms (${messages.length} received)`,
            ),
          );
        }, timeoutMs);
        waiters.add(waiter);
      });
    },
    clear() {
      messages.length = 0;
    },
    async close() {
      const closing: Promise<void>[] = [
        new Promise<void>((resolve) => smtp.close(() => resolve())),
      ];
      if (http) {
        const server = http;
        closing.push(
          new Promise<void>((resolve) => {
            server.close(() => resolve());
            server.closeAllConnections();
          }),
        );
      }
      await Promise.all(closing);
    },
  };
}
