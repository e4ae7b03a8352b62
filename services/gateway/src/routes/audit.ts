// GET /api/audit/events: relayed to the audit service; members only ever see their own events.
import type { Express } from 'express';
import { z } from 'zod';
import { ERROR_CODES, ErrorBody, StoredAuditEvent, type ErrorCode } from '@securevault/contracts';
import { AppError, route, validate } from '@securevault/service-kit';
import { principalOf, requireScope } from '../authn.ts';
import { badGateway, callService, internalHeaders, readJson, unavailable } from '../downstream.ts';
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
      const response = await callService(service, `/internal/events${qs ? `?${qs}` : ''}`, {
        headers: { accept: 'application/json', ...internalHeaders(req) },
      });
      if (response.status >= 500) {
        await response.body?.cancel();
        throw unavailable(service);
      }
      const body = await readJson(service, response);
      if (response.status === 400) {
        // The audit service refused the query (e.g. a cursor it did not issue): the caller's mistake.
        const parsed = ErrorBody.safeParse(body);
        const code = parsed.success ? parsed.data.error.code : 'VALIDATION_FAILED';
        const known =
          code in ERROR_CODES && ERROR_CODES[code as ErrorCode] === 400
            ? (code as ErrorCode)
            : 'VALIDATION_FAILED';
        throw new AppError(
          known,
          parsed.success ? parsed.data.error.message.slice(0, 200) : 'query is invalid',
          {
            ...(parsed.success && parsed.data.error.details
              ? { details: parsed.data.error.details }
              : {}),
          },
        );
      }
      if (response.status !== 200) throw badGateway(service);
      const page = AuditPage.safeParse(body);
      if (!page.success) throw badGateway(service, page.error);
      res.json(page.data);
    }),
  );
}
