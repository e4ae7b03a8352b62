// Wires the ai-worker: Redis, the audit emitter, the OpenAI client and the BullMQ worker, each closed in reverse.
import type { Worker } from 'bullmq';
import OpenAI from 'openai';
import { AiJob, QUEUES } from '@securevault/contracts';
import { connectWorkerService, createWorker, type Runtime } from '@securevault/service-kit/worker';
import type { AiWorkerConfig } from './config.ts';
import { createAiProcessor, shortRetryFetch } from './processor.ts';

/** the longest Retry-After the SDK's own retry may sleep through inside an attempt */
const SDK_MAX_INLINE_WAIT_MS = 5_000;

export interface AiWorkerHandles {
  worker: Worker;
  openai: OpenAI;
}

export async function startAiWorker(
  config: AiWorkerConfig,
  runtime: Pick<Runtime, 'logger' | 'metrics' | 'health' | 'lifecycle'>,
): Promise<AiWorkerHandles> {
  const { logger, metrics, lifecycle } = runtime;

  const { workerRedis, producerRedis, audit, notify } = await connectWorkerService({
    source: 'ai-worker',
    redisUrl: config.REDIS_URL,
    prefix: config.QUEUE_PREFIX,
    runtime,
    gaugeQueues: [QUEUES.ai],
  });

  const openai = new OpenAI({
    baseURL: config.OPENAI_BASE_URL,
    apiKey: config.OPENAI_API_KEY,
    timeout: config.AI_TIMEOUT_MS,
    maxRetries: config.OPENAI_MAX_RETRIES,
    // Provider pauses longer than a few seconds are waited out by the job's backoff, not in here.
    fetch: shortRetryFetch(Math.min(SDK_MAX_INLINE_WAIT_MS, config.AI_TIMEOUT_MS)),
  });

  const worker = createWorker({
    queue: QUEUES.ai,
    schema: AiJob,
    processor: createAiProcessor({
      openai,
      redis: producerRedis,
      prefix: config.QUEUE_PREFIX,
      models: config.AI_MODELS,
      timeoutMs: config.AI_TIMEOUT_MS,
      streamTtlSeconds: config.AI_STREAM_TTL_SECONDS,
      cancelPollMs: config.AI_CANCEL_POLL_MS,
      cacheTtlSeconds: config.AI_CACHE_TTL_SECONDS,
      maxRetryAfterMs: config.AI_RETRY_AFTER_MAX_MS,
      async notify(job, usage) {
        // The generation id doubles as the event id: a retried job queues the same event once.
        await notify({
          id: job.id,
          event: 'ai.completed',
          ownerId: job.ownerId,
          payload: { generationId: job.id, model: job.model, usage },
          occurredAt: new Date().toISOString(),
        });
      },
      logger,
      metrics,
      audit,
    }),
    connection: workerRedis,
    prefix: config.QUEUE_PREFIX,
    concurrency: config.AI_CONCURRENCY,
    logger,
    metrics,
  });
  // Closed first: in-flight generations finish before the stream's Redis client goes.
  lifecycle.onStop('worker', () => worker.close());
  return { worker, openai };
}
