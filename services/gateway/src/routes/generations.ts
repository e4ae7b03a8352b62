// AI generation: queue it, read its result, and stream it as Server-Sent Events from the Redis Stream.
import { randomUUID } from 'node:crypto';
import type { Express, Request, Response } from 'express';
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import {
  AiJob,
  AiResult,
  RETRY_AFTER_BACKOFF,
  aiKeys,
  generationStreamKey,
} from '@securevault/contracts';
import { AppError, route, validate } from '@securevault/service-kit';
import { principalOf, requireScope } from '../authn.ts';
import { JobId, fromRedis, generationView, getOwnedJob } from '../jobs.ts';
import { estimateTokens, releaseTokens, reserveTokens, usedToday } from '../budget.ts';
import { idempotency } from '../idempotency.ts';
import { lastEventId, type SseEvent } from '../sse.ts';
import { actorOf, type RouteContext } from './context.ts';

export function generateBody(maxTokensLimit: number) {
  return z.strictObject({
    prompt: z.string().min(1).max(32_000),
    model: z.string().min(1).max(128).optional(),
    maxTokens: z.int().min(1).max(maxTokensLimit).optional(),
  });
}

function wantsStream(req: Request): boolean {
  return (req.get('accept') ?? '').toLowerCase().includes('text/event-stream');
}

/**
 * When the stream is missing or silent: if the job already finished (the stream expired, or the
 * worker died before writing its last entry), answer from the job itself.
 */
function finishedFromJob(redis: Redis, queue: Queue, id: string) {
  return async (lastId: string): Promise<SseEvent[] | undefined> => {
    // State first, then the job: a job read after its state is at least as new, so a completed
    // state always comes with its result (the other order can pair "completed" with no result).
    const state = await fromRedis(redis, () => queue.getJobState(id));
    const job = await fromRedis(redis, () => queue.getJob(id));
    if (!job || state === 'unknown')
      return [{ event: 'error', data: { code: 'NOT_FOUND', message: 'no such generation' } }];
    if (state === 'failed') {
      return [
        {
          event: 'error',
          data: { code: 'GENERATION_FAILED', message: job.failedReason || 'generation failed' },
        },
      ];
    }
    if (state !== 'completed') return undefined;
    const result = AiResult.safeParse(job.returnvalue);
    if (!result.success)
      return [{ event: 'error', data: { code: 'GENERATION_FAILED', message: 'no result' } }];
    return [
      // The client may hold part of an earlier attempt's text: start it over.
      ...(lastId !== '0' ? [{ event: 'reset', data: {} }] : []),
      { event: 'chunk', data: { text: result.data.text } },
      { event: 'done', data: { finishReason: result.data.finishReason, usage: result.data.usage } },
    ];
  };
}

