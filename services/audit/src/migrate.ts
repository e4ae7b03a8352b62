// Migration entrypoint (the chart's migration Job, `make dev`): `migrate.ts` to latest, `migrate.ts down` one back.
import { createLogger } from '@securevault/observability';
import {
  createDatabase,
  exitOnStartupError,
  migrateDown,
  migrateToLatest,
} from '@securevault/service-kit';
import { loadMigrationConfig } from './config.ts';
import { migrations } from './migrations/index.ts';

const SCHEMA = 'audit';

let config;
try {
  config = loadMigrationConfig();
} catch (err) {
  exitOnStartupError('audit-migrate', err);
}
const logger = createLogger({ service: 'audit', level: config.LOG_LEVEL });
const database = createDatabase<unknown>({
  url: config.DATABASE_URL,
  logger,
  max: 1,
  applicationName: 'securevault-audit-migrate',
});
let code = 0;
try {
  if (process.argv[2] === 'down') {
    await migrateDown(database.db, SCHEMA, migrations);
    logger.info({ schema: SCHEMA }, 'rolled back one migration');
  } else {
    await migrateToLatest(database.db, SCHEMA, migrations, logger);
    logger.info({ schema: SCHEMA }, 'migrations applied');
  }
} catch (err) {
  logger.error({ err }, 'migration failed');
  code = 1;
} finally {
  await database.close();
}
process.exit(code);
