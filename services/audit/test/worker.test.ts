// The audit worker end to end: real Redis and BullMQ (unique prefix), real Postgres (fresh database).
// Events go through the real `audit` queue with the real producer; only the database URL of the
// outage test points at a closed port to play a Postgres that is down.
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { Job, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { AuditJob, JOB_NAMES, QUEUES, type AuditJobInput } from '@securevault/contracts';
import type { Metrics } from '@securevault/observability';
import {
  closeRedis,
  createDatabase,
  createProducer,
  createRedis,
  createWorker,
  waitForRedis,
  type Producer,
} from '@securevault/service-kit';
import { cleanupRedisPrefix, freePort, uniquePrefix } from '@securevault/testing';
import { sql } from 'kysely';
import { verifyChain } from '../src/chain.ts';
import type { Database } from '../src/db/database.ts';
import type { EventRow } from '../src/db/events.ts';
import { createProcessor, recordEvent } from '../src/processor.ts';
import {
  REDIS_URL,
  logger,
  migratedDatabase,
  sampleEvent,
  testMetrics,
  waitFor,
  type MigratedDatabase,
} from './helpers.ts';

void describe('audit worker', () => {
  let mdb: MigratedDatabase;
  let metrics: Metrics;
  let prefix: string;
  let workerRedis: Redis;
  let producerRedis: Redis;
  let producer: Producer<AuditJobInput>;
  const workers: Worker[] = [];

  const startWorker = (pool = mdb.database.pool) => {
    const worker = createWorker({
      queue: QUEUES.audit,
      schema: AuditJob,
      processor: createProcessor({ pool, logger, metrics }),
      connection: workerRedis,
      prefix,
      concurrency: 4,
      logger,
      metrics,
    });
    workers.push(worker);
    return worker;
  };

  const row = (id: string) =>
    mdb.database.db.selectFrom('audit.events').selectAll().where('id', '=', id).executeTakeFirst();
  const count = async (id: string) => {
    const r = await mdb.database.db
      .selectFrom('audit.events')
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .where('id', '=', id)
      .executeTakeFirstOrThrow();
    return Number(r.n);
  };
  const stored = (id: string, timeoutMs = 10_000) =>
    waitFor<EventRow>(() => row(id), timeoutMs, `event ${id} stored`);
  /** The job once `ready(job)` holds. */
  const jobWhen = (id: string, ready: (job: Job) => boolean | Promise<boolean>, what: string) =>
    waitFor(
      async () => {
        const job = await producer.queue.getJob(id);
        return job && (await ready(job)) ? job : undefined;
      },
      10_000,
      what,
    );
  const completed = async (job: Job) => (await job.getState()) === 'completed';
  /** Runs `fn` while Postgres refuses `test.poison` events: a real refusal, from a trigger. */
  const whilePoisonRefused = async (fn: () => Promise<void>) => {
    await sql`create function audit.test_refuse() returns trigger language plpgsql as $$
      begin
        if new.action = 'test.poison' then raise exception 'refused for the test'; end if;
        return new;
      end $$`.execute(mdb.database.db);
    await sql`create trigger test_refuse before insert on audit.events
      for each row execute function audit.test_refuse()`.execute(mdb.database.db);
    try {
      await fn();
    } finally {
      await sql`drop trigger test_refuse on audit.events`.execute(mdb.database.db);
      await sql`drop function audit.test_refuse()`.execute(mdb.database.db);
    }
  };

  before(async () => {
    mdb = await migratedDatabase();
    metrics = testMetrics();
    prefix = uniquePrefix('audit');
    workerRedis = createRedis({ url: REDIS_URL, name: 'worker', logger, metrics, role: 'worker' });
    producerRedis = createRedis({
      url: REDIS_URL,
      name: 'producer',
      logger,
      metrics,
      role: 'producer',
    });
    await Promise.all([waitForRedis(workerRedis), waitForRedis(producerRedis)]);
    producer = createProducer({
      queue: QUEUES.audit,
      schema: AuditJob,
      connection: producerRedis,
      prefix,
      // What the emitter of every service uses.
      defaultJobOptions: { attempts: 20 },
    });
  });
  afterEach(async () => {
    await Promise.all(workers.splice(0).map((w) => w.close()));
  });
  after(async () => {
    await producer.close();
    await closeRedis(workerRedis);
    await closeRedis(producerRedis);
    await cleanupRedisPrefix(REDIS_URL, prefix);
    await mdb.close();
  });

  void it('stores an event from the queue, masked', async () => {
    startWorker();
    const event = sampleEvent({
      source: 'gateway',
      outcome: 'denied',
      action: 'auth.login.failed',
      actor: { type: 'anonymous', id: null, ip: '203.0.113.9', userAgent: 'evil\r\nforged' },
      target: { type: 'user', id: 'victim@example.com' },
      metadata: {
        email: 'victim@example.com',
        password: 'hunter2',
        headers: { Authorization: 'Bearer abc', cookie: 'sid=1' },
        phone: '+33 6 12 34 56 78',
        attempts: [{ card: '4111 1111 1111 1111' }],
        // Postgres refuses NUL and lone surrogates in jsonb: stored escaped, not retried forever.
        odd: 'a\u0000b x\ud800y',
      },
    });
    await producer.add(event);
    const r = await stored(event.id);
    assert.equal(r.source, 'gateway');
    assert.equal(r.outcome, 'denied');
    assert.equal(r.action, 'auth.login.failed');
    assert.equal(r.actor_type, 'anonymous');
    assert.equal(r.actor_id, null);
    assert.equal(r.ip, '203.0.113.9');
    assert.equal(r.user_agent, 'evil\\r\\nforged');
    assert.equal(r.target_type, 'user');
    assert.equal(r.target_id, 'v***@example.com');
    assert.equal(r.owner_id, event.ownerId);
    assert.equal(r.time.toISOString(), event.time);
    assert.ok(r.received_at instanceof Date);
    assert.deepEqual(r.metadata, {
      email: 'v***@example.com',
      headers: {},
      phone: '+** * ** ** ** 78',
      attempts: [{ card: '**** **** **** 1111' }],
      odd: 'a\\u0000b x\ufffdy',
    });
    assert.doesNotMatch(JSON.stringify(r), /hunter2|victim@|Bearer abc/);
    const counted = await metrics.get('audit_events_total').get();
    assert.deepEqual(
      counted.values.find((v) => v.labels.source === 'gateway' && v.labels.outcome === 'denied')
        ?.value,
      1,
    );
  });

  void it('stores an event delivered twice only once', async () => {
    startWorker();
    const event = sampleEvent();
    // removeOnComplete frees the job id, so the second add is a real second delivery.
    await producer.add(event, { removeOnComplete: true });
    await stored(event.id);
    await waitFor(
      async () => ((await producer.queue.getJob(event.id)) ? undefined : true),
      10_000,
      'first job removed',
    );
    await producer.add(event, { removeOnComplete: true });
    await waitFor(
      async () => ((await producer.queue.getJob(event.id)) ? undefined : true),
      10_000,
      'second job processed',
    );
    assert.equal(await count(event.id), 1);
    // And straight through the processor: the second write is a no-op, not an error.
    assert.equal(
      await recordEvent({ pool: mdb.database.pool, logger, metrics }, event),
      'duplicate',
    );
    assert.equal(await count(event.id), 1);
  });

  void it('stores the events of a batch job in order, and a redelivered batch only once', async () => {
    startWorker();
    const events = Array.from({ length: 3 }, (_, i) =>
      sampleEvent({ target: { type: 'user', id: `batch-${i}@example.com` } }),
    );
    const batch = { id: randomUUID(), events };
    await producer.add(batch, { removeOnComplete: true });
    const rows = await Promise.all(events.map((e) => stored(e.id)));
    const seqs = rows.map((r) => BigInt(r.seq));
    assert.ok(seqs[0]! < seqs[1]! && seqs[1]! < seqs[2]!, 'chained in emission order');
    assert.deepEqual(
      rows.map((r) => r.target_id),
      ['b***@example.com', 'b***@example.com', 'b***@example.com'],
      'masked like single events',
    );
    await waitFor(
      async () => ((await producer.queue.getJob(batch.id)) ? undefined : true),
      10_000,
      'first job removed',
    );
    await producer.add(batch);
    const again = await jobWhen(batch.id, completed, 'second delivery completed');
    assert.deepEqual(again.returnvalue, ['duplicate', 'duplicate', 'duplicate']);
    for (const e of events) assert.equal(await count(e.id), 1);
    assert.equal((await verifyChain(mdb.database.db)).valid, true);
  });

  void it('fails a payload that breaks the contract at once, storing nothing', async () => {
    startWorker();
    const id = randomUUID();
    // Bypasses the producer's own validation, as a buggy or hostile producer would.
    await producer.queue.add(
      JOB_NAMES.audit,
      { id, action: 'NOT AN ACTION', source: 'nobody' },
      { jobId: id, attempts: 20 },
    );
    const job = await jobWhen(id, async (j) => (await j.getState()) === 'failed', 'bad job failed');
    assert.equal(job.attemptsMade, 1);
    assert.match(job.failedReason, /does not match the audit contract/);
    assert.equal(await count(id), 0);
  });

  void it('fails a job with another name on the audit queue', async () => {
    startWorker();
    const event = sampleEvent();
    await producer.queue.add('something-else', event, { jobId: event.id, attempts: 20 });
    const job = await jobWhen(
      event.id,
      async (j) => (await j.getState()) === 'failed',
      'misnamed job failed',
    );
    assert.match(job.failedReason, /unexpected job name/);
    assert.equal(await count(event.id), 0);
  });

  void it('stores the rest of a batch when Postgres refuses one of its events, and that one later', async () => {
    const poison = sampleEvent({ action: 'test.poison' });
    await whilePoisonRefused(async () => {
      const worker = startWorker();
      await worker.pause();
      const good = Array.from({ length: 5 }, () => sampleEvent());
      for (const e of [...good.slice(0, 2), poison, ...good.slice(2)]) {
        await producer.add(e, { backoff: { type: 'fixed', delay: 200 } });
      }
      worker.resume();
      for (const e of good) await stored(e.id);
      // Each good event was stored on its first attempt, whatever batch the refused one was in.
      for (const e of good) {
        assert.equal((await jobWhen(e.id, completed, 'good job completed')).attemptsMade, 1);
      }
      const job = await jobWhen(poison.id, (j) => j.attemptsMade >= 1, 'poison attempted');
      assert.match(job.failedReason, /refused for the test/);
      assert.equal(await count(poison.id), 0);
    });
    // Once Postgres accepts it, the retried job lands and the chain is whole.
    assert.equal((await stored(poison.id, 10_000)).action, 'test.poison');
    assert.equal((await verifyChain(mdb.database.db)).valid, true);
  });

  void it('retries a batch job whole when Postgres refuses one of its events, storing the rest once', async () => {
    const good = [sampleEvent(), sampleEvent()];
    const poison = sampleEvent({ action: 'test.poison' });
    const batch = { id: randomUUID(), events: [good[0]!, poison, good[1]!] };
    await whilePoisonRefused(async () => {
      startWorker();
      await producer.add(batch, { backoff: { type: 'fixed', delay: 200 } });
      for (const e of good) await stored(e.id);
      const failed = await jobWhen(batch.id, (j) => j.attemptsMade >= 1, 'batch attempted');
      assert.match(failed.failedReason, /refused for the test/);
      assert.equal(await count(poison.id), 0);
    });
    const done = await jobWhen(batch.id, completed, 'batch completed');
    assert.deepEqual(done.returnvalue, ['duplicate', 'stored', 'duplicate']);
    for (const e of batch.events) assert.equal(await count(e.id), 1);
    assert.equal((await verifyChain(mdb.database.db)).valid, true);
  });

  void it('keeps retrying while Postgres is down and stores the event once it is back', async () => {
    const port = await freePort();
    const down = createDatabase<Database>({
      url: `postgres://postgres@127.0.0.1:${port}/audit`,
      logger,
      applicationName: 'audit-test-down',
    });
    try {
      const outage = startWorker(down.pool);
      const event = sampleEvent({ action: 'apikey.created' });
      await producer.add(event, { backoff: { type: 'fixed', delay: 200 } });
      const job = await waitFor(
        async () => {
          const j = await producer.queue.getJob(event.id);
          return j && j.attemptsMade >= 2 ? j : undefined;
        },
        15_000,
        'two failed attempts',
      );
      await outage.close();
      const state = await job.getState();
      assert.notEqual(state, 'failed');
      assert.ok(['delayed', 'waiting'].includes(state), state);
      const fresh = await producer.queue.getJob(event.id);
      assert.match(fresh?.failedReason ?? '', /ECONNREFUSED|connect/);
      assert.equal(await count(event.id), 0);

      // Postgres is back (a worker with a working database): the same job lands.
      startWorker();
      const r = await stored(event.id, 15_000);
      assert.equal(r.action, 'apikey.created');
      const done = await jobWhen(event.id, completed, 'job completed');
      assert.ok(done.attemptsMade >= 3, String(done.attemptsMade));
      assert.equal(done.returnvalue, 'stored');
    } finally {
      await down.close();
    }
  });
});
