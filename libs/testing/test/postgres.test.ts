// Tests for the Postgres helpers. Real: the Postgres server at TEST_DATABASE_URL / DATABASE_URL
// (default postgres://postgres@127.0.0.1:5432/postgres). Stand-in: none.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { createTestDatabase, ensureDatabase } from '../src/postgres.ts';

const baseUrl =
  process.env.TEST_DATABASE_URL ??
  process.env.DATABASE_URL ??
  'postgres://postgres@127.0.0.1:5432/postgres';

async function databaseExists(name: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: baseUrl });
  await client.connect();
  try {
    return (
      (await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name])).rowCount === 1
    );
  } finally {
    await client.end();
  }
}

void test('createTestDatabase creates a usable database and drop() removes it even with open connections', async () => {
  const db = await createTestDatabase(baseUrl);
  assert.match(db.name, /^sv_test_[0-9a-f]{12}$/);
  assert.equal(new URL(db.url).pathname, `/${db.name}`);
  assert.ok(await databaseExists(db.name));

  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  // A silenced error handler: drop() terminates this connection on purpose.
  client.on('error', () => {});
  const { rows } = await client.query<{ db: string }>('SELECT current_database() AS db');
  assert.equal(rows[0]?.db, db.name);

  await db.drop(); // WITH (FORCE) while `client` is still connected
  await db.drop(); // idempotent
  assert.equal(await databaseExists(db.name), false);
  await client.end().catch(() => {});
});

void test('ensureDatabase creates a missing database once', async () => {
  const scratch = await createTestDatabase(baseUrl);
  await scratch.drop();
  const url = scratch.url; // a name known not to exist now
  try {
    assert.equal(await ensureDatabase(url), true);
    assert.equal(await ensureDatabase(url), false);
    assert.ok(await databaseExists(scratch.name));
  } finally {
    const client = new pg.Client({ connectionString: baseUrl });
    await client.connect();
    await client.query(`DROP DATABASE IF EXISTS "${scratch.name}" WITH (FORCE)`);
    await client.end();
  }
});
