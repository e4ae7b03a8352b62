// kysely migrations and pool metrics against a fresh real Postgres database.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { sql, type Kysely, type Migration } from 'kysely';
import { HealthRegistry, Metrics, createLogger } from '@securevault/observability';
import { createTestDatabase, type TestDatabase } from '@securevault/testing';
import {
  createDatabase,
  migrateDown,
  migrateToLatest,
  registerDatabaseHealth,
} from '../src/index.ts';

const logger = createLogger({ service: 'audit', level: 'silent' });
let testDb: TestDatabase;

const migrations: Record<string, Migration> = {
  '2026_01_01_0001_things': {
    up: async (db: Kysely<unknown>) => {
      await db.schema
        .withSchema('kit')
        .createTable('things')
        .addColumn('id', 'serial', (c) => c.primaryKey())
        .execute();
    },
    down: async (db: Kysely<unknown>) => {
      await db.schema.withSchema('kit').dropTable('things').execute();
    },
  },
};

before(async () => {
  testDb = await createTestDatabase();
});
after(async () => {
  await testDb.drop();
});

describe('database helpers', () => {
  it('migrates a schema up and down, with pool metrics and a readiness check', async () => {
    const metrics = new Metrics('audit', { defaultMetrics: false });
    const database = createDatabase<unknown>({
      url: testDb.url,
      logger,
      metrics,
      applicationName: 'kit-test',
    });
    await migrateToLatest(database.db, 'kit', migrations, logger);
    const tables = await sql<{
      table_name: string;
    }>`select table_name from information_schema.tables where table_schema = 'kit' order by 1`.execute(
      database.db,
    );
    assert.deepEqual(
      tables.rows.map((r) => r.table_name),
      ['kysely_migration', 'kysely_migration_lock', 'things'],
    );
    await migrateToLatest(database.db, 'kit', migrations, logger); // idempotent
    await migrateDown(database.db, 'kit', migrations);
    const after = await sql<{
      n: number;
    }>`select count(*)::int as n from information_schema.tables where table_schema = 'kit' and table_name = 'things'`.execute(
      database.db,
    );
    assert.equal(after.rows[0]?.n, 0);
    const health = new HealthRegistry();
    registerDatabaseHealth(health, database.db);
    assert.equal((await health.readiness()).ready, true);
    const text = await metrics.text();
    assert.match(text, /db_pool_connections\{state="total"\} [1-9]/);
    assert.match(text, /db_pool_connections\{state="waiting"\} 0/);
    await database.close();
  });

  it('reports a failing migration by schema name', async () => {
    const database = createDatabase<unknown>({
      url: testDb.url,
      logger,
      applicationName: 'kit-test',
    });
    const broken: Record<string, Migration> = {
      '2026_01_01_0001_broken': {
        up: async (db: Kysely<unknown>) =>
          void (await sql`select * from no_such_table`.execute(db)),
      },
    };
    await assert.rejects(
      migrateToLatest(database.db, 'kit_broken', broken, logger),
      /migrating schema kit_broken failed/,
    );
    await database.close();
  });
});
