// The audit service's entrypoint: config, telemetry first, then the worker, the database and the HTTP API.
import { exitOnStartupError, startTelemetry } from '@securevault/observability';
import type { Database } from './db/database.ts';

const SERVICE = 'audit';

try {
  // First, before config (which loads service-kit) imports express, pg and ioredis: their instrumentations must patch them.
  const telemetry = await startTelemetry(SERVICE);
  const { loadAuditConfig } = await import('./config.ts');
  const config = loadAuditConfig();

  const [
    { Queue },
    { AuditJob, QUEUES, WebhookEventJob },
    kit,
    { createApp },
    { createProcessor },
    maintenance,
    { detectionConfig },
  ] = await Promise.all([
    import('bullmq'),
    import('@securevault/contracts'),
    import('@securevault/service-kit'),
    import('./app.ts'),
    import('./processor.ts'),
    import('./maintenance.ts'),
    import('./config.ts'),
  ]);
  const { logger, metrics, health, lifecycle, managementPort, markStarted } =
    await kit.createRuntime(SERVICE, config, { telemetry });

  // Registered in start order; the lifecycle closes them in reverse:
  // HTTP → worker (finishes in-flight jobs) → queue metrics → database → Redis.
  const runtime = { logger, metrics, health, lifecycle };
  const redis = await kit.connectRedis(runtime, {
    url: config.REDIS_URL,
    name: 'worker',
    role: 'worker',
  });
  const database = kit.connectDatabase<Database>(runtime, {
    url: config.DATABASE_URL,
    max: config.DB_POOL_MAX,
    applicationName: 'securevault-audit',
  });

  const queue = new Queue(QUEUES.audit, {
    connection: redis,
    prefix: config.QUEUE_PREFIX,
  });
  queue.on('error', () => {});
  kit.registerQueueMetrics(metrics, [queue]);
  lifecycle.onStop('queue-metrics', () => queue.close());

  // Alerts go to the email-worker's webhook fan-out (operators and subscribed consumers).
  const alerts = kit.createProducer({
    queue: QUEUES.webhook,
    schema: WebhookEventJob,
    connection: redis,
    prefix: config.QUEUE_PREFIX,
  });
  lifecycle.onStop('alert-producer', () => alerts.close());

  const retentionDb = config.AUDIT_RETENTION_DATABASE_URL
    ? kit.createDatabase<Database>({
        url: config.AUDIT_RETENTION_DATABASE_URL,
        logger,
        max: 1,
        applicationName: 'securevault-audit-retention',
      })
    : undefined;
  if (retentionDb) lifecycle.onStop('retention-database', () => retentionDb.close());

  const worker = kit.createWorker({
    queue: QUEUES.audit,
    schema: AuditJob,
    processor: createProcessor({
      pool: database.pool,
      logger,
      metrics,
      detection: detectionConfig(config),
      alerts,
      batch: { maxSize: config.AUDIT_BATCH_MAX, lingerMs: config.AUDIT_BATCH_LINGER_MS },
    }),
    connection: redis,
    prefix: config.QUEUE_PREFIX,
    concurrency: config.AUDIT_CONCURRENCY,
    logger,
    metrics,
  });
  lifecycle.onStop('worker', () => worker.close());

  // Periodic upkeep; stopped before the database closes.
  const tasks = [
    maintenance.every(config.AUDIT_CHAIN_HEAD_INTERVAL_MS, 'chain-head', logger, () =>
      maintenance.publishHead(database.db, { logger, metrics }),
    ),
    maintenance.every(config.AUDIT_STATS_REFRESH_MS, 'stats-refresh', logger, () =>
      maintenance.refreshStats(database.db, { logger, metrics }),
    ),
    maintenance.every(config.AUDIT_RETENTION_INTERVAL_MS, 'partitions', logger, () =>
      maintenance.ensurePartitions(database.db),
    ),
    maintenance.every(config.AUDIT_CHAIN_HEAD_INTERVAL_MS, 'alert-republish', logger, () =>
      maintenance.republishAlerts(database.db, { logger, metrics, alerts }, 3_600_000),
    ),
  ];
  if (retentionDb) {
    tasks.push(
      maintenance.every(config.AUDIT_RETENTION_INTERVAL_MS, 'retention', logger, () =>
        maintenance.runRetention(retentionDb.db, { logger, metrics }, config.AUDIT_RETENTION_DAYS),
      ),
    );
  }
  lifecycle.onStop('periodic-tasks', () => {
    for (const t of tasks) t.stop();
  });
  // Once at start, so the head is anchored and the stats are fresh without waiting a period.
  void maintenance.publishHead(database.db, { logger, metrics }).catch(() => {});
  void maintenance
    .refreshStats(database.db, { logger, metrics })
    .catch((err: unknown) => logger.warn({ err }, 'first stats refresh failed'));

  const server = await kit.listen(
    createApp({ db: database.db, logger, metrics }),
    config.PORT,
    '0.0.0.0',
    config,
  );
  lifecycle.onStop('http', () => server.close());
  markStarted();

  logger.info(
    {
      port: server.port,
      managementPort,
      queue: QUEUES.audit,
      concurrency: config.AUDIT_CONCURRENCY,
    },
    'ready',
  );
} catch (err) {
  exitOnStartupError(SERVICE, err);
}
