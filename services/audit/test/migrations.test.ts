// Migrations against a real, fresh Postgres database: up, down, up again; and the migrate.ts entrypoint.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { sql, type Kysely, type Migration } from 'kysely';
import { createDatabase, migrateDown, migrateToLatest } from '@securevault/service-kit';
import { createTestDatabase, type TestDatabase } from '@securevault/testing';
import { verifyChain } from '../src/chain.ts';
import type { Db } from '../src/db/database.ts';
import { ensureRole } from '../src/migrations/2026_11_21_0100_chain.ts';
import { migrations } from '../src/migrations/index.ts';
import { logger } from './helpers.ts';

const MIGRATE = fileURLToPath(new URL('../src/migrate.ts', import.meta.url));

async function tableExists(db: Kysely<unknown>): Promise<boolean> {
  const { rows } = await sql<{
    t: string | null;
  }>`select to_regclass('audit.events')::text as t`.execute(db);
  return rows[0]?.t === 'audit.events';
}

async function hasHashColumn(db: Kysely<unknown>): Promise<boolean> {
  const { rows } = await sql<{ n: string }>`
    select count(*) as n from information_schema.columns
    where table_schema = 'audit' and table_name = 'events' and column_name = 'hash'`.execute(db);
  return rows[0]?.n === '1';
}

function runMigrate(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--conditions=securevault-source', MIGRATE, ...args], {
      env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'info', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('close', (code) => resolve({ code, out }));
  });
}

void describe('migrations', () => {
  let testDb: TestDatabase;
  let database: ReturnType<typeof createDatabase<unknown>>;

  before(async () => {
    testDb = await createTestDatabase();
    database = createDatabase<unknown>({ url: testDb.url, logger, applicationName: 'audit-test' });
  });
  after(async () => {
    await database.close();
    await testDb.drop();
  });

  void it('go up, down and up again', async () => {
    await migrateToLatest(database.db, 'audit', migrations, logger);
    assert.equal(await tableExists(database.db), true);
    const { rows: indexes } = await sql<{ indexname: string; indexdef: string }>`
      select indexname, indexdef from pg_indexes where schemaname = 'audit' and tablename = 'events'`.execute(
      database.db,
    );
    const defs = indexes.map((i) => i.indexdef).join('\n');
    assert.match(defs, /\(owner_id, seq DESC\)/);
    assert.match(defs, /\(action text_pattern_ops\)/);
    assert.match(defs, /\("time"\)/);
    assert.match(defs, /\(id\)/);
    assert.match(defs, /UNIQUE.*\(seq, received_at\)/);

    // One step down: the plain table of the init migration, rows kept, hashes gone.
    await sql`insert into audit.events (id, time, source, actor_type, action, outcome, prev_hash, hash)
      values (gen_random_uuid(), now(), 'auth', 'user', 'auth.x', 'success', repeat('0', 64), repeat('1', 64))`.execute(
      database.db,
    );
    await migrateDown(database.db, 'audit', migrations);
    assert.equal(await tableExists(database.db), true);
    assert.equal(await hasHashColumn(database.db), false);
    const { rows } = await sql<{ n: string }>`select count(*) as n from audit.events`.execute(
      database.db,
    );
    assert.equal(rows[0]?.n, '1');
    await migrateDown(database.db, 'audit', migrations);
    assert.equal(await tableExists(database.db), false);

    await migrateToLatest(database.db, 'audit', migrations, logger);
    assert.equal(await tableExists(database.db), true);
  });

  void it('chains the rows an existing database already held, and the chain verifies', async () => {
    const other = await createTestDatabase();
    const db = createDatabase<unknown>({ url: other.url, logger, applicationName: 'audit-test' });
    try {
      const init = { '2026_11_21_0001_init': migrations['2026_11_21_0001_init'] as Migration };
      await migrateToLatest(db.db, 'audit', init, logger);
      await sql`insert into audit.events (id, time, source, actor_type, actor_id, action, outcome, metadata)
        select gen_random_uuid(), now() - make_interval(days => i), 'auth', 'user', 'u' || i,
               'auth.login.succeeded', 'success', jsonb_build_object('n', i, 'x', 1.50)
        from generate_series(1, 1205) i`.execute(db.db);
      await migrateToLatest(db.db, 'audit', migrations, logger);
      const result = await verifyChain(db.db as unknown as Db);
      assert.equal(result.valid, true);
      assert.equal(result.checked, 1205);
      const { rows } = await sql<{ n: string }>`
        select count(*) as n from audit.events where prev_hash is null or hash is null`.execute(
        db.db,
      );
      assert.equal(rows[0]?.n, '0');
      // New events continue the sequence after the old ones.
      const next = await sql<{
        seq: string;
      }>`select nextval('audit.event_seq')::text as seq`.execute(db.db);
      assert.equal(next.rows[0]?.seq, '1206');
    } finally {
      await db.close();
      await other.drop();
    }
  });

  void it('creates roles idempotently when several migrations race (roles are cluster-wide)', async () => {
    const role = `securevault_test_${Math.random().toString(36).slice(2, 10)}`;
    const pools = Array.from({ length: 4 }, () =>
      createDatabase<unknown>({ url: testDb.url, logger, applicationName: 'audit-role-race' }),
    );
    try {
      await Promise.all(pools.map((p) => ensureRole(p.db, role)));
      await ensureRole(database.db, role);
      const { rows } = await sql<{ n: string }>`
        select count(*)::text as n from pg_roles where rolname = ${role}`.execute(database.db);
      assert.equal(rows[0]?.n, '1');
      // And migrating several databases at once works while the real roles already exist.
      const dbs = await Promise.all([createTestDatabase(), createTestDatabase()]);
      const conns = dbs.map((d) =>
        createDatabase<unknown>({ url: d.url, logger, applicationName: 'audit-role-race' }),
      );
      await Promise.all(conns.map((c) => migrateToLatest(c.db, 'audit', migrations, logger)));
      await Promise.all(conns.map((c) => c.close()));
      await Promise.all(dbs.map((d) => d.drop()));
    } finally {
      await Promise.all(pools.map((p) => p.close()));
      await sql.raw(`drop role if exists ${role}`).execute(database.db);
    }
  });

  void it('refuses an outcome outside the contract', async () => {
    await assert.rejects(
      sql`insert into audit.events (id, time, source, actor_type, action, outcome, prev_hash, hash)
          values (gen_random_uuid(), now(), 'auth', 'user', 'auth.x', 'maybe', repeat('0', 64), repeat('0', 64))`.execute(
        database.db,
      ),
      /check constraint/,
    );
  });

  void it('runs from the migrate.ts entrypoint, down with `down`, and exits non-zero on failure', async () => {
    const down = await runMigrate(['down'], { DATABASE_URL: testDb.url });
    assert.equal(down.code, 0, down.out);
    assert.equal(await hasHashColumn(database.db), false);

    const up = await runMigrate([], { DATABASE_URL: testDb.url });
    assert.equal(up.code, 0, up.out);
    assert.match(up.out, /migrations applied/);
    assert.equal(await hasHashColumn(database.db), true);

    const refused = await runMigrate([], {
      DATABASE_URL: 'postgres://postgres@127.0.0.1:1/nothing',
    });
    assert.equal(refused.code, 1);
    assert.match(refused.out, /migration failed/);

    const missing = await runMigrate([], {});
    assert.equal(missing.code, 1);
    assert.match(missing.out, /DATABASE_URL/);
  });
});
