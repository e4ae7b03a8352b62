// Producers, workers, queue metrics and the audit emitter against real Redis and BullMQ.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import {
  AuditEvent,
  EmailJob,
  JOB_NAMES,
  QUEUES,
  RETRY_AFTER_BACKOFF,
} from '@securevault/contracts';
import { Metrics, createLogger } from '@securevault/observability';
import { uniquePrefix, cleanupRedisPrefix } from '@securevault/testing';
import {
  AppError,
  closeRedis,
  createAuditEmitter,
  createProducer,
  createRedis,
  createWorker,
  registerQueueMetrics,
  registerRedisHealth,
  retryAfterBackoff,
  waitForRedis,
} from '../src/index.ts';
import { HealthRegistry } from '@securevault/observability';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const logger = createLogger({ service: 'email-worker', level: 'silent' });
const prefix = uniquePrefix('kit-queue');
let producerConn: Redis;
let workerConn: Redis;
const metrics = new Metrics('email-worker', { defaultMetrics: false });

const emailJob = () => ({
  id: randomUUID(),
  ownerId: randomUUID(),
  to: 'someone@example.com',
  subject: 'Hello',
  text: 'Body',
  queuedAt: new Date().toISOString(),
});

before(async () => {
  producerConn = createRedis({
    url: REDIS_URL,
    name: 'producer',
    logger,
    metrics,
    role: 'producer',
  });
  workerConn = createRedis({ url: REDIS_URL, name: 'worker', logger, metrics, role: 'worker' });
  await waitForRedis(producerConn);
});
after(async () => {
  await closeRedis(producerConn);
  await closeRedis(workerConn);
  await cleanupRedisPrefix(REDIS_URL, prefix);
});

describe('producer and worker', () => {
  it('round-trips a schema-checked job, counts it and reports queue depth', async () => {
    const producer = createProducer({
      queue: QUEUES.email,
      schema: EmailJob,
      connection: producerConn,
      prefix,
    });
    registerQueueMetrics(metrics, [producer.queue]);
    const job = emailJob();
    const id = await producer.add(job);
    assert.equal(id, job.id, 'the payload id is the job id');
    assert.match(await metrics.text(), /queue_jobs\{queue="email",state="waiting"\} 1/);
    const stored = await producer.queue.getJob(id);
    assert.equal(stored?.name, JOB_NAMES.email);
    assert.equal(stored?.opts.attempts, 5);
    const seen: string[] = [];
    const worker = createWorker({
      queue: QUEUES.email,
      schema: EmailJob,
      connection: workerConn,
      prefix,
      logger,
      metrics,
      processor: async (data) => {
        seen.push(data.to);
        return Promise.resolve({ ok: true });
      },
    });
    await new Promise<void>((resolve) => worker.once('completed', () => resolve()));
    await worker.close();
    assert.deepEqual(seen, ['someone@example.com']);
    assert.match(
      await metrics.text(),
      /queue_jobs_processed_total\{queue="email",outcome="completed"\} 1/,
    );
    await producer.queue.obliterate({ force: true });
    await producer.close();
  });

  it('refuses an invalid payload at the producer', async () => {
    const producer = createProducer({
      queue: QUEUES.email,
      schema: EmailJob,
      connection: producerConn,
      prefix,
    });
    await assert.rejects(producer.add({ ...emailJob(), to: 'not-an-address' }), /Invalid email/);
    await producer.close();
  });

  it('fails a job breaking the contract or with a foreign name at once, without retries', async () => {
    const raw = new Queue(QUEUES.email, { connection: producerConn, prefix });
    const bad = await raw.add(JOB_NAMES.email, { id: 'nope' }, { attempts: 3 });
    const foreign = await raw.add('other-name', emailJob(), { attempts: 3 });
    const worker = createWorker({
      queue: QUEUES.email,
      schema: EmailJob,
      connection: workerConn,
      prefix,
      logger,
      metrics,
      processor: () => Promise.resolve('never'),
    });
    let failures = 0;
    await new Promise<void>((resolve) =>
      worker.on('failed', () => {
        if (++failures === 2) resolve();
      }),
    );
    await worker.close();
    for (const id of [bad.id, foreign.id]) {
      const job = await raw.getJob(id ?? '');
      assert.equal(await job?.getState(), 'failed');
      assert.equal(job?.attemptsMade, 1, 'unrecoverable: no retry');
    }
    assert.match(
      await metrics.text(),
      /queue_jobs_processed_total\{queue="email",outcome="failed"\} 2/,
    );
    await raw.obliterate({ force: true });
    await raw.close();
  });
});

describe('producer when Redis is down', () => {
  it('answers SERVICE_UNAVAILABLE at once instead of hanging', async () => {
    const dead = createRedis({
      url: 'redis://127.0.0.1:1',
      name: 'dead',
      logger,
      metrics,
      role: 'producer',
    });
    const health = new HealthRegistry();
    registerRedisHealth(health, 'dead', dead);
    const producer = createProducer({
      queue: QUEUES.email,
      schema: EmailJob,
      connection: dead,
      prefix,
    });
    const started = Date.now();
    await assert.rejects(producer.add(emailJob()), (err: unknown) => {
      assert.ok(err instanceof AppError);
      assert.equal(err.status, 503);
      assert.equal(err.headers?.['Retry-After'], '5');
      return true;
    });
    assert.ok(Date.now() - started < 2000, 'fails fast');
    assert.equal((await health.readiness()).ready, false);
    await assert.rejects(waitForRedis(dead, 50), /not ready after 50 ms/);
    assert.match(await metrics.text(), /redis_connection_up\{client="dead"\} 0/);
    await producer.close().catch(() => undefined);
    await closeRedis(dead);
  });
});

