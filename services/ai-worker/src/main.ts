// Entry point of the ai-worker: telemetry first, then config, Redis, the provider client and the worker.
import { startTelemetry } from '@securevault/observability';

const SERVICE = 'ai-worker';

try {
  // Before anything imports ioredis or bullmq, so the instrumentations can patch them.
  const telemetry = await startTelemetry(SERVICE);
  const { loadAiWorkerConfig } = await import('./config.ts');
  const config = loadAiWorkerConfig();
  const { createRuntime } = await import('@securevault/service-kit/worker');
  const { startAiWorker } = await import('./worker.ts');
  const runtime = await createRuntime(SERVICE, config, { telemetry });
  await startAiWorker(config, runtime);
  runtime.markStarted();
  runtime.logger.info(
    {
      managementPort: runtime.managementPort,
      queue: 'ai',
      concurrency: config.AI_CONCURRENCY,
      models: config.AI_MODELS,
      defaultModel: config.AI_DEFAULT_MODEL,
    },
    'ready',
  );
} catch (err) {
  const { exitOnStartupError } = await import('@securevault/service-kit/worker');
  exitOnStartupError(SERVICE, err);
}
