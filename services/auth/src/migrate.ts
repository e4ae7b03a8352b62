// Migration entrypoint (chart Job, `make dev`): `migrate.ts` to latest, `migrate.ts down` one step back.
import { createLogger } from '@securevault/observability';
import {
  createDatabase,
  exitOnStartupError,
  migrateDown,
  migrateToLatest,
} from '@securevault/service-kit';
import { loadDatabaseConfig } from './config.ts';
import { migrations } from './migrations/index.ts';

async function run(direction: string | undefined): Promise<void> {
  if (direction !== undefined && direction !== 'up' && direction !== 'down') {
    throw new Error(`unknown direction "${direction}": use "up" (the default) or "down"`);
  }
  const config = loadDatabaseConfig();
  const logger = createLogger({ service: 'auth', level: config.LOG_LEVEL });
  const database = createDatabase({
    url: config.DATABASE_URL,
    logger,
    applicationName: 'securevault-auth-migrate',
    max: 1,
  });
  try {
    if (direction === 'down') {
      await migrateDown(database.db, 'auth', migrations);
      logger.info('migrated schema auth one step down');
    } else {
      await migrateToLatest(database.db, 'auth', migrations, logger);
      logger.info('schema auth is at the latest migration');
    }
  } finally {
    await database.close();
  }
}

run(process.argv[2]).catch((err: unknown) => {
  // The cause (e.g. the SQL error) says which migration failed and why; it never holds the URL.
  const cause = err instanceof Error && err.cause instanceof Error ? `: ${err.cause.message}` : '';
  exitOnStartupError(
    'auth',
    new Error(`${err instanceof Error ? err.message : String(err)}${cause}`),
  );
});
