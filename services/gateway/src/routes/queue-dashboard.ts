// The admin-only queue dashboard (Bull Board) at /api/admin/queues, behind the gateway's authentication.
import type { Express, RequestHandler } from 'express';
import { Queue, type ConnectionOptions } from 'bullmq';
import { QUEUES } from '@securevault/contracts';
import { requireScope } from '../authn.ts';
import type { RouteContext } from './context.ts';

export const DASHBOARD_PATH = '/api/admin/queues';

/**
 * The API's own CSP forbids what a single-page UI needs; this one is scoped to the dashboard:
 * its scripts from here only, its inline styles and web fonts, nothing framed, nothing posted away.
 */
export const DASHBOARD_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline' https://fonts.googleapis.com",
  "font-src 'self' https://fonts.gstatic.com data:",
  "img-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const dashboardHeaders: RequestHandler = (_req, res, next) => {
  res.setHeader('Content-Security-Policy', DASHBOARD_CSP);
  res.setHeader('Cache-Control', 'no-store');
  next();
};

/**
 * Bull Board (its API, adapters and UI router) is loaded on the first dashboard request, not at
 * start: only admins ever open it, and loading it costs every gateway ~3 MB of heap
 * (docs/performance.md, resident memory).
 */
async function dashboardRouter(ctx: RouteContext): Promise<RequestHandler> {
  const [{ createBullBoard }, { BullMQAdapter }, { ExpressAdapter }] = await Promise.all([
    import('@bull-board/api'),
    import('@bull-board/api/bullMQAdapter'),
    import('@bull-board/express'),
  ]);
  // The gateway produces no webhook jobs itself; the dashboard still shows that queue. It borrows
  // the shared producer connection, so there is nothing of its own to close.
  const webhook = new Queue(QUEUES.webhook, {
    connection: ctx.redis as ConnectionOptions,
    prefix: ctx.config.QUEUE_PREFIX,
  });
  webhook.on('error', () => {});
  const serverAdapter = new ExpressAdapter();
  serverAdapter.setBasePath(DASHBOARD_PATH);
  createBullBoard({
    queues: [ctx.email.queue, webhook, ctx.ai.queue, ctx.audit.producer.queue].map(
      (q) => new BullMQAdapter(q),
    ),
    serverAdapter,
    options: { uiConfig: { boardTitle: 'SecureVault queues' } },
  });
  return serverAdapter.getRouter() as RequestHandler;
}

export function queueDashboardRoutes(app: Express, ctx: RouteContext): void {
  let router: Promise<RequestHandler> | undefined;
  const dashboard: RequestHandler = (req, res, next) => {
    router ??= dashboardRouter(ctx);
    router.then(
      (handle) => handle(req, res, next),
      (err: unknown) => {
        // Not cached: a failed load (e.g. a missing file) is retried by the next request.
        router = undefined;
        next(err);
      },
    );
  };
  app.use(DASHBOARD_PATH, ctx.authenticate, requireScope('admin'), dashboardHeaders, dashboard);
}
