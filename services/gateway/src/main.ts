// Gateway entrypoint: config, telemetry first, then Redis, producers, the app; shuts down in reverse.
import { exitOnStartupError, startTelemetry } from '@securevault/observability';

const SERVICE = 'gateway';

async function main(): Promise<void> {
  // First, before config (which loads service-kit) imports express and ioredis: their instrumentations must patch them.
  const telemetry = await startTelemetry(SERVICE);
  const { loadGatewayConfig } = await import('./config.ts');
  const config = loadGatewayConfig();
  const [
    { AiJob, EmailJob, QUEUES },
    kit,
    { createApp },
    { createStreamHub },
    { createProcessStats },
    { closeDownstreamAgents },
  ] = await Promise.all([
    import('@securevault/contracts'),
    import('@securevault/service-kit'),
    import('./app.ts'),
    import('./sse.ts'),
    import('./process-stats.ts'),
    import('./downstream.ts'),
  ]);
  const runtime = await kit.createRuntime(SERVICE, config, { telemetry });
  const { logger, metrics, health, lifecycle } = runtime;

  const redis = kit.createRedis({
    url: config.REDIS_URL,
    name: 'producer',
    logger,
    metrics,
    role: 'producer',
  });
  lifecycle.onStop('redis', () => kit.closeRedis(redis));
  kit.registerRedisHealth(health, 'producer', redis);

  const prefix = config.QUEUE_PREFIX;
  const email = kit.createProducer({
    queue: QUEUES.email,
    schema: EmailJob,
    connection: redis,
    prefix,
  });
  const ai = kit.createProducer({ queue: QUEUES.ai, schema: AiJob, connection: redis, prefix });
  const audit = kit.createAuditEmitter({
    source: SERVICE,
    connection: redis,
    prefix,
    logger,
    metrics,
  });
  lifecycle.onStop('producers', () => Promise.all([email.close(), ai.close(), audit.close()]));

  const processStats = createProcessStats();
  lifecycle.onStop('process-stats', () => processStats.stop());
  const streams = createStreamHub({
    redisUrl: config.REDIS_URL,
    logger,
    blockMs: config.SSE_BLOCK_MS,
    heartbeatMs: config.SSE_HEARTBEAT_MS,
    maxStreams: config.SSE_MAX_STREAMS,
  });

  const { createIntrospectionCache } = await import('./introspection-cache.ts');
  const introspectionCache =
    config.INTROSPECTION_CACHE_TTL_MS > 0
      ? await createIntrospectionCache({
          redisUrl: config.REDIS_URL,
          prefix: config.QUEUE_PREFIX,
          ttlMs: config.INTROSPECTION_CACHE_TTL_MS,
          logger,
          metrics,
        })
      : undefined;
  if (introspectionCache) lifecycle.onStop('introspection-cache', () => introspectionCache.close());

  // METRICS_TOKEN_FILE is re-read every 5 minutes (rotation without restart; last good value kept).
  const metricsTokenPath = process.env.METRICS_TOKEN_FILE;
  const metricsToken = metricsTokenPath
    ? new kit.SecretFile(metricsTokenPath, { name: 'METRICS_TOKEN', logger, metrics })
    : undefined;
  const appConfig = metricsToken
    ? Object.defineProperty({ ...config }, 'METRICS_TOKEN', { get: () => metricsToken.get() })
    : config;

  const app = createApp({
    introspectionCache,
    config: appConfig,
    logger,
    metrics,
    redis,
    email,
    ai,
    audit,
    streams,
    processStats,
  });
  // Closed after the HTTP drain (closers run in reverse): no call to auth or audit is in flight.
  lifecycle.onStop('downstream-connections', closeDownstreamAgents);
  const server = await kit.listen(app, config.PORT, '0.0.0.0', config);
  // Closed first: stop accepting, end the open SSE streams (clients resume elsewhere), drain the rest.
  lifecycle.onStop('http', async () => {
    const closing = server.close();
    await streams.closeAll();
    server.server.closeIdleConnections();
    await closing;
  });

  runtime.markStarted();
  logger.info({ port: server.port, managementPort: runtime.managementPort }, 'ready');
}

main().catch((err: unknown) => exitOnStartupError(SERVICE, err));
