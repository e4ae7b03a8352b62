// Cross-origin rules at the edge: CORS from an explicit allowlist, and the CSRF Origin check for cookies.
import type { Request, RequestHandler } from 'express';
import { SESSION_COOKIE } from '@securevault/contracts';
import { AppError } from '@securevault/service-kit';
import { bearerToken, readCookie } from './authn.ts';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
const ALLOWED_METHODS = 'GET, POST, PUT, PATCH, DELETE';
const ALLOWED_HEADERS = 'Authorization, Content-Type, Idempotency-Key, Last-Event-ID, X-Request-Id';

/**
 * Whether Origin names this gateway itself. Hosts are compared, not schemes: behind a
 * TLS-terminating proxy that is not trusted the gateway sees http while the browser says https;
 * an http page on our own host cannot exist under HSTS.
 */
function isOwnOrigin(req: Request, origin: string): boolean {
  try {
    return new URL(origin).host === req.get('host');
  } catch {
    return false;
  }
}

/**
 * CORS by allowlist: only listed origins get Access-Control-Allow-* (with credentials); anyone
 * else gets no CORS headers, so the browser keeps the answer from the page. Never `*`.
 */
export function cors(allowed: readonly string[]): RequestHandler {
  const origins = new Set(allowed.map((o) => o.replace(/\/+$/, '')));
  return (req, res, next) => {
    const origin = req.get('origin');
    res.vary('Origin');
    if (origin === undefined || !origins.has(origin)) {
      if (req.method === 'OPTIONS' && req.get('access-control-request-method')) {
        next(new AppError('FORBIDDEN', 'this origin may not call the API'));
        return;
      }
      next();
      return;
    }
    res.setHeader('Access-Control-Allow-Origin', origin);
    res.setHeader('Access-Control-Allow-Credentials', 'true');
    res.setHeader(
      'Access-Control-Expose-Headers',
      'X-Request-Id, Retry-After, RateLimit, RateLimit-Policy',
    );
    if (req.method === 'OPTIONS' && req.get('access-control-request-method')) {
      res.setHeader('Access-Control-Allow-Methods', ALLOWED_METHODS);
      res.setHeader('Access-Control-Allow-Headers', ALLOWED_HEADERS);
      res.setHeader('Access-Control-Max-Age', '600');
      res.status(204).end();
      return;
    }
    next();
  };
}

/**
 * CSRF defence for cookie-authenticated requests that change state (docs/security.md): the
 * session cookie is SameSite=Strict, and on top of that a state-changing request carrying it must
 * come from our own origin or an allowlisted one. Browsers send Origin on every POST/PUT/PATCH/
 * DELETE; when it is missing, Sec-Fetch-Site must not say cross-site. Bearer-key requests are not
 * subject to CSRF (a browser never adds an Authorization header by itself).
 */
export function csrfOriginCheck(allowed: readonly string[]): RequestHandler {
  const origins = new Set(allowed.map((o) => o.replace(/\/+$/, '')));
  return (req, _res, next) => {
    if (SAFE_METHODS.has(req.method)) return next();
    if (bearerToken(req) !== undefined) return next();
    if (!readCookie(req.get('cookie'), SESSION_COOKIE)) return next();
    const origin = req.get('origin');
    const site = req.get('sec-fetch-site');
    const ok =
      origin !== undefined
        ? isOwnOrigin(req, origin) || origins.has(origin)
        : site === undefined || site === 'same-origin' || site === 'none';
    if (!ok) {
      next(new AppError('FORBIDDEN', 'cross-site request refused'));
      return;
    }
    next();
  };
}
