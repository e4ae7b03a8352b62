// Who is calling: session tokens and API keys resolved to a Principal (introspection and our own routes).
import type { Principal } from '@securevault/contracts';
import { API_KEY, SESSION_TOKEN, hmac, scopesForRole } from './credentials.ts';
import type { Db } from './db/database.ts';
import { findActiveSession, rehashSession, touchSession } from './db/sessions.ts';
import { findActiveApiKey, rehashApiKey, touchApiKey } from './db/api-keys.ts';

export interface PrincipalContext {
  db: Db;
  secret: string;
  /** the secret before the last rotation: hashes made with it still match, and are rewritten */
  previousSecret?: string | undefined;
  idleSeconds: number;
  now: () => Date;
}

// Writing last-used times on every request would turn each read into a write; once a minute is enough.
const TOUCH_INTERVAL_MS = 60_000;

export async function sessionPrincipal(
  ctx: PrincipalContext,
  token: string,
): Promise<Principal | undefined> {
  // A malformed token cannot match a row: answer without touching the database.
  if (!SESSION_TOKEN.test(token)) return undefined;
  const now = ctx.now();
  let session = await findActiveSession(ctx.db, hmac(ctx.secret, token), now, ctx.idleSeconds);
  if (!session && ctx.previousSecret) {
    session = await findActiveSession(
      ctx.db,
      hmac(ctx.previousSecret, token),
      now,
      ctx.idleSeconds,
    );
    // Re-keyed on first use, so the previous secret can be retired once sessions have turned over.
    if (session) await rehashSession(ctx.db, session.id, hmac(ctx.secret, token));
  }
  if (!session) return undefined;
  if (now.getTime() - session.last_seen_at.getTime() >= TOUCH_INTERVAL_MS) {
    await touchSession(ctx.db, session.id, now);
  }
  return {
    type: 'session',
    userId: session.user_id,
    role: session.role,
    scopes: scopesForRole(session.role),
    sessionId: session.id,
    expiresAt: session.expires_at.toISOString(),
  };
}

export async function apiKeyPrincipal(
  ctx: PrincipalContext,
  key: string,
): Promise<Principal | undefined> {
  if (!API_KEY.test(key)) return undefined;
  const now = ctx.now();
  let apiKey = await findActiveApiKey(ctx.db, hmac(ctx.secret, key), now);
  if (!apiKey && ctx.previousSecret) {
    apiKey = await findActiveApiKey(ctx.db, hmac(ctx.previousSecret, key), now);
    if (apiKey) await rehashApiKey(ctx.db, apiKey.id, hmac(ctx.secret, key));
  }
  if (!apiKey) return undefined;
  if (
    apiKey.last_used_at === null ||
    now.getTime() - apiKey.last_used_at.getTime() >= TOUCH_INTERVAL_MS
  ) {
    await touchApiKey(ctx.db, apiKey.id, now);
  }
  // A key never holds more than its owner's current role allows: demoting an admin disarms their keys.
  const allowed = new Set(scopesForRole(apiKey.role));
  return {
    type: 'apikey',
    userId: apiKey.user_id,
    role: apiKey.role,
    scopes: apiKey.scopes.filter((s) => allowed.has(s)),
    apiKeyId: apiKey.id,
    ...(apiKey.expires_at ? { expiresAt: apiKey.expires_at.toISOString() } : {}),
  };
}
