// Email delivery through the gateway and the real email-worker process. Real: the gateway app,
// Redis, BullMQ, the email-worker (services/email-worker/src/main.ts as a child process),
// nodemailer's SMTP client, the webhook deliveries over HTTP. Stand-ins (outside our system): auth
// (token table), the SMTP server (the testing lib's sink, real SMTP), a webhook receiver and the
// operators' Slack-compatible endpoint (plain HTTP servers).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { deliveryKeys } from '@securevault/contracts';
import { startSmtpSink, type SmtpSink } from '@securevault/testing';
import {
  USER_A,
  asA,
  asAdmin,
  asB,
  call,
  codeOf,
  startAuthStandin,
  startGateway,
  type Gateway,
  type Standin,
} from './helpers.ts';
import { startEmailWorkerProcess, until, type WorkerProcess } from './delivery-harness.ts';

interface Received {
  headers: IncomingHttpHeaders;
  body: string;
}

async function startReceiver(
  status: () => number,
): Promise<{ url: string; received: Received[]; server: Server }> {
  const received: Received[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      received.push({ headers: req.headers, body });
      res.writeHead(status()).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    received,
    server,
  };
}

/** The documented receiver recipe (docs/api-delivery.md), written out as a consumer would. */
function verify(secret: string, header: string, body: string, toleranceSeconds = 300): boolean {
  const parts = Object.fromEntries(
    header.split(',').map((kv) => kv.split('=', 2) as [string, string]),
  );
  const t = Number(parts.t);
  if (!Number.isInteger(t) || Math.abs(Date.now() / 1000 - t) > toleranceSeconds) return false;
  const expected = createHmac('sha256', secret).update(`${t}.${body}`).digest('hex');
  return parts.v1 === expected;
}

interface EmailView {
  id: string;
  status: string;
  attempts: number;
  messageId?: string;
  error?: string;
  sendAt?: string;
  history: Array<{ status: string; at: string; attempt?: number; reason?: string }>;
}

