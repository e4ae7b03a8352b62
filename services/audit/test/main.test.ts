// main.ts as a real process: real Postgres (fresh database), real Redis/BullMQ (unique prefix); SIGTERM shutdown.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { AuditEvent, QUEUES } from '@securevault/contracts';
import { closeRedis, createProducer, createRedis, waitForRedis } from '@securevault/service-kit';
import { cleanupRedisPrefix, freePort, uniquePrefix } from '@securevault/testing';
import { verifyChain } from '../src/chain.ts';
import { loadAuditConfig } from '../src/config.ts';
import { RETENTION_ROLE, WRITER_ROLE } from '../src/migrations/2026_11_21_0100_chain.ts';
import {
  REDIS_URL,
  logger,
  migratedDatabase,
  sampleEvent,
  testMetrics,
  roleUrl,
  waitFor,
  type MigratedDatabase,
} from './helpers.ts';

const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));

interface Started {
  child: ChildProcess;
  lines: Array<Record<string, unknown>>;
  exited: Promise<number | null>;
}

function start(env: Record<string, string>): Started {
  const child = spawn(process.execPath, ['--conditions=securevault-source', MAIN], {
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: Array<Record<string, unknown>> = [];
  let buffer = '';
  const onData = (d: Buffer) => {
    buffer += d.toString();
    const parts = buffer.split('\n');
    buffer = parts.pop() ?? '';
    for (const line of parts) {
      try {
        lines.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        lines.push({ raw: line });
      }
    }
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  return { child, lines, exited };
}

void describe('config', () => {
  void it('has the documented defaults and names a missing variable', () => {
    const config = loadAuditConfig({ DATABASE_URL: 'postgres://u@h/db' });
    assert.equal(config.PORT, 8082);
    assert.equal(config.AUDIT_CONCURRENCY, 100);
    assert.equal(config.DB_POOL_MAX, 10);
    assert.ok(Object.isFrozen(config));
    assert.throws(() => loadAuditConfig({}), /DATABASE_URL: is required/);
    assert.throws(
      () => loadAuditConfig({ DATABASE_URL: 'mysql://secret-host/db' }),
      (err: Error) => /DATABASE_URL/.test(err.message) && !err.message.includes('secret-host'),
    );
  });
});

void describe('main.ts', () => {
  let mdb: MigratedDatabase;
  const prefix = uniquePrefix('audit-main');

  before(async () => {
    mdb = await migratedDatabase();
  });
  after(async () => {
    await cleanupRedisPrefix(REDIS_URL, prefix);
    await mdb.close();
  });

  void it('starts, stores queued events, serves them, reports ready and metrics, and stops on SIGTERM', async () => {
    // The service as deployed: writes as the least-privilege writer role, retention as its own.
    const proc = start({
      DATABASE_URL: roleUrl(mdb.testDb.url, WRITER_ROLE),
      AUDIT_RETENTION_DATABASE_URL: roleUrl(mdb.testDb.url, RETENTION_ROLE),
      AUDIT_RETENTION_INTERVAL_MS: '1000',
      AUDIT_CHAIN_HEAD_INTERVAL_MS: '1000',
      AUDIT_STATS_REFRESH_MS: '1000',
      REDIS_URL,
      QUEUE_PREFIX: prefix,
      PORT: '0',
      MANAGEMENT_PORT: '0',
      // debug: each component logs `closed`, which shows the shutdown order.
      LOG_LEVEL: 'debug',
    });
    try {
      const ready = await waitFor(
        () => Promise.resolve(proc.lines.find((l) => l.msg === 'ready')),
        15_000,
        'ready line',
      );
      const port = ready.port as number;
      const managementPort = ready.managementPort as number;

      const metrics = testMetrics();
      const redis = createRedis({
        url: REDIS_URL,
        name: 'producer',
        logger,
        metrics,
        role: 'producer',
      });
      await waitForRedis(redis);
      const producer = createProducer({
        queue: QUEUES.audit,
        schema: AuditEvent,
        connection: redis,
        prefix,
      });
      const event = sampleEvent({ metadata: { email: 'carol@example.com' } });
      await producer.add(event);
      await producer.close();
      await closeRedis(redis);

      const item = await waitFor(
        async () => {
          const res = await fetch(`http://127.0.0.1:${port}/internal/events/${event.id}`);
          return res.status === 200 ? ((await res.json()) as { metadata: unknown }) : undefined;
        },
        10_000,
        'event served',
      );
      assert.deepEqual(item.metadata, { email: 'c***@example.com' });

      const readyz = await fetch(`http://127.0.0.1:${managementPort}/readyz`);
      assert.equal(readyz.status, 200);
      const text = await (await fetch(`http://127.0.0.1:${managementPort}/metrics`)).text();
      assert.match(text, /audit_events_total\{source="auth",outcome="success"\} 1/);
      assert.match(text, /queue_jobs\{queue="audit"/);

      // The chain head is published periodically: a log line with the hash, and a gauge.
      const head = await waitFor(
        () =>
          Promise.resolve(
            proc.lines.find(
              (l) =>
                l.msg === 'audit chain head' &&
                (l.chainHead as { seq?: string } | undefined)?.seq !== '0',
            ),
          ),
        10_000,
        'chain head line',
      );
      const stored = await mdb.database.db
        .selectFrom('audit.events')
        .select(['seq', 'hash'])
        .where('id', '=', event.id)
        .executeTakeFirstOrThrow();
      assert.deepEqual(head.chainHead, { seq: stored.seq, hash: stored.hash });
      const later = await waitFor(
        async () => {
          const t = await (await fetch(`http://127.0.0.1:${managementPort}/metrics`)).text();
          return /audit_stats_refresh_total\{outcome="success"\} [1-9]/.test(t) ? t : undefined;
        },
        10_000,
        'stats refreshed',
      );
      assert.match(later, new RegExp(`audit_chain_head_seq ${stored.seq}\\b`));
      assert.match(later, /audit_stats_refreshed_timestamp_seconds \d/);
      assert.ok(
        !proc.lines.some((l) => l.msg === 'periodic task failed'),
        'no periodic task failed',
      );

      proc.child.kill('SIGTERM');
      assert.equal(await proc.exited, 0);
      const closed = proc.lines.filter((l) => l.msg === 'closed').map((l) => l.component);
      assert.deepEqual(closed, [
        'http',
        'periodic-tasks',
        'worker',
        'retention-database',
        'alert-producer',
        'queue-metrics',
        'database',
        'redis:worker',
        'management-server',
        'telemetry',
      ]);
      assert.ok(proc.lines.some((l) => l.msg === 'shutdown complete' && l.outcome === 'done'));
    } finally {
      if (proc.child.exitCode === null) proc.child.kill('SIGKILL');
    }
  });

  void it('while Postgres is unreachable: not ready, events wait in the queue; when it returns all land, chained', async () => {
    // A real TCP path to the real Postgres that the test can cut: closed = Postgres is down.
    const proxyPort = await freePort();
    const sockets = new Set<net.Socket>();
    const proxy = net.createServer((client) => {
      const upstream = net.connect(5432, '127.0.0.1');
      for (const s of [client, upstream]) {
        sockets.add(s);
        s.on('error', () => {});
        s.on('close', () => sockets.delete(s));
      }
      client.pipe(upstream).pipe(client);
    });
    const url = new URL(mdb.testDb.url);
    url.port = String(proxyPort);
    const outagePrefix = uniquePrefix('audit-outage');
    const proc = start({
      DATABASE_URL: url.toString(),
      REDIS_URL,
      QUEUE_PREFIX: outagePrefix,
      PORT: '0',
      MANAGEMENT_PORT: '0',
      LOG_LEVEL: 'info',
    });
    const metrics = testMetrics();
    const redis = createRedis({
      url: REDIS_URL,
      name: 'producer',
      logger,
      metrics,
      role: 'producer',
    });
    try {
      const ready = await waitFor(
        () => Promise.resolve(proc.lines.find((l) => l.msg === 'ready')),
        15_000,
        'ready line',
      );
      const managementPort = ready.managementPort as number;
      const readyz = await fetch(`http://127.0.0.1:${managementPort}/readyz`);
      assert.equal(readyz.status, 503);
      assert.match(await readyz.text(), /postgres/);

      await waitForRedis(redis);
      const producer = createProducer({
        queue: QUEUES.audit,
        schema: AuditEvent,
        connection: redis,
        prefix: outagePrefix,
        defaultJobOptions: { attempts: 20, backoff: { type: 'fixed', delay: 300 } },
      });
      const events = Array.from({ length: 25 }, (_, i) => sampleEvent({ metadata: { i } }));
      for (const e of events) await producer.add(e);
      // Attempts fail and the jobs go back to wait; none is failed for good.
      await waitFor(
        async () => {
          const job = await producer.queue.getJob(events[0]?.id ?? '');
          return job && job.attemptsMade >= 2 ? true : undefined;
        },
        15_000,
        'failed attempts while down',
      );
      assert.equal(await producer.queue.getFailedCount(), 0);

      await new Promise<void>((r) => proxy.listen(proxyPort, '127.0.0.1', r));
      await waitFor(
        async () => {
          const n = await mdb.database.db
            .selectFrom('audit.events')
            .select((eb) => eb.fn.countAll<string>().as('n'))
            .where(
              'id',
              'in',
              events.map((e) => e.id),
            )
            .executeTakeFirstOrThrow();
          return Number(n.n) === events.length ? true : undefined;
        },
        20_000,
        'every event stored after the outage',
      );
      await waitFor(
        async () =>
          (await fetch(`http://127.0.0.1:${managementPort}/readyz`)).status === 200
            ? true
            : undefined,
        10_000,
        'ready again',
      );
      assert.equal((await verifyChain(mdb.database.db)).valid, true);
      assert.equal(await producer.queue.getFailedCount(), 0);
      await producer.close();
      proc.child.kill('SIGTERM');
      assert.equal(await proc.exited, 0);
    } finally {
      if (proc.child.exitCode === null) proc.child.kill('SIGKILL');
      await closeRedis(redis);
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => proxy.close(() => r()));
      await cleanupRedisPrefix(REDIS_URL, outagePrefix);
    }
  });

  void it('exits non-zero naming the variable when the configuration is wrong', async () => {
    const proc = start({ REDIS_URL });
    assert.equal(await proc.exited, 1);
    assert.ok(
      proc.lines.some(
        (l) => l.msg === 'start-up failed' && String(l.error).includes('DATABASE_URL'),
      ),
    );
  });
});
