// Test wiring: the real gateway app on real Redis/BullMQ, with local stand-ins for auth and audit.
// The stand-ins implement exactly the internal contracts (introspect, /internal/events); they are
// our own services, isolated here so the gateway is tested alone (the e2e suite runs them all).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import {
  AiJob,
  AuditQuery,
  EmailJob,
  IntrospectRequest,
  QUEUES,
  type Principal,
} from '@securevault/contracts';
import { Metrics, createLogger } from '@securevault/observability';
import {
  closeRedis,
  createAuditEmitter,
  createProducer,
  createRedis,
  listen,
  waitForRedis,
} from '@securevault/service-kit';
import { cleanupRedisPrefix, uniquePrefix } from '@securevault/testing';
import { createApp } from '../src/app.ts';
import { loadGatewayConfig } from '../src/config.ts';
import { createStreamHub, type StreamHub } from '../src/sse.ts';
import { createProcessStats } from '../src/process-stats.ts';
import { createIntrospectionCache } from '../src/introspection-cache.ts';

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

export const USER_A = randomUUID();
export const USER_B = randomUUID();
export const ADMIN = randomUUID();
export const KEY_ID = randomUUID();

const member = (
  userId: string,
  scopes: Principal['scopes'],
  type: Principal['type'] = 'session',
): Principal => ({
  type,
  userId,
  role: 'member',
  scopes,
  ...(type === 'apikey' ? { apiKeyId: KEY_ID } : { sessionId: randomUUID() }),
});

/** The stand-in auth's credential table. */
export const SESSIONS: Record<string, Principal> = {
  'sess-a': member(USER_A, ['email:send', 'ai:generate', 'audit:read']),
  'sess-b': member(USER_B, ['email:send', 'ai:generate', 'audit:read']),
};
export const API_KEYS: Record<string, Principal> = {
  svk_admin: {
    type: 'apikey',
    userId: ADMIN,
    role: 'admin',
    scopes: ['admin'],
    apiKeyId: randomUUID(),
  },
  svk_a_email: member(USER_A, ['email:send'], 'apikey'),
  svk_a_none: member(USER_A, ['stats:read'], 'apikey'),
};

export const asA = { cookie: '__Host-sv_session=sess-a' };
export const asB = { cookie: '__Host-sv_session=sess-b' };
export const asAdmin = { authorization: 'Bearer svk_admin' };

export interface Recorded {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export interface Standin {
  url: string;
  requests: Recorded[];
  /** 'ok' normal; 'hang' never answers; 'garbage' answers non-JSON; 'error' answers 500 */
  mode: 'ok' | 'hang' | 'garbage' | 'error';
  close(): Promise<void>;
}

async function serve(
  handler: (rec: Recorded, res: http.ServerResponse, standin: Standin) => void,
): Promise<Standin> {
  const standin: Standin = { url: '', requests: [], mode: 'ok', close: async () => {} };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const rec = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString(),
      };
      standin.requests.push(rec);
      if (standin.mode === 'hang') return;
      if (standin.mode === 'garbage') {
        res.writeHead(200, { 'content-type': 'application/json' }).end('<html>nope');
        return;
      }
      if (standin.mode === 'error') {
        res
          .writeHead(500, { 'content-type': 'application/json' })
          .end('{"error":{"code":"INTERNAL","message":"x"}}');
        return;
      }
      handler(rec, res, standin);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  standin.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  standin.close = () =>
    new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    });
  return standin;
}

function json(
  res: http.ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string | string[]> = {},
): void {
  res
    .writeHead(status, { 'content-type': 'application/json', ...headers })
    .end(JSON.stringify(body));
}

/** auth: POST /internal/introspect against the token table, a few /api/auth/* routes, /readyz. */
export function startAuthStandin(): Promise<Standin> {
  return serve((rec, res) => {
    const path = rec.url.split('?')[0];
    if (rec.method === 'POST' && path === '/internal/introspect') {
      const parsed = IntrospectRequest.safeParse(JSON.parse(rec.body || '{}'));
      if (!parsed.success)
        return json(res, 400, { error: { code: 'VALIDATION_FAILED', message: 'bad' } });
      const principal =
        parsed.data.apiKey !== undefined
          ? API_KEYS[parsed.data.apiKey]
          : SESSIONS[parsed.data.sessionToken ?? ''];
      return json(res, 200, principal ? { active: true, principal } : { active: false });
    }
    if (path === '/api/auth/login' && rec.method === 'POST') {
      return json(
        res,
        200,
        { user: { id: USER_A } },
        {
          'set-cookie': [
            '__Host-sv_session=new; Path=/; Secure; HttpOnly; SameSite=Lax',
            'sv_csrf=abc; Path=/; Secure',
          ],
          'cache-control': 'no-store',
          connection: 'keep-alive',
        },
      );
    }
    if (path === '/api/auth/register') {
      return json(
        res,
        429,
        { error: { code: 'RATE_LIMITED', message: 'slow down' } },
        { 'retry-after': '30' },
      );
    }
    if (path === '/api/auth/logout') {
      res
        .writeHead(204, { 'set-cookie': '__Host-sv_session=; Path=/; Max-Age=0; Secure; HttpOnly' })
        .end();
      return;
    }
    if (path === '/readyz') return json(res, 200, { ready: true });
    // Everything else echoes what arrived, so tests can check what the relay forwarded.
    return json(res, 200, {
      method: rec.method,
      url: rec.url,
      headers: rec.headers,
      body: rec.body,
    });
  });
}

/** A StoredAuditEvent as the audit service would answer it. */
export function storedEvent(ownerId: string | null, seq = '1') {
  return {
    id: randomUUID(),
    time: new Date().toISOString(),
    source: 'gateway',
    actor: { type: 'user', id: ownerId },
    action: 'email.queued',
    outcome: 'success',
    ownerId,
    metadata: {},
    seq,
  };
}

