// Calls to our internal services (auth, audit) over node:http(s) with one keep-alive agent per
// service: timeouts, internal headers, and failures as 503/502.
import http from 'node:http';
import https from 'node:https';
import type { Request } from 'express';
import { INTERNAL_HEADERS } from '@securevault/contracts';
import { injectTraceContext } from '@securevault/observability';
import { AppError } from '@securevault/service-kit';

// Not the global fetch: its first use sets up undici's dispatcher and compiles its WebAssembly
// HTTP parser, which kept ~11 MB more of the gateway's memory resident for good
// (docs/performance.md, Memory); node:http's client is part of what every service loads anyway.

export interface Downstream {
  /** base URL, e.g. http://127.0.0.1:8081 */
  url: string;
  /** name used in error messages: "the auth service is unavailable" */
  name: string;
  timeoutMs: number;
}

/** An answer of a downstream service: status, headers and the body as a stream. */
export type DownstreamResponse = http.IncomingMessage;

/**
 * Idle connections kept open per service. More may be open while requests are in flight (the
 * number is not capped, as with fetch: a queue here would only add latency inside our timeout);
 * beyond this many idle ones, a connection closes once its answer has been read.
 */
export const MAX_FREE_SOCKETS = 16;
/**
 * How long an idle connection is kept. Shorter than our servers' keep-alive timeout
 * (HTTP_KEEP_ALIVE_TIMEOUT_MS, 65 s by default), so we never pick a connection the server is
 * closing; Node's agent also shortens it to the server's `Keep-Alive: timeout=N` hint minus 1 s
 * when that is shorter. On a connection in use it cuts nothing (an export may pause longer).
 */
export const FREE_SOCKET_TIMEOUT_MS = 30_000;

/** The agents, one per service (name and origin), made on first use. */
const agents = new Map<string, http.Agent>();

function agentFor(service: Downstream, url: URL): http.Agent {
  const key = `${service.name} ${url.origin}`;
  let agent = agents.get(key);
  if (!agent) {
    const options: http.AgentOptions = {
      keepAlive: true,
      maxFreeSockets: MAX_FREE_SOCKETS,
      timeout: FREE_SOCKET_TIMEOUT_MS,
      scheduling: 'lifo',
    };
    agent = url.protocol === 'https:' ? new https.Agent(options) : new http.Agent(options);
    agents.set(key, agent);
  }
  return agent;
}

