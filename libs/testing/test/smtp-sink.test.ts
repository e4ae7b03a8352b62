// Tests for the SMTP sink. Real: smtp-server, mailparser, TCP sockets, and nodemailer (the same
// library the email-worker uses) when resolvable. Stand-in: none; the sink *is* the stand-in.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { createRequire } from 'node:module';
import type * as Nodemailer from 'nodemailer';
import { startSmtpSink } from '../src/smtp-sink.ts';

/** A minimal SMTP client over a raw socket, so the protocol itself is under test. */
async function smtpSession(
  port: number,
): Promise<{ send(line: string): Promise<string>; close(): void }> {
  const socket: Socket = connect(port, '127.0.0.1');
  let buffer = '';
  let pending: ((reply: string) => void) | undefined;
  const replies: string[] = [];
  socket.setEncoding('utf8');
  socket.on('data', (data: string) => {
    buffer += data;
    // A reply ends with a line "NNN text" (a space, not a dash, after the code).
    for (
      let m = /(?:^|\n)(\d{3}) [^\n]*\r?\n/.exec(buffer);
      m;
      m = /(?:^|\n)(\d{3}) [^\n]*\r?\n/.exec(buffer)
    ) {
      const end = m.index + m[0].length;
      const reply = buffer.slice(0, end).trim();
      buffer = buffer.slice(end);
      if (pending) {
        const p = pending;
        pending = undefined;
        p(reply);
      } else replies.push(reply);
    }
  });
  const next = (): Promise<string> =>
    new Promise((resolve) => {
      const queued = replies.shift();
      if (queued !== undefined) resolve(queued);
      else pending = resolve;
    });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  const greeting = await next();
  assert.match(greeting, /^220 /);
  return {
    async send(line: string) {
      socket.write(`${line}\r\n`);
      return next();
    },
    close() {
      socket.end();
    },
  };
}

/** nodemailer is not a dependency of libs/testing; mailparser depends on it, so borrow that copy. */
function loadNodemailer(): typeof Nodemailer | undefined {
  try {
    const fromMailparser = createRequire(createRequire(import.meta.url).resolve('mailparser'));
    return fromMailparser('nodemailer') as typeof Nodemailer;
  } catch {
    return undefined;
  }
}

void test('raw SMTP conversation: message is stored and parsed', async (t) => {
  const sink = await startSmtpSink();
  t.after(() => sink.close());
  const s = await smtpSession(sink.port);
  assert.match(await s.send('EHLO tester'), /^250[- ]/);
  assert.doesNotMatch(await s.send('NOOP'), /STARTTLS/);
  assert.match(await s.send('MAIL FROM:<bounce@securevault.local>'), /^250 /);
  assert.match(await s.send('RCPT TO:<alice@example.com>'), /^250 /);
  assert.match(await s.send('RCPT TO:<hidden@example.com>'), /^250 /);
  assert.match(await s.send('DATA'), /^354 /);
  const reply = await s.send(
    [
      'From: SecureVault <no-reply@securevault.local>',
      'To: alice@example.com',
      'Subject: Hello raw',
      'Message-ID: <raw-1@securevault.local>',
      'X-Custom: one',
      '',
      'Body line',
      '.',
    ].join('\r\n'),
  );
  assert.match(reply, /^250 /);
  await s.send('QUIT');
  s.close();

  const msg = await sink.waitFor((m) => m.subject === 'Hello raw', 2000);
  assert.equal(msg.from, 'SecureVault <no-reply@securevault.local>');
  assert.deepEqual(msg.to, ['alice@example.com', 'hidden@example.com']);
  assert.equal(msg.envelopeFrom, 'bounce@securevault.local');
  assert.equal(msg.text.trim(), 'Body line');
  assert.equal(msg.messageId, '<raw-1@securevault.local>');
  assert.equal(msg.headers['x-custom'], 'one');
  assert.match(msg.raw, /Subject: Hello raw/);
  assert.ok(msg.receivedAt instanceof Date);
});

