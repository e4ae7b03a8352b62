// Calls to our internal services (auth, audit): timeouts, internal headers, and failures as 503/502.
import type { Request } from 'express';
import { INTERNAL_HEADERS } from '@securevault/contracts';
import { injectTraceContext } from '@securevault/observability';
import { AppError } from '@securevault/service-kit';

export interface Downstream {
  /** base URL, e.g. http://127.0.0.1:8081 */
  url: string;
  /** name used in error messages: "the auth service is unavailable" */
  name: string;
  timeoutMs: number;
}

/** Headers that tell the internal service who really called and under which request id. */
export function internalHeaders(req: Request): Record<string, string> {
  // traceparent/tracestate: the downstream service's request span joins this request's trace.
  const headers: Record<string, string> = {
    ...injectTraceContext(),
    [INTERNAL_HEADERS.requestId]: req.id,
  };
  if (req.ip) headers[INTERNAL_HEADERS.clientIp] = req.ip;
  const ua = req.get('user-agent');
  if (ua) headers[INTERNAL_HEADERS.userAgent] = ua.slice(0, 512);
  // Edge decisions (edge-features.ts) travel with the request; clients cannot set these themselves.
  if (req.edge?.flags.length) headers[INTERNAL_HEADERS.flags] = req.edge.flags.join(',');
  const variants = Object.entries(req.edge?.variants ?? {});
  if (variants.length > 0)
    headers[INTERNAL_HEADERS.variants] = variants.map(([e, v]) => `${e}=${v}`).join(',');
  return headers;
}

export function unavailable(service: Downstream, cause?: unknown): AppError {
  return new AppError(
    'SERVICE_UNAVAILABLE',
    `the ${service.name} service is unavailable, try again later`,
    {
      headers: { 'Retry-After': '5' },
      cause,
    },
  );
}

export function badGateway(service: Downstream, cause?: unknown): AppError {
  return new AppError('BAD_GATEWAY', `the ${service.name} service gave an invalid answer`, {
    cause,
  });
}

/**
 * fetch with the service's timeout. A refused connection or a timeout becomes 503 (never a hang
 * or a 500); the caller decides what the status means.
 */
export async function callService(
  service: Downstream,
  path: string,
  init: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<Response> {
  try {
    return await fetch(service.url.replace(/\/+$/, '') + path, {
      method: init.method ?? 'GET',
      headers: init.headers ?? {},
      ...(init.body !== undefined ? { body: init.body } : {}),
      redirect: 'manual',
      signal: AbortSignal.timeout(service.timeoutMs),
    });
  } catch (err) {
    throw unavailable(service, err);
  }
}

/** Reads a JSON body with the same timeout; anything unparseable is a 502. */
export async function readJson(service: Downstream, response: Response): Promise<unknown> {
  let text: string;
  try {
    text = await response.text();
  } catch (err) {
    throw unavailable(service, err);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw badGateway(service, err);
  }
}
