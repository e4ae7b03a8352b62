// What every worker service wires before its own processors: its two Redis connections, the audit
// emitter, the producer of webhook events and the queue gauges, each closed in reverse on stop.
import { Queue, type ConnectionOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import type { z } from 'zod';
import {
  OPERATOR_WEBHOOK_EVENTS,
  QUEUES,
  WebhookEventJob,
  deliveryKeys,
  type AuditEvent,
  type QueueName,
} from '@securevault/contracts';
import { createAuditEmitter, type AuditEmitter } from './audit.ts';
import { createProducer, registerQueueMetrics, type Producer } from './queue.ts';
import { connectRedis } from './redis.ts';
import type { Runtime } from './runtime.ts';

export interface WorkerServiceConnections {
  /** BullMQ blocks on this one: it retries forever */
  workerRedis: Redis;
  /** stream writes, records and events: fails fast, so a job retries instead of hanging */
  producerRedis: Redis;
  audit: AuditEmitter;
  /** the `webhook` queue's producer (the owners' endpoints, operators' notices) */
  webhookEvents: Producer<z.input<typeof WebhookEventJob>>;
  /**
   * Queues an event for the webhook fan-out, unless nobody can receive it: an owner without
   * endpoints, for an event operators do not get. Most accounts have none, and each skipped event
   * is a job the email-worker does not have to run.
   */
  notify: (event: z.input<typeof WebhookEventJob>) => Promise<void>;
}

export async function connectWorkerService(options: {
  source: AuditEvent['source'];
  redisUrl: string;
  prefix: string;
  runtime: Pick<Runtime, 'logger' | 'metrics' | 'health' | 'lifecycle'>;
  /** the queues whose depths this service reports in `queue_jobs` */
  gaugeQueues: readonly QueueName[];
}): Promise<WorkerServiceConnections> {
  const { logger, metrics, lifecycle } = options.runtime;
  const connect = (name: 'worker' | 'producer') =>
    connectRedis(options.runtime, { url: options.redisUrl, name, role: name });
  const [workerRedis, producerRedis] = await Promise.all([connect('worker'), connect('producer')]);

  const audit = createAuditEmitter({
    source: options.source,
    connection: producerRedis,
    prefix: options.prefix,
    logger,
    metrics,
  });
  lifecycle.onStop('audit-producer', () => audit.close());

  const webhookEvents = createProducer({
    queue: QUEUES.webhook,
    schema: WebhookEventJob,
    connection: producerRedis,
    prefix: options.prefix,
  });
  const gauged = options.gaugeQueues.map((name) => {
    if (name === QUEUES.webhook) return webhookEvents.queue;
    const queue = new Queue(name, {
      connection: producerRedis as ConnectionOptions,
      prefix: options.prefix,
    });
    // Errors surface in the gauge's collect; the listener keeps them from crashing the process.
    queue.on('error', () => {});
    return queue;
  });
  registerQueueMetrics(metrics, gauged);
  lifecycle.onStop('queue-metrics', async () => {
    await Promise.all([
      ...gauged.filter((q) => q !== webhookEvents.queue).map((q) => q.close()),
      webhookEvents.close(),
    ]);
  });

  const notify = async (event: z.input<typeof WebhookEventJob>): Promise<void> => {
    if (event.ownerId !== null && !OPERATOR_WEBHOOK_EVENTS.includes(event.event)) {
      const endpoints = deliveryKeys.webhookEndpoints(options.prefix, event.ownerId);
      if ((await producerRedis.exists(endpoints)) === 0) return;
    }
    await webhookEvents.add(event);
  };

  return { workerRedis, producerRedis, audit, webhookEvents, notify };
}