void test('failRecipients rejects RCPT with the chosen code', async (t) => {
  const sink = await startSmtpSink({
    failRecipients: (a) =>
      a.endsWith('@bounce.test') ? 550 : a.startsWith('later@') ? 451 : undefined,
  });
  t.after(() => sink.close());
  const s = await smtpSession(sink.port);
  await s.send('EHLO tester');
  await s.send('MAIL FROM:<a@securevault.local>');
  assert.match(await s.send('RCPT TO:<nobody@bounce.test>'), /^550 /);
  assert.match(await s.send('RCPT TO:<later@example.com>'), /^451 /);
  assert.match(await s.send('RCPT TO:<ok@example.com>'), /^250 /);
  await s.send('QUIT');
  s.close();
});

void test('nodemailer delivers to the sink and sees rejections', async (t) => {
  const nodemailer = loadNodemailer();
  if (!nodemailer) {
    t.skip('nodemailer is not resolvable from libs/testing');
    return;
  }
  const sink = await startSmtpSink({
    failRecipients: (a) => (a === 'gone@example.com' ? 550 : undefined),
  });
  t.after(() => sink.close());
  const transport = nodemailer.createTransport(sink.url);
  t.after(() => transport.close());

  const info = await transport.sendMail({
    from: 'SecureVault <no-reply@securevault.local>',
    to: 'bob@example.com',
    subject: 'Welcome ✓',
    text: 'Plain body',
    html: '<p>HTML <b>body</b></p>',
  });
  assert.deepEqual(info.accepted, ['bob@example.com']);
  const msg = await sink.waitFor((m) => m.to.includes('bob@example.com'), 2000);
  assert.equal(msg.subject, 'Welcome ✓');
  assert.equal(msg.from, 'SecureVault <no-reply@securevault.local>');
  assert.equal(msg.text.trim(), 'Plain body');
  assert.match(msg.html, /<b>body<\/b>/);
  assert.equal(msg.messageId, info.messageId);

  await assert.rejects(
    transport.sendMail({
      from: 'no-reply@securevault.local',
      to: 'gone@example.com',
      subject: 'x',
      text: 'x',
    }),
    (err: { responseCode?: number }) => err.responseCode === 550,
  );
  // Authentication is accepted whatever the credentials, as the worker may be configured with some.
  const withAuth = nodemailer.createTransport({
    host: '127.0.0.1',
    port: sink.port,
    secure: false,
    auth: { user: 'u', pass: 'p' },
  });
  t.after(() => withAuth.close());
  await withAuth.sendMail({
    from: 'a@securevault.local',
    to: 'carol@example.com',
    subject: 'auth',
    text: 'ok',
  });
  assert.equal((await sink.waitFor((m) => m.subject === 'auth', 2000)).to[0], 'carol@example.com');
});

void test('waitFor times out, clear empties, HTTP viewer escapes content', async (t) => {
  const sink = await startSmtpSink({ httpPort: 0 });
  t.after(() => sink.close());
  await assert.rejects(
    sink.waitFor(() => true, 50),
    /no matching message/,
  );

  const s = await smtpSession(sink.port);
  await s.send('EHLO tester');
  await s.send('MAIL FROM:<a@securevault.local>');
  await s.send('RCPT TO:<x@example.com>');
  await s.send('DATA');
  await s.send(
    'From: a@securevault.local\r\nSubject: <script>alert(1)</script>\r\n\r\nhi & bye\r\n.',
  );
  s.close();
  await sink.waitFor(() => true, 2000);

  assert.ok(sink.httpUrl);
  const page = await fetch(`${sink.httpUrl}/`);
  assert.equal(page.status, 200);
  const html = await page.text();
  assert.doesNotMatch(html, /<script>/);
  assert.match(html, /&lt;script&gt;alert\(1\)&lt;\/script&gt;/);
  assert.match(html, /hi &amp; bye/);
  const json = (await (await fetch(`${sink.httpUrl}/messages.json`)).json()) as Array<{
    subject: string;
  }>;
  assert.equal(json[0]?.subject, '<script>alert(1)</script>');
  assert.equal((await fetch(`${sink.httpUrl}/nope`)).status, 404);

  sink.clear();
  assert.equal(sink.messages.length, 0);
});
