// GET /api/audit/export → a signed, expiring download link; GET /api/audit/export/download streams the file.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import type { Express } from 'express';
import { z } from 'zod';
import { AppError, route, validate } from '@securevault/service-kit';
import { principalOf, requireScope } from '../authn.ts';
import { callService, discard, internalHeaders, readJson, unavailable } from '../downstream.ts';
import { AuditFilterQuery, FILTER_KEYS } from './audit.ts';
import { queryString, refusal, scopedOwner } from './audit-relay.ts';
import type { RouteContext } from './context.ts';

const Format = z.enum(['ndjson', 'csv']);
const ExportQuery = AuditFilterQuery.extend({ format: Format.default('ndjson') });
type ExportQuery = z.infer<typeof ExportQuery>;
/** GET /api/audit/export: the filters, the format, and whether to redirect to the download. */
export const ExportLinkQuery = ExportQuery.extend({
  redirect: z.enum(['true', 'false']).optional(),
});

/** What a link grants: who asked, whose events, which filters, until when. */
const LinkClaims = z.object({
  v: z.literal(1),
  /** the user who created the link (the actor of the audit.exported event) */
  u: z.uuid(),
  k: z.uuid().optional(),
  /** the owner the export is limited to; null = every owner (admins only) */
  o: z.uuid().nullable(),
  q: ExportQuery,
  exp: z.number().int(),
});
type LinkClaims = z.infer<typeof LinkClaims>;

export const DownloadQuery = z.strictObject({ token: z.string().min(10).max(4096) });

export function signLink(key: Buffer, claims: LinkClaims): string {
  const payload = Buffer.from(JSON.stringify(claims)).toString('base64url');
  const mac = createHmac('sha256', key).update(payload).digest('base64url');
  return `${payload}.${mac}`;
}

/** The claims of a genuine, unexpired token; undefined for anything else (one answer for all). */
export function verifyLink(key: Buffer, token: string, nowSeconds: number): LinkClaims | undefined {
  const [payload, mac, extra] = token.split('.');
  if (!payload || !mac || extra !== undefined) return undefined;
  const expected = createHmac('sha256', key).update(payload).digest();
  const given = Buffer.from(mac, 'base64url');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
  let claims: LinkClaims;
  try {
    claims = LinkClaims.parse(JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')));
  } catch {
    return undefined;
  }
  return claims.exp > nowSeconds ? claims : undefined;
}

const invalidLink = () =>
  new AppError('FORBIDDEN', 'the download link is invalid or has expired; request a new one');

export function auditExportRoutes(app: Express, ctx: RouteContext): void {
  // One key for all replicas when configured; otherwise this process's own.
  const key = ctx.config.AUDIT_EXPORT_SIGNING_KEY
    ? Buffer.from(ctx.config.AUDIT_EXPORT_SIGNING_KEY, 'utf8')
    : randomBytes(32);
  const ttl = ctx.config.AUDIT_EXPORT_LINK_TTL_SECONDS;

  app.get(
    '/api/audit/export',
    ctx.authenticate,
    requireScope('audit:read'),
    route((req, res) => {
      const { redirect, ...query } = validate(ExportLinkQuery, req.query, 'query');
      const principal = principalOf(req);
      const ownerId = scopedOwner(principal, query.ownerId) ?? null;
      const exp = Math.floor(Date.now() / 1000) + ttl;
      const token = signLink(key, {
        v: 1,
        u: principal.userId,
        ...(principal.apiKeyId ? { k: principal.apiKeyId } : {}),
        o: ownerId,
        q: { ...query, ...(ownerId !== null ? { ownerId } : {}) },
        exp,
      });
      const url = `/api/audit/export/download?token=${token}`;
      res.set('Cache-Control', 'no-store');
      // ?redirect=true: a plain link in a page downloads the file in one click.
      if (redirect === 'true') {
        res.redirect(303, url);
        return Promise.resolve();
      }
      res.json({ url, expiresAt: new Date(exp * 1000).toISOString(), format: query.format });
      return Promise.resolve();
    }),
  );

  // No session needed (a browser follows the link): the signature is the authorisation.
  app.get(
    '/api/audit/export/download',
    route(async (req, res) => {
      const { token } = validate(DownloadQuery, req.query, 'query');
      const claims = verifyLink(key, token, Math.floor(Date.now() / 1000));
      if (!claims) throw invalidLink();
      const q: ExportQuery = claims.q;
      const params: Record<string, string | undefined> = { format: q.format };
      for (const k of FILTER_KEYS) params[k] = q[k];
      if (claims.o !== null) params.ownerId = claims.o;

      // The timeout bounds the wait for headers only: the body may take as long as it takes. Our
      // answer ending for any reason (the client went away mid-download, an error answered
      // before the streaming began) aborts the upstream request and drops what is left of it.
      const abort = new AbortController();
      res.on('close', () => abort.abort());
      const upstream = await callService(
        ctx.auditService,
        `/internal/export${queryString(params)}`,
        { headers: internalHeaders(req), timeout: 'headers', signal: abort.signal },
      );
      const status = upstream.statusCode ?? 0;
      if (status === 400) throw refusal(await readJson(ctx.auditService, upstream));
      if (status !== 200) {
        discard(upstream);
        throw unavailable(ctx.auditService);
      }

      await ctx.audit.emit({
        // The user who created the link, from wherever the download came.
        actor: {
          type: 'user',
          id: claims.u,
          ...(claims.k ? { apiKeyId: claims.k } : {}),
          ...(req.ip ? { ip: req.ip.slice(0, 64) } : {}),
          ...(req.get('user-agent')
            ? { userAgent: (req.get('user-agent') ?? '').slice(0, 512) }
            : {}),
        },
        action: 'audit.exported',
        outcome: 'success',
        ownerId: claims.o ?? claims.u,
        metadata: {
          format: q.format,
          filters: { ...q, format: undefined },
          scope: claims.o ?? 'all',
        },
      });

      const stamp = new Date().toISOString().slice(0, 19).replace(/[-:]/g, '');
      res.status(200);
      res.set({
        'Content-Type':
          q.format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson; charset=utf-8',
        'Content-Disposition': `attachment; filename="securevault-audit-${stamp}.${q.format}"`,
        'Cache-Control': 'no-store',
        'Referrer-Policy': 'no-referrer',
      });
      try {
        await pipeline(upstream, res);
      } catch (err) {
        // Headers are gone: the client sees a cut-short download, the log says why.
        req.log.warn({ err }, 'audit export stream ended early');
      }
    }),
  );
}
