// Who is calling: credentials from the session cookie or a Bearer key, introspected by auth; scope checks.
import { timingSafeEqual, createHash } from 'node:crypto';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import {
  IntrospectResponse,
  SESSION_COOKIE,
  type Principal,
  type Scope,
} from '@securevault/contracts';
import { AppError, errorBody, route } from '@securevault/service-kit';
import {
  badGateway,
  callService,
  discard,
  internalHeaders,
  readJson,
  unavailable,
  type Downstream,
} from './downstream.ts';
import type { IntrospectionCache } from './introspection-cache.ts';

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace -- express's own augmentation point
  namespace Express {
    interface Request {
      /** set by `authenticate`: who is calling */
      principal?: Principal;
    }
  }
}

const MAX_CREDENTIAL = 512;

/** The value of one cookie from the Cookie header (no cookie-parser needed for one name). */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq === -1) continue;
    if (part.slice(0, eq).trim() !== name) continue;
    const raw = part.slice(eq + 1).trim();
    try {
      return decodeURIComponent(raw.startsWith('"') && raw.endsWith('"') ? raw.slice(1, -1) : raw);
    } catch {
      return undefined;
    }
  }
  return undefined;
}

export function bearerToken(req: Request): string | undefined {
  const header = req.get('authorization');
  const match = header ? /^Bearer[ ]+(\S+)\s*$/i.exec(header) : null;
  return match?.[1];
}

type Credential = { apiKey: string } | { sessionToken: string };

function credentialOf(req: Request): Credential | undefined {
  // An explicit Authorization header wins over a cookie the browser may have sent alongside.
  const key = bearerToken(req);
  if (key !== undefined) return { apiKey: key };
  const session = readCookie(req.get('cookie'), SESSION_COOKIE);
  if (session) return { sessionToken: session };
  return undefined;
}

function unauthenticated(): AppError {
  return new AppError('UNAUTHENTICATED', 'authentication required', {
    headers: { 'WWW-Authenticate': 'Bearer realm="securevault"' },
  });
}

/** Asks auth who the credential belongs to; undefined when it is unknown, expired or revoked. */
export async function introspect(
  auth: Downstream,
  req: Request,
  credential: Credential,
): Promise<Principal | undefined> {
  const value = 'apiKey' in credential ? credential.apiKey : credential.sessionToken;
  if (value.length > MAX_CREDENTIAL) return undefined;
  const response = await callService(auth, '/internal/introspect', {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...internalHeaders(req) },
    body: JSON.stringify(credential),
    // A lookup (it only refreshes the credential's last-used time): safe to send again.
    idempotent: true,
  });
  const status = response.statusCode ?? 0;
  if (status >= 500) {
    discard(response);
    throw unavailable(auth);
  }
  const body = await readJson(auth, response);
  // auth refuses a malformed credential with a 4xx: for the caller that is just "not authenticated".
  if (status >= 400) return undefined;
  const parsed = IntrospectResponse.safeParse(body);
  if (!parsed.success) throw badGateway(auth, parsed.error);
  return parsed.data.active ? parsed.data.principal : undefined;
}

/**
 * Requires a valid session cookie or API key; sets `req.principal`. `then` runs once the caller
 * is known (the per-principal rate limits), so every authenticated route gets it.
 */
export function authenticate(
  auth: Downstream,
  options: { then?: RequestHandler; cache?: IntrospectionCache } = {},
): RequestHandler {
  const { then, cache } = options;
  return route(async (req, res, next) => {
    const credential = credentialOf(req);
    if (!credential) throw unauthenticated();
    const value =
      'apiKey' in credential ? `k:${credential.apiKey}` : `s:${credential.sessionToken}`;
    let principal = cache?.get(value);
    if (!principal) {
      principal = await introspect(auth, req, credential);
      if (principal) cache?.set(value, principal);
    }
    if (!principal) throw unauthenticated();
    req.principal = principal;
    if (then) then(req, res, next);
    else next();
  });
}

export function hasScope(principal: Principal, scope: Scope): boolean {
  return principal.scopes.includes(scope) || principal.scopes.includes('admin');
}

export function requireScope(scope: Scope): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    const principal = req.principal;
    if (!principal) {
      next(unauthenticated());
      return;
    }
    if (!hasScope(principal, scope)) {
      const body = errorBody('INSUFFICIENT_SCOPE', `this endpoint requires the ${scope} scope`);
      res.status(403).json({ error: { ...body.error, required: scope } });
      return;
    }
    next();
  };
}

/** The principal a route behind `authenticate` can rely on. */
export function principalOf(req: Request): Principal {
  if (!req.principal) throw unauthenticated();
  return req.principal;
}

/** Constant-time comparison of secrets of any length (hashing first equalises the lengths). */
export function secretEquals(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb) && a.length === b.length;
}

/**
 * For operator endpoints: the metrics token (when configured) or an admin principal.
 * A Bearer value that is not the metrics token is tried as an API key.
 */
export function requireOperator(
  auth: Downstream,
  metricsTokenOrGetter: string | undefined | (() => string | undefined),
): RequestHandler {
  // A getter lets a rotated METRICS_TOKEN_FILE take effect without a restart.
  const current =
    typeof metricsTokenOrGetter === 'function' ? metricsTokenOrGetter : () => metricsTokenOrGetter;
  return route(async (req, _res, next) => {
    const metricsToken = current();
    const token = bearerToken(req);
    if (metricsToken !== undefined && token !== undefined && secretEquals(token, metricsToken)) {
      next();
      return;
    }
    const credential = credentialOf(req);
    if (!credential) throw unauthenticated();
    const principal = await introspect(auth, req, credential);
    if (!principal) throw unauthenticated();
    req.principal = principal;
    if (principal.role !== 'admin') throw new AppError('FORBIDDEN', 'administrators only');
    next();
  });
}