export function generationRoutes(app: Express, ctx: RouteContext): void {
  const Body = generateBody(ctx.config.AI_MAX_TOKENS_LIMIT);
  const stream = (
    req: Request,
    res: Response,
    id: string,
    extra: { headers?: Record<string, string>; preamble?: SseEvent[] } = {},
  ) =>
    ctx.streams.relay({
      req,
      res,
      key: generationStreamKey(ctx.config.QUEUE_PREFIX, id),
      lastId: lastEventId(req),
      onIdle: finishedFromJob(ctx.redis, ctx.ai.queue, id),
      ...extra,
    });

  const idempotent = idempotency(ctx.redis, ctx.config.QUEUE_PREFIX);
  app.post(
    '/api/generate-content',
    ctx.authenticate,
    requireScope('ai:generate'),
    // A streamed answer cannot be replayed as it was; a repeat resumes with GET …/stream instead.
    (req, res, next) => (wantsStream(req) ? next() : idempotent(req, res, next)),
    route(async (req, res) => {
      const body = validate(Body, req.body, 'generation request');
      const model = body.model ?? ctx.config.AI_DEFAULT_MODEL;
      if (!ctx.config.AI_MODELS.includes(model)) {
        throw new AppError('VALIDATION_FAILED', 'generation request is invalid', {
          details: [
            {
              path: 'model',
              message: `MODEL_NOT_ALLOWED: use one of ${ctx.config.AI_MODELS.join(', ')}`,
            },
          ],
        });
      }
      const streaming = wantsStream(req);
      if (streaming) lastEventId(req); // a bad Last-Event-ID is refused before any job exists
      const principal = principalOf(req);
      const id = randomUUID();
      const maxTokens = body.maxTokens ?? Math.min(512, ctx.config.AI_MAX_TOKENS_LIMIT);
      const limit = ctx.config.AI_DAILY_TOKEN_BUDGET;
      const budget =
        limit > 0
          ? await reserveTokens(
              ctx.redis,
              ctx.config.QUEUE_PREFIX,
              principal.userId,
              estimateTokens(body.prompt, maxTokens),
              limit,
            )
          : undefined;
      try {
        await ctx.ai.add(
          {
            id,
            ownerId: principal.userId,
            requestId: req.id,
            prompt: body.prompt,
            model,
            maxTokens,
            ...(budget ? { budget } : {}),
            queuedAt: new Date().toISOString(),
          },
          // A provider's Retry-After (429, 503) pushes the next attempt back (ai-worker).
          { attempts: ctx.config.AI_ATTEMPTS, backoff: { ...RETRY_AFTER_BACKOFF } },
        );
      } catch (err) {
        if (budget) {
          await releaseTokens(
            ctx.redis,
            ctx.config.QUEUE_PREFIX,
            principal.userId,
            id,
            budget,
          ).catch(() => undefined);
        }
        throw err;
      }
      await ctx.audit.emit({
        actor: actorOf(req),
        action: 'ai.requested',
        target: { type: 'generation', id },
        outcome: 'success',
        ownerId: principal.userId,
        requestId: req.id,
        metadata: { model, maxTokens, promptChars: body.prompt.length, stream: streaming },
      });
      const location = `/api/generations/${id}`;
      if (streaming) {
        try {
          await stream(req, res, id, {
            headers: { Location: location },
            preamble: [{ event: 'queued', data: { id, status: 'queued' } }],
          });
          return;
        } catch (err) {
          // The job is queued even if streaming cannot start: answer as a plain 202.
          if (!(err instanceof AppError) || res.headersSent) throw err;
          req.log.warn({ generationId: id }, 'streaming unavailable, answered 202');
        }
      }
      res.status(202).location(location).json({ id, status: 'queued' });
    }),
  );

  app.get(
    '/api/generations/:id',
    ctx.authenticate,
    requireScope('ai:generate'),
    route(async (req, res) => {
      const { id } = validate(JobId, req.params, 'generation id');
      const job = await getOwnedJob(ctx.redis, ctx.ai.queue, id, principalOf(req), 'generation');
      res.json(await generationView(ctx.redis, job));
    }),
  );

  app.get(
    '/api/generations/:id/stream',
    ctx.authenticate,
    requireScope('ai:generate'),
    route(async (req, res) => {
      const { id } = validate(JobId, req.params, 'generation id');
      lastEventId(req);
      await getOwnedJob(ctx.redis, ctx.ai.queue, id, principalOf(req), 'generation');
      await stream(req, res, id);
    }),
  );

  // Cancels a generation: a queued one is removed; a running one is told to stop (the worker polls
  // the cancel key while streaming and aborts the provider call).
  app.delete(
    '/api/generations/:id',
    ctx.authenticate,
    requireScope('ai:generate'),
    route(async (req, res) => {
      const { id } = validate(JobId, req.params, 'generation id');
      const principal = principalOf(req);
      const job = await getOwnedJob(ctx.redis, ctx.ai.queue, id, principal, 'generation');
      const state = await fromRedis(ctx.redis, () => job.getState());
      if (state === 'completed' || state === 'failed') {
        throw new AppError(
          'CONFLICT',
          `the generation already ${state === 'failed' ? 'ended' : 'completed'}`,
        );
      }
      const prefix = ctx.config.QUEUE_PREFIX;
      await fromRedis(ctx.redis, () => ctx.redis.set(aiKeys.cancel(prefix, id), '1', 'EX', 86_400));
      let removed = false;
      if (state !== 'active') {
        // remove() refuses a job a worker locked meanwhile; then the cancel key stops it.
        removed = await job.remove().then(
          () => true,
          () => false,
        );
      }
      if (removed) {
        const data = AiJob.safeParse(job.data);
        if (data.success && data.data.budget) {
          await releaseTokens(ctx.redis, prefix, data.data.ownerId, id, data.data.budget);
        }
        await ctx.redis
          .xadd(
            generationStreamKey(prefix, id),
            '*',
            'type',
            'error',
            'code',
            'CANCELLED',
            'message',
            'the generation was cancelled',
          )
          .catch(() => undefined);
      }
      await ctx.audit.emit({
        actor: actorOf(req),
        action: 'ai.cancelled',
        target: { type: 'generation', id },
        outcome: 'success',
        ownerId: principal.userId,
        requestId: req.id,
        metadata: { state },
      });
      res.status(202).json({ id, status: removed ? 'cancelled' : 'cancelling' });
    }),
  );

  app.get(
    '/api/ai/budget',
    ctx.authenticate,
    requireScope('ai:generate'),
    route(async (req, res) => {
      const limit = ctx.config.AI_DAILY_TOKEN_BUDGET;
      const used = await usedToday(ctx.redis, ctx.config.QUEUE_PREFIX, principalOf(req).userId);
      res.set('Cache-Control', 'no-store').json({
        limit: limit > 0 ? limit : null,
        used,
        remaining: limit > 0 ? Math.max(0, limit - used) : null,
      });
    }),
  );
}
