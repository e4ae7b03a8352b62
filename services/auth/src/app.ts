// The auth HTTP app (routes and middleware, no listening): built by main.ts and by the tests.
import express, { type Express, type NextFunction, type Request, type Response } from 'express';
import type { Logger } from '@securevault/observability';
import type { Metrics } from '@securevault/observability';
import { AppError, createBaseApp, finishApp, type AuditEmitter } from '@securevault/service-kit';
import type { AuthConfig } from './config.ts';
import { createDummyHash } from './credentials.ts';
import type { Db } from './db/database.ts';
import { accountRoutes } from './routes/account.ts';
import { apiKeyRoutes } from './routes/api-keys.ts';
import { internalRoutes } from './routes/internal.ts';
import type { RouteContext } from './routes/context.ts';
import type { Revocations } from './revocations.ts';

export interface AppDeps {
  config: Pick<
    AuthConfig,
    'SESSION_SECRET' | 'SESSION_TTL_SECONDS' | 'SESSION_IDLE_SECONDS' | 'ADMIN_EMAILS'
  >;
  db: Db;
  audit: Pick<AuditEmitter, 'emit'>;
  /** pushes revocations to the gateways' introspection caches */
  revocations: Revocations;
  logger: Logger;
  metrics: Metrics;
  /**
   * The HMAC key now and before its last rotation (main.ts reads SESSION_SECRET_FILE through a
   * SecretFile); without it the configured SESSION_SECRET is used as is.
   */
  secrets?: () => { current: string; previous?: string | undefined };
  /** the clock; tests move it to expire sessions */
  now?: () => Date;
}

// Paths and the methods they answer, so a wrong method is 405 with Allow rather than 404.
const ALLOWED: Record<string, string> = {
  '/api/auth/register': 'POST',
  '/api/auth/login': 'POST',
  '/api/auth/logout': 'POST',
  '/api/auth/me': 'GET',
  '/api/auth/api-keys': 'GET, POST',
  '/api/auth/api-keys/:id': 'DELETE',
  '/api/auth/users': 'GET',
  '/api/auth/users/:id/role': 'PATCH',
  '/api/auth/users/:id/status': 'PATCH',
  '/internal/introspect': 'POST',
};

export function createApp(deps: AppDeps): Express {
  const app = createBaseApp({ logger: deps.logger, metrics: deps.metrics, bodyLimit: '16kb' });
  const configured = deps.config.SESSION_SECRET;
  const secrets: NonNullable<AppDeps['secrets']> =
    deps.secrets ?? (() => ({ current: configured }));
  const ctx: RouteContext = {
    db: deps.db,
    audit: deps.audit,
    // Getters: a rotated secret file is picked up on the next request, without a restart.
    get secret() {
      return secrets().current;
    },
    get previousSecret() {
      return secrets().previous;
    },
    ttlSeconds: deps.config.SESSION_TTL_SECONDS,
    idleSeconds: deps.config.SESSION_IDLE_SECONDS,
    adminEmails: new Set(deps.config.ADMIN_EMAILS.map((e) => e.toLowerCase())),
    dummyHash: createDummyHash(),
    revocations: deps.revocations,
    now: deps.now ?? (() => new Date()),
  };
  // Warm the dummy hash so the first unknown-email login is not the one slow, telling request.
  ctx.dummyHash().catch((err: unknown) => deps.logger.error({ err }, 'dummy password hash failed'));

  // Answers here carry sessions, keys and identities: never cache them anywhere.
  app.use((_req, res, next) => {
    res.setHeader('Cache-Control', 'no-store');
    next();
  });

  const router = express.Router();
  accountRoutes(router, ctx);
  apiKeyRoutes(router, ctx);
  internalRoutes(router, ctx);
  for (const [path, allow] of Object.entries(ALLOWED)) {
    router.all(path, () => {
      throw new AppError('METHOD_NOT_ALLOWED', `use ${allow}`, { headers: { Allow: allow } });
    });
  }
  app.use(router);
  app.use(databaseUnavailable);
  return finishApp(app, deps.logger);
}

// Connection failures and server shutdowns (pg class 08, 57P0x) mean "try again", not a bug.
const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  '57P01',
  '57P02',
  '57P03',
]);

function databaseUnavailable(
  err: unknown,
  _req: Request,
  _res: Response,
  next: NextFunction,
): void {
  const e = err as { code?: unknown; message?: unknown } | null;
  const code = typeof e?.code === 'string' ? e.code : '';
  const message = typeof e?.message === 'string' ? e.message : '';
  if (
    !(err instanceof AppError) &&
    (UNAVAILABLE_CODES.has(code) ||
      code.startsWith('08') ||
      /timeout exceeded when trying to connect|Connection terminated/i.test(message))
  ) {
    next(
      new AppError('SERVICE_UNAVAILABLE', 'the account store is unavailable, try again later', {
        headers: { 'Retry-After': '5' },
        cause: err,
      }),
    );
    return;
  }
  next(err);
}
