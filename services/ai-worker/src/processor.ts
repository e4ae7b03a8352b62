// Processes one `ai` job: streams a completion from the provider into a Redis Stream, metered and cancellable.
import { createHash } from 'node:crypto';
import { UnrecoverableError, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import OpenAI from 'openai';
import {
  SETTLE_BUDGET_LUA,
  aiKeys,
  generationStreamKey,
  type AiJob,
  type AiResult,
  type ErrorCode,
  type TokenUsage,
} from '@securevault/contracts';
import type { Logger, Metrics } from '@securevault/observability';
import type { AuditEmitter } from '@securevault/service-kit/worker';

export interface AiProcessorDeps {
  openai: OpenAI;
  /** producer-role client: stream writes fail fast while Redis is down, and the job retries */
  redis: Redis;
  prefix: string;
  models: readonly string[];
  timeoutMs: number;
  streamTtlSeconds?: number;
  /** how often a running generation checks whether its owner cancelled it */
  cancelPollMs?: number;
  /** identical model, prompt and limit within this many seconds reuse the stored text; 0 = off */
  cacheTtlSeconds?: number;
  /** the longest provider Retry-After a job waits for; a longer one fails the job (default 60 s) */
  maxRetryAfterMs?: number;
  /** puts an `ai.completed` event on the `webhook` queue for the owner's endpoints */
  notify?: (job: AiJob, usage: TokenUsage) => Promise<void>;
  logger: Logger;
  metrics: Metrics;
  audit: Pick<AuditEmitter, 'emit'>;
}

/** What a reader of the stream and the audit trail may see: a code and a message of ours, never the provider's text. */
export class GenerationError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;
  /** the provider's Retry-After: BullMQ's retry-after backoff waits at least this long */
  readonly retryAfterMs: number | undefined;
  constructor(
    code: ErrorCode,
    message: string,
    retryable: boolean,
    options?: ErrorOptions & { retryAfterMs?: number | undefined },
  ) {
    super(message, options);
    this.name = 'GenerationError';
    this.code = code;
    this.retryable = retryable;
    this.retryAfterMs = options?.retryAfterMs;
  }
}

/**
 * When the provider said to come back: `retry-after-ms` (OpenAI's), else `Retry-After` in seconds
 * or as an HTTP date. Undefined when absent or unreadable.
 */
export function retryAfterMs(
  headers: { get(name: string): string | null } | undefined,
  now = Date.now(),
): number | undefined {
  const ms = Number(headers?.get('retry-after-ms') ?? Number.NaN);
  if (Number.isFinite(ms) && ms >= 0) return ms;
  const value = headers?.get('retry-after')?.trim();
  if (!value) return undefined;
  if (/^\d+(\.\d+)?$/.test(value)) return Number(value) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(at - now, 0);
}

const STREAM_MAXLEN = '10000';
export const CANCELLED_REASON = 'the generation was cancelled';

/** Raised when the owner cancelled: never retried, and reported as cancelled rather than failed. */
class CancelledError extends Error {}

function cacheKey(prefix: string, job: AiJob): string {
  const h = createHash('sha256')
    .update(JSON.stringify([job.model, job.maxTokens, job.prompt]))
    .digest('hex');
  return `${prefix}:ai:cache:${h}`;
}

/**
 * A fetch for the openai SDK that keeps its own retries short. The SDK sleeps for whatever a
 * Retry-After says while holding the job (its lock, a concurrency slot); a pause longer than
 * `maxInlineWaitMs` is answered with `x-should-retry: false` so the SDK hands the error back, and
 * the job's retry-after backoff waits instead, as a delayed job that holds nothing.
 */
export function shortRetryFetch(
  maxInlineWaitMs: number,
  inner: typeof fetch = fetch,
): typeof fetch {
  return async (input, init) => {
    const response = await inner(input, init);
    if (response.ok) return response;
    const wait = retryAfterMs(response.headers);
    if (wait === undefined || wait <= maxInlineWaitMs) return response;
    const headers = new Headers(response.headers);
    headers.set('x-should-retry', 'false');
    return new Response(response.body, {
      status: response.status,
      statusText: response.statusText,
      headers,
    });
  };
}

