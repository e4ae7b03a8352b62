// GET /api/audit/events: relayed to the audit service; members only ever see their own events.
import type { Express } from 'express';
import { z } from 'zod';
import { StoredAuditEvent } from '@securevault/contracts';
import { AppError, route, validate } from '@securevault/service-kit';
import { principalOf, requireScope } from '../authn.ts';
import { relayJson } from './audit-relay.ts';
import type { RouteContext } from './context.ts';

/** Free text compared in Postgres, which cannot hold NUL (it would fail the query: a 503). */
export const filterText = (max: number) =>
  z
    .string()
    .min(1)
    .max(max)
    .regex(/^[^\p{Cc}]*$/u, 'must not contain control characters');

/** Filters shared by listing and export: actor, action prefix, target, outcome, time range. */
export const AuditFilterQuery = z.strictObject({
  ownerId: z.uuid().optional(),
  action: filterText(100).optional(),
  actorId: filterText(128).optional(),
  targetType: filterText(64).optional(),
  targetId: filterText(128).optional(),
  outcome: z.enum(['success', 'failure', 'denied']).optional(),
  from: z.iso.datetime({ offset: true }).optional(),
  to: z.iso.datetime({ offset: true }).optional(),
});
export const FILTER_KEYS = Object.keys(AuditFilterQuery.shape) as Array<
  keyof z.infer<typeof AuditFilterQuery>
>;

export const AuditListQuery = AuditFilterQuery.extend({
  limit: z.coerce.number().int().min(1).max(200).optional(),
  cursor: z.string().min(1).max(64).optional(),
});

const AuditPage = z.object({ items: z.array(StoredAuditEvent), nextCursor: z.string().nullable() });

export function auditRoutes(app: Express, ctx: RouteContext): void {
  const service = ctx.auditService;
  app.get(
    '/api/audit/events',
    ctx.authenticate,
    requireScope('audit:read'),
    route(async (req, res) => {
      const query = validate(AuditListQuery, req.query, 'query');
      const principal = principalOf(req);
      let ownerId = query.ownerId;
      if (principal.role !== 'admin') {
        if (ownerId !== undefined && ownerId !== principal.userId) {
          throw new AppError('FORBIDDEN', 'members can only read their own events');
        }
        ownerId = principal.userId;
      }
      const params = new URLSearchParams();
      if (ownerId !== undefined) params.set('ownerId', ownerId);
      for (const key of FILTER_KEYS) {
        const value = query[key];
        if (key !== 'ownerId' && value !== undefined) params.set(key, value);
      }
      if (query.limit !== undefined) params.set('limit', String(query.limit));
      if (query.cursor !== undefined) params.set('cursor', query.cursor);
      const qs = params.toString();
      const page = await relayJson(
        service,
        req,
        `/internal/events${qs ? `?${qs}` : ''}`,
        AuditPage,
      );
      res.json(page);
    }),
  );
}
