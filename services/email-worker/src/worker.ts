// Wires the email-worker: Redis, the audit emitter, the SMTP pool and the BullMQ worker, each closed in reverse.
import { Queue, type ConnectionOptions, type Worker } from 'bullmq';
import { EmailJob, QUEUES, WebhookEventJob } from '@securevault/contracts';
import {
  closeRedis,
  createAuditEmitter,
  createProducer,
  createRedis,
  createWorker,
  registerQueueMetrics,
  registerRedisHealth,
  waitForRedis,
  type Runtime,
} from '@securevault/service-kit';
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
  const { logger, metrics, health, lifecycle } = runtime;

  // BullMQ blocks on this one and must retry forever; the audit producer must fail fast instead.
  const workerRedis = createRedis({
    url: config.REDIS_URL,
    name: 'worker',
    logger,
    metrics,
    role: 'worker',
  });
  lifecycle.onStop('redis:worker', () => closeRedis(workerRedis));
  const producerRedis = createRedis({
    url: config.REDIS_URL,
    name: 'producer',
    logger,
    metrics,
    role: 'producer',
  });
  lifecycle.onStop('redis:producer', () => closeRedis(producerRedis));
  registerRedisHealth(health, 'worker', workerRedis);
  registerRedisHealth(health, 'producer', producerRedis);
  await Promise.all([waitForRedis(workerRedis), waitForRedis(producerRedis)]);

  const audit = createAuditEmitter({
    source: 'email-worker',
    connection: producerRedis,
    prefix: config.QUEUE_PREFIX,
    logger,
    metrics,
  });
  lifecycle.onStop('audit-producer', () => audit.close());

  const transport = createSmtpTransport({
    url: config.SMTP_URL,
    maxConnections: config.SMTP_POOL_MAX_CONNECTIONS,
    timeoutMs: config.SMTP_TIMEOUT_MS,
    logger,
  });
  lifecycle.onStop('smtp-transport', () => transport.close());

  const emailQueue = new Queue(QUEUES.email, {
    connection: producerRedis as ConnectionOptions,
    prefix: config.QUEUE_PREFIX,
  });
  emailQueue.on('error', () => {});
  const webhookEvents = createProducer({
    queue: QUEUES.webhook,
    schema: WebhookEventJob,
    connection: producerRedis,
    prefix: config.QUEUE_PREFIX,
  });
  registerQueueMetrics(metrics, [emailQueue, webhookEvents.queue]);
  lifecycle.onStop('queue-metrics', async () => {
    await Promise.all([emailQueue.close(), webhookEvents.close()]);
  });

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
        await webhookEvents.add({
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