/** Sorts a provider failure into retry (429, 5xx, network, timeouts) or give up (other 4xx). */
export function classify(err: unknown, stalled = false): GenerationError {
  if (err instanceof GenerationError) return err;
  if (stalled || err instanceof OpenAI.APIConnectionTimeoutError) {
    return new GenerationError('GATEWAY_TIMEOUT', 'the AI provider did not answer in time', true, {
      cause: err,
    });
  }
  if (err instanceof OpenAI.APIConnectionError) {
    return new GenerationError('BAD_GATEWAY', 'the AI provider could not be reached', true, {
      cause: err,
    });
  }
  if (err instanceof OpenAI.APIError) {
    const status = err.status as number | undefined;
    const wait = retryAfterMs(err.headers as { get(name: string): string | null } | undefined);
    if (status === 429) {
      return new GenerationError(
        'RATE_LIMITED',
        'the AI provider is rate limiting us (429)',
        true,
        { cause: err, retryAfterMs: wait },
      );
    }
    // No status: an error event inside an already started stream, which a new attempt may not hit.
    if (status === undefined || status >= 500) {
      return new GenerationError(
        'BAD_GATEWAY',
        `the AI provider failed (${status ?? 'stream error'})`,
        true,
        { cause: err, retryAfterMs: wait },
      );
    }
    if ([400, 404, 413, 422].includes(status)) {
      return new GenerationError(
        'VALIDATION_FAILED',
        `the AI provider rejected the request (${status})`,
        false,
        {
          cause: err,
        },
      );
    }
    return new GenerationError(
      'BAD_GATEWAY',
      `the AI provider refused the request (${status})`,
      false,
      { cause: err },
    );
  }
  // Anything else (a Redis write, a bug) may well pass on the next attempt.
  return new GenerationError('INTERNAL', 'the generation failed', true, { cause: err });
}

