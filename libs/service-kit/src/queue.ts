// BullMQ producers and workers built on the contracts: schema-checked, traced, counted.
import {
  Queue,
  Worker,
  UnrecoverableError,
  type Job,
  type JobsOptions,
  type ConnectionOptions,
} from 'bullmq';
import type { Redis } from 'ioredis';
import type { z } from 'zod';
import { JOB_NAMES, RETRY_AFTER_BACKOFF, type QueueName } from '@securevault/contracts';
import {
  injectTraceContext,
  runInJobSpan,
  runWithRequestContext,
  type Logger,
  type Metrics,
  type TraceCarrier,
} from '@securevault/observability';
import { AppError } from './errors.ts';

/**
 * BullMQ's custom backoff for `RETRY_AFTER_BACKOFF` jobs: the exponential delay with jitter of the
 * job's own backoff options, raised to the `retryAfterMs` the failure carries (a provider's
 * Retry-After). Other custom types are a wiring mistake: the job fails instead of spinning.
 */
export function retryAfterBackoff(
  attemptsMade: number,
  type: string | undefined,
  err: Error | undefined,
  job: { opts: { backoff?: number | { delay?: number; jitter?: number } } } | undefined,
): number {
  if (type !== RETRY_AFTER_BACKOFF.type) return -1;
  const options = typeof job?.opts.backoff === 'object' ? job.opts.backoff : {};
  const base = options.delay ?? RETRY_AFTER_BACKOFF.delay;
  const jitter = Math.min(Math.max(options.jitter ?? RETRY_AFTER_BACKOFF.jitter, 0), 1);
  const max = Math.round(base * 2 ** Math.max(attemptsMade - 1, 0));
  const exponential = Math.floor(max * (1 - jitter) + Math.random() * max * jitter);
  const retryAfter = (err as { retryAfterMs?: unknown } | undefined)?.retryAfterMs;
  return typeof retryAfter === 'number' && Number.isFinite(retryAfter) && retryAfter > exponential
    ? Math.ceil(retryAfter)
    : exponential;
}

/** Retries with exponential backoff and jitter; failed jobs are kept for inspection and replay. */
export const DEFAULT_JOB_OPTIONS: JobsOptions = {
  attempts: 5,
  backoff: { type: 'exponential', delay: 1_000, jitter: 0.5 },
  removeOnComplete: { age: 7 * 24 * 3600, count: 100_000 },
  removeOnFail: { age: 30 * 24 * 3600 },
};

export interface Producer<T> {
  queue: Queue;
  /** Validates, attaches the trace context (unless it has one) and enqueues under the payload's id. */
  add(data: T, options?: JobsOptions): Promise<string>;
  close(): Promise<void>;
}

export function createProducer<
  S extends z.ZodType<{ id: string; trace?: TraceCarrier | undefined }>,
>(options: {
  queue: QueueName;
  schema: S;
  connection: Redis;
  prefix: string;
  defaultJobOptions?: JobsOptions;
}): Producer<z.input<S>> {
  const queue = new Queue(options.queue, {
    connection: options.connection as ConnectionOptions,
    prefix: options.prefix,
    defaultJobOptions: { ...DEFAULT_JOB_OPTIONS, ...options.defaultJobOptions },
  });
  // Errors surface on add(); this listener keeps an emitted 'error' from crashing the process.
  queue.on('error', () => {});
  return {
    queue,
    async add(data, jobOptions) {
      // A payload built earlier in its own context (an audit event waiting for its batch) keeps it.
      const trace = (data as { trace?: TraceCarrier }).trace ?? injectTraceContext();
      const payload = options.schema.parse(trace ? { ...(data as object), trace } : data);
      if (options.connection.status !== 'ready') {
        throw new AppError('SERVICE_UNAVAILABLE', 'the job queue is unavailable, try again later', {
          headers: { 'Retry-After': '5' },
        });
      }
      try {
        const job = await queue.add(JOB_NAMES[options.queue], payload, {
          ...jobOptions,
          jobId: payload.id,
        });
        return job.id ?? payload.id;
      } catch (err) {
        throw new AppError('SERVICE_UNAVAILABLE', 'the job queue is unavailable, try again later', {
          headers: { 'Retry-After': '5' },
          cause: err,
        });
      }
    },
    close: () => queue.close(),
  };
}