/** Closes every downstream connection (at shutdown, once no request is in flight any more). */
export function closeDownstreamAgents(): void {
  for (const agent of agents.values()) agent.destroy();
  agents.clear();
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

export interface CallInit {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  /**
   * Safe to send twice. Such a request is sent again, once, when a reused idle connection turns
   * out to have been closed by the server before any answer (ECONNRESET/EPIPE): the server never
   * saw it. GET, HEAD, OPTIONS, PUT and DELETE are idempotent without saying so.
   */
  idempotent?: boolean;
  /**
   * What `service.timeoutMs` bounds: 'body' (default) the whole call, reading the answer
   * included; 'headers' only the wait for the answer's headers (a streamed body may then take as
   * long as it takes).
   */
  timeout?: 'body' | 'headers';
  /** Aborts the call at any point, the body's streaming included (e.g. the client went away). */
  signal?: AbortSignal;
}

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE']);
/** What a reused connection the server had already closed fails with before any answer. */
const STALE_CONNECTION = new Set(['ECONNRESET', 'EPIPE']);

const ignore = () => {};

class DownstreamTimeout extends Error {
  readonly code = 'ETIMEDOUT';
  constructor(service: Downstream) {
    super(`the ${service.name} service did not answer within ${service.timeoutMs} ms`);
    this.name = 'TimeoutError';
  }
}

/**
 * Sends a request to the service. A refused connection, a reset or a timeout becomes 503 (never
 * a hang or a 500); the caller decides what the status means. Redirects are not followed. The
 * caller must read (`readText`, `readJson`), pipe or `discard` the body: only a consumed answer
 * gives its connection back to the agent. With the default timeout, an answer nobody reads is
 * destroyed when the time is up.
 */
export function callService(
  service: Downstream,
  path: string,
  init: CallInit = {},
): Promise<DownstreamResponse> {
  let url: URL;
  try {
    url = new URL(service.url.replace(/\/+$/, '') + path);
  } catch (err) {
    return Promise.reject(unavailable(service, err));
  }
  const method = (init.method ?? 'GET').toUpperCase();
  const headers: Record<string, string> = { ...init.headers };
  if (init.body !== undefined) headers['content-length'] = String(Buffer.byteLength(init.body));
  const retryable = init.idempotent ?? IDEMPOTENT.has(method);
  const transport = url.protocol === 'https:' ? https : http;
  const agent = agentFor(service, url);

  return new Promise<DownstreamResponse>((resolve, reject) => {
    let request: http.ClientRequest | undefined;
    let response: DownstreamResponse | undefined;
    let settled = false;
    let stopped: Error | undefined;

    const finish = () => {
      clearTimeout(timer);
      init.signal?.removeEventListener('abort', onAbort);
    };
    const fail = (err: unknown) => {
      if (settled) return;
      settled = true;
      finish();
      reject(unavailable(service, err));
    };
    // After a timeout or an abort: no retry, and the body (if any) errors with the reason.
    const stop = (reason: Error) => {
      stopped ??= reason;
      if (response) response.destroy(reason);
      else request?.destroy(reason);
      fail(reason);
    };
    const timer = setTimeout(() => stop(new DownstreamTimeout(service)), service.timeoutMs);
    const onAbort = () => {
      const reason: unknown = init.signal?.reason;
      stop(reason instanceof Error ? reason : new Error('the call was aborted'));
    };

    const send = (attempt: number) => {
      const req = transport.request(url, { method, headers, agent });
      request = req;
      req.on('response', (res) => {
        response = res;
        if (init.timeout === 'headers') clearTimeout(timer);
        // A timeout or an abort destroys the body with its reason: whoever reads it sees the
        // error through their own listener; nobody reading it yet must not crash the process.
        res.on('error', ignore);
        // 'close' comes after 'end' or after a destroy: the call is over either way.
        res.once('close', finish);
        settled = true;
        resolve(res);
      });
      req.on('error', (err: NodeJS.ErrnoException) => {
        if (response || settled) return; // the body's own error reaches its reader
        if (
          stopped === undefined &&
          attempt === 0 &&
          retryable &&
          req.reusedSocket &&
          STALE_CONNECTION.has(err.code ?? '')
        ) {
          send(1);
          return;
        }
        fail(err);
      });
      req.end(init.body);
    };

    if (init.signal?.aborted) {
      onAbort();
      return;
    }
    init.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      send(0);
    } catch (err) {
      // e.g. a header value Node refuses to send
      fail(err);
    }
  });
}

/** The whole body as text; a reset, a timeout or an abort while reading it is a 503. */
export async function readText(service: Downstream, response: DownstreamResponse): Promise<string> {
  response.setEncoding('utf8');
  let text = '';
  try {
    for await (const chunk of response) text += chunk as string;
  } catch (err) {
    throw unavailable(service, err);
  }
  // A connection closed before the announced end of the body ends the stream without an error.
  if (!response.complete) throw unavailable(service, new Error('the answer was cut short'));
  return text;
}

/** Reads a JSON body within the call's timeout; anything unparseable is a 502. */
export async function readJson(
  service: Downstream,
  response: DownstreamResponse,
): Promise<unknown> {
  const text = await readText(service, response);
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw badGateway(service, err);
  }
}

/**
 * Drops an answer whose body is not wanted. A small error body is read to its end so the
 * connection goes back to the agent (the call's timeout still bounds that); past `maxBytes`
 * (announced or read) the connection is closed instead.
 */
export function discard(response: DownstreamResponse, maxBytes = 64 * 1024): void {
  if (response.readableEnded || response.destroyed) return;
  if (Number(response.headers['content-length']) > maxBytes) {
    response.destroy();
    return;
  }
  let read = 0;
  response.on('data', (chunk: Buffer) => {
    read += chunk.length;
    if (read > maxBytes) response.destroy();
  });
}
