// Postgres through kysely: pooled, instrumented, and migrated with timestamped up/down migrations.
import pg from 'pg';
import {
  Kysely,
  Migrator,
  PostgresDialect,
  sql,
  type Migration,
  type MigrationProvider,
} from 'kysely';
import {
  instrumentPgPool,
  type HealthRegistry,
  type Lifecycle,
  type Logger,
  type Metrics,
} from '@securevault/observability';

export interface Database<DB> {
  db: Kysely<DB>;
  pool: pg.Pool;
  close(): Promise<void>;
}

export function createDatabase<DB>(options: {
  url: string;
  logger: Logger;
  metrics?: Metrics;
  max?: number;
  applicationName: string;
}): Database<DB> {
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.max ?? 10,
    connectionTimeoutMillis: 5_000,
    idleTimeoutMillis: 30_000,
    statement_timeout: 30_000,
    application_name: options.applicationName,
  });
  pool.on('error', (err) =>
    options.logger.warn({ err: err.message }, 'idle postgres client error'),
  );
  if (options.metrics) instrumentPgPool(pool, options.metrics);
  const db = new Kysely<DB>({ dialect: new PostgresDialect({ pool }) });
  return { db, pool, close: () => db.destroy() };
}

export function registerDatabaseHealth<DB>(health: HealthRegistry, db: Kysely<DB>): void {
  health.register('postgres', async () => {
    await sql`select 1`.execute(db);
  });
}

/** Migrations listed in code (not read from a folder) so source and built output both work. */
export class StaticMigrationProvider implements MigrationProvider {
  readonly #migrations: Record<string, Migration>;
  constructor(migrations: Record<string, Migration>) {
    this.#migrations = migrations;
  }
  getMigrations(): Promise<Record<string, Migration>> {
    return Promise.resolve(this.#migrations);
  }
}

/** Migrates `schema` to the latest version; throws with the failing migration's name. */
export async function migrateToLatest<DB>(
  db: Kysely<DB>,
  schema: string,
  migrations: Record<string, Migration>,
  logger: Logger,
): Promise<void> {
  await sql`create schema if not exists ${sql.id(schema)}`.execute(db);
  const migrator = new Migrator({
    db,
    provider: new StaticMigrationProvider(migrations),
    migrationTableSchema: schema,
  });
  const { error, results } = await migrator.migrateToLatest();
  for (const r of results ?? []) {
    logger.info({ migration: r.migrationName, status: r.status }, 'migration');
  }
  if (error) throw new Error(`migrating schema ${schema} failed`, { cause: error });
}

export async function migrateDown<DB>(
  db: Kysely<DB>,
  schema: string,
  migrations: Record<string, Migration>,
): Promise<void> {
  const migrator = new Migrator({
    db,
    provider: new StaticMigrationProvider(migrations),
    migrationTableSchema: schema,
  });
  const { error } = await migrator.migrateDown();
  if (error) throw new Error(`rolling back schema ${schema} failed`, { cause: error });
}

/** A service's database pool, closed on stop and checked by readiness as `postgres`. */
export function connectDatabase<DB>(
  runtime: { logger: Logger; metrics: Metrics; health: HealthRegistry; lifecycle: Lifecycle },
  options: { url: string; max?: number; applicationName: string },
): Database<DB> {
  const database = createDatabase<DB>({
    ...options,
    logger: runtime.logger,
    metrics: runtime.metrics,
  });
  runtime.lifecycle.onStop('database', () => database.close());
  registerDatabaseHealth(runtime.health, database.db);
  return database;
}
