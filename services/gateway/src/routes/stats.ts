// GET /api/stats: emails and generations counted by the audit service, cached in Redis for 1–5 minutes.
import type { Express } from 'express';
import { z } from 'zod';
import { StatsReport } from '@securevault/contracts';
import { route, validate } from '@securevault/service-kit';
import { principalOf, requireScope } from '../authn.ts';
import type { RouteContext } from './context.ts';
import { queryString, relayJson, scopedOwner } from './audit-relay.ts';

export const StatsQuery = z.strictObject({
  ownerId: z.uuid().optional(),
  days: z.coerce.number().int().min(1).max(90).default(30),
});

const Cached = z.object({ cachedAt: z.iso.datetime(), report: StatsReport });

export function statsRoutes(app: Express, ctx: RouteContext): void {
  const ttl = ctx.config.STATS_CACHE_TTL_SECONDS;
  const counter = ctx.metrics.get('cache_requests_total');

  /** A cache that cannot be read is a miss, never an error: the numbers are still available. */
  async function readCache(key: string): Promise<z.infer<typeof Cached> | undefined> {
    try {
      const raw = await ctx.redis.get(key);
      if (raw === null) return undefined;
      const parsed = Cached.safeParse(JSON.parse(raw));
      return parsed.success ? parsed.data : undefined;
    } catch {
      return undefined;
    }
  }

  app.get(
    '/api/stats',
    ctx.authenticate,
    requireScope('stats:read'),
    route(async (req, res) => {
      const query = validate(StatsQuery, req.query, 'query');
      const principal = principalOf(req);
      const ownerId = scopedOwner(principal, query.ownerId);
      const key = `${ctx.config.QUEUE_PREFIX}:stats:v1:${ownerId ?? 'all'}:${query.days}`;
      let entry = await readCache(key);
      counter.inc({ cache: 'stats', result: entry ? 'hit' : 'miss' });
      const hit = entry !== undefined;
      if (!entry) {
        const report = await relayJson(
          ctx.auditService,
          req,
          `/internal/stats${queryString({ ownerId, days: query.days })}`,
          StatsReport,
        );
        entry = { cachedAt: new Date().toISOString(), report };
        try {
          await ctx.redis.set(key, JSON.stringify(entry), 'EX', ttl);
        } catch (err) {
          req.log.warn({ err: (err as Error).message }, 'stats cache write failed');
        }
      }
      const age = Math.max(0, Math.floor((Date.now() - Date.parse(entry.cachedAt)) / 1000));
      // How fresh: when the view was refreshed, when this answer was cached, and for how long.
      res.set('Cache-Control', `private, max-age=${Math.max(0, ttl - age)}`);
      res.set('Age', String(age));
      res.json({
        ...entry.report,
        scope: ownerId === undefined ? 'global' : 'user',
        cache: { hit, cachedAt: entry.cachedAt, ageSeconds: age, ttlSeconds: ttl },
      });
    }),
  );
}
