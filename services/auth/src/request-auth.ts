// Reading a request: the session cookie, the bearer key, the client's address and user agent.
import type { Request } from 'express';
import { INTERNAL_HEADERS, SESSION_COOKIE, type Principal } from '@securevault/contracts';
import type { AuditActor } from '@securevault/contracts';
import { AppError } from '@securevault/service-kit';
import { apiKeyPrincipal, sessionPrincipal, type PrincipalContext } from './principals.ts';

export interface ClientInfo {
  ip?: string;
  userAgent?: string;
}

/** The gateway passes the real client's address and agent; direct callers fall back to the socket. */
export function clientInfo(req: Request): ClientInfo {
  const ip = req.get(INTERNAL_HEADERS.clientIp) ?? req.ip;
  const userAgent = req.get(INTERNAL_HEADERS.userAgent) ?? req.get('user-agent');
  // Bounded to what the audit contract accepts.
  return {
    ...(ip ? { ip: ip.slice(0, 64) } : {}),
    ...(userAgent ? { userAgent: userAgent.slice(0, 512) } : {}),
  };
}

export function readCookie(req: Request, name: string): string | undefined {
  const header = req.get('cookie');
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq === -1) continue;
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

export function sessionCookie(token: string, maxAgeSeconds: number): string {
  return `${SESSION_COOKIE}=${token}; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=${maxAgeSeconds}`;
}

export const CLEARED_SESSION_COOKIE = sessionCookie('', 0);

function unauthenticated(message: string, headers: Record<string, string> = {}): AppError {
  return new AppError('UNAUTHENTICATED', message, {
    headers: { 'WWW-Authenticate': 'Bearer realm="securevault"', ...headers },
  });
}

/** An `Authorization: Bearer` key wins over a cookie; neither, or a dead one, is 401. */
export async function requirePrincipal(req: Request, ctx: PrincipalContext): Promise<Principal> {
  const authorization = req.get('authorization');
  if (authorization !== undefined) {
    const match = /^Bearer\s+(\S+)$/i.exec(authorization.trim());
    const principal = match?.[1] ? await apiKeyPrincipal(ctx, match[1]) : undefined;
    if (!principal) throw unauthenticated('the API key is invalid, expired or revoked');
    return principal;
  }
  const token = readCookie(req, SESSION_COOKIE);
  if (token === undefined || token === '') throw unauthenticated('sign in first');
  const principal = await sessionPrincipal(ctx, token);
  // A dead cookie is cleared so the browser stops sending it.
  if (!principal)
    throw unauthenticated('the session has expired, sign in again', {
      'Set-Cookie': CLEARED_SESSION_COOKIE,
    });
  return principal;
}

export function userActor(principal: Principal, client: ClientInfo): AuditActor {
  return {
    type: 'user',
    id: principal.userId,
    ...(principal.apiKeyId ? { apiKeyId: principal.apiKeyId } : {}),
    ...client,
  };
}
