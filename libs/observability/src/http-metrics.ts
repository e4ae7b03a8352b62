// RED middleware: one histogram observation per request, labelled with the route template.
import type { NextFunction, Request, Response } from 'express';
import type { Metrics } from './metrics.ts';

/** The matched route as a template (`/api/emails/:id`), never the raw path; unmatched otherwise. */
export function routeTemplate(req: Request): string {
  const route = (req as { route?: { path?: unknown } }).route;
  if (route && typeof route.path === 'string') return `${req.baseUrl}${route.path}`;
  return 'unmatched';
}

export function httpMetricsMiddleware(metrics: Metrics) {
  const histogram = metrics.get('http_request_duration_seconds');
  return (req: Request, res: Response, next: NextFunction): void => {
    const start = process.hrtime.bigint();
    res.once('finish', () => {
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      histogram.observe(
        { method: req.method, route: routeTemplate(req), status: String(res.statusCode) },
        seconds,
      );
    });
    next();
  };
}