export type Processor<T, R> = (data: T, job: Job) => Promise<R>;

export interface WorkerOptions<S extends z.ZodType, R> {
  queue: QueueName;
  schema: S;
  processor: Processor<z.output<S>, R>;
  connection: Redis;
  prefix: string;
  concurrency?: number;
  logger: Logger;
  metrics: Metrics;
  /** start paused until `worker.run()`; tests use it to enqueue first */
  autorun?: boolean;
  /** how long a job's lock lives without renewal: a crashed worker's job is picked up after it */
  lockDurationMs?: number;
}

/**
 * A worker for one queue and its one job name. Payloads that fail the schema or carry another
 * job name can never succeed, so they fail at once (UnrecoverableError) instead of retrying.
 */
export function createWorker<S extends z.ZodType, R>(options: WorkerOptions<S, R>): Worker {
  const expectedName = JOB_NAMES[options.queue];
  const processed = options.metrics.get('queue_jobs_processed_total');
  const worker = new Worker(
    options.queue,
    async (job: Job) => {
      if (job.name !== expectedName) {
        throw new UnrecoverableError(`unexpected job name ${job.name} on queue ${options.queue}`);
      }
      const parsed = options.schema.safeParse(job.data);
      if (!parsed.success) {
        throw new UnrecoverableError(`job payload does not match the ${options.queue} contract`);
      }
      const data = parsed.data as z.output<S> & { trace?: TraceCarrier; requestId?: string };
      const requestId = data.requestId ?? `job-${job.id ?? 'unknown'}`;
      return runWithRequestContext({ requestId }, () =>
        runInJobSpan(
          `${options.queue} process`,
          data.trace,
          {
            'messaging.system': 'bullmq',
            'messaging.destination.name': options.queue,
            'messaging.message.id': job.id ?? '',
            'bullmq.job.attempt': job.attemptsMade + 1,
          },
          () => options.processor(data, job),
        ),
      );
    },
    {
      connection: options.connection as ConnectionOptions,
      prefix: options.prefix,
      concurrency: options.concurrency ?? 5,
      autorun: options.autorun ?? true,
      // A crashed worker's active job is picked up again after this; each pickup counts.
      stalledInterval: options.lockDurationMs ?? 30_000,
      lockDuration: options.lockDurationMs ?? 30_000,
      maxStalledCount: 2,
      settings: { backoffStrategy: retryAfterBackoff },
    },
  );
  worker.on('completed', (job) => {
    processed.inc({ queue: options.queue, outcome: 'completed' });
    options.logger.debug({ jobId: job.id, queue: options.queue }, 'job completed');
  });
  worker.on('failed', (job, err) => {
    const final =
      !job || job.attemptsMade >= (job.opts.attempts ?? 1) || err instanceof UnrecoverableError;
    processed.inc({ queue: options.queue, outcome: final ? 'failed' : 'retried' });
    options.logger.warn(
      { jobId: job?.id, queue: options.queue, attempt: job?.attemptsMade, final, err: err.message },
      'job failed',
    );
  });
  worker.on('error', (err) =>
    options.logger.error({ err: err.message, queue: options.queue }, 'worker error'),
  );
  return worker;
}

/** Reports `queue_jobs{queue,state}` on each scrape, read from Redis then. */
export function registerQueueMetrics(metrics: Metrics, queues: Queue[]): void {
  const gauge = metrics.get('queue_jobs');
  (gauge as unknown as { collect: () => Promise<void> }).collect = async () => {
    await Promise.all(
      queues.map(async (q) => {
        try {
          const counts = await q.getJobCounts(
            'waiting',
            'active',
            'delayed',
            'failed',
            'completed',
            'prioritized',
            'waiting-children',
          );
          for (const [state, n] of Object.entries(counts)) gauge.set({ queue: q.name, state }, n);
        } catch {
          // Redis is down: keep the last values; redis_connection_up tells the story.
        }
      }),
    );
  };
}
