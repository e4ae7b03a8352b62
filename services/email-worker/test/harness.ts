// Test harness: the real worker wiring (startEmailWorker) on real Redis under a fresh prefix, plus a producer.
import { randomUUID } from 'node:crypto';
import { Queue, QueueEvents, type ConnectionOptions, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { AuditJob, EmailJob, QUEUES, auditEventsOf, type AuditEvent } from '@securevault/contracts';
import { HealthRegistry, Lifecycle, Metrics, createLogger } from '@securevault/observability';
import { createProducer, type Producer } from '@securevault/service-kit';
import { cleanupRedisPrefix, uniquePrefix, waitForJobState } from '@securevault/testing';
import { loadEmailWorkerConfig } from '../src/config.ts';
import { startEmailWorker, type EmailWorkerHandles } from '../src/worker.ts';

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
export const FROM = 'SecureVault <no-reply@securevault.test>';

export interface Harness extends EmailWorkerHandles {
  prefix: string;
  metrics: Metrics;
  health: HealthRegistry;
  lifecycle: Lifecycle;
  logs: string[];
  producer: Producer<EmailJob>;
  emailQueue: Queue;
  auditQueue: Queue;
  events: QueueEvents;
  stopWorker(): Promise<number>;
  close(): Promise<void>;
}

export async function startHarness(options: {
  smtpUrl: string;
  env?: Record<string, string>;
  verifySmtp?: boolean;
}): Promise<Harness> {
  const prefix = uniquePrefix('email-worker');
  const logs: string[] = [];
  const logger = createLogger({
    service: 'email-worker',
    level: 'debug',
    destination: { write: (line: string) => void logs.push(line) },
  });
  const metrics = new Metrics('email-worker', { defaultMetrics: false });
  const health = new HealthRegistry();
  const lifecycle = new Lifecycle({ logger, health, graceMs: 15_000, exit: () => {} });
  const config = loadEmailWorkerConfig({
    REDIS_URL,
    QUEUE_PREFIX: prefix,
    SMTP_URL: options.smtpUrl,
    SMTP_FROM: FROM,
    SMTP_TIMEOUT_MS: '3000',
    ...options.env,
  });
  const handles = await startEmailWorker(
    config,
    { logger, metrics, health, lifecycle },
    { verifySmtp: options.verifySmtp ?? false },
  );

  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  const producer = createProducer({
    queue: QUEUES.email,
    schema: EmailJob,
    connection: redis,
    prefix,
  });
  const connection = redis as ConnectionOptions;
  const emailQueue = new Queue(QUEUES.email, { connection, prefix });
  const auditQueue = new Queue(QUEUES.audit, { connection, prefix });
  const events = new QueueEvents(QUEUES.email, { connection: { url: REDIS_URL }, prefix });
  await Promise.all([
    redis.status === 'ready' ? undefined : new Promise((r) => redis.once('ready', r)),
    events.waitUntilReady(),
  ]);

  let stopped: Promise<number> | undefined;
  const stopWorker = () => (stopped ??= lifecycle.shutdown('test'));
  return {
    ...handles,
    prefix,
    metrics,
    health,
    lifecycle,
    logs,
    producer,
    emailQueue,
    auditQueue,
    events,
    stopWorker,
    async close() {
      await stopWorker();
      await Promise.all([producer.close(), emailQueue.close(), auditQueue.close(), events.close()]);
      await redis.quit();
      await cleanupRedisPrefix(REDIS_URL, prefix);
    },
  };
}

export function emailJob(overrides: Partial<EmailJob> = {}): EmailJob {
  return {
    id: randomUUID(),
    ownerId: randomUUID(),
    to: `alice.${randomUUID().slice(0, 8)}@customer.test`,
    subject: 'Your vault report',
    text: 'Hello from SecureVault.',
    queuedAt: new Date().toISOString(),
    ...overrides,
  };
}

/** Polls until the job reaches one of `states` (failed jobs do not reject like waitUntilFinished). */
export const waitForState = (queue: Queue, id: string, states: string[], timeoutMs?: number) =>
  waitForJobState<Job>(queue, id, states, timeoutMs);

/** The audit events queued so far (nobody consumes the audit queue in these tests). */
export async function auditEvents(
  queue: Queue,
  action: string,
  count = 1,
  timeoutMs = 5_000,
): Promise<AuditEvent[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const jobs = await queue.getJobs(['waiting', 'prioritized', 'delayed']);
    const events = jobs
      .flatMap((j) => auditEventsOf(AuditJob.parse(j.data)))
      .filter((e) => e.action === action);
    if (events.length >= count || Date.now() > deadline) return events;
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** The value of one sample line of the Prometheus text, 0 when absent. */
export function sample(text: string, line: string): number {
  const found = text.split('\n').find((l) => l.startsWith(line + ' '));
  return found === undefined ? 0 : Number(found.slice(line.length + 1));
}