/** audit: GET /internal/events with AuditQuery validation, and /readyz. */
export function startAuditStandin(): Promise<Standin> {
  return serve((rec, res) => {
    const url = new URL(rec.url, 'http://x');
    if (url.pathname === '/readyz') return json(res, 200, { ready: true });
    if (rec.method === 'GET' && url.pathname === '/internal/events') {
      const parsed = AuditQuery.safeParse(Object.fromEntries(url.searchParams));
      if (!parsed.success || parsed.data.cursor === 'unknown') {
        return json(res, 400, {
          error: {
            code: 'VALIDATION_FAILED',
            message: 'query is invalid',
            requestId: 'audit-side',
          },
        });
      }
      return json(res, 200, {
        items: [storedEvent(parsed.data.ownerId ?? null, '7')],
        nextCursor: parsed.data.cursor ? null : 'c7',
      });
    }
    return json(res, 404, { error: { code: 'NOT_FOUND', message: 'no' } });
  });
}

export interface Gateway {
  url: string;
  prefix: string;
  redis: Redis;
  streams: StreamHub;
  emailQueue: ReturnType<typeof createProducer>['queue'];
  aiQueue: ReturnType<typeof createProducer>['queue'];
  auditQueue: ReturnType<typeof createProducer>['queue'];
  close(): Promise<void>;
}

/** The real app over real Redis with a unique queue prefix; `env` overrides the gateway config. */
export async function startGateway(env: Record<string, string> = {}): Promise<Gateway> {
  const prefix = uniquePrefix('gateway');
  const config = loadGatewayConfig({
    QUEUE_PREFIX: prefix,
    REDIS_URL: REDIS_URL,
    LOG_LEVEL: 'silent',
    // Functional tests send more than the production policies allow; security-*.test.ts sets its own.
    RATE_LIMIT_API_PER_MINUTE: '100000',
    RATE_LIMIT_EMAIL_PER_MINUTE: '100000',
    RATE_LIMIT_AI_PER_MINUTE: '100000',
    ...env,
  });
  const logger = createLogger({ service: 'gateway', level: 'silent' });
  const metrics = new Metrics('gateway');
  const redis = createRedis({
    url: config.REDIS_URL,
    name: 'producer',
    logger,
    metrics,
    role: 'producer',
  });
  if (env.REDIS_URL === undefined) await waitForRedis(redis, 5_000);
  const email = createProducer({
    queue: QUEUES.email,
    schema: EmailJob,
    connection: redis,
    prefix,
  });
  const ai = createProducer({ queue: QUEUES.ai, schema: AiJob, connection: redis, prefix });
  const audit = createAuditEmitter({
    source: 'gateway',
    connection: redis,
    prefix,
    logger,
    metrics,
  });
  const streams = createStreamHub({
    redisUrl: config.REDIS_URL,
    logger,
    blockMs: config.SSE_BLOCK_MS,
    heartbeatMs: config.SSE_HEARTBEAT_MS,
    maxStreams: config.SSE_MAX_STREAMS,
  });
  const processStats = createProcessStats();
  // Only tests that ask for it get the revocation-driven cache (security-revocation.test.ts).
  const introspectionCache =
    env.INTROSPECTION_CACHE_TTL_MS !== undefined
      ? await createIntrospectionCache({
          redisUrl: config.REDIS_URL,
          prefix: config.QUEUE_PREFIX,
          ttlMs: config.INTROSPECTION_CACHE_TTL_MS,
          logger,
          metrics,
        })
      : undefined;
  const app = createApp({
    ...(introspectionCache ? { introspectionCache } : {}),
    config,
    logger,
    metrics,
    redis,
    email,
    ai,
    audit,
    streams,
    processStats,
  });
  const server = await listen(app, 0, '127.0.0.1');
  return {
    url: `http://127.0.0.1:${server.port}`,
    prefix,
    redis,
    streams,
    emailQueue: email.queue,
    aiQueue: ai.queue,
    auditQueue: audit.producer.queue,
    async close() {
      const closing = server.close();
      await streams.closeAll();
      server.server.closeAllConnections();
      await closing;
      processStats.stop();
      await introspectionCache?.close();
      await Promise.all([email.close(), ai.close(), audit.close()]);
      await closeRedis(redis);
      if (env.REDIS_URL === undefined) await cleanupRedisPrefix(REDIS_URL, prefix);
    },
  };
}

export interface Answer {
  status: number;
  headers: Headers;
  text: string;
  body: unknown;
}

/** fetch that never throws on an error status and always reads the body (checked for stacks). */
export async function call(
  url: string,
  init: RequestInit & { json?: unknown } = {},
): Promise<Answer> {
  const headers = new Headers(init.headers);
  let body = init.body;
  if (init.json !== undefined) {
    headers.set('content-type', 'application/json');
    body = JSON.stringify(init.json);
  }
  const res = await fetch(url, { ...init, headers, body: body ?? null });
  const text = await res.text();
  let parsed: unknown = undefined;
  try {
    parsed = text ? (JSON.parse(text) as unknown) : undefined;
  } catch {
    parsed = undefined;
  }
  if (text.includes('"stack"') || text.includes('    at '))
    throw new Error(`a stack leaked: ${text.slice(0, 300)}`);
  return { status: res.status, headers: res.headers, text, body: parsed };
}

/** The error code of an error body (undefined when it is not one). */
export function codeOf(a: Answer): string | undefined {
  return (a.body as { error?: { code?: string } } | undefined)?.error?.code;
}

/** A blocking-capable connection for test writers and workers. */
export function testRedis(): Redis {
  return new Redis(REDIS_URL, { maxRetriesPerRequest: null });
}
