// Ours for jobs/s: the service kit's producer and worker (schema checks, trace context, metrics,
// request context) with a no-op processor, on the webhook queue's contract.
import { Redis } from 'ioredis';
import { WebhookEventJob } from '@securevault/contracts';
import { Metrics, createLogger } from '@securevault/observability';
import { createProducer, createWorker } from '@securevault/service-kit';
import { pool, until } from './drive.ts';
import type { JobsRun } from '../peers/bullmq-raw.ts';

export async function ourJobs(run: JobsRun): Promise<number> {
  const producerConn = new Redis(run.redisUrl, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
  });
  const workerConn = new Redis(run.redisUrl, { maxRetriesPerRequest: null });
  await new Promise<void>((resolve) => producerConn.once('ready', () => resolve()));
  const logger = createLogger({ service: 'bench', level: 'warn' });
  const metrics = new Metrics('email-worker', { defaultMetrics: false });
  const producer = createProducer({
    queue: 'webhook',
    schema: WebhookEventJob,
    connection: producerConn,
    prefix: run.prefix,
  });
  let completed = 0;
  const worker = createWorker({
    queue: 'webhook',
    schema: WebhookEventJob,
    processor: async () => {},
    connection: workerConn,
    prefix: run.prefix,
    concurrency: run.concurrency,
    logger,
    metrics,
  });
  worker.on('completed', () => completed++);
  await worker.waitUntilReady();
  try {
    const started = performance.now();
    await pool(run.jobs, run.inFlight, async (i) => {
      await producer.add(run.payload(i) as WebhookEventJob);
    });
    await until('service-kit completions', () => completed, run.jobs, 120_000);
    return (performance.now() - started) / 1000;
  } finally {
    await worker.close();
    await producer.queue.obliterate({ force: true });
    await producer.close();
    producerConn.disconnect();
    workerConn.disconnect();
  }
}
