// Reads jobs back from BullMQ for the status endpoints: ownership, state mapping, 503 when Redis is down.
import type { Job, JobState, Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import {
  AiResult,
  EmailHistoryEntry,
  EmailResult,
  TokenUsage,
  deliveryKeys,
  type Principal,
} from '@securevault/contracts';
import { AppError } from '@securevault/service-kit';

export const JobId = z.object({ id: z.uuid() }).strict();

function queueUnavailable(cause: unknown): AppError {
  return new AppError('SERVICE_UNAVAILABLE', 'the job queue is unavailable, try again later', {
    headers: { 'Retry-After': '5' },
    cause,
  });
}

const READ_TIMEOUT_MS = 3_000;

/**
 * Runs a BullMQ read. BullMQ waits for its connection to become ready before any command, so a
 * down Redis would hang the request: check the connection first and bound the wait anyway.
 */
export async function fromRedis<T>(redis: Redis, fn: () => Promise<T>): Promise<T> {
  if (redis.status !== 'ready') throw queueUnavailable(new Error(`redis ${redis.status}`));
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      fn(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('redis read timed out')), READ_TIMEOUT_MS);
      }),
    ]);
  } catch (err) {
    throw queueUnavailable(err);
  } finally {
    clearTimeout(timer);
  }
}

/** The job when it exists and the caller may see it: its owner, or an admin. Otherwise 404. */
export async function getOwnedJob(
  redis: Redis,
  queue: Queue,
  id: string,
  principal: Principal,
  what: string,
): Promise<Job> {
  const job = await fromRedis(redis, () => queue.getJob(id));
  const owner = (job?.data as { ownerId?: unknown } | undefined)?.ownerId;
  // Someone else's job answers exactly like a missing one, so ids cannot be probed.
  if (!job || (owner !== principal.userId && principal.role !== 'admin')) {
    throw new AppError('NOT_FOUND', `no such ${what}`);
  }
  return job;
}

type BullState = Awaited<ReturnType<Job['getState']>>;

function iso(ms: number | undefined): string | undefined {
  return typeof ms === 'number' && ms > 0 ? new Date(ms).toISOString() : undefined;
}

function updatedAt(job: Job): string {
  return (
    iso(Math.max(job.timestamp, job.processedOn ?? 0, job.finishedOn ?? 0)) ??
    new Date().toISOString()
  );
}

export type EmailStatus = 'queued' | 'scheduled' | 'sending' | 'sent' | 'failed' | 'suppressed';

export function emailStatus(state: BullState): EmailStatus {
  switch (state) {
    case 'active':
      return 'sending';
    case 'completed':
      return 'sent';
    case 'failed':
      return 'failed';
    default:
      // waiting, delayed (incl. a retry's backoff), prioritized, waiting-children
      return 'queued';
  }
}

/**
 * The job's state, consistent with the snapshot `job` was loaded as. The state is read after the
 * job hash: a job that finished in between would say "completed" while the snapshot holds no
 * return value yet, so such a state is reported as the snapshot's ("active"); the next read sees both.
 */
async function snapshotState(redis: Redis, job: Job): Promise<JobState | 'unknown'> {
  const state = await fromRedis(redis, () => job.getState());
  if ((state === 'completed' || state === 'failed') && job.finishedOn === undefined)
    return 'active';
  return state;
}

export async function emailView(
  redis: Redis,
  job: Job,
  prefix: string,
): Promise<Record<string, unknown>> {
  const state = await snapshotState(redis, job);
  const [rawHistory, recordState] = await fromRedis(redis, () =>
    Promise.all([
      redis.lrange(deliveryKeys.history(prefix, String(job.id)), 0, -1),
      redis.hget(deliveryKeys.sendRecord(prefix, String(job.id)), 'state'),
    ]),
  );
  let status = emailStatus(state);
  const data = job.data as { to?: string; subject?: string; sendAt?: string };
  if (status === 'failed' && recordState === 'suppressed') status = 'suppressed';
  if (state === 'delayed' && data.sendAt !== undefined && job.attemptsMade === 0)
    status = 'scheduled';
  const history = [
    { status: 'queued', at: iso(job.timestamp) },
    ...rawHistory.flatMap((line) => {
      const entry = EmailHistoryEntry.safeParse(JSON.parse(line));
      return entry.success ? [entry.data] : [];
    }),
  ];
  const view: Record<string, unknown> = {
    id: job.id,
    status,
    to: data.to,
    subject: data.subject,
    attempts: job.attemptsMade,
    createdAt: iso(job.timestamp),
    updatedAt: updatedAt(job),
    ...(data.sendAt !== undefined ? { sendAt: data.sendAt } : {}),
    history,
  };
  if (status === 'sent') {
    const result = EmailResult.safeParse(job.returnvalue);
    if (result.success) {
      view.sentAt = result.data.sentAt;
      view.messageId = result.data.messageId;
    } else {
      view.sentAt = iso(job.finishedOn);
    }
  }
  if (status === 'failed' || status === 'suppressed') {
    view.error = job.failedReason || 'delivery failed';
  }
  return view;
}

export type GenerationStatus = 'queued' | 'running' | 'completed' | 'failed' | 'cancelled';

/** The failure reason the ai-worker gives a cancelled generation. */
export const CANCELLED_REASON = 'the generation was cancelled';

export function generationStatus(state: BullState): GenerationStatus {
  switch (state) {
    case 'active':
      return 'running';
    case 'completed':
      return 'completed';
    case 'failed':
      return 'failed';
    default:
      return 'queued';
  }
}

export async function generationView(redis: Redis, job: Job): Promise<Record<string, unknown>> {
  const state = await snapshotState(redis, job);
  const status = generationStatus(state);
  const data = job.data as { model?: string };
  const view: Record<string, unknown> = {
    id: job.id,
    status,
    model: data.model,
    attempts: job.attemptsMade,
    createdAt: iso(job.timestamp),
  };
  if (status === 'completed') {
    const result = AiResult.safeParse(job.returnvalue);
    if (result.success) {
      view.model = result.data.model;
      view.text = result.data.text;
      view.usage = result.data.usage;
      view.finishReason = result.data.finishReason;
      view.completedAt = result.data.completedAt;
    } else {
      view.completedAt = iso(job.finishedOn);
    }
  }
  if (status === 'failed') {
    if (job.failedReason === CANCELLED_REASON) view.status = 'cancelled';
    else view.error = job.failedReason || 'generation failed';
    // Tokens a cancelled or failed generation used before it stopped (the worker's progress).
    const partial = TokenUsage.extend({ estimated: z.boolean().optional() }).safeParse(
      (job.progress as { usage?: unknown } | undefined)?.usage,
    );
    if (partial.success) view.usage = partial.data;
  }
  return view;
}
