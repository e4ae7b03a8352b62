// GET /api/audit/verify (admins: walks the hash chain) and GET /api/audit/alerts (security alerts).
import type { Express } from 'express';
import { z } from 'zod';
import { AuditAlert, ChainVerification } from '@securevault/contracts';
import { AppError, route, validate } from '@securevault/service-kit';
import { principalOf, requireScope } from '../authn.ts';
import type { RouteContext } from './context.ts';
import { filterText } from './audit.ts';
import { queryString, relayJson, scopedOwner } from './audit-relay.ts';

const Seq = z.string().regex(/^[1-9]\d{0,18}$/, 'a positive sequence number');
export const VerifyQuery = z.strictObject({ fromSeq: Seq.optional(), toSeq: Seq.optional() });
export const AlertsQuery = z.strictObject({
  ownerId: z.uuid().optional(),
  rule: filterText(64).optional(),
  limit: z.coerce.number().int().min(1).max(200).optional(),
  cursor: z.string().min(1).max(100).optional(),
});
const AlertPage = z.object({ items: z.array(AuditAlert), nextCursor: z.string().nullable() });

export function auditVerifyRoutes(app: Express, ctx: RouteContext): void {
  app.get(
    '/api/audit/verify',
    ctx.authenticate,
    requireScope('audit:read'),
    route(async (req, res) => {
      // The chain is one for everybody: verifying it reveals how many events exist at all.
      if (principalOf(req).role !== 'admin') {
        throw new AppError('FORBIDDEN', 'only administrators can verify the audit chain');
      }
      const query = validate(VerifyQuery, req.query, 'query');
      const result = await relayJson(
        ctx.auditService,
        req,
        `/internal/verify${queryString(query)}`,
        ChainVerification,
      );
      res.set('Cache-Control', 'no-store').json(result);
    }),
  );

  app.get(
    '/api/audit/alerts',
    ctx.authenticate,
    requireScope('audit:read'),
    route(async (req, res) => {
      const query = validate(AlertsQuery, req.query, 'query');
      const ownerId = scopedOwner(principalOf(req), query.ownerId);
      const page = await relayJson(
        ctx.auditService,
        req,
        `/internal/alerts${queryString({ ...query, ownerId })}`,
        AlertPage,
      );
      res.json(page);
    }),
  );
}