describe('createAuditEmitter', () => {
  it('enqueues contract-shaped events with the request id and reports failures as false', async () => {
    const emitter = createAuditEmitter({
      source: 'email-worker',
      connection: producerConn,
      prefix,
      logger,
      metrics,
    });
    const ownerId = randomUUID();
    assert.equal(
      await emitter.emit({
        actor: { type: 'service', id: 'email-worker' },
        action: 'email.sent',
        outcome: 'success',
        ownerId,
        requestId: 'r-1',
      }),
      true,
    );
    const [job] = await emitter.producer.queue.getJobs(['waiting']);
    const event = AuditEvent.parse(job?.data);
    assert.equal(event.action, 'email.sent');
    assert.equal(event.source, 'email-worker');
    assert.equal(event.ownerId, ownerId);
    assert.equal(event.requestId, 'r-1');
    assert.equal(job?.opts.attempts, 20);
    await emitter.producer.queue.obliterate({ force: true });
    await emitter.close();

    const dead = createRedis({
      url: 'redis://127.0.0.1:1',
      name: 'dead-audit',
      logger,
      metrics,
      role: 'producer',
    });
    const failing = createAuditEmitter({
      source: 'email-worker',
      connection: dead,
      prefix,
      logger,
      metrics,
    });
    assert.equal(
      await failing.emit({
        actor: { type: 'anonymous', id: null },
        action: 'email.failed',
        outcome: 'failure',
        ownerId: null,
      }),
      false,
    );
    assert.match(await metrics.text(), /audit_emit_failures_total 1/);
    await failing.close().catch(() => undefined);
    await closeRedis(dead);
  });
});

describe('retryAfterBackoff', () => {
  const job = { opts: { backoff: { ...RETRY_AFTER_BACKOFF, delay: 100, jitter: 0 } } };
  const withWait = (ms: unknown) => Object.assign(new Error('429'), { retryAfterMs: ms });

  it('is exponential without a Retry-After, and never below one when there is', () => {
    assert.equal(retryAfterBackoff(1, 'retry-after', new Error('x'), job), 100);
    assert.equal(retryAfterBackoff(3, 'retry-after', new Error('x'), job), 400);
    assert.equal(retryAfterBackoff(1, 'retry-after', withWait(2_500), job), 2_500);
    // The exponential step is longer than the provider asked: keep it.
    assert.equal(retryAfterBackoff(6, 'retry-after', withWait(50), job), 3_200);
    assert.equal(retryAfterBackoff(1, 'retry-after', withWait('soon'), job), 100);
  });

  it('keeps the jitter inside the exponential step', () => {
    const jittered = { opts: { backoff: { ...RETRY_AFTER_BACKOFF, delay: 1_000 } } };
    for (let i = 0; i < 50; i++) {
      const d = retryAfterBackoff(2, 'retry-after', undefined, jittered);
      assert.ok(d >= 1_000 && d <= 2_000, String(d));
    }
  });

  it('fails a job whose backoff type nobody knows instead of guessing', () => {
    assert.equal(retryAfterBackoff(1, 'linear', new Error('x'), job), -1);
  });

  it('is what a worker from createWorker uses: a retry waits for the error’s Retry-After', async () => {
    const prefix = uniquePrefix('retry-after');
    const logger = createLogger({ service: 'test', level: 'silent' });
    const metrics = new Metrics('email-worker', { defaultMetrics: false });
    const connection = createRedis({ url: REDIS_URL, name: 'w', logger, metrics, role: 'worker' });
    const producerRedis = createRedis({
      url: REDIS_URL,
      name: 'p',
      logger,
      metrics,
      role: 'producer',
    });
    await Promise.all([waitForRedis(connection), waitForRedis(producerRedis)]);
    const producer = createProducer({
      queue: QUEUES.email,
      schema: EmailJob,
      connection: producerRedis,
      prefix,
    });
    let calls = 0;
    const worker = createWorker({
      queue: QUEUES.email,
      schema: EmailJob,
      connection,
      prefix,
      logger,
      metrics,
      processor: () => {
        calls++;
        return Promise.reject(
          Object.assign(new Error('come back later'), { retryAfterMs: 3_600_000 }),
        );
      },
    });
    try {
      const id = randomUUID();
      await producer.add(
        {
          id,
          ownerId: randomUUID(),
          to: 'a@customer.test',
          subject: 's',
          text: 't',
          queuedAt: new Date().toISOString(),
        },
        { attempts: 3, backoff: { ...RETRY_AFTER_BACKOFF, delay: 10 } },
      );
      const deadline = Date.now() + 10_000;
      while ((await producer.queue.getJobState(id)) !== 'delayed' && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 20));
      }
      const job = await producer.queue.getJob(id);
      assert.equal(await producer.queue.getJobState(id), 'delayed');
      assert.equal(job?.attemptsMade, 1);
      assert.equal(calls, 1);
      // Scheduled an hour after the failure, not after the job's 10 ms backoff.
      assert.ok((job?.delay ?? 0) >= 3_600_000, `delay ${job?.delay}`);
    } finally {
      await worker.close();
      await producer.close();
      await connection.quit();
      await producerRedis.quit();
      await cleanupRedisPrefix(REDIS_URL, prefix);
    }
  });
});
