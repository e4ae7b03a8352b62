// The gateway's express app: public API, auth relay, job endpoints, SSE, operator endpoints. Does not listen.
import type { Express, RequestHandler } from 'express';
import {
  registerQueueMetrics,
  createBaseApp,
  finishApp,
  AppError,
  route,
} from '@securevault/service-kit';
import { authenticate } from './authn.ts';
import { authRelay } from './relay.ts';
import type { GatewayConfig } from './config.ts';
import { cors, csrfOriginCheck } from './cross-origin.ts';
import { edgeConfigSource, edgeFeatures } from './edge-features.ts';
import { createRateLimits, type RateLimitConfig } from './ratelimit.ts';
import type { IntrospectionCache } from './introspection-cache.ts';
import type { Downstream } from './downstream.ts';
import type { GatewayDeps, RouteContext } from './routes/context.ts';
import { emailRoutes } from './routes/emails.ts';
import { deliveryAdminRoutes } from './routes/delivery-admin.ts';
import { failedJobRoutes } from './routes/failed-jobs.ts';
import { webhookRoutes } from './routes/webhooks.ts';
import { queueDashboardRoutes } from './routes/queue-dashboard.ts';
import { generationRoutes } from './routes/generations.ts';
import { auditRoutes } from './routes/audit.ts';
import { auditExportRoutes } from './routes/audit-export.ts';
import { auditVerifyRoutes } from './routes/audit-verify.ts';
import { statsRoutes } from './routes/stats.ts';
import { opsRoutes } from './routes/ops.ts';
import { consoleRoutes } from './console.ts';

export type { GatewayDeps } from './routes/context.ts';

/** Where the OpenAPI document is served (here, not in openapi.ts, which is loaded on demand). */
export const OPENAPI_PATH = '/api/openapi.json';

/** A known path asked with another method: 405 with Allow, rather than a misleading 404. */
function methodNotAllowed(allow: string[]): RequestHandler {
  return (_req, res, next) => {
    res.setHeader('Allow', allow.join(', '));
    next(new AppError('METHOD_NOT_ALLOWED', `use ${allow.join(' or ')}`));
  };
}

/** The public paths the gateway routes itself and their methods (the auth relay's are auth's). */
export const KNOWN_PATHS: ReadonlyArray<readonly [string, readonly string[]]> = [
  ['/api/health', ['GET']],
  ['/api/health/detailed', ['GET']],
  [OPENAPI_PATH, ['GET']],
  ['/api/metrics', ['GET']],
  ['/api/send-email', ['POST']],
  ['/api/emails/:id', ['GET', 'DELETE']],
  ['/api/admin/emails/:id/retry', ['POST']],
  ['/api/admin/emails/failed', ['GET']],
  ['/api/admin/suppressions', ['GET', 'POST']],
  ['/api/webhooks', ['GET', 'POST']],
  ['/api/webhooks/:id', ['DELETE']],
  ['/api/generate-content', ['POST']],
  ['/api/generations/:id', ['GET', 'DELETE']],
  ['/api/ai/budget', ['GET']],
  ['/api/generations/:id/stream', ['GET']],
  ['/api/audit/events', ['GET']],
  ['/api/audit/verify', ['GET']],
  ['/api/audit/alerts', ['GET']],
  ['/api/audit/export', ['GET']],
  ['/api/audit/export/download', ['GET']],
  ['/api/stats', ['GET']],
];

export function createApp(
  deps: GatewayDeps & {
    config: RateLimitConfig &
      Pick<
        GatewayConfig,
        | 'CORS_ORIGINS'
        | 'EDGE_CONFIG_PATH'
        | 'EDGE_CONFIG_TTL_MS'
        | 'HSTS_MAX_AGE_SECONDS'
        | 'HSTS_INCLUDE_SUBDOMAINS'
        | 'CONSOLE_DIR'
      >;
    /** introspection answers cached until revoked (main.ts builds it when the TTL is > 0) */
    introspectionCache?: IntrospectionCache;
  },
): Express {
  const { config, logger, metrics } = deps;
  const auth: Downstream = {
    name: 'auth',
    url: config.AUTH_URL,
    timeoutMs: config.AUTH_TIMEOUT_MS,
  };
  const auditService: Downstream = {
    name: 'audit',
    url: config.AUDIT_URL,
    timeoutMs: config.AUTH_TIMEOUT_MS,
  };
  const limits = createRateLimits(deps);
  const ctx: RouteContext = {
    ...deps,
    auth,
    auditService,
    authenticate: authenticate(auth, {
      then: limits.authenticated,
      ...(deps.introspectionCache ? { cache: deps.introspectionCache } : {}),
    }),
  };

  registerQueueMetrics(metrics, [deps.email.queue, deps.ai.queue, deps.audit.producer.queue]);

  const app = createBaseApp({
    logger,
    metrics,
    bodyLimit: config.BODY_LIMIT,
    trustProxy:
      typeof config.TRUST_PROXY === 'number' ? config.TRUST_PROXY : [...config.TRUST_PROXY],
    hstsMaxAgeSeconds: config.HSTS_MAX_AGE_SECONDS,
    hstsIncludeSubDomains: config.HSTS_INCLUDE_SUBDOMAINS,
  });

  app.use(cors(config.CORS_ORIGINS));
  app.use(csrfOriginCheck(config.CORS_ORIGINS));
  app.use(
    edgeFeatures(
      edgeConfigSource({
        path: config.EDGE_CONFIG_PATH,
        ttlMs: config.EDGE_CONFIG_TTL_MS,
        logger,
      }),
    ),
  );
  app.get('/api/health', (_req, res) => {
    res.set('Cache-Control', 'no-store').json({ status: 'ok' });
  });
  // Public and the same for everyone: built on the first request, then cached. Few clients ever
  // ask; the generator, its response schemas and the document cost every gateway ~1.5 MB of heap
  // held for nothing at start (docs/performance.md, resident memory).
  let openapi: Promise<string> | undefined;
  app.get(
    OPENAPI_PATH,
    route(async (_req, res) => {
      openapi ??= import('./openapi.ts').then(({ buildOpenApiDocument }) =>
        JSON.stringify(buildOpenApiDocument({ maxTokensLimit: config.AI_MAX_TOKENS_LIMIT })),
      );
      const body = await openapi.catch((err: unknown) => {
        openapi = undefined;
        throw err;
      });
      res.set('Cache-Control', 'public, max-age=300').type('application/json').send(body);
    }),
  );
  app.post('/api/auth/login', limits.anonymous, ...limits.login);
  app.use('/api/auth', (req, res, next) => {
    if (req.path === '/login' && req.method === 'POST') next();
    else limits.anonymous(req, res, next);
  });
  app.all('/api/auth/{*rest}', authRelay(auth));
  opsRoutes(app, ctx);
  emailRoutes(app, ctx);
  deliveryAdminRoutes(app, ctx);
  failedJobRoutes(app, ctx);
  webhookRoutes(app, ctx);
  queueDashboardRoutes(app, ctx);
  generationRoutes(app, ctx);
  auditRoutes(app, ctx);
  auditVerifyRoutes(app, ctx);
  auditExportRoutes(app, ctx);
  statsRoutes(app, ctx);

  for (const [path, allow] of KNOWN_PATHS) app.all(path, methodNotAllowed([...allow]));
  // The web console at / (after the API, so /api paths never reach it and unknown ones stay JSON 404s).
  consoleRoutes(app, { dir: config.CONSOLE_DIR, logger });

  return finishApp(app, logger);
}