export function createAiProcessor(deps: AiProcessorDeps) {
  const generations = deps.metrics.get('ai_generations_total');
  const tokens = deps.metrics.get('ai_tokens_total');
  const firstToken = deps.metrics.get('ai_time_to_first_token_seconds');
  const cacheRequests = deps.metrics.get('cache_requests_total');
  const cacheTtl = deps.cacheTtlSeconds ?? 0;

  /** Charges the owner's budget with what was really used, once, whatever the outcome. */
  async function settle(job: AiJob, usage: TokenUsage): Promise<void> {
    if (!job.budget) return;
    await deps.redis.eval(
      SETTLE_BUDGET_LUA,
      2,
      aiKeys.budget(deps.prefix, job.ownerId, job.budget.day),
      aiKeys.settled(deps.prefix, job.id),
      String(job.budget.reserved),
      String(usage.totalTokens),
    );
  }
  const ttl = deps.streamTtlSeconds ?? 86_400;
  const actor = { type: 'service', id: 'ai-worker' } as const;

  async function append(key: string, fields: string[], expire = false): Promise<void> {
    if (expire) {
      await deps.redis
        .multi()
        .xadd(key, 'MAXLEN', '~', STREAM_MAXLEN, '*', ...fields)
        .expire(key, ttl)
        .exec();
    } else {
      await deps.redis.xadd(key, 'MAXLEN', '~', STREAM_MAXLEN, '*', ...fields);
    }
  }

  return async function processGeneration(job: AiJob, bullJob: Job): Promise<AiResult> {
    const attempt = bullJob.attemptsMade + 1;
    const key = generationStreamKey(deps.prefix, job.id);
    const allowed = deps.models.includes(job.model);
    // Arbitrary model names must not become metric labels.
    const modelLabel = allowed ? job.model : 'other';
    const target = { type: 'generation', id: job.id };
    const started = Date.now();
    const cancelKey = aiKeys.cancel(deps.prefix, job.id);
    let text = '';
    let chunks = 0;
    let usage: TokenUsage | undefined;

    try {
      if (!allowed) {
        throw new GenerationError('VALIDATION_FAILED', 'the model is not available', false);
      }
      if ((await deps.redis.exists(cancelKey)) === 1) throw new CancelledError(CANCELLED_REASON);
      // A retry (or a pickup after a crashed worker) starts over: readers drop what came before.
      const retry = bullJob.attemptsMade > 0 || (bullJob.attemptsStarted ?? 0) > 1;
      if (retry) await append(key, ['type', 'reset'], true);

      const cached = cacheTtl > 0 ? await deps.redis.get(cacheKey(deps.prefix, job)) : null;
      if (cacheTtl > 0)
        cacheRequests.inc({ cache: 'ai', result: cached === null ? 'miss' : 'hit' });
      let finishReason: string | null = null;
      if (cached !== null) {
        const hit = JSON.parse(cached) as { text: string; finishReason: string | null };
        text = hit.text;
        finishReason = hit.finishReason;
        // A cache hit costs no provider tokens: the budget is given back in full.
        usage = { promptTokens: 0, completionTokens: 0, totalTokens: 0 };
        await append(key, ['type', 'chunk', 'text', text], !retry);
      } else {
        // The SDK's timeout ends once headers arrive; this one also catches a stream that stalls.
        const controller = new AbortController();
        let stalled = false;
        let cancelled = false;
        let idle: NodeJS.Timeout | undefined;
        const arm = () => {
          clearTimeout(idle);
          idle = setTimeout(() => {
            stalled = true;
            controller.abort();
          }, deps.timeoutMs);
        };
        // Polled rather than subscribed: a cancel that lands between two polls is still seen,
        // and a provider that sends nothing is aborted too.
        const poll = setInterval(() => {
          deps.redis.exists(cancelKey).then(
            (n) => {
              if (n === 1) {
                cancelled = true;
                controller.abort();
              }
            },
            () => undefined,
          );
        }, deps.cancelPollMs ?? 250);

        let first = !retry;
        arm();
        try {
          const stream = await deps.openai.chat.completions.create(
            {
              model: job.model,
              messages: [{ role: 'user', content: job.prompt }],
              max_tokens: job.maxTokens,
              stream: true,
              stream_options: { include_usage: true },
            },
            { timeout: deps.timeoutMs, signal: controller.signal },
          );
          for await (const chunk of stream) {
            arm();
            const choice = chunk.choices[0];
            const delta = choice?.delta?.content;
            if (delta) {
              if (chunks === 0)
                firstToken.observe({ model: modelLabel }, (Date.now() - started) / 1000);
              text += delta;
              chunks++;
              await append(key, ['type', 'chunk', 'text', delta], first);
              first = false;
            }
            if (choice?.finish_reason) finishReason = choice.finish_reason;
            if (chunk.usage) {
              usage = {
                promptTokens: chunk.usage.prompt_tokens,
                completionTokens: chunk.usage.completion_tokens,
                totalTokens: chunk.usage.total_tokens,
              };
            }
          }
          // The SDK ends the iteration quietly when its signal aborts, so an abort shows only here.
          if (cancelled) throw new CancelledError(CANCELLED_REASON);
          if (stalled) throw new Error('the provider stream stalled');
        } catch (err) {
          if (cancelled || err instanceof CancelledError)
            throw new CancelledError(CANCELLED_REASON);
          throw classify(err, stalled);
        } finally {
          clearTimeout(idle);
          clearInterval(poll);
        }
        if (cacheTtl > 0) {
          await deps.redis.set(
            cacheKey(deps.prefix, job),
            JSON.stringify({ text, finishReason }),
            'EX',
            cacheTtl,
          );
        }
      }
      const final: TokenUsage = usage ?? { promptTokens: 0, completionTokens: 0, totalTokens: 0 };

      await append(
        key,
        ['type', 'done', 'finishReason', finishReason ?? '', 'usage', JSON.stringify(final)],
        true,
      );
      await settle(job, final);
      generations.inc({ model: modelLabel, outcome: 'completed' });
      tokens.inc({ model: modelLabel, kind: 'prompt' }, final.promptTokens);
      tokens.inc({ model: modelLabel, kind: 'completion' }, final.completionTokens);
      deps.logger.info(
        {
          jobId: job.id,
          model: job.model,
          attempt,
          finishReason,
          cached: cached !== null,
          ...final,
          ms: Date.now() - started,
        },
        'generation completed',
      );
      await deps.audit.emit({
        actor,
        action: 'ai.completed',
        outcome: 'success',
        ownerId: job.ownerId,
        target,
        metadata: {
          model: job.model,
          promptTokens: final.promptTokens,
          completionTokens: final.completionTokens,
        },
      });
      await deps.notify?.(job, final);
      return {
        text,
        model: job.model,
        finishReason,
        usage: final,
        completedAt: new Date().toISOString(),
      };
    } catch (caught) {
      const isCancel = caught instanceof CancelledError;
      const err = isCancel
        ? new GenerationError('CONFLICT', CANCELLED_REASON, false)
        : classify(caught);
      // A provider asking for a longer pause than we may wait ends the job now, visibly, rather
      // than retrying sooner than it allows.
      const waitTooLong =
        err.retryAfterMs !== undefined && err.retryAfterMs > (deps.maxRetryAfterMs ?? 60_000);
      const final =
        isCancel || !err.retryable || waitTooLong || attempt >= (bullJob.opts.attempts ?? 1);
      const status: number | undefined =
        err.cause instanceof OpenAI.APIError ? (err.cause.status as number | undefined) : undefined;
      // Tokens spent before the stop are real: the provider's count when it came, else one per
      // streamed chunk plus a prompt estimate (marked as estimated).
      const partial: TokenUsage & { estimated?: boolean } =
        usage ??
        (chunks === 0
          ? // nothing was generated: a refused or unanswered request is not billed
            { promptTokens: 0, completionTokens: 0, totalTokens: 0 }
          : {
              promptTokens: Math.ceil(job.prompt.length / 4),
              completionTokens: chunks,
              totalTokens: Math.ceil(job.prompt.length / 4) + chunks,
              estimated: true,
            });
      deps.logger.warn(
        {
          jobId: job.id,
          model: modelLabel,
          attempt,
          code: err.code,
          status,
          final,
          cancelled: isCancel,
          ms: Date.now() - started,
        },
        isCancel ? 'generation cancelled' : 'generation failed',
      );
      if (chunks > 0) {
        tokens.inc({ model: modelLabel, kind: 'prompt' }, partial.promptTokens);
        tokens.inc({ model: modelLabel, kind: 'completion' }, partial.completionTokens);
      }
      if (final) {
        generations.inc({ model: modelLabel, outcome: isCancel ? 'cancelled' : 'failed' });
        try {
          await bullJob.updateProgress({ usage: partial });
          await settle(job, partial);
          await append(
            key,
            isCancel
              ? ['type', 'error', 'code', 'CANCELLED', 'message', CANCELLED_REASON]
              : ['type', 'error', 'code', err.code, 'message', err.message],
            true,
          );
        } catch {
          // Redis is what failed: the job's failed state still tells the gateway.
        }
        await deps.audit.emit({
          actor,
          action: isCancel ? 'ai.cancelled' : 'ai.failed',
          outcome: 'failure',
          ownerId: job.ownerId,
          target,
          metadata: {
            model: modelLabel,
            code: isCancel ? 'CANCELLED' : err.code,
            reason: err.message,
            attempt,
            ...(partial.totalTokens > 0
              ? { promptTokens: partial.promptTokens, completionTokens: partial.completionTokens }
              : {}),
          },
        });
      }
      if (isCancel || !err.retryable) throw new UnrecoverableError(err.message);
      if (waitTooLong) {
        throw new UnrecoverableError(
          `${err.message}; it asked to wait ${Math.ceil((err.retryAfterMs ?? 0) / 1000)} s, more than the ${Math.ceil((deps.maxRetryAfterMs ?? 60_000) / 1000)} s allowed`,
        );
      }
      throw err;
    }
  };
}
