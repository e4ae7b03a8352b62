// The auth service's entrypoint: config, telemetry first, then dependencies, HTTP, and shutdown.
import { exitOnStartupError, startTelemetry } from '@securevault/observability';
import type { Database } from './db/database.ts';

async function main(): Promise<void> {
  // First, before config (which loads service-kit) imports express, pg and ioredis: their instrumentations must patch them.
  const telemetry = await startTelemetry('auth');
  const { loadAuthConfig } = await import('./config.ts');
  const config = loadAuthConfig();
  const kit = await import('@securevault/service-kit');
  const { createApp } = await import('./app.ts');

  const runtime = await kit.createRuntime('auth', config, { telemetry });
  const { logger, metrics, lifecycle } = runtime;

  // Audit events go through Redis: "ready" should mean they can be queued.
  const redis = await kit.connectRedis(runtime, {
    url: config.REDIS_URL,
    name: 'auth',
    role: 'producer',
  });
  const database = kit.connectDatabase<Database>(runtime, {
    url: config.DATABASE_URL,
    max: config.DB_POOL_MAX,
    applicationName: 'securevault-auth',
  });

  const audit = kit.createAuditEmitter({
    source: 'auth',
    connection: redis,
    prefix: config.QUEUE_PREFIX,
    logger,
    metrics,
  });
  lifecycle.onStop('audit-queue', () => audit.close());

  const { createRevocations } = await import('./revocations.ts');
  const revocations = createRevocations({ redis, prefix: config.QUEUE_PREFIX, logger });
  // A mounted secret file is re-read every 5 minutes: rotation needs no restart (docs/security.md).
  const secretPath = process.env.SESSION_SECRET_FILE;
  const secretFile = secretPath
    ? new kit.SecretFile(secretPath, { name: 'SESSION_SECRET', logger, metrics })
    : undefined;
  const app = createApp({
    config,
    db: database.db,
    audit,
    revocations,
    logger,
    metrics,
    ...(secretFile
      ? { secrets: () => ({ current: secretFile.get(), previous: secretFile.previous }) }
      : {}),
  });
  const { startSessionSweeper } = await import('./session-sweeper.ts');
  const sweeper = startSessionSweeper({
    db: database.db,
    audit,
    idleSeconds: config.SESSION_IDLE_SECONDS,
    intervalMs: 60_000,
    logger,
  });
  lifecycle.onStop('session-sweeper', () => sweeper.stop());

  const server = await kit.listen(app, config.PORT, '0.0.0.0', config);
  lifecycle.onStop('http', () => server.close());

  runtime.markStarted();
  logger.info({ port: server.port, managementPort: runtime.managementPort }, 'auth ready');
}

main().catch((err: unknown) => exitOnStartupError('auth', err));
