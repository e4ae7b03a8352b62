// GET /api/stats relayed to audit and cached in Redis. Real: the app, Redis (the cache itself) and
// the metrics. Stand-ins: auth (token table) and audit's /internal/stats (the contract's StatsReport).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadGatewayConfig } from '../src/config.ts';
import {
  USER_A,
  USER_B,
  asA,
  asAdmin,
  call,
  codeOf,
  startAuthStandin,
  startGateway,
  type Gateway,
  type Standin,
} from './helpers.ts';

const asAStats = { authorization: 'Bearer svk_a_none' };

const counts = (n: number) => ({
  emailsSent: n,
  emailsFailed: 1,
  generations: 2,
  promptTokens: 30,
  completionTokens: 40,
});

async function startStatsStandin() {
  const queries: URL[] = [];
  let down = false;
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    queries.push(url);
    if (down || url.pathname !== '/internal/stats') {
      res.writeHead(down ? 503 : 404, { 'content-type': 'application/json' }).end('{}');
      return;
    }
    const ownerId = url.searchParams.get('ownerId');
    const report = {
      refreshedAt: '2026-11-21T06:00:00.000Z',
      from: '2026-10-23',
      totals: counts(ownerId ? 3 : 10),
      days: [{ day: '2026-11-21', ...counts(ownerId ? 3 : 10) }],
      ...(ownerId
        ? {}
        : {
            users: [
              { ownerId: USER_A, ...counts(3) },
              { ownerId: null, ...counts(7) },
            ],
          }),
    };
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(report));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    queries,
    setDown(value: boolean) {
      down = value;
    },
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

