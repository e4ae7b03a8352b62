// Test harness: the real worker wiring (startAiWorker) on real Redis under a fresh prefix, plus a producer.
import { randomUUID } from 'node:crypto';
import { Queue, QueueEvents, type ConnectionOptions, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import {
  AiJob,
  AuditJob,
  QUEUES,
  auditEventsOf,
  generationStreamKey,
  type AuditEvent,
} from '@securevault/contracts';
import { HealthRegistry, Lifecycle, Metrics, createLogger } from '@securevault/observability';
import { createProducer, type Producer } from '@securevault/service-kit';
import { cleanupRedisPrefix, uniquePrefix, waitForJobState } from '@securevault/testing';
import { loadAiWorkerConfig } from '../src/config.ts';
import { startAiWorker, type AiWorkerHandles } from '../src/worker.ts';

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
export const API_KEY = 'sk-test-0123456789abcdef0123456789abcdef';

export interface Harness extends AiWorkerHandles {
  prefix: string;
  metrics: Metrics;
  health: HealthRegistry;
  lifecycle: Lifecycle;
  logs: string[];
  redis: Redis;
  producer: Producer<AiJob>;
  aiQueue: Queue;
  auditQueue: Queue;
  events: QueueEvents;
  /** The generation's Redis Stream as [id, fields] pairs. */
  stream(id: string): Promise<Array<{ id: string; fields: Record<string, string> }>>;
  close(): Promise<void>;
}

export async function startHarness(options: {
  baseUrl: string;
  env?: Record<string, string>;
}): Promise<Harness> {
  const prefix = uniquePrefix('ai-worker');
  const logs: string[] = [];
  const logger = createLogger({
    service: 'ai-worker',
    level: 'debug',
    destination: { write: (line: string) => void logs.push(line) },
  });
  const metrics = new Metrics('ai-worker', { defaultMetrics: false });
  const health = new HealthRegistry();
  const lifecycle = new Lifecycle({ logger, health, graceMs: 15_000, exit: () => {} });
  const config = loadAiWorkerConfig({
    REDIS_URL,
    QUEUE_PREFIX: prefix,
    OPENAI_BASE_URL: options.baseUrl,
    OPENAI_API_KEY: API_KEY,
    AI_TIMEOUT_MS: '5000',
    ...options.env,
  });
  const handles = await startAiWorker(config, { logger, metrics, health, lifecycle });

  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  const producer = createProducer({ queue: QUEUES.ai, schema: AiJob, connection: redis, prefix });
  const connection = redis as ConnectionOptions;
  const aiQueue = new Queue(QUEUES.ai, { connection, prefix });
  const auditQueue = new Queue(QUEUES.audit, { connection, prefix });
  const events = new QueueEvents(QUEUES.ai, { connection: { url: REDIS_URL }, prefix });
  await Promise.all([
    redis.status === 'ready' ? undefined : new Promise((r) => redis.once('ready', r)),
    events.waitUntilReady(),
  ]);

  return {
    ...handles,
    prefix,
    metrics,
    health,
    lifecycle,
    logs,
    redis,
    producer,
    aiQueue,
    auditQueue,
    events,
    async stream(id) {
      const entries = await redis.xrange(generationStreamKey(prefix, id), '-', '+');
      return entries.map(([entryId, flat]) => {
        const fields: Record<string, string> = {};
        for (let i = 0; i + 1 < flat.length; i += 2)
          fields[flat[i] as string] = flat[i + 1] as string;
        return { id: entryId, fields };
      });
    },
    async close() {
      await lifecycle.shutdown('test');
      await Promise.all([producer.close(), aiQueue.close(), auditQueue.close(), events.close()]);
      await redis.quit();
      await cleanupRedisPrefix(REDIS_URL, prefix);
    },
  };
}

export function aiJob(overrides: Partial<AiJob> = {}): AiJob {
  return {
    id: randomUUID(),
    ownerId: randomUUID(),
    prompt: 'Write a haiku about secret vaults',
    model: 'securevault-dev-1',
    maxTokens: 12,
    queuedAt: new Date().toISOString(),
    ...overrides,
  };
}

/** Polls until the job reaches one of `states` (failed jobs do not reject like waitUntilFinished). */
export const waitForState = (queue: Queue, id: string, states: string[], timeoutMs?: number) =>
  waitForJobState<Job>(queue, id, states, timeoutMs);

/** The audit events queued for one generation (nobody consumes the audit queue in these tests). */
export async function auditEvents(
  queue: Queue,
  targetId: string,
  count = 1,
  timeoutMs = 5_000,
): Promise<AuditEvent[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const jobs = await queue.getJobs(['waiting', 'prioritized', 'delayed']);
    const events = jobs
      .flatMap((j) => auditEventsOf(AuditJob.parse(j.data)))
      .filter((e) => e.target?.id === targetId);
    if (events.length >= count || Date.now() > deadline) return events;
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** The value of one sample line of the Prometheus text, 0 when absent. */
export function sample(text: string, line: string): number {
  const found = text.split('\n').find((l) => l.startsWith(line + ' '));
  return found === undefined ? 0 : Number(found.slice(line.length + 1));
}
