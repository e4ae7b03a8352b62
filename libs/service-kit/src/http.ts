// The express base every HTTP service shares: request ids, headers, JSON bodies, metrics, errors.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { randomBytes, randomUUID } from 'node:crypto';
import express, {
  type Express,
  type NextFunction,
  type Request,
  type RequestHandler,
  type Response,
} from 'express';
import helmet from 'helmet';
import {
  httpMetricsMiddleware,
  requestSpanMiddleware,
  runWithRequestContext,
  type Logger,
  type Metrics,
} from '@securevault/observability';
import { INTERNAL_HEADERS } from '@securevault/contracts';
import { AppError, errorHandler, notFoundHandler } from './errors.ts';

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace -- express's own augmentation point
  namespace Express {
    interface Request {
      /** the request id, also sent back as X-Request-Id */
      id: string;
      /** a child logger carrying the request id */
      log: Logger;
    }
  }
}

export interface BaseAppOptions {
  logger: Logger;
  metrics: Metrics;
  bodyLimit?: string;
  /** express `trust proxy`: a hop count or a list of CIDRs, never `true` */
  trustProxy?: number | string[];
  /** HSTS max-age; at least a year (the default) */
  hstsMaxAgeSeconds?: number;
  hstsIncludeSubDomains?: boolean;
}

const ONE_YEAR_SECONDS = 31_536_000;

/**
 * The Content-Security-Policy of an HTML page (the console): a fresh nonce per response, scripts
 * only through it ('strict-dynamic' lets them load their own), no plugins, no <base> hijacking.
 */
export function htmlCsp(): { nonce: string; header: string } {
  const nonce = randomBytes(18).toString('base64');
  const header = [
    "default-src 'self'",
    `script-src 'nonce-${nonce}' 'strict-dynamic'`,
    `style-src 'self' 'nonce-${nonce}'`,
    "object-src 'none'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
    "form-action 'self'",
  ].join('; ');
  return { nonce, header };
}

/** Sets a fresh HTML CSP on this response and returns the nonce the page's tags must carry. */
export function useHtmlCsp(res: Response): string {
  const { nonce, header } = htmlCsp();
  res.setHeader('Content-Security-Policy', header);
  return nonce;
}

/** An express app with the shared middleware; add routes, then call `finishApp`. */
export function createBaseApp(options: BaseAppOptions): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('trust proxy', options.trustProxy ?? 0);
  app.use(requestSpanMiddleware());
  app.use((req, res, next) => {
    const incoming = req.get(INTERNAL_HEADERS.requestId);
    req.id = incoming && REQUEST_ID.test(incoming) ? incoming : randomUUID();
    // The request id reaches every line through the request context (see the logger's mixin).
    req.log = options.logger;
    res.setHeader('X-Request-Id', req.id);
    const start = performance.now();
    res.once('finish', () => {
      const level = res.statusCode >= 500 ? 'error' : 'debug';
      runWithRequestContext({ requestId: req.id }, () =>
        req.log[level](
          {
            method: req.method,
            path: req.path.slice(0, 200),
            status: res.statusCode,
            ms: Math.round(performance.now() - start),
          },
          'request',
        ),
      );
    });
    runWithRequestContext({ requestId: req.id }, next);
  });
  app.use(httpMetricsMiddleware(options.metrics));
  // JSON APIs load nothing and are never framed; HTML pages use `htmlCsp` below instead.
  app.use(
    helmet({
      contentSecurityPolicy: {
        useDefaults: false,
        directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] },
      },
      strictTransportSecurity: {
        maxAge: options.hstsMaxAgeSeconds ?? ONE_YEAR_SECONDS,
        includeSubDomains: options.hstsIncludeSubDomains ?? true,
      },
      referrerPolicy: { policy: 'no-referrer' },
    }),
  );
  // Answers carry identities and user data: no shared or browser cache keeps them unless a route says so.
  app.use((_req, res, next) => {
    res.setHeader('Cache-Control', 'no-store');
    next();
  });
  app.use(requireJsonBody);
  app.use(
    express.json({
      limit: options.bodyLimit ?? '100kb',
      strict: true,
      type: isJson,
      verify: refuseDeepNesting,
    }),
  );
  return app;
}

/** No request body of ours nests this deep; deeper JSON only serves to overflow a recursive walker. */
export const MAX_JSON_DEPTH = 32;

/**
 * Runs on the raw body before it is parsed: JSON.stringify, zod and the audit masking all recurse,
 * so `[[[[…]]]]` thousands deep would end in a stack overflow (a 500) further down.
 */
function refuseDeepNesting(
  _req: http.IncomingMessage,
  _res: http.ServerResponse,
  buf: Buffer,
): void {
  let depth = 0;
  let inString = false;
  let escaped = false;
  for (const byte of buf) {
    if (inString) {
      if (escaped) escaped = false;
      else if (byte === 0x5c) escaped = true;
      else if (byte === 0x22) inString = false;
    } else if (byte === 0x22) inString = true;
    else if (byte === 0x7b || byte === 0x5b) {
      if (++depth > MAX_JSON_DEPTH) {
        throw new AppError(
          'VALIDATION_FAILED',
          `request body nests deeper than ${MAX_JSON_DEPTH} levels`,
        );
      }
    } else if (byte === 0x7d || byte === 0x5d) depth--;
  }
}