describe('GET /api/stats', () => {
  let auth: Standin;
  let audit: Awaited<ReturnType<typeof startStatsStandin>>;
  let gw: Gateway;

  before(async () => {
    auth = await startAuthStandin();
    audit = await startStatsStandin();
    gw = await startGateway({
      AUTH_URL: auth.url,
      AUDIT_URL: audit.url,
      AUTH_TIMEOUT_MS: '1000',
      STATS_CACHE_TTL_SECONDS: '120',
    });
  });
  after(async () => {
    await gw.close();
    await auth.close();
    await audit.close();
  });

  const metric = async (result: string) => {
    const r = await call(`${gw.url}/api/metrics`, { headers: asAdmin });
    const m = new RegExp(`cache_requests_total\\{cache="stats",result="${result}"\\} (\\d+)`).exec(
      r.text,
    );
    return Number(m?.[1] ?? 0);
  };

  it('answers a member’s own numbers, then serves them from the Redis cache saying how fresh', async () => {
    const first = await call(`${gw.url}/api/stats?days=7`, { headers: asAStats });
    assert.equal(first.status, 200);
    const body = first.body as {
      totals: { emailsSent: number };
      scope: string;
      refreshedAt: string;
      users?: unknown;
      cache: { hit: boolean; ageSeconds: number; ttlSeconds: number; cachedAt: string };
    };
    assert.equal(body.scope, 'user');
    assert.equal(body.totals.emailsSent, 3);
    assert.equal(body.users, undefined);
    assert.equal(body.refreshedAt, '2026-11-21T06:00:00.000Z');
    assert.deepEqual([body.cache.hit, body.cache.ttlSeconds], [false, 120]);
    assert.equal(audit.queries.length, 1);
    assert.equal(audit.queries[0]?.searchParams.get('ownerId'), USER_A);
    assert.equal(audit.queries[0]?.searchParams.get('days'), '7');

    const key = `${gw.prefix}:stats:v1:${USER_A}:7`;
    const ttl = await gw.redis.ttl(key);
    assert.ok(ttl > 0 && ttl <= 120, String(ttl));

    const second = await call(`${gw.url}/api/stats?days=7`, { headers: asAStats });
    const cached = second.body as typeof body;
    assert.equal(cached.cache.hit, true);
    assert.equal(cached.cache.cachedAt, body.cache.cachedAt);
    assert.equal(audit.queries.length, 1, 'served from the cache');
    assert.match(second.headers.get('cache-control') ?? '', /^private, max-age=\d+$/);
    assert.match(second.headers.get('age') ?? '', /^\d+$/);
    assert.equal(await metric('hit'), 1);
    assert.equal(await metric('miss'), 1);

    // Expired (deleted here rather than waited for): a miss goes back to the audit service.
    await gw.redis.del(key);
    const third = await call(`${gw.url}/api/stats?days=7`, { headers: asAStats });
    assert.equal((third.body as typeof body).cache.hit, false);
    assert.equal(audit.queries.length, 2);
  });

  it('gives admins the global view with per-user numbers, and any one user’s', async () => {
    const all = await call(`${gw.url}/api/stats`, { headers: asAdmin });
    assert.equal(all.status, 200);
    const body = all.body as { scope: string; totals: { emailsSent: number }; users: unknown[] };
    assert.equal(body.scope, 'global');
    assert.equal(body.totals.emailsSent, 10);
    assert.equal(body.users.length, 2);
    assert.equal(audit.queries.at(-1)?.searchParams.get('ownerId'), null);
    const b = await call(`${gw.url}/api/stats?ownerId=${USER_B}`, { headers: asAdmin });
    assert.equal((b.body as { scope: string }).scope, 'user');
    assert.equal(audit.queries.at(-1)?.searchParams.get('ownerId'), USER_B);
  });

  it('refuses other users’ numbers, missing scopes, bad queries and anonymous callers', async () => {
    const other = await call(`${gw.url}/api/stats?ownerId=${USER_B}`, { headers: asAStats });
    assert.equal(codeOf(other), 'FORBIDDEN');
    const scope = await call(`${gw.url}/api/stats`, { headers: asA });
    assert.equal(codeOf(scope), 'INSUFFICIENT_SCOPE');
    const bad = await call(`${gw.url}/api/stats?days=0`, { headers: asAStats });
    assert.equal(codeOf(bad), 'VALIDATION_FAILED');
    assert.equal((await call(`${gw.url}/api/stats`)).status, 401);
    assert.equal(
      (await call(`${gw.url}/api/stats`, { method: 'POST', headers: asAStats })).status,
      405,
    );
  });

  it('keeps serving cached numbers while audit is down, and 503 when nothing is cached', async () => {
    await call(`${gw.url}/api/stats?days=3`, { headers: asAStats });
    audit.setDown(true);
    try {
      const cached = await call(`${gw.url}/api/stats?days=3`, { headers: asAStats });
      assert.equal(cached.status, 200);
      const uncached = await call(`${gw.url}/api/stats?days=4`, { headers: asAStats });
      assert.equal(uncached.status, 503);
      assert.equal(codeOf(uncached), 'SERVICE_UNAVAILABLE');
    } finally {
      audit.setDown(false);
    }
  });

  it('accepts a cache lifetime of 1 to 5 minutes only', () => {
    assert.equal(loadGatewayConfig({}).STATS_CACHE_TTL_SECONDS, 60);
    assert.equal(
      loadGatewayConfig({ STATS_CACHE_TTL_SECONDS: '300' }).STATS_CACHE_TTL_SECONDS,
      300,
    );
    assert.throws(
      () => loadGatewayConfig({ STATS_CACHE_TTL_SECONDS: '30' }),
      /STATS_CACHE_TTL_SECONDS/,
    );
    assert.throws(
      () => loadGatewayConfig({ STATS_CACHE_TTL_SECONDS: '301' }),
      /STATS_CACHE_TTL_SECONDS/,
    );
    assert.throws(
      () => loadGatewayConfig({ AUDIT_EXPORT_LINK_TTL_SECONDS: '301' }),
      /AUDIT_EXPORT_LINK_TTL_SECONDS/,
    );
    assert.throws(
      () => loadGatewayConfig({ AUDIT_EXPORT_SIGNING_KEY: 'short-secret' }),
      (err: Error) =>
        /AUDIT_EXPORT_SIGNING_KEY/.test(err.message) && !err.message.includes('short-secret'),
    );
  });
});

describe('GET /api/stats with an unreadable cache entry', () => {
  it('treats it as a miss and still answers', async () => {
    const auth = await startAuthStandin();
    const audit = await startStatsStandin();
    const gw = await startGateway({ AUTH_URL: auth.url, AUDIT_URL: audit.url });
    try {
      // A value that is not a cache entry (as after a format change) is a miss, not an error.
      await gw.redis.set(`${gw.prefix}:stats:v1:${USER_A}:30`, 'not json', 'EX', 60);
      const r = await call(`${gw.url}/api/stats`, { headers: asAStats });
      assert.equal(r.status, 200);
      assert.equal((r.body as { cache: { hit: boolean } }).cache.hit, false);
      assert.equal(audit.queries.length, 1);
    } finally {
      await gw.close();
      await auth.close();
      await audit.close();
    }
  });
});
