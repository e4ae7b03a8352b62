// Operator CLI: `node --conditions=securevault-source services/auth/src/admin.ts promote <email>`.
import { Metrics, createLogger } from '@securevault/observability';
import {
  closeRedis,
  commonEnv,
  createAuditEmitter,
  createDatabase,
  createRedis,
  loadConfig,
  postgresUrl,
  waitForRedis,
} from '@securevault/service-kit';
import type { Database } from './db/database.ts';
import { findUserByEmail, setUserRole } from './db/users.ts';
import { revokeUserSessions } from './db/sessions.ts';

const USAGE = 'usage: admin.ts promote <email>';

function fail(message: string, code = 1): never {
  process.stderr.write(`${message}\n`);
  process.exit(code);
}

async function promote(email: string): Promise<void> {
  const config = loadConfig({
    DATABASE_URL: postgresUrl(),
    REDIS_URL: commonEnv.REDIS_URL,
    QUEUE_PREFIX: commonEnv.QUEUE_PREFIX,
  });
  const logger = createLogger({ service: 'auth', level: 'warn' });
  const database = createDatabase<Database>({
    url: config.DATABASE_URL,
    logger,
    applicationName: 'securevault-auth-admin',
    max: 1,
  });
  try {
    const user = await findUserByEmail(database.db, email.trim());
    if (!user) fail(`no user with that email exists; register first, then promote`);
    if (user.role === 'admin') {
      process.stdout.write(`user ${user.id} is already an admin\n`);
      return;
    }
    const now = new Date();
    const revoked = await database.db.transaction().execute(async (trx) => {
      await setUserRole(trx, user.id, 'admin', now);
      // Same rule as the API: a role change ends the user's sessions.
      return revokeUserSessions(trx, user.id, now);
    });
    process.stdout.write(
      `user ${user.id} is now an admin (${revoked} session(s) ended; sign in again)\n`,
    );
    await auditPromotion(config, logger, user.id, user.role, revoked);
  } finally {
    await database.close();
  }
}

/** The promotion goes into the audit trail like an API role change; a Redis outage only warns. */
async function auditPromotion(
  config: { REDIS_URL: string; QUEUE_PREFIX: string },
  logger: ReturnType<typeof createLogger>,
  userId: string,
  from: string,
  revokedSessions: number,
): Promise<void> {
  const metrics = new Metrics('auth', { defaultMetrics: false });
  const redis = createRedis({
    url: config.REDIS_URL,
    name: 'auth-admin',
    logger,
    metrics,
    role: 'producer',
  });
  const audit = createAuditEmitter({
    source: 'auth',
    connection: redis,
    prefix: config.QUEUE_PREFIX,
    logger,
    metrics,
  });
  try {
    await waitForRedis(redis, 5_000).catch(() => undefined);
    const queued = await audit.emit({
      actor: { type: 'service', id: 'auth-admin-cli' },
      action: 'auth.role.changed',
      target: { type: 'user', id: userId },
      outcome: 'success',
      ownerId: userId,
      metadata: { from, to: 'admin', revokedSessions, via: 'cli' },
    });
    if (!queued)
      process.stderr.write('warning: the audit event could not be queued (is Redis up?)\n');
  } finally {
    await audit.close();
    await closeRedis(redis);
  }
}

const [command, email] = process.argv.slice(2);
if (command !== 'promote' || !email) fail(USAGE, 2);
promote(email).catch((err: unknown) =>
  fail(`promote failed: ${err instanceof Error ? err.message : String(err)}`),
);
