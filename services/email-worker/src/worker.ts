// Wires the email-worker: Redis, the audit emitter, the SMTP pool and the BullMQ worker, each closed in reverse.
import type { Worker } from 'bullmq';
import { EmailJob, QUEUES, WebhookEventJob } from '@securevault/contracts';
import { connectWorkerService, createWorker, type Runtime } from '@securevault/service-kit/worker';
import { withoutAddresses } from './address.ts';
import type { EmailWorkerConfig } from './config.ts';
import { createEmailProcessor } from './processor.ts';
import { createDeliveryStore } from './store.ts';
import { createSmtpTransport, type SmtpTransport } from './transport.ts';
import { createWebhookProcessor, deterministicUuid } from './webhooks.ts';

export interface EmailWorkerHandles {
  worker: Worker;
  webhookWorker: Worker;
  transport: SmtpTransport;
}

export async function startEmailWorker(
  config: EmailWorkerConfig,
  runtime: Pick<Runtime, 'logger' | 'metrics' | 'health' | 'lifecycle'>,
  options: { verifySmtp?: boolean } = {},
): Promise<EmailWorkerHandles> {
  const { logger, metrics, lifecycle } = runtime;

  const { workerRedis, producerRedis, audit, notify } = await connectWorkerService({
    source: 'email-worker',
    redisUrl: config.REDIS_URL,
    prefix: config.QUEUE_PREFIX,
    runtime,
    gaugeQueues: [QUEUES.email, QUEUES.webhook],
  });

  const transport = createSmtpTransport({
    url: config.SMTP_URL,
    maxConnections: config.SMTP_POOL_MAX_CONNECTIONS,
    timeoutMs: config.SMTP_TIMEOUT_MS,
    logger,
  });
  lifecycle.onStop('smtp-transport', () => transport.close());

  const store = createDeliveryStore(producerRedis, config.QUEUE_PREFIX);
  const worker = createWorker({
    queue: QUEUES.email,
    schema: EmailJob,
    processor: createEmailProcessor({
      transport,
      from: config.SMTP_FROM,
      store,
      async notify(event, ownerId, payload) {
        // One event id per (email, event): a retried job re-queues the same job, not a second one.
        await notify({
          id: deterministicUuid(`${event}:${String(payload.emailId)}`),
          event,
          ownerId,
          payload,
          occurredAt: new Date().toISOString(),
        });
      },
      logger,
      metrics,
      audit,
    }),
    connection: workerRedis,
    prefix: config.QUEUE_PREFIX,
    concurrency: config.EMAIL_CONCURRENCY,
    lockDurationMs: config.EMAIL_LOCK_DURATION_MS,
    logger,
    metrics,
  });
  const webhookWorker = createWorker({
    queue: QUEUES.webhook,
    schema: WebhookEventJob,
    processor: createWebhookProcessor({
      redis: producerRedis,
      prefix: config.QUEUE_PREFIX,
      timeoutMs: config.WEBHOOK_TIMEOUT_MS,
      operatorUrl: config.WEBHOOK_URL,
      operatorMaxPerMinute: config.WEBHOOK_OPERATOR_MAX_PER_MINUTE,
      allowedCidrs: config.WEBHOOK_ALLOWED_CIDRS,
      logger,
    }),
    connection: workerRedis,
    prefix: config.QUEUE_PREFIX,
    concurrency: config.WEBHOOK_CONCURRENCY,
    logger,
    metrics,
  });
  // Closed first: waits for in-flight sends to finish before the transport and Redis go.
  lifecycle.onStop('workers', async () => {
    await Promise.all([worker.close(), webhookWorker.close()]);
  });

  if (options.verifySmtp !== false) {
    // A server that is down now may be up by the first job, and jobs retry: warn, do not exit.
    transport.verify().then(
      () => logger.info('smtp server reachable'),
      (err: unknown) =>
        logger.warn(
          { err: withoutAddresses(err instanceof Error ? err.message : String(err)) },
          'smtp server not reachable at start-up; jobs will retry',
        ),
    );
  }
  return { worker, webhookWorker, transport };
}
