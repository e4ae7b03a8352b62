// Operations: config errors, migrations up/down/up, the migrate/admin CLIs, main.ts start-up and
// shutdown, and dependencies being down.
// Real: Postgres (fresh databases), Redis, child Node processes running the real entrypoints.
// Stand-ins: none; "down" dependencies are closed ports on 127.0.0.1.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Queue } from 'bullmq';
import { sql } from 'kysely';
import { AuditEvent, QUEUES } from '@securevault/contracts';
import { Metrics, createLogger } from '@securevault/observability';
import {
  ConfigError,
  closeRedis,
  createAuditEmitter,
  createDatabase,
  createRedis,
  listen,
  migrateToLatest,
} from '@securevault/service-kit';
import {
  cleanupRedisPrefix,
  createTestDatabase,
  uniquePrefix,
  type TestDatabase,
} from '@securevault/testing';
import { createApp } from '../src/app.ts';
import { createRevocations } from '../src/revocations.ts';
import { loadAuthConfig } from '../src/config.ts';
import type { Database } from '../src/db/database.ts';
import { migrations } from '../src/migrations/index.ts';
import { REDIS_URL, SECRET, startHarness } from './helpers.ts';

const SRC = fileURLToPath(new URL('../src/', import.meta.url));
const DOWN_PG = 'postgres://postgres@127.0.0.1:1/nowhere';
const DOWN_REDIS = 'redis://127.0.0.1:1';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runNode(script: string, args: string[], env: Record<string, string>): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--conditions=securevault-source', join(SRC, script), ...args],
      {
        env: { PATH: process.env.PATH ?? '', ...env },
      },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

async function tables(url: string): Promise<string[]> {
  const logger = createLogger({ service: 'auth', level: 'silent' });
  const database = createDatabase({ url, logger, applicationName: 'auth-test', max: 1 });
  try {
    const { rows } = await sql<{ table_name: string }>`
      select table_name from information_schema.tables where table_schema = 'auth' and table_name not like 'kysely%' order by 1`.execute(
      database.db,
    );
    return rows.map((r) => r.table_name);
  } finally {
    await database.close();
  }
}

void describe('configuration', () => {
  const base = { DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/x', SESSION_SECRET: SECRET };

  void it('applies defaults and lower-cases ADMIN_EMAILS', () => {
    const config = loadAuthConfig({ ...base, ADMIN_EMAILS: 'Root@Example.com, ops@example.com' });
    assert.equal(config.PORT, 8081);
    assert.equal(config.SESSION_TTL_SECONDS, 3600);
    assert.equal(config.SESSION_IDLE_SECONDS, 1800);
    assert.equal(config.DB_POOL_MAX, 10);
    assert.deepEqual(config.ADMIN_EMAILS, ['root@example.com', 'ops@example.com']);
    assert.ok(Object.isFrozen(config));
  });

  void it('reads SESSION_SECRET from SESSION_SECRET_FILE', () => {
    const dir = mkdtempSync(join(tmpdir(), 'auth-secret-'));
    writeFileSync(join(dir, 'secret'), `${SECRET}\n`);
    const config = loadAuthConfig({
      DATABASE_URL: base.DATABASE_URL,
      SESSION_SECRET_FILE: join(dir, 'secret'),
    });
    assert.equal(config.SESSION_SECRET, SECRET);
  });

  void it('names the variables that are wrong, never their values', () => {
    const shortSecret = 'short-but-secret-value';
    const badUrl = 'mysql://user:hunter2@db/x';
    assert.throws(
      () =>
        loadAuthConfig({
          DATABASE_URL: badUrl,
          SESSION_SECRET: shortSecret,
          SESSION_TTL_SECONDS: 'soon',
        }),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.deepEqual([...err.variables].sort(), [
          'DATABASE_URL',
          'SESSION_SECRET',
          'SESSION_TTL_SECONDS',
        ]);
        for (const value of [shortSecret, 'hunter2', 'soon'])
          assert.ok(!err.message.includes(value));
        return true;
      },
    );
    assert.throws(
      () => loadAuthConfig({}),
      (err: unknown) => err instanceof ConfigError && err.variables.includes('SESSION_SECRET'),
    );
  });
});

