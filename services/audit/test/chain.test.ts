// The hash chain against real Postgres and real Redis/BullMQ: RFC 8785 canonical JSON, two workers
// appending at once, verification after tampering as a superuser, the writer and retention roles.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { sql } from 'kysely';
import type { Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { AuditEvent, QUEUES } from '@securevault/contracts';
import {
  closeRedis,
  createDatabase,
  createProducer,
  createRedis,
  createWorker,
  waitForRedis,
  type Producer,
} from '@securevault/service-kit';
import { cleanupRedisPrefix, uniquePrefix } from '@securevault/testing';
import { canonicalize } from '../src/canonical.ts';
import { GENESIS_HASH, hashStored, verifyChain } from '../src/chain.ts';
import type { Database } from '../src/db/database.ts';
import { rowToStored } from '../src/db/events.ts';
import { runRetention } from '../src/maintenance.ts';
import { RETENTION_ROLE, WRITER_ROLE } from '../src/migrations/2026_11_21_0100_chain.ts';
import { createProcessor, recordEvent, storeBatch } from '../src/processor.ts';
import {
  REDIS_URL,
  logger,
  migratedDatabase,
  roleUrl,
  sampleEvent,
  testMetrics,
  waitFor,
  type MigratedDatabase,
} from './helpers.ts';

void describe('canonicalize (RFC 8785)', () => {
  void it('matches the RFC 8785 section 3.2.2 example byte for byte', () => {
    const input = JSON.parse(
      '{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],' +
        '"string": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/",' +
        '"literals": [null, true, false]}',
    ) as unknown;
    assert.equal(
      canonicalize(input),
      '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],' +
        '"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}',
    );
  });

  void it('sorts keys by UTF-16 code units as in RFC 8785 section 3.2.3', () => {
    const input = JSON.parse(
      '{"\\u20ac":"Euro Sign","\\r":"Carriage Return","\\ufb33":"Hebrew Letter Dalet With Dagesh",' +
        '"1":"One","\\ud83d\\ude00":"Emoji: Grinning Face","\\u0080":"Control",' +
        '"\\u00f6":"Latin Small Letter O With Diaeresis"}',
    ) as Record<string, string>;
    // Compared as text: parsing it back would move the integer-like key "1" first again.
    assert.equal(
      canonicalize(input),
      '{"\\r":"Carriage Return","1":"One","\u0080":"Control",' +
        '"\u00f6":"Latin Small Letter O With Diaeresis","\u20ac":"Euro Sign",' +
        '"\ud83d\ude00":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}',
    );
  });

  void it('serialises numbers as RFC 8785 appendix B does and refuses what JSON cannot hold', () => {
    const cases: Array<[number, string]> = [
      [0, '0'],
      [-0, '0'],
      [5e-324, '5e-324'],
      [1.7976931348623157e308, '1.7976931348623157e+308'],
      [9007199254740992, '9007199254740992'],
      [295147905179352830000, '295147905179352830000'],
      [1e21, '1e+21'],
      [1e-7, '1e-7'],
      [0.000001, '0.000001'],
    ];
    for (const [n, text] of cases) assert.equal(canonicalize(n), text);
    assert.equal(
      canonicalize({ b: [1, { d: undefined, c: 'x' }], a: null }),
      '{"a":null,"b":[1,{"c":"x"}]}',
    );
    assert.throws(() => canonicalize(Number.NaN), /NaN/);
    assert.throws(() => canonicalize('\ud800'), /well formed/);
    assert.throws(() => canonicalize(() => 1), /function/);
  });
});

void describe('hash chain', () => {
  let mdb: MigratedDatabase;
  let prefix: string;
  let producerRedis: Redis;
  let producer: Producer<AuditEvent>;

  before(async () => {
    mdb = await migratedDatabase();
    prefix = uniquePrefix('audit-chain');
    const metrics = testMetrics();
    producerRedis = createRedis({
      url: REDIS_URL,
      name: 'producer',
      logger,
      metrics,
      role: 'producer',
    });
    await waitForRedis(producerRedis);
    producer = createProducer({
      queue: QUEUES.audit,
      schema: AuditEvent,
      connection: producerRedis,
      prefix,
    });
  });
  after(async () => {
    await producer.close();
    await closeRedis(producerRedis);
    await cleanupRedisPrefix(REDIS_URL, prefix);
    await mdb.close();
  });

  void it('links each event to the previous one with sha256(canonical JSON ‖ prev_hash)', async () => {
    const metrics = testMetrics();
    const first = sampleEvent({ metadata: { n: 1, nested: { b: 2, a: [1.5, 'x'] } } });
    const second = sampleEvent({ time: '2026-11-21T10:00:00.123456Z' });
    await recordEvent({ pool: mdb.database.pool, logger, metrics }, first);
    await recordEvent({ pool: mdb.database.pool, logger, metrics }, second);
    const [a, b] = await mdb.chainRows();
    assert.ok(a && b);
    assert.equal(a.prev_hash, GENESIS_HASH);
    const expected = createHash('sha256')
      .update(canonicalize(rowToStored(a)) + GENESIS_HASH)
      .digest('hex');
    assert.equal(a.hash, expected);
    assert.equal(b.prev_hash, a.hash);
    assert.equal(b.hash, hashStored(rowToStored(b), a.hash));
    // Stored at millisecond precision: what is read back is what was hashed.
    assert.equal(b.time.toISOString(), '2026-11-21T10:00:00.123Z');
    assert.deepEqual(await verifyChain(mdb.database.db), {
      valid: true,
      checked: 2,
      firstBrokenSeq: null,
      reason: null,
      head: { seq: b.seq, hash: b.hash },
      anchor: { seq: '0', hash: GENESIS_HASH, kind: 'genesis' },
    });
    const metricValues = await metrics.get('audit_chain_head_seq').get();
    assert.equal(metricValues.values[0]?.value, Number(b.seq));
  });

  void it('stays one valid chain with two workers (separate pools, as two replicas) writing at once', async () => {
    const before = (await mdb.chainRows()).length;
    const workerRedis = [0, 1].map(() =>
      createRedis({
        url: REDIS_URL,
        name: 'worker',
        logger,
        metrics: testMetrics(),
        role: 'worker',
      }),
    );
    const pools = [0, 1].map(() =>
      createDatabase<Database>({ url: mdb.testDb.url, logger, applicationName: 'audit-replica' }),
    );
    const batchMetrics = [testMetrics(), testMetrics()];
    const workers: Worker[] = [0, 1].map((i) =>
      createWorker({
        queue: QUEUES.audit,
        schema: AuditEvent,
        processor: createProcessor({
          pool: (pools[i] ?? pools[0]!).pool,
          logger,
          metrics: batchMetrics[i] ?? testMetrics(),
          batch: { maxSize: 25, lingerMs: 5 },
        }),
        connection: workerRedis[i] as Redis,
        prefix,
        concurrency: 16,
        logger,
        metrics: testMetrics(),
      }),
    );
    try {
      const events = Array.from({ length: 400 }, (_, i) => sampleEvent({ metadata: { i } }));
      await Promise.all(events.map((e) => producer.add(e)));
      await waitFor(
        async () => ((await mdb.chainRows()).length >= before + 400 ? true : undefined),
        30_000,
        'all 400 events stored',
      );
      const all = await mdb.chainRows();
      assert.equal(all.length, before + 400);
      assert.equal(new Set(all.map((r) => r.id)).size, all.length);
      const result = await verifyChain(mdb.database.db);
      assert.equal(result.valid, true, JSON.stringify(result));
      assert.equal(result.checked, all.length);
      // Both replicas wrote, and in batches of more than one event.
      const sums = await Promise.all(
        batchMetrics.map(async (m) => {
          const h = await m.get('audit_batch_size').get();
          const count = h.values.find((v) => v.metricName === 'audit_batch_size_count')?.value ?? 0;
          const sum = h.values.find((v) => v.metricName === 'audit_batch_size_sum')?.value ?? 0;
          return { count, sum };
        }),
      );
      assert.ok(
        sums.every((x) => x.count > 0),
        'each replica wrote',
      );
      assert.equal(
        sums.reduce((s, x) => s + x.sum, 0),
        400,
      );
      assert.ok(
        sums.some((x) => x.sum > x.count),
        'some batch held several events',
      );
    } finally {
      await Promise.all(workers.map((w) => w.close()));
      await Promise.all(workerRedis.map((r) => closeRedis(r)));
      await Promise.all(pools.map((p) => p.close()));
    }
  });

  void it('reports the first broken seq after a row is changed or deleted as a superuser', async () => {
    const all = await mdb.chainRows();
    const victim = all[10];
    const next = all[11];
    const later = all[20];
    assert.ok(victim && next && later);
    const db = mdb.database.db;
    await sql`update audit.events set metadata = '{"i": -1}' where seq = ${victim.seq}`.execute(db);
    assert.deepEqual(
      { ...(await verifyChain(db)), head: null, anchor: null },
      {
        valid: false,
        checked: 11,
        firstBrokenSeq: victim.seq,
        reason: 'hash_mismatch',
        head: null,
        anchor: null,
      },
    );
    // A range after the damage still verifies; one that covers it does not.
    assert.equal((await verifyChain(db, { fromSeq: next.seq })).valid, true);
    assert.equal(
      (await verifyChain(db, { fromSeq: all[5]?.seq, toSeq: all[15]?.seq })).firstBrokenSeq,
      victim.seq,
    );
    await sql`update audit.events set metadata = ${JSON.stringify(victim.metadata)}::jsonb where seq = ${victim.seq}`.execute(
      db,
    );
    assert.equal((await verifyChain(db)).valid, true);

    await sql`delete from audit.events where seq = ${later.seq}`.execute(db);
    const broken = await verifyChain(db);
    assert.equal(broken.valid, false);
    assert.equal(broken.reason, 'prev_hash_mismatch');
    assert.equal(broken.firstBrokenSeq, all[21]?.seq);
    // Put it back exactly: the chain is whole again.
    await sql`insert into audit.events select * from json_populate_record(null::audit.events, ${JSON.stringify(
      {
        ...later,
        time: later.time.toISOString(),
        received_at: later.received_at.toISOString(),
      },
    )}::json)`.execute(db);
    assert.equal((await verifyChain(db)).valid, true);
  });

  void it('lets the writer role only insert and select events; retention drops whole months under its own role', async () => {
    const writer = createDatabase<Database>({
      url: roleUrl(mdb.testDb.url, WRITER_ROLE),
      logger,
      applicationName: 'audit-writer',
    });
    const retention = createDatabase<Database>({
      url: roleUrl(mdb.testDb.url, RETENTION_ROLE),
      logger,
      applicationName: 'audit-retention',
    });
    try {
      const metrics = testMetrics();
      const event = sampleEvent();
      assert.equal(await recordEvent({ pool: writer.pool, logger, metrics }, event), 'stored');
      const denied = /permission denied/;
      await assert.rejects(
        sql`update audit.events set action = 'x.y' where id = ${event.id}`.execute(writer.db),
        denied,
      );
      await assert.rejects(
        sql`delete from audit.events where id = ${event.id}`.execute(writer.db),
        denied,
      );
      await assert.rejects(sql`truncate audit.events`.execute(writer.db), denied);
      await assert.rejects(sql`delete from audit.alerts`.execute(writer.db), denied);
      await assert.rejects(
        sql`drop table audit.events_default`.execute(writer.db),
        /must be owner/,
      );
      await assert.rejects(
        sql`select audit.drop_partitions_before(now())`.execute(writer.db),
        denied,
      );
      await assert.rejects(sql`delete from audit.events`.execute(retention.db), denied);
      await assert.rejects(
        storeBatch({ pool: retention.pool, logger, metrics }, [sampleEvent()]),
        denied,
      );

      // Move the oldest 30 events into a month long past (as a superuser: the partition key is
      // not hashed), then let retention drop that month.
      const all = await mdb.chainRows();
      const cut = all[29];
      assert.ok(cut);
      await sql`select audit.create_month_partition('2024-01-01')`.execute(mdb.database.db);
      await sql`update audit.events set received_at = '2024-01-15T00:00:00Z' where seq <= ${cut.seq}`.execute(
        mdb.database.db,
      );
      const dropped = await runRetention(retention.db, { logger, metrics }, 365);
      assert.deepEqual(dropped, ['events_2024_01']);
      assert.equal((await mdb.chainRows()).length, all.length - 30);
      const checkpoints = await mdb.database.db
        .selectFrom('audit.chain_checkpoints')
        .selectAll()
        .execute();
      assert.deepEqual(
        checkpoints.map((c) => [c.seq, c.hash, c.partition]),
        [[cut.seq, cut.hash, 'events_2024_01']],
      );
      const result = await verifyChain(writer.db);
      assert.equal(result.valid, true, JSON.stringify(result));
      assert.deepEqual(result.anchor, { seq: cut.seq, hash: cut.hash, kind: 'checkpoint' });
      assert.equal(result.checked, all.length - 30);
      const counted = await metrics.get('audit_retention_partitions_dropped_total').get();
      assert.equal(counted.values[0]?.value, 1);
      // Nothing left to drop: a second run is a no-op; this month's partition is untouched.
      assert.deepEqual(await runRetention(retention.db, { logger, metrics }, 365), []);
      // The chain continues after the checkpoint.
      await recordEvent({ pool: writer.pool, logger, metrics }, sampleEvent());
      assert.equal((await verifyChain(writer.db)).valid, true);
    } finally {
      await writer.close();
      await retention.close();
    }
  });
});