describe('email delivery through the gateway and the email-worker', () => {
  let auth: Standin;
  let gw: Gateway;
  let sink: SmtpSink;
  let worker: WorkerProcess;
  let operators: Awaited<ReturnType<typeof startReceiver>>;

  before(async () => {
    auth = await startAuthStandin();
    sink = await startSmtpSink({
      failRecipients: (address) => (address.startsWith('bounce') ? 550 : undefined),
    });
    operators = await startReceiver(() => 200);
    gw = await startGateway({
      AUTH_URL: auth.url,
      BODY_LIMIT: '1mb',
      EMAIL_ATTACHMENTS_MAX_BYTES: '2000',
      RATE_LIMIT_EMAIL_PER_MINUTE: '100000',
      RATE_LIMIT_API_PER_MINUTE: '100000',
      // The receivers here listen on 127.0.0.1, which production refuses.
      WEBHOOK_ALLOWED_CIDRS: '127.0.0.1/32',
    });
    worker = await startEmailWorkerProcess({
      REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
      QUEUE_PREFIX: gw.prefix,
      SMTP_URL: sink.url,
      WEBHOOK_URL: operators.url,
      WEBHOOK_ALLOWED_CIDRS: '127.0.0.1/32',
    });
  });
  after(async () => {
    await worker.proc.stop();
    await gw.close();
    await sink.close();
    await auth.close();
    operators.server.close();
  });

  const send = (json: unknown, headers: Record<string, string> = asA) =>
    call(`${gw.url}/api/send-email`, { method: 'POST', json, headers });
  const view = async (id: string, headers: Record<string, string> = asA) =>
    (await call(`${gw.url}/api/emails/${id}`, { headers })).body as EmailView;
  const settled = (id: string, statuses: string[], timeoutMs = 15_000) =>
    until(
      async () => {
        const v = await view(id);
        return statuses.includes(v.status) ? v : undefined;
      },
      timeoutMs,
      `email ${id} to be ${statuses.join('|')}`,
    );

  it('renders a template with escaped variables and reports the status history', async () => {
    const to = 'template.user@customer.test';
    const r = await send({
      to,
      subject: 'Welcome',
      template: 'welcome',
      variables: { name: '<script>alert(1)</script> & Bob', product: 'SecureVault' },
    });
    assert.equal(r.status, 202);
    const { id } = r.body as { id: string };
    const v = await settled(id, ['sent']);
    assert.equal(v.messageId, `<${id}@securevault.test>`);
    assert.deepEqual(
      v.history.map((h) => h.status),
      ['queued', 'sending', 'sent'],
    );
    assert.equal(v.history[1]?.attempt, 1);

    const message = await sink.waitFor((m) => m.to.includes(to), 5_000);
    assert.equal(message.messageId, `<${id}@securevault.test>`);
    assert.match(message.html, /&lt;script&gt;alert\(1\)&lt;\/script&gt; &amp; Bob/);
    assert.ok(!message.html.includes('<script>'), 'variables never become markup');
    assert.match(message.text, /Hello <script>alert\(1\)<\/script> & Bob,/);
    assert.match(message.text, /Welcome to SecureVault/);
  });

  it('refuses an unknown template, variables without one, and text beside a template', async () => {
    for (const body of [
      { to: 'x@customer.test', subject: 'S', template: 'nope' },
      { to: 'x@customer.test', subject: 'S', text: 'hi', variables: { a: 'b' } },
      { to: 'x@customer.test', subject: 'S', text: 'hi', template: 'welcome' },
    ]) {
      const r = await send(body);
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.equal(codeOf(r), 'VALIDATION_FAILED');
    }
  });

  it('sends attachments and refuses them over the size cap with 413', async () => {
    const to = 'attach.user@customer.test';
    const content = Buffer.from('report,total\nq3,42\n');
    const r = await send({
      to,
      subject: 'Report',
      text: 'See attached.',
      attachments: [
        {
          filename: 'report.csv',
          contentType: 'text/csv',
          contentBase64: content.toString('base64'),
        },
      ],
    });
    assert.equal(r.status, 202);
    const message = await sink.waitFor((m) => m.to.includes(to), 10_000);
    assert.match(message.raw, /filename=report\.csv/);
    assert.match(message.raw, new RegExp(content.toString('base64').slice(0, 20)));

    const big = await send({
      to,
      subject: 'Too big',
      text: 'x',
      attachments: [
        {
          filename: 'big.bin',
          contentType: 'application/octet-stream',
          contentBase64: Buffer.alloc(2001).toString('base64'),
        },
      ],
    });
    assert.equal(big.status, 413);
    assert.equal(codeOf(big), 'PAYLOAD_TOO_LARGE');
    const badName = await send({
      to,
      subject: 'Bad',
      text: 'x',
      attachments: [
        { filename: '../etc/passwd', contentType: 'text/plain', contentBase64: 'eA==' },
      ],
    });
    assert.equal(badName.status, 400);
  });

  it('schedules with sendAt, cancels while pending, and sends a near one when due', async () => {
    const later = await send({
      to: 'later.user@customer.test',
      subject: 'Later',
      text: 'x',
      sendAt: new Date(Date.now() + 3600_000).toISOString(),
    });
    assert.equal(later.status, 202);
    const { id, status } = later.body as { id: string; status: string };
    assert.equal(status, 'scheduled');
    assert.equal((await view(id)).status, 'scheduled');
    assert.equal(
      (await call(`${gw.url}/api/emails/${id}`, { method: 'DELETE', headers: asB })).status,
      404,
      'only the owner cancels',
    );
    const cancel = await call(`${gw.url}/api/emails/${id}`, { method: 'DELETE', headers: asA });
    assert.equal(cancel.status, 200);
    assert.deepEqual(cancel.body, { id, status: 'cancelled' });
    assert.equal((await call(`${gw.url}/api/emails/${id}`, { headers: asA })).status, 404);
    assert.equal(await gw.emailQueue.getJob(id), undefined);

    const soonAt = new Date(Date.now() + 1_500).toISOString();
    const soon = await send({
      to: 'soon.user@customer.test',
      subject: 'Soon',
      text: 'x',
      sendAt: soonAt,
    });
    const soonId = (soon.body as { id: string }).id;
    const message = await sink.waitFor((m) => m.to.includes('soon.user@customer.test'), 10_000);
    assert.ok(message.receivedAt.getTime() >= Date.parse(soonAt) - 50, 'not sent before sendAt');
    const v = await settled(soonId, ['sent']);
    assert.equal(v.sendAt, soonAt);
    const cannot = await call(`${gw.url}/api/emails/${soonId}`, { method: 'DELETE', headers: asA });
    assert.equal(cannot.status, 409);
    assert.equal(codeOf(cannot), 'CONFLICT');
    assert.equal(sink.messages.filter((m) => m.to.includes('later.user@customer.test')).length, 0);

    const tooFar = await send({
      to: 'far@customer.test',
      subject: 'Far',
      text: 'x',
      sendAt: new Date(Date.now() + 40 * 24 * 3600_000).toISOString(),
    });
    assert.equal(tooFar.status, 400);
  });

  it('suppresses a recipient refused with 550 at RCPT, refuses later sends, and lets an admin replay', async () => {
    const to = 'bounce.user@customer.test';
    const first = await send({ to, subject: 'One', text: 'x' });
    const firstId = (first.body as { id: string }).id;
    const v = await settled(firstId, ['suppressed']);
    assert.equal(v.attempts, 1, 'a permanent failure is not retried');
    assert.deepEqual(
      v.history.map((h) => h.status),
      ['queued', 'sending', 'suppressed'],
    );
    assert.match(v.history[2]?.reason ?? '', /550/);
    assert.ok(!JSON.stringify(v.history).includes(to), 'the reason carries no address');

    const second = await send({ to, subject: 'Two', text: 'x' });
    const secondId = (second.body as { id: string }).id;
    const v2 = await settled(secondId, ['suppressed']);
    assert.equal(v2.error, 'recipient suppressed');
    assert.deepEqual(
      v2.history.map((h) => h.status),
      ['queued', 'suppressed'],
      'no SMTP attempt for a suppressed address',
    );

    const list = await call(`${gw.url}/api/admin/suppressions`, { headers: asAdmin });
    assert.equal(list.status, 200);
    const items = (list.body as { items: Array<{ address: string; source: string }> }).items;
    assert.deepEqual(
      items.filter((i) => i.address === to).map((i) => i.source),
      ['smtp'],
    );
    assert.equal((await call(`${gw.url}/api/admin/suppressions`, { headers: asA })).status, 403);

    // A replay while suppressed is refused; after removal it goes through the whole pipeline again.
    const refused = await call(`${gw.url}/api/admin/emails/${secondId}/retry`, {
      method: 'POST',
      headers: asAdmin,
    });
    assert.equal(refused.status, 409);
    const admin = await call(`${gw.url}/api/admin/suppressions`, {
      method: 'POST',
      headers: asAdmin,
      json: { address: 'manual.block@customer.test', reason: 'asked to stop' },
    });
    assert.equal(admin.status, 201);
    const manual = await send({ to: 'manual.block@customer.test', subject: 'M', text: 'x' });
    await settled((manual.body as { id: string }).id, ['suppressed']);

    assert.equal(
      (
        await call(`${gw.url}/api/admin/suppressions/${encodeURIComponent(to)}`, {
          method: 'DELETE',
          headers: asAdmin,
        })
      ).status,
      204,
    );
    // The sink still refuses bounce.*: so replay the manual one, whose block is lifted.
    await call(`${gw.url}/api/admin/suppressions/manual.block%40customer.test`, {
      method: 'DELETE',
      headers: asAdmin,
    });
    const manualId = (manual.body as { id: string }).id;
    assert.equal(
      (await call(`${gw.url}/api/admin/emails/${manualId}/retry`, { method: 'POST', headers: asA }))
        .status,
      403,
      'replay is for admins',
    );
    const replay = await call(`${gw.url}/api/admin/emails/${manualId}/retry`, {
      method: 'POST',
      headers: asAdmin,
    });
    assert.equal(replay.status, 202);
    const sent = await settled(manualId, ['sent']);
    assert.equal(sent.history.at(-1)?.status, 'sent');
    assert.equal(
      sink.messages.filter((m) => m.to.includes('manual.block@customer.test')).length,
      1,
    );
    const again = await call(`${gw.url}/api/admin/emails/${manualId}/retry`, {
      method: 'POST',
      headers: asAdmin,
    });
    assert.equal(again.status, 409, 'only failed emails are replayed');

    // The operators heard about the failures (Slack-compatible { text }).
    const notice = await until(
      () => operators.received.find((r) => r.body.includes('email.failed')),
      10_000,
      'an operator notice',
    );
    assert.ok(typeof (JSON.parse(notice.body) as { text: unknown }).text === 'string');
    assert.ok(!notice.body.includes(to), 'operator notices carry no address');
  });

  it('returns the first answer for a repeated Idempotency-Key and 409 for a different body', async () => {
    const body = { to: 'idem.user@customer.test', subject: 'Once', text: 'x' };
    const headers = { ...asA, 'idempotency-key': 'order-42' };
    const a = await send(body, headers);
    const b = await send(body, headers);
    assert.equal(a.status, 202);
    assert.equal(b.status, 202);
    assert.deepEqual(b.body, a.body);
    assert.equal(b.headers.get('idempotent-replayed'), 'true');
    assert.equal(b.headers.get('location'), a.headers.get('location'));
    const other = await send({ ...body, subject: 'Different' }, headers);
    assert.equal(other.status, 409);
    assert.equal(codeOf(other), 'CONFLICT');
    // Keys are per principal: another user's same key is their own.
    const forB = await send(body, { ...asB, 'idempotency-key': 'order-42' });
    assert.notEqual((forB.body as { id: string }).id, (a.body as { id: string }).id);
    const bad = await send(body, { ...asA, 'idempotency-key': 'x'.repeat(300) });
    assert.equal(bad.status, 400);
  });

  it('turns 100 concurrent requests with one Idempotency-Key into one job and one message', async () => {
    const to = 'hundred.user@customer.test';
    const headers = { ...asA, 'idempotency-key': 'burst-1' };
    const answers = await Promise.all(
      Array.from({ length: 100 }, () => send({ to, subject: 'Burst', text: 'x' }, headers)),
    );
    assert.deepEqual([...new Set(answers.map((a) => a.status))], [202]);
    const ids = new Set(answers.map((a) => (a.body as { id: string }).id));
    assert.equal(ids.size, 1);
    const [id] = [...ids];
    assert.ok(id);
    await settled(id, ['sent']);
    const jobs = await gw.emailQueue.getJobs([
      'completed',
      'waiting',
      'active',
      'delayed',
      'failed',
    ]);
    assert.equal(jobs.filter((j) => (j.data as { to: string }).to === to).length, 1);
    // Let any stray job show itself before counting messages.
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(sink.messages.filter((m) => m.to.includes(to)).length, 1);
  });

  it('delivers signed webhooks to subscribed endpoints, records attempts, rotates secrets', async () => {
    let status = 500;
    const receiver = await startReceiver(() => status);
    try {
      const created = await call(`${gw.url}/api/webhooks`, {
        method: 'POST',
        headers: asA,
        json: { url: receiver.url, events: ['email.sent'] },
      });
      assert.equal(created.status, 201);
      const endpoint = created.body as { id: string; secret: string; events: string[] };
      assert.match(endpoint.secret, /^whsec_/);
      assert.deepEqual(endpoint.events, ['email.sent']);

      const listed = await call(`${gw.url}/api/webhooks`, { headers: asA });
      assert.ok(!listed.text.includes(endpoint.secret), 'the secret is shown once');
      assert.equal((listed.body as { items: unknown[] }).items.length, 1);
      assert.equal(
        ((await call(`${gw.url}/api/webhooks`, { headers: asB })).body as { items: unknown[] })
          .items.length,
        0,
      );

      const r = await send({ to: 'hooked.user@customer.test', subject: 'Hook', text: 'x' });
      const id = (r.body as { id: string }).id;
      // The receiver fails first: the event is retried with backoff until it answers 2xx.
      await until(
        () => (receiver.received.length >= 1 ? true : undefined),
        15_000,
        'a first delivery',
      );
      status = 204;
      await until(() => (receiver.received.length >= 2 ? true : undefined), 15_000, 'a retry');
      const delivery = receiver.received.at(-1);
      assert.ok(delivery);
      assert.equal(delivery.headers['securevault-event'], 'email.sent');
      const signatureHeader = String(delivery.headers['securevault-signature']);
      assert.ok(verify(endpoint.secret, signatureHeader, delivery.body));
      assert.ok(!verify(endpoint.secret, signatureHeader, delivery.body + ' '), 'tampering shows');
      const payload = JSON.parse(delivery.body) as { type: string; data: { emailId: string } };
      assert.equal(payload.type, 'email.sent');
      assert.equal(payload.data.emailId, id);

      const attempts = await call(`${gw.url}/api/webhooks/${endpoint.id}/attempts`, {
        headers: asA,
      });
      const items = (attempts.body as { items: Array<{ ok: boolean; status: number }> }).items;
      assert.deepEqual(
        items.slice(0, 2).map((i) => [i.ok, i.status]),
        [
          [true, 204],
          [false, 500],
        ],
      );

      const rotated = await call(`${gw.url}/api/webhooks/${endpoint.id}/rotate-secret`, {
        method: 'POST',
        headers: asA,
      });
      assert.equal(rotated.status, 200);
      const newSecret = (rotated.body as { secret: string }).secret;
      assert.notEqual(newSecret, endpoint.secret);
      const stored = await gw.redis.hget(
        deliveryKeys.webhookEndpoints(gw.prefix, USER_A),
        endpoint.id,
      );
      assert.ok(stored?.includes(newSecret));

      const before = receiver.received.length;
      await send({ to: 'hooked2.user@customer.test', subject: 'Hook 2', text: 'x' });
      await until(() => (receiver.received.length > before ? true : undefined), 15_000, 'delivery');
      const next = receiver.received.at(-1);
      assert.ok(next);
      assert.ok(verify(newSecret, String(next.headers['securevault-signature']), next.body));

      assert.equal(
        (await call(`${gw.url}/api/webhooks/${endpoint.id}`, { method: 'DELETE', headers: asB }))
          .status,
        404,
      );
      assert.equal(
        (await call(`${gw.url}/api/webhooks/${endpoint.id}`, { method: 'DELETE', headers: asA }))
          .status,
        204,
      );
      const bad = await call(`${gw.url}/api/webhooks`, {
        method: 'POST',
        headers: asA,
        json: { url: 'ftp://x', events: ['nope'] },
      });
      assert.equal(bad.status, 400);
    } finally {
      receiver.server.close();
    }
  });
});

describe('webhook endpoints under the production egress policy', () => {
  it('refuses URLs on private, loopback and link-local addresses with a 400 that says why', async () => {
    const auth = await startAuthStandin();
    const gw = await startGateway({ AUTH_URL: auth.url });
    try {
      for (const url of [
        'http://169.254.169.254/latest/meta-data/',
        'http://127.0.0.1:8080/hook',
        'http://localhost/hook',
        'http://[::1]/hook',
        'https://10.0.0.8/hook',
      ]) {
        const r = await call(`${gw.url}/api/webhooks`, {
          method: 'POST',
          headers: asA,
          json: { url, events: ['email.sent'] },
        });
        assert.equal(r.status, 400, url);
        const { error } = r.body as { error: { code: string; message: string } };
        assert.equal(error.code, 'VALIDATION_FAILED');
        assert.match(error.message, /webhook url is not allowed/);
      }
      const ok = await call(`${gw.url}/api/webhooks`, {
        method: 'POST',
        headers: asA,
        json: { url: 'https://hooks.customer.test/securevault', events: ['email.sent'] },
      });
      assert.equal(ok.status, 201, ok.text);
    } finally {
      await gw.close();
      await auth.close();
    }
  });
});