void describe('migrations and CLIs', () => {
  let testDb: TestDatabase;
  before(async () => {
    testDb = await createTestDatabase();
  });
  after(async () => {
    await testDb.drop();
  });

  void it('migrates up, down, and up again through migrate.ts', async () => {
    const env = { DATABASE_URL: testDb.url, LOG_LEVEL: 'warn' };
    const up = await runNode('migrate.ts', [], env);
    assert.equal(up.code, 0, up.stderr);
    assert.deepEqual(await tables(testDb.url), ['api_keys', 'sessions', 'users']);
    const down = await runNode('migrate.ts', ['down'], env);
    assert.equal(down.code, 0, down.stderr);
    assert.deepEqual(await tables(testDb.url), []);
    const again = await runNode('migrate.ts', ['up'], env);
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(await tables(testDb.url), ['api_keys', 'sessions', 'users']);
  });

  void it('exits non-zero on failure, naming the problem but not the secret', async () => {
    const missing = await runNode('migrate.ts', [], {});
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /DATABASE_URL: is required/);
    const unreachable = await runNode('migrate.ts', [], {
      DATABASE_URL: 'postgres://postgres:hunter2@127.0.0.1:1/x',
    });
    assert.equal(unreachable.code, 1);
    assert.ok(!unreachable.stderr.includes('hunter2'));
    const direction = await runNode('migrate.ts', ['sideways'], { DATABASE_URL: testDb.url });
    assert.equal(direction.code, 1);
    assert.match(direction.stderr, /unknown direction/);
  });

  void it('promotes a user with admin.ts and fails clearly for an unknown email', async () => {
    const prefix = uniquePrefix('auth-admin');
    const logger = createLogger({ service: 'auth', level: 'silent' });
    const database = createDatabase<Database>({
      url: testDb.url,
      logger,
      applicationName: 'auth-test',
      max: 1,
    });
    try {
      const user = await database.db
        .insertInto('auth.users')
        .values({ email: 'ops@example.com', password_hash: 'x' })
        .returning('id')
        .executeTakeFirstOrThrow();
      const env = { DATABASE_URL: testDb.url, REDIS_URL, QUEUE_PREFIX: prefix };
      const ok = await runNode('admin.ts', ['promote', 'OPS@example.com'], env);
      assert.equal(ok.code, 0, ok.stderr);
      assert.match(ok.stdout, /is now an admin/);
      const row = await database.db
        .selectFrom('auth.users')
        .select('role')
        .where('id', '=', user.id)
        .executeTakeFirstOrThrow();
      assert.equal(row.role, 'admin');
      const queue = new Queue(QUEUES.audit, { connection: { url: REDIS_URL }, prefix });
      const jobs = await queue.getJobs(['waiting']);
      await queue.close();
      assert.equal(jobs.length, 1);
      const event = AuditEvent.parse(jobs[0]?.data);
      assert.equal(event.action, 'auth.role.changed');
      assert.equal(event.ownerId, user.id);
      assert.deepEqual(event.actor, { type: 'service', id: 'auth-admin-cli' });

      const twice = await runNode('admin.ts', ['promote', 'ops@example.com'], env);
      assert.equal(twice.code, 0);
      assert.match(twice.stdout, /already an admin/);
      const unknown = await runNode('admin.ts', ['promote', 'ghost@example.com'], env);
      assert.equal(unknown.code, 1);
      assert.match(unknown.stderr, /no user with that email exists/);
      const usage = await runNode('admin.ts', [], env);
      assert.equal(usage.code, 2);
      assert.match(usage.stderr, /usage: admin.ts promote <email>/);
    } finally {
      await database.close();
      await cleanupRedisPrefix(REDIS_URL, prefix);
    }
  });

  void it('starts main.ts, reports ready with metrics, and shuts down cleanly on SIGTERM', async () => {
    const prefix = uniquePrefix('auth-main');
    const child = spawn(
      process.execPath,
      ['--conditions=securevault-source', join(SRC, 'main.ts')],
      {
        env: {
          PATH: process.env.PATH ?? '',
          DATABASE_URL: testDb.url,
          SESSION_SECRET: SECRET,
          PORT: '0',
          MANAGEMENT_PORT: '0',
          REDIS_URL,
          QUEUE_PREFIX: prefix,
        },
      },
    );
    try {
      let stdout = '';
      const ready = await new Promise<{ port: number; managementPort: number }>(
        (resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`main.ts not ready: ${stdout}`)), 10_000);
          child.stdout.on('data', (d: Buffer) => {
            stdout += d.toString();
            for (const line of stdout.split('\n')) {
              if (line.includes('"auth ready"')) {
                clearTimeout(timer);
                resolve(JSON.parse(line) as { port: number; managementPort: number });
              }
            }
          });
        },
      );
      const readyz = await fetch(`http://127.0.0.1:${ready.managementPort}/readyz`);
      assert.equal(readyz.status, 200);
      const checks = ((await readyz.json()) as { checks: Record<string, unknown> }).checks;
      assert.deepEqual(Object.keys(checks).sort(), ['postgres', 'redis:auth', 'startup']);
      const reg = await fetch(`http://127.0.0.1:${ready.port}/api/auth/register`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email: 'main@example.com', password: 'password-main' }),
      });
      assert.equal(reg.status, 201);
      const metrics = await (
        await fetch(`http://127.0.0.1:${ready.managementPort}/metrics`)
      ).text();
      assert.match(
        metrics,
        /http_request_duration_seconds_count\{method="POST",route="\/api\/auth\/register",status="201"\} 1/,
      );
      assert.match(metrics, /db_pool_connections\{state="total"\}/);
      assert.match(metrics, /redis_connection_up\{client="auth"\} 1/);
      const exited = new Promise<number | null>((resolve) =>
        child.on('exit', (code) => resolve(code)),
      );
      child.kill('SIGTERM');
      assert.equal(await exited, 0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      await cleanupRedisPrefix(REDIS_URL, prefix);
    }
  });

  void it('refuses to start main.ts with bad configuration, naming the variable only', async () => {
    const run = await runNode('main.ts', [], {
      DATABASE_URL: testDb.url,
      SESSION_SECRET: 'too-short-secret',
    });
    assert.equal(run.code, 1);
    assert.match(run.stderr, /SESSION_SECRET: must be at least 32 characters/);
    assert.ok(!run.stderr.includes('too-short-secret'));
  });
});

