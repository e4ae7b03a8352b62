// API key routes: create (the key is shown once), list and revoke the caller's own keys.
import type { Router } from 'express';
import { z } from 'zod';
import { Scope, type Principal } from '@securevault/contracts';
import { AppError, route, validate } from '@securevault/service-kit';
import { API_KEY_PREFIX_LENGTH, hmac, newApiKey, scopesForRole } from '../credentials.ts';
import { insertApiKey, listApiKeys, publicApiKey, revokeApiKey } from '../db/api-keys.ts';
import { clientInfo, requirePrincipal, userActor } from '../request-auth.ts';
import { param, type RouteContext } from './context.ts';

const CreateBody = z.strictObject({
  name: z
    .string()
    .trim()
    .min(1, 'is required')
    .max(100, 'must be at most 100 characters')
    // Postgres text cannot hold NUL (the insert would fail: a 500); no name needs control characters.
    .regex(/^[^\p{Cc}]*$/u, 'must not contain control characters'),
  scopes: z
    .array(Scope)
    .min(1, 'needs at least one scope')
    .refine((s) => new Set(s).size === s.length, 'must not repeat a scope'),
  expiresAt: z.iso.datetime({ offset: true, message: 'must be an ISO 8601 date-time' }).optional(),
});
const KeyId = z.uuid('must be a UUID');

/** Keys are managed from a session, or with a key that itself holds `admin`. */
async function requireKeyManager(
  req: Parameters<typeof requirePrincipal>[0],
  ctx: RouteContext,
): Promise<Principal> {
  const principal = await requirePrincipal(req, ctx);
  if (principal.type === 'apikey' && !principal.scopes.includes('admin')) {
    throw new AppError(
      'INSUFFICIENT_SCOPE',
      'managing API keys with an API key needs the admin scope',
    );
  }
  return principal;
}

export function apiKeyRoutes(router: Router, ctx: RouteContext): void {
  router.post(
    '/api/auth/api-keys',
    route(async (req, res) => {
      const principal = await requireKeyManager(req, ctx);
      const body = validate(CreateBody, req.body, 'API key');
      const now = ctx.now();
      const expiresAt = body.expiresAt === undefined ? null : new Date(body.expiresAt);
      if (expiresAt && expiresAt.getTime() <= now.getTime()) {
        throw new AppError('VALIDATION_FAILED', 'API key is invalid', {
          details: [{ path: 'expiresAt', message: 'must be in the future' }],
        });
      }
      const allowed = new Set(
        scopesForRole(principal.role).filter((s) => principal.scopes.includes(s)),
      );
      const refused = body.scopes.filter((s) => !allowed.has(s));
      if (refused.length > 0) {
        throw new AppError('INSUFFICIENT_SCOPE', `you may not grant: ${refused.join(', ')}`);
      }
      const key = newApiKey();
      const row = await insertApiKey(ctx.db, {
        user_id: principal.userId,
        name: body.name,
        key_prefix: key.slice(0, API_KEY_PREFIX_LENGTH),
        key_hash: hmac(ctx.secret, key),
        scopes: body.scopes,
        created_at: now,
        expires_at: expiresAt,
      });
      req.log.info({ userId: principal.userId, apiKeyId: row.id }, 'API key created');
      await ctx.audit.emit({
        actor: userActor(principal, clientInfo(req)),
        action: 'apikey.created',
        target: { type: 'apikey', id: row.id },
        outcome: 'success',
        ownerId: principal.userId,
        metadata: { name: row.name, scopes: row.scopes },
      });
      res.status(201).json({
        id: row.id,
        key,
        name: row.name,
        scopes: row.scopes,
        keyPrefix: row.key_prefix,
        createdAt: row.created_at.toISOString(),
        expiresAt: row.expires_at?.toISOString() ?? null,
      });
    }),
  );

  router.get(
    '/api/auth/api-keys',
    route(async (req, res) => {
      const principal = await requireKeyManager(req, ctx);
      const rows = await listApiKeys(ctx.db, principal.userId);
      res.json({ items: rows.map(publicApiKey) });
    }),
  );

  router.delete(
    '/api/auth/api-keys/:id',
    route(async (req, res) => {
      const principal = await requireKeyManager(req, ctx);
      const id = validate(KeyId, param(req, 'id'), 'API key id');
      // Someone else's key is "not found", not "forbidden": ids of other users' keys are not confirmed.
      const result = await revokeApiKey(ctx.db, id, principal.userId, ctx.now());
      if (result === 'missing') throw new AppError('NOT_FOUND', 'no such API key');
      if (result === 'revoked') {
        await ctx.revocations.publish({ kind: 'apikey', apiKeyId: id });
        req.log.info({ userId: principal.userId, apiKeyId: id }, 'API key revoked');
        await ctx.audit.emit({
          actor: userActor(principal, clientInfo(req)),
          action: 'apikey.revoked',
          target: { type: 'apikey', id },
          outcome: 'success',
          ownerId: principal.userId,
        });
      }
      res.status(204).end();
    }),
  );
}
