// The webhook queue in the email-worker. Real: Redis, BullMQ, the worker wiring (startEmailWorker),
// HTTP deliveries with fetch. Stand-ins (outside our system): the SMTP sink (unused here), webhook
// receivers and the operators' Slack-compatible endpoint (plain HTTP servers).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Queue, type ConnectionOptions } from 'bullmq';
import { Redis } from 'ioredis';
import { QUEUES, WebhookEventJob, deliveryKeys } from '@securevault/contracts';
import { createProducer, type Producer } from '@securevault/service-kit';
import { startSmtpSink, type SmtpSink } from '@securevault/testing';
import { REDIS_URL, startHarness, waitForState, type Harness } from './harness.ts';
import { deterministicUuid, signature } from '../src/webhooks.ts';
import { escapeHtml } from '../src/templates.ts';

interface Receiver {
  url: string;
  bodies: string[];
  signatures: string[];
  status: number;
  server: Server;
}

async function receiver(status: number): Promise<Receiver> {
  const r: Receiver = { url: '', bodies: [], signatures: [], status, server: createServer() };
  r.server.on('request', (req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      r.bodies.push(body);
      r.signatures.push(String(req.headers['securevault-signature'] ?? ''));
      res.writeHead(r.status).end();
    });
  });
  await new Promise<void>((done) => r.server.listen(0, '127.0.0.1', done));
  r.url = `http://127.0.0.1:${(r.server.address() as AddressInfo).port}/`;
  return r;
}

