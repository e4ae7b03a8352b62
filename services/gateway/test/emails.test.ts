// POST /api/send-email and GET /api/emails/:id. Real: the app, Redis, BullMQ queues and a real
// BullMQ Worker standing in for the email-worker's processing. Stand-in: auth (token table).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { AuditJob, EmailJob, QUEUES, auditEventsOf } from '@securevault/contracts';
import {
  USER_A,
  asA,
  asAdmin,
  asB,
  call,
  codeOf,
  startAuthStandin,
  startGateway,
  testRedis,
  type Gateway,
  type Standin,
} from './helpers.ts';

interface EmailView {
  id: string;
  status: string;
  to: string;
  subject: string;
  attempts: number;
  createdAt: string;
  updatedAt: string;
  sentAt?: string;
  messageId?: string;
  error?: string;
}

describe('emails', () => {
  let auth: Standin;
  let gw: Gateway;
  let workerRedis: Redis;

  before(async () => {
    auth = await startAuthStandin();
    // The rate limits are tested elsewhere; these tests send and poll more than they allow.
    gw = await startGateway({
      AUTH_URL: auth.url,
      RATE_LIMIT_EMAIL_PER_MINUTE: '1000',
      RATE_LIMIT_API_PER_MINUTE: '10000',
    });
    workerRedis = testRedis();
  });
  after(async () => {
    await gw.close();
    await auth.close();
    workerRedis.disconnect();
  });

  const send = (json: unknown, headers: Record<string, string> = asA) =>
    call(`${gw.url}/api/send-email`, { method: 'POST', json, headers });

  it('queues an EmailJob and answers 202 with Location; the audit event has no address', async () => {
    const r = await send(
      { to: 'alice@example.com', subject: 'Hello', text: 'Hi there' },
      { ...asA, 'x-request-id': 'rid-email-1' },
    );
    assert.equal(r.status, 202);
    const { id, status } = r.body as { id: string; status: string };
    assert.equal(status, 'queued');
    assert.equal(r.headers.get('location'), `/api/emails/${id}`);

    const job = await gw.emailQueue.getJob(id);
    assert.ok(job);
    assert.equal(job.name, 'send-email');
    const data = EmailJob.parse(job.data);
    assert.equal(data.id, id);
    assert.equal(data.ownerId, USER_A);
    assert.equal(data.requestId, 'rid-email-1');
    assert.equal(data.to, 'alice@example.com');
    assert.equal(data.subject, 'Hello');
    assert.equal(data.text, 'Hi there');
    assert.equal(data.html, undefined);
    assert.doesNotMatch(JSON.stringify(job.data), /sess-a|svk_/, 'no credentials in the job');

    const events = await gw.auditQueue.getJobs(['waiting']);
    const event = events
      .flatMap((j) => auditEventsOf(AuditJob.parse(j.data)))
      .find((e) => e.target?.id === id);
    assert.ok(event, 'email.queued audit event queued');
    assert.equal(event.action, 'email.queued');
    assert.equal(event.ownerId, USER_A);
    assert.equal(event.source, 'gateway');
    assert.deepEqual(event.target, { type: 'email', id });
    assert.equal((event.actor as { type: string; id: string }).id, USER_A);
    assert.equal(event.requestId, 'rid-email-1');
    assert.doesNotMatch(JSON.stringify(event), /alice@example\.com/);
  });

  it('accepts html only; rejects bad bodies with VALIDATION_FAILED and queues nothing', async () => {
    const ok = await send({ to: 'b@example.com', subject: 'S', html: '<p>x</p>' });
    assert.equal(ok.status, 202);
    const before = await gw.emailQueue.count();
    for (const body of [
      { subject: 'S', text: 't' },
      { to: 'not-an-email', subject: 'S', text: 't' },
      { to: 'a@example.com', subject: '', text: 't' },
      { to: 'a@example.com', subject: 'x'.repeat(999), text: 't' },
      { to: 'a@example.com', subject: 'line\r\nBcc: x@example.com', text: 't' },
      { to: 'a@example.com', subject: 'S' },
      { to: 'a@example.com', subject: 'S', text: 't', template: 'welcome' },
      { to: 'a@example.com', subject: 'S', text: 't', sendAt: '2099-01-01T00:00:00Z' },
      { to: 'a@example.com', subject: 'S', text: 't', sendAt: 'tomorrow' },
      { to: 'a@example.com', subject: 'S', template: 'unknown-template' },
      { to: 'a@example.com', subject: 'S', text: 5 },
      [],
    ]) {
      const r = await send(body);
      assert.equal(r.status, 400, JSON.stringify(body).slice(0, 60));
      assert.equal(codeOf(r), 'VALIDATION_FAILED');
      assert.ok(Array.isArray((r.body as { error: { details: unknown[] } }).error.details));
    }
    const scalar = await send('just a string');
    assert.equal(scalar.status, 400);
    assert.equal(codeOf(scalar), 'MALFORMED_JSON', 'strict JSON: only objects and arrays');
    const empty = await call(`${gw.url}/api/send-email`, { method: 'POST', headers: asA });
    assert.equal(empty.status, 400);
    assert.equal(await gw.emailQueue.count(), before);
  });

  it('GET /api/emails/:id: 400 for a bad id, 404 unknown, 404 for another member, visible to an admin', async () => {
    const r = await send({ to: 'c@example.com', subject: 'Mine', text: 't' });
    const { id } = r.body as { id: string };
    for (const bad of ['123', 'not-a-uuid', `${id}x`]) {
      const res = await call(`${gw.url}/api/emails/${bad}`, { headers: asA });
      assert.equal(res.status, 400, bad);
      assert.equal(codeOf(res), 'VALIDATION_FAILED');
    }
    const unknown = await call(`${gw.url}/api/emails/6f1c0a3e-1111-4222-8333-944444444444`, {
      headers: asA,
    });
    assert.equal(unknown.status, 404);
    assert.equal(codeOf(unknown), 'NOT_FOUND');
    const other = await call(`${gw.url}/api/emails/${id}`, { headers: asB });
    assert.equal(other.status, 404);
    assert.deepEqual(Object.keys(other.body as object), ['error']);
    const admin = await call(`${gw.url}/api/emails/${id}`, { headers: asAdmin });
    assert.equal(admin.status, 200);
    const mine = await call(`${gw.url}/api/emails/${id}`, { headers: asA });
    const view = mine.body as EmailView;
    assert.equal(view.id, id);
    assert.equal(view.status, 'queued');
    assert.equal(view.to, 'c@example.com');
    assert.equal(view.subject, 'Mine');
    assert.equal(view.attempts, 0);
    assert.ok(Date.parse(view.createdAt) > 0 && Date.parse(view.updatedAt) > 0);
    assert.equal(view.sentAt, undefined);
  });

  it('maps BullMQ states: queued → sending → (retry) queued → sent; unrecoverable → failed', async () => {
    await gw.emailQueue.obliterate({ force: true });
    const ok = (await send({ to: 'ok@example.com', subject: 'Will send', text: 't' })).body as {
      id: string;
    };
    const bad = (await send({ to: 'bad@example.com', subject: 'Will fail', text: 't' })).body as {
      id: string;
    };
    const status = async (id: string) =>
      (await call(`${gw.url}/api/emails/${id}`, { headers: asA })).body as EmailView;

    let release: () => void = () => {};
    const gate = new Promise<void>((r) => (release = r));
    const seen = new Map<string, number>();
    const worker = new Worker(
      QUEUES.email,
      async (job: Job) => {
        const attempt = (seen.get(job.id ?? '') ?? 0) + 1;
        seen.set(job.id ?? '', attempt);
        if (job.id === bad.id) throw new UnrecoverableError('550 mailbox unavailable');
        if (attempt === 1) throw new Error('421 try again later');
        await gate;
        return {
          messageId: '<m1@example.com>',
          accepted: ['ok@example.com'],
          sentAt: new Date().toISOString(),
        };
      },
      { connection: workerRedis, prefix: gw.prefix, concurrency: 2 },
    );
    // Counted from the start: both jobs fail concurrently, so awaiting once('failed') twice in a
    // row can miss the second event and wait forever.
    let failures = 0;
    let bothFailed: () => void = () => {};
    const twoFailures = new Promise<void>((r) => (bothFailed = r));
    worker.on('failed', () => {
      if (++failures === 2) bothFailed();
    });
    try {
      // First attempt fails transiently: back to the queue (delayed backoff), one attempt made.
      await twoFailures;
      const retrying = await status(ok.id);
      assert.equal(retrying.status, 'queued');
      assert.equal(retrying.attempts, 1);
      assert.equal(retrying.error, undefined);

      const failed = await status(bad.id);
      assert.equal(failed.status, 'failed');
      assert.equal(failed.error, '550 mailbox unavailable');
      assert.equal(failed.attempts, 1);

      // Second attempt is held in the processor: the job is active.
      for (let i = 0; i < 100 && (await status(ok.id)).status !== 'sending'; i++)
        await new Promise((r) => setTimeout(r, 50));
      assert.equal((await status(ok.id)).status, 'sending');
      const completed = once(worker, 'completed');
      release();
      await completed;
      const sent = await status(ok.id);
      assert.equal(sent.status, 'sent');
      assert.equal(sent.messageId, '<m1@example.com>');
      assert.ok(Date.parse(sent.sentAt ?? '') > 0);
      assert.ok(sent.attempts >= 1);
      assert.ok(Date.parse(sent.updatedAt) >= Date.parse(sent.createdAt));
    } finally {
      release();
      await worker.close();
    }
  });
});
