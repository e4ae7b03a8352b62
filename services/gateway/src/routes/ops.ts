// Operator endpoints: GET /api/health/detailed and GET /api/metrics (admin or the metrics token).
import http from 'node:http';
import https from 'node:https';
import type { Express } from 'express';
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { route } from '@securevault/service-kit';
import { requireOperator } from '../authn.ts';
import type { RouteContext } from './context.ts';

const CHECK_TIMEOUT_MS = 2_000;

interface Check {
  ok: boolean;
  durationMs: number;
  error?: string;
}

async function timed(fn: (signal: AbortSignal) => Promise<unknown>): Promise<Check> {
  const start = performance.now();
  const signal = AbortSignal.timeout(CHECK_TIMEOUT_MS);
  try {
    await Promise.race([
      fn(signal),
      new Promise((_, reject) =>
        signal.addEventListener('abort', () => reject(new Error('timed out')), { once: true }),
      ),
    ]);
    return { ok: true, durationMs: Math.round(performance.now() - start) };
  } catch (err) {
    // node:http's errors carry the system code (ECONNREFUSED, ...) themselves.
    const code = (err as { code?: unknown }).code;
    const message =
      typeof code === 'string' ? code : err instanceof Error ? err.message : String(err);
    return {
      ok: false,
      durationMs: Math.round(performance.now() - start),
      error: message.slice(0, 200),
    };
  }
}

/**
 * A readiness probe of a downstream's management port: 2xx or it failed. node:http, as every
 * downstream call (the gateway never uses fetch: docs/performance.md, Memory); a connection of
 * its own that closes after the answer, as these probes are rare and go to another port.
 */
function httpReady(url: string, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const transport = url.startsWith('https:') ? https : http;
    const req = transport.get(url, { agent: false, signal }, (res) => {
      // Redirects are not followed: a 3xx is not ready.
      const status = res.statusCode ?? 0;
      res.resume();
      if (status >= 200 && status < 300) resolve();
      else reject(new Error(`status ${status}`));
    });
    req.on('error', reject);
  });
}

async function counts(redis: Redis, queue: Queue): Promise<Record<string, number> | null> {
  // BullMQ would wait for a down connection to come back: answer at once instead.
  if (redis.status !== 'ready') return null;
  try {
    return await Promise.race([
      queue.getJobCounts('waiting', 'active', 'delayed', 'failed', 'completed', 'prioritized'),
      new Promise<never>((_, reject) =>
        setTimeout(() => reject(new Error('timed out')), CHECK_TIMEOUT_MS).unref(),
      ),
    ]);
  } catch {
    return null;
  }
}

export function opsRoutes(app: Express, ctx: RouteContext): void {
  // A getter: main.ts backs METRICS_TOKEN with the mounted file, so a rotated token applies at once.
  const guard = requireOperator(ctx.auth, () => ctx.config.METRICS_TOKEN);

  app.get(
    '/api/health/detailed',
    guard,
    route(async (_req, res) => {
      const [redis, auth, audit, email, ai, auditQueue] = await Promise.all([
        timed(async () => {
          if (ctx.redis.status !== 'ready') throw new Error(`redis ${ctx.redis.status}`);
          await ctx.redis.ping();
        }),
        timed((signal) => httpReady(ctx.config.AUTH_HEALTH_URL, signal)),
        timed((signal) => httpReady(ctx.config.AUDIT_HEALTH_URL, signal)),
        counts(ctx.redis, ctx.email.queue),
        counts(ctx.redis, ctx.ai.queue),
        counts(ctx.redis, ctx.audit.producer.queue),
      ]);
      const degraded = !redis.ok || !auth.ok || !audit.ok || !email || !ai || !auditQueue;
      res
        .status(degraded ? 503 : 200)
        .set('Cache-Control', 'no-store')
        .json({
          status: degraded ? 'degraded' : 'ok',
          checks: { redis, auth, audit },
          queues: { email, ai, audit: auditQueue },
          process: ctx.processStats.snapshot(),
        });
    }),
  );

  app.get(
    '/api/metrics',
    guard,
    route(async (_req, res) => {
      const text = await ctx.metrics.text();
      res
        .status(200)
        .set('Cache-Control', 'no-store')
        .type(ctx.metrics.registry.contentType)
        .send(text);
    }),
  );
}
