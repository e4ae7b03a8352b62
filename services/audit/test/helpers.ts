// Shared test set-up: a fresh real Postgres database migrated with the real migrations, and sample events.
import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { AuditEvent } from '@securevault/contracts';
import { createLogger, Metrics, type Logger } from '@securevault/observability';
import { createDatabase, migrateToLatest, type Database as Pool } from '@securevault/service-kit';
import { createTestDatabase, type TestDatabase } from '@securevault/testing';
import type { ChainedRow } from '../src/chain.ts';
import type { Database } from '../src/db/database.ts';
import { migrations } from '../src/migrations/index.ts';

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

export const logger: Logger = createLogger({
  service: 'audit',
  level: process.env.TEST_LOG_LEVEL === 'debug' ? 'debug' : 'silent',
});

export function testMetrics(): Metrics {
  return new Metrics('audit', { defaultMetrics: false });
}

export interface MigratedDatabase {
  testDb: TestDatabase;
  database: Pool<Database>;
  /** every stored event, in chain (seq) order */
  chainRows(): Promise<ChainedRow[]>;
  close(): Promise<void>;
}

/** A throwaway database with the audit schema at the latest migration. */
export async function migratedDatabase(): Promise<MigratedDatabase> {
  const testDb = await createTestDatabase();
  const database = createDatabase<Database>({
    url: testDb.url,
    logger,
    applicationName: 'audit-test',
  });
  await migrateToLatest(database.db as unknown as Kysely<unknown>, 'audit', migrations, logger);
  return {
    testDb,
    database,
    chainRows() {
      return database.db.selectFrom('audit.events').selectAll().orderBy('seq').execute();
    },
    async close() {
      await database.close();
      await testDb.drop();
    },
  };
}

export function sampleEvent(overrides: Partial<AuditEvent> = {}): AuditEvent {
  return {
    id: randomUUID(),
    time: new Date().toISOString(),
    source: 'auth',
    actor: { type: 'user', id: randomUUID(), ip: '203.0.113.7', userAgent: 'test-agent/1.0' },
    action: 'auth.login.succeeded',
    outcome: 'success',
    ownerId: randomUUID(),
    metadata: {},
    ...overrides,
  };
}

/** The same database reached as another role (the test cluster trusts local connections). */
export function roleUrl(url: string, role: string): string {
  const u = new URL(url);
  u.username = role;
  u.password = '';
  return u.toString();
}

/** Polls `check` until it returns a value other than undefined. */
export async function waitFor<T>(
  check: () => Promise<T | undefined>,
  timeoutMs = 10_000,
  what = 'condition',
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