describe('webhook deliveries', () => {
  let sink: SmtpSink;
  let operators: Receiver;
  let h: Harness;
  let redis: Redis;
  let events: Producer<WebhookEventJob>;
  let queue: Queue;

  before(async () => {
    sink = await startSmtpSink();
    operators = await receiver(200);
    h = await startHarness({
      smtpUrl: sink.url,
      env: {
        WEBHOOK_URL: operators.url,
        WEBHOOK_OPERATOR_MAX_PER_MINUTE: '2',
        // The receivers listen on 127.0.0.1, which production refuses.
        WEBHOOK_ALLOWED_CIDRS: '127.0.0.1/32',
      },
    });
    redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
    events = createProducer({
      queue: QUEUES.webhook,
      schema: WebhookEventJob,
      connection: redis,
      prefix: h.prefix,
      defaultJobOptions: { backoff: { type: 'fixed', delay: 100 } },
    });
    queue = new Queue(QUEUES.webhook, { connection: redis as ConnectionOptions, prefix: h.prefix });
  });
  after(async () => {
    await events.close();
    await queue.close();
    await redis.quit();
    await h.close();
    await sink.close();
    operators.server.close();
  });

  async function register(ownerId: string, url: string, eventsWanted: string[]) {
    const record = {
      id: randomUUID(),
      ownerId,
      url,
      events: eventsWanted,
      secret: `whsec_${randomUUID()}${randomUUID()}`,
      createdAt: new Date().toISOString(),
    };
    await redis.hset(
      deliveryKeys.webhookEndpoints(h.prefix, ownerId),
      record.id,
      JSON.stringify(record),
    );
    return record;
  }

  it('never delivers to a private or reserved address outside the allowlist, and does not retry it', async () => {
    const owner = randomUUID();
    const good = await receiver(200);
    try {
      await register(owner, good.url, ['email.sent']);
      // Cloud metadata, a private network, IPv6 loopback, and a mapped IPv4 private address.
      const refused = await Promise.all(
        [
          'http://169.254.169.254/latest/meta-data/',
          'http://10.1.2.3:8080/hook',
          'http://[::1]:9/hook',
          'http://[::ffff:192.168.1.1]/hook',
        ].map((url) => register(owner, url, ['email.sent'])),
      );
      const id = randomUUID();
      await events.add({
        id,
        event: 'email.sent',
        ownerId: owner,
        payload: { emailId: id },
        occurredAt: new Date().toISOString(),
      });
      const done = await waitForState(queue, id, ['completed', 'failed']);
      assert.equal(await done.getState(), 'completed');
      assert.equal(done.attemptsMade, 1, 'a refused endpoint is not retried');
      assert.equal(good.bodies.length, 1);
      for (const endpoint of refused) {
        const [line, ...more] = await redis.lrange(
          deliveryKeys.webhookAttempts(h.prefix, endpoint.id),
          0,
          -1,
        );
        assert.equal(more.length, 0);
        const attempt = JSON.parse(line ?? '{}') as { ok: boolean; error?: string };
        assert.equal(attempt.ok, false);
        assert.match(attempt.error ?? '', /^refused: /, endpoint.url);
      }
      assert.match(h.logs.join(''), /webhook endpoint refused/);
    } finally {
      good.server.close();
    }
  });

  it('signs each delivery and retries only the endpoints that failed', async () => {
    const owner = randomUUID();
    const good = await receiver(200);
    const flaky = await receiver(503);
    const other = await receiver(200);
    try {
      const a = await register(owner, good.url, ['ai.completed']);
      const b = await register(owner, flaky.url, ['ai.completed']);
      await register(owner, other.url, ['email.sent']);
      const id = randomUUID();
      await events.add({
        id,
        event: 'ai.completed',
        ownerId: owner,
        payload: { generationId: id },
        occurredAt: new Date().toISOString(),
      });
      const deadline = Date.now() + 10_000;
      while (flaky.bodies.length < 2 && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 25));
      flaky.status = 200;
      await waitForState(queue, id, ['completed']);
      assert.equal(good.bodies.length, 1, 'the endpoint that answered 2xx got it once');
      assert.ok(flaky.bodies.length >= 3);
      assert.equal(other.bodies.length, 0, 'not subscribed to this event');
      const [body] = good.bodies;
      const [sig] = good.signatures;
      assert.ok(body && sig);
      const t = Number(/t=(\d+)/.exec(sig)?.[1]);
      assert.equal(sig, signature(a.secret, t, body));
      assert.equal(
        sig.split('v1=')[1],
        createHmac('sha256', a.secret).update(`${t}.${body}`).digest('hex'),
      );
      assert.notEqual(flaky.signatures[0]?.split('v1=')[1], signature(a.secret, t, body));
      assert.ok(flaky.signatures.every((s) => s.startsWith('t=')));
      const attempts = await redis.lrange(deliveryKeys.webhookAttempts(h.prefix, b.id), 0, -1);
      const parsed = attempts.map((l) => JSON.parse(l) as { ok: boolean; status: number });
      assert.equal(parsed[0]?.ok, true);
      assert.ok(parsed.slice(1).every((p) => !p.ok && p.status === 503));
      assert.equal(operators.bodies.length, 0, 'ai.completed is not an operator event');
    } finally {
      good.server.close();
      flaky.server.close();
      other.server.close();
    }
  });

  it('sends security alerts to the operators, rate-limited per minute', async () => {
    const ids = [randomUUID(), randomUUID(), randomUUID()];
    const minuteBefore = Math.floor(Date.now() / 60_000);
    for (const id of ids) {
      await events.add({
        id,
        event: 'security.alert',
        ownerId: null,
        payload: { rule: 'failed_logins', count: 12 },
        occurredAt: new Date().toISOString(),
      });
    }
    for (const id of ids) await waitForState(queue, id, ['completed']);
    const sameMinute = Math.floor(Date.now() / 60_000) === minuteBefore;
    const text = (JSON.parse(operators.bodies[0] ?? '{}') as { text?: string }).text ?? '';
    assert.match(text, /security\.alert/);
    assert.match(text, /failed_logins/);
    if (sameMinute) {
      // Two a minute: the third alert of the same minute is dropped and logged, not retried.
      assert.equal(operators.bodies.length, 2);
      assert.match(h.logs.join(''), /operator notice rate-limited; dropped/);
    } else {
      // The minute turned between the alerts: a new window, so up to all three passed.
      assert.ok(operators.bodies.length >= 2);
    }
  });

  it('derives one event id per email and event, and escapes HTML', () => {
    const a = deterministicUuid('email.sent:1');
    assert.equal(a, deterministicUuid('email.sent:1'));
    assert.notEqual(a, deterministicUuid('email.failed:1'));
    assert.ok(WebhookEventJob.shape.id.safeParse(a).success, 'a valid UUID');
    assert.equal(
      escapeHtml(`<a href="x">'&'</a>`),
      '&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;',
    );
  });
});
