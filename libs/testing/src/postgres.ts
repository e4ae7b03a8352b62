// Real-Postgres isolation for tests: a fresh throwaway database per test file, and create-if-missing.
import { randomBytes } from 'node:crypto';
import pg from 'pg';

export interface TestDatabase {
  /** Connection URL of the new database (same server and credentials as the base URL). */
  url: string;
  name: string;
  /** Drops the database, disconnecting anyone still attached. Safe to call twice. */
  drop(): Promise<void>;
}

const DEFAULT_BASE_URL = 'postgres://postgres@127.0.0.1:5432/postgres';

function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${encodeURIComponent(database)}`;
  return parsed.toString();
}

async function withClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/**
 * Creates `sv_test_<random>` on the server of `baseUrl` (whose own database is only used to run
 * CREATE/DROP DATABASE, so it should be one that always exists, like `postgres`).
 */
export async function createTestDatabase(
  baseUrl: string = process.env.TEST_DATABASE_URL ?? process.env.DATABASE_URL ?? DEFAULT_BASE_URL,
): Promise<TestDatabase> {
  const name = `sv_test_${randomBytes(6).toString('hex')}`;
  await withClient(baseUrl, (client) => client.query(`CREATE DATABASE ${quoteIdent(name)}`));
  let dropped = false;
  return {
    name,
    url: withDatabase(baseUrl, name),
    async drop() {
      if (dropped) return;
      // FORCE (Postgres 13+) ends pools a failed test left open, which would otherwise block DROP.
      await withClient(baseUrl, (client) =>
        client.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`),
      );
      dropped = true;
    },
  };
}

/**
 * Creates the database named in `url` when it does not exist yet (used by `make dev`).
 * Connects to the `postgres` database of the same server to do so. Returns true when it created it.
 */
export async function ensureDatabase(
  url: string,
  maintenanceDatabase = 'postgres',
): Promise<boolean> {
  const name = decodeURIComponent(new URL(url).pathname.replace(/^\//, ''));
  if (name === '') throw new Error('ensureDatabase: the URL names no database');
  return withClient(withDatabase(url, maintenanceDatabase), async (client) => {
    const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (found.rowCount !== 0) return false;
    try {
      await client.query(`CREATE DATABASE ${quoteIdent(name)}`);
    } catch (err) {
      // Another process may have created it between our check and CREATE: that is success too.
      if ((err as { code?: string }).code === '42P04') return false;
      throw err;
    }
    return true;
  });
}
