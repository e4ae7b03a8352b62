// The send record when Redis fails around it. Real: Redis, BullMQ (queue and worker, with its
// retries), the delivery store, nodemailer's SMTP client. Stand-in (outside our system): the SMTP
// server (the testing lib's sink, real SMTP). Injected: Redis errors on chosen store calls, the
// way a connection lost mid-attempt surfaces in the processor.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Queue, type ConnectionOptions, type Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { EmailJob, JOB_NAMES, QUEUES, deliveryKeys } from '@securevault/contracts';
import { Metrics, createLogger } from '@securevault/observability';
import { createWorker } from '@securevault/service-kit';
import {
  cleanupRedisPrefix,
  startSmtpSink,
  uniquePrefix,
  type SmtpSink,
} from '@securevault/testing';
import { NOT_SENT_MARK, createEmailProcessor } from '../src/processor.ts';
import { createDeliveryStore, type DeliveryStore } from '../src/store.ts';
import { createSmtpTransport, type SmtpTransport } from '../src/transport.ts';
import { FROM, REDIS_URL, emailJob, waitForState } from './harness.ts';

type Fault = 'claim-lost-reply' | 'mark-sent' | 'release';

describe('the send record when Redis fails mid-attempt', () => {
  let sink: SmtpSink;
  let redis: Redis;
  let transport: SmtpTransport;
  const prefix = uniquePrefix('send-record');
  const logger = createLogger({ service: 'email-worker', level: 'silent' });
  const metrics = new Metrics('email-worker', { defaultMetrics: false });
  let queue: Queue;
  let worker: Worker;
  const workerRedis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  /** the faults still to inject, one per store call of that kind */
  const faults: Fault[] = [];

  before(async () => {
    // 451 on the first RCPT of a "defer" address, then accepted: a transient refusal.
    const deferred = new Set<string>();
    sink = await startSmtpSink({
      failRecipients: (address) => {
        if (!address.startsWith('defer') || deferred.has(address)) return undefined;
        deferred.add(address);
        return 451;
      },
    });
    redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
    transport = createSmtpTransport({ url: sink.url, maxConnections: 2, timeoutMs: 3000, logger });
    const real = createDeliveryStore(redis, prefix);
    const lost = () => new Error('Connection is closed.');
    const store: DeliveryStore = {
      ...real,
      async claim(...args) {
        const outcome = await real.claim(...args);
        // The script ran on the server; its reply never came back.
        if (faults[0] === 'claim-lost-reply') {
          faults.shift();
          throw lost();
        }
        return outcome;
      },
      async markSent(...args) {
        // After the server's 250: the record cannot say so.
        if (faults[0] === 'mark-sent') {
          faults.shift();
          throw lost();
        }
        await real.markSent(...args);
      },
      async release(id) {
        if (faults[0] === 'release') {
          faults.shift();
          throw lost();
        }
        await real.release(id);
      },
    };
    worker = createWorker({
      queue: QUEUES.email,
      schema: EmailJob,
      processor: createEmailProcessor({
        transport,
        from: FROM,
        store,
        notify: () => Promise.resolve(),
        logger,
        metrics,
        audit: { emit: () => Promise.resolve(true) },
      }),
      connection: workerRedis,
      prefix,
      concurrency: 1,
      logger,
      metrics,
    });
    queue = new Queue(QUEUES.email, { connection: redis as ConnectionOptions, prefix });
  });
  after(async () => {
    await worker.close();
    await workerRedis.quit();
    await queue.close();
    transport.close();
    await redis.quit();
    await cleanupRedisPrefix(REDIS_URL, prefix);
    await sink.close();
  });

  async function run(fault: Fault, to?: string) {
    faults.push(fault);
    const job = emailJob(to === undefined ? {} : { to });
    await queue.add(JOB_NAMES.email, job, {
      jobId: job.id,
      attempts: 3,
      backoff: { type: 'fixed', delay: 20 },
    });
    const done = await waitForState(queue, job.id, ['completed', 'failed']);
    assert.equal(faults.length, 0, 'the fault was injected');
    const messages = sink.messages.filter((m) => m.messageId === `<${job.id}@securevault.test>`);
    const history = (await redis.lrange(deliveryKeys.history(prefix, job.id), 0, -1)).map(
      (line) => JSON.parse(line) as { status: string; attempt: number; reason?: string },
    );
    return { job, done, messages, history };
  }

  for (const fault of ['claim-lost-reply'] as const) {
    it(`an attempt that lost Redis before SMTP (${fault}) leaves the next one free to send`, async () => {
      const { done, messages, history } = await run(fault);
      assert.equal(await done.getState(), 'completed');
      assert.equal(done.attemptsMade, 2);
      assert.equal(messages.length, 1, 'delivered once, not recorded as sent unsent');
      assert.ok(history.every((h) => !h.reason?.startsWith('unconfirmed')));
      assert.equal(history.at(-1)?.status, 'sent');
      assert.equal(history.at(-1)?.attempt, 2);
      assert.ok(done.failedReason.startsWith(NOT_SENT_MARK), done.failedReason);
    });
  }

  it('a send whose 250 could not be recorded is never sent again: the retry records it unconfirmed', async () => {
    const { done, messages, history } = await run('mark-sent');
    assert.equal(await done.getState(), 'completed');
    assert.equal(done.attemptsMade, 2);
    assert.equal(messages.length, 1, 'the server has it once');
    assert.deepEqual(
      history.map((h) => [h.status, h.attempt]),
      [
        ['sending', 1],
        ['sent', 2],
      ],
    );
    assert.match(history.at(-1)?.reason ?? '', /^unconfirmed/);
    assert.ok(!done.failedReason.startsWith(NOT_SENT_MARK), 'a send is never marked "not sent"');
  });

  it('a definite refusal that could not be recorded is retried, not taken for a send', async () => {
    const { done, messages, history } = await run('release', 'defer.once@customer.test');
    assert.equal(await done.getState(), 'completed');
    assert.equal(messages.length, 1);
    assert.equal(history.at(-1)?.status, 'sent');
    assert.equal(history.at(-1)?.attempt, 2);
    assert.match(done.failedReason, /^\[not sent\] .*451/);
  });

  it('a claim left by an attempt that did not fail cleanly is still never resent', async () => {
    // As after a crash mid-conversation: the record says "sending" and no failure says "not sent".
    const job = emailJob();
    const store = createDeliveryStore(redis, prefix);
    await store.claim(job.id, `<${job.id}@securevault.test>`, 1);
    await queue.add(JOB_NAMES.email, job, { jobId: job.id, attempts: 1 });
    const done = await waitForState(queue, job.id, ['completed', 'failed']);
    assert.equal(await done.getState(), 'completed');
    assert.equal(sink.messages.filter((m) => m.to.includes(job.to)).length, 0);
  });

  it('only the attempt named as not sent can be retaken', async () => {
    const store = createDeliveryStore(redis, prefix);
    const id = emailJob().id;
    assert.equal((await store.claim(id, 'm', 1)).kind, 'claimed');
    assert.equal((await store.claim(id, 'm', 2)).kind, 'unknown');
    assert.equal((await store.claim(id, 'm', 3, 2)).kind, 'unknown', 'attempt 1 holds it');
    assert.equal((await store.claim(id, 'm', 2, 1)).kind, 'claimed');
    await store.markSent(id, { messageId: 'm', accepted: [], sentAt: new Date().toISOString() });
    assert.equal((await store.claim(id, 'm', 3, 2)).kind, 'sent', 'a send is never retaken');
  });
});