void describe('dependencies down', () => {
  void it('answers 503 SERVICE_UNAVAILABLE when Postgres is unreachable', async () => {
    const h = await startHarness({ databaseUrl: DOWN_PG });
    try {
      const replies = [
        await h.request('POST', '/api/auth/login', {
          body: { email: 'a@example.com', password: 'password123' },
        }),
        await h.request('POST', '/api/auth/register', {
          body: { email: 'a@example.com', password: 'uncommon-pass-9x' },
        }),
        await h.request('POST', '/internal/introspect', { body: { sessionToken: 'A'.repeat(43) } }),
      ];
      for (const reply of replies) {
        assert.equal(reply.status, 503);
        assert.equal(reply.error().code, 'SERVICE_UNAVAILABLE');
        assert.equal(reply.headers.get('retry-after'), '5');
        assert.ok(!JSON.stringify(reply.body).includes('ECONNREFUSED'));
      }
    } finally {
      await h.close();
    }
  });

  void it('keeps serving when Redis is down, counting the audit events it could not queue', async () => {
    const testDb = await createTestDatabase();
    const logger = createLogger({ service: 'auth', level: 'silent' });
    const metrics = new Metrics('auth', { defaultMetrics: false });
    const migrator = createDatabase({
      url: testDb.url,
      logger,
      applicationName: 'auth-test',
      max: 1,
    });
    await migrateToLatest(migrator.db, 'auth', migrations, logger);
    await migrator.close();
    const database = createDatabase<Database>({
      url: testDb.url,
      logger,
      metrics,
      applicationName: 'auth-test',
    });
    const redis = createRedis({ url: DOWN_REDIS, name: 'auth', logger, metrics, role: 'producer' });
    const audit = createAuditEmitter({
      source: 'auth',
      connection: redis,
      prefix: 'unused',
      logger,
      metrics,
    });
    const app = createApp({
      config: {
        SESSION_SECRET: SECRET,
        SESSION_TTL_SECONDS: 3600,
        SESSION_IDLE_SECONDS: 1800,
        ADMIN_EMAILS: [],
      },
      db: database.db,
      audit,
      revocations: createRevocations({ redis, prefix: 'unused', logger }),
      logger,
      metrics,
    });
    const server = await listen(app, 0, '127.0.0.1');
    try {
      const reg = await fetch(`http://127.0.0.1:${server.port}/api/auth/register`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email: 'r@example.com', password: 'uncommon-pass-9x' }),
      });
      assert.equal(reg.status, 201);
      const text = await metrics.text();
      assert.match(text, /audit_emit_failures_total 1/);
    } finally {
      await server.close();
      await audit.close().catch(() => undefined);
      await closeRedis(redis);
      await database.close();
      await testDb.drop();
    }
  });
});
