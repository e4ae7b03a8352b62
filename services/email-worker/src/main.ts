// Entry point of the email-worker: telemetry first, then config, Redis, the SMTP pool and the worker.
import { startTelemetry } from '@securevault/observability';

const SERVICE = 'email-worker';

try {
  // Before anything imports ioredis or bullmq, so the instrumentations can patch them.
  const telemetry = await startTelemetry(SERVICE);
  const { loadEmailWorkerConfig } = await import('./config.ts');
  const config = loadEmailWorkerConfig();
  const { createRuntime } = await import('@securevault/service-kit/worker');
  const { startEmailWorker } = await import('./worker.ts');
  const runtime = await createRuntime(SERVICE, config, { telemetry });
  await startEmailWorker(config, runtime);
  runtime.markStarted();
  runtime.logger.info(
    {
      managementPort: runtime.managementPort,
      queue: 'email',
      concurrency: config.EMAIL_CONCURRENCY,
    },
    'ready',
  );
} catch (err) {
  const { exitOnStartupError } = await import('@securevault/service-kit/worker');
  exitOnStartupError(SERVICE, err);
}