function isJson(req: http.IncomingMessage): boolean {
  const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  return type === 'application/json' || (type.startsWith('application/') && type.endsWith('+json'));
}

/** A request that carries a body must say it is JSON: 415 otherwise. */
function requireJsonBody(req: Request, _res: Response, next: NextFunction): void {
  const hasBody =
    Number(req.headers['content-length'] ?? 0) > 0 ||
    req.headers['transfer-encoding'] !== undefined;
  if (hasBody && !isJson(req)) {
    next(new AppError('UNSUPPORTED_MEDIA_TYPE', 'request bodies must be application/json'));
    return;
  }
  next();
}

/** Adds the 404 and error handlers; call after the routes. */
export function finishApp(app: Express, logger: Logger): Express {
  app.use(notFoundHandler);
  app.use(errorHandler(logger));
  return app;
}

/** Wraps an async route so its rejection reaches the error middleware (and lint sees no floating promise). */
export function route(
  fn: (req: Request, res: Response, next: NextFunction) => Promise<unknown>,
): RequestHandler {
  return (req, res, next) => {
    fn(req, res, next).catch(next);
  };
}

export interface HttpServer {
  server: http.Server;
  port: number;
  /** stops accepting, lets in-flight requests finish, then drops idle keep-alive connections */
  close(): Promise<void>;
}

/** Server timeouts against slow clients (the HTTP_*_TIMEOUT_MS variables of commonEnv). */
export interface HttpTimeouts {
  HTTP_KEEP_ALIVE_TIMEOUT_MS: number;
  HTTP_HEADERS_TIMEOUT_MS: number;
  HTTP_REQUEST_TIMEOUT_MS: number;
}

export const DEFAULT_HTTP_TIMEOUTS: Readonly<HttpTimeouts> = Object.freeze({
  // Longer than common load balancer idle timeouts (60 s), so the proxy closes first.
  HTTP_KEEP_ALIVE_TIMEOUT_MS: 65_000,
  // Headers trickled slower than this (slowloris) get 408 and lose the socket. Node measures it
  // from the first byte of each request, so idle keep-alive connections are not affected.
  HTTP_HEADERS_TIMEOUT_MS: 20_000,
  // The whole request, body included: a never-ending upload is cut here.
  HTTP_REQUEST_TIMEOUT_MS: 60_000,
});

/** What a connection that broke the protocol or a timeout gets, in the API's error format. */
const CLIENT_ERRORS: Record<string, [number, string, string, string]> = {
  ERR_HTTP_REQUEST_TIMEOUT: [
    408,
    'Request Timeout',
    'REQUEST_TIMEOUT',
    'the request took too long to arrive',
  ],
  HPE_HEADER_OVERFLOW: [
    431,
    'Request Header Fields Too Large',
    'HEADERS_TOO_LARGE',
    'the request headers are too large',
  ],
};

/**
 * Node answers a request it cannot parse (or that timed out) itself, with an empty body; this
 * answers in the API's `{ error: { code, message, requestId } }` format instead, and closes.
 */
function onClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  // A reset connection or one whose answer already started cannot be answered any more.
  const pending = (socket as { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  if (err.code === 'ECONNRESET' || !socket.writable || pending?.headersSent) {
    socket.destroy();
    return;
  }
  const [status, reason, code, message] = CLIENT_ERRORS[err.code ?? ''] ?? [
    400,
    'Bad Request',
    'MALFORMED_REQUEST',
    'the request is not valid HTTP/1.1',
  ];
  const requestId = randomUUID();
  const body = JSON.stringify({ error: { code, message, requestId } });
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nX-Request-Id: ${requestId}\r\n` +
      `Cache-Control: no-store\r\nConnection: close\r\n\r\n${body}`,
  );
}

export async function listen(
  app: Express,
  port: number,
  host = '0.0.0.0',
  timeouts: HttpTimeouts = DEFAULT_HTTP_TIMEOUTS,
): Promise<HttpServer> {
  // Node refuses a headers timeout longer than the request timeout; the headers are part of it.
  const headersTimeout = Math.min(
    timeouts.HTTP_HEADERS_TIMEOUT_MS,
    timeouts.HTTP_REQUEST_TIMEOUT_MS,
  );
  const server = http.createServer(
    {
      keepAliveTimeout: timeouts.HTTP_KEEP_ALIVE_TIMEOUT_MS,
      headersTimeout,
      requestTimeout: timeouts.HTTP_REQUEST_TIMEOUT_MS,
      // The timeouts are enforced by a periodic sweep: a quarter of the shortest keeps them tight.
      connectionsCheckingInterval: Math.max(100, Math.min(30_000, Math.floor(headersTimeout / 4))),
    },
    app,
  );
  server.on('clientError', onClientError);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return {
    server,
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeIdleConnections();
      }),
  };
}
