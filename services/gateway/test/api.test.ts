// The gateway's HTTP surface: health, the auth relay, authentication, scopes, bad input, 404/405,
// operator endpoints and auth outages. Real: the app, Redis, BullMQ. Stand-ins: auth and audit
// (tiny local HTTP servers speaking the internal contracts).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  ADMIN,
  asA,
  asAdmin,
  call,
  codeOf,
  startAuditStandin,
  startAuthStandin,
  startGateway,
  type Gateway,
  type Standin,
} from './helpers.ts';

const METRICS_TOKEN = 'metrics-token-0123456789abcdef';

describe('gateway HTTP surface', () => {
  let auth: Standin;
  let audit: Standin;
  let gw: Gateway;

  before(async () => {
    auth = await startAuthStandin();
    audit = await startAuditStandin();
    gw = await startGateway({
      AUTH_URL: auth.url,
      AUDIT_URL: audit.url,
      AUTH_HEALTH_URL: `${auth.url}/readyz`,
      AUDIT_HEALTH_URL: `${audit.url}/readyz`,
      AUTH_TIMEOUT_MS: '300',
      METRICS_TOKEN,
      BODY_LIMIT: '1kb',
    });
  });
  after(async () => {
    await gw.close();
    await auth.close();
    await audit.close();
  });

  it('GET /api/health answers without dependencies', async () => {
    auth.mode = 'hang';
    try {
      const r = await call(`${gw.url}/api/health`);
      assert.equal(r.status, 200);
      assert.deepEqual(r.body, { status: 'ok' });
      assert.match(r.headers.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/);
      assert.ok(r.headers.get('x-content-type-options'), 'helmet headers are set');
    } finally {
      auth.mode = 'ok';
    }
  });

  describe('auth relay', () => {
    it('relays login with status, body and every Set-Cookie, minus hop-by-hop headers', async () => {
      auth.requests.length = 0;
      const r = await call(`${gw.url}/api/auth/login?next=%2Fhome`, {
        method: 'POST',
        json: { email: 'a@example.com', password: 'pw-123456789' },
        headers: {
          'user-agent': 'tester/1',
          'x-request-id': 'req-login-1',
          cookie: 'x=1',
          connection: 'keep-alive',
        },
      });
      assert.equal(r.status, 200);
      assert.deepEqual(r.body, { user: { id: (r.body as { user: { id: string } }).user.id } });
      assert.deepEqual(r.headers.getSetCookie(), [
        '__Host-sv_session=new; Path=/; Secure; HttpOnly; SameSite=Lax',
        'sv_csrf=abc; Path=/; Secure',
      ]);
      assert.equal(r.headers.get('cache-control'), 'no-store');
      const seen = auth.requests.find((q) => q.url.startsWith('/api/auth/login'));
      assert.ok(seen);
      assert.equal(seen.url, '/api/auth/login?next=%2Fhome');
      assert.deepEqual(JSON.parse(seen.body), { email: 'a@example.com', password: 'pw-123456789' });
      assert.equal(seen.headers['x-request-id'], 'req-login-1');
      assert.equal(seen.headers['x-securevault-client-ip'], '127.0.0.1');
      assert.equal(seen.headers['x-securevault-user-agent'], 'tester/1');
      assert.equal(seen.headers['cookie'], 'x=1');
      assert.equal(seen.headers['content-type'], 'application/json');
      assert.equal(seen.headers['x-forwarded-for'], undefined);
    });

    it('passes 429 with Retry-After and the error body back unchanged', async () => {
      const r = await call(`${gw.url}/api/auth/register`, {
        method: 'POST',
        json: { email: 'x@example.com', password: 'p' },
      });
      assert.equal(r.status, 429);
      assert.equal(r.headers.get('retry-after'), '30');
      assert.equal(codeOf(r), 'RATE_LIMITED');
    });

    it('relays an empty 204 and its clearing cookie', async () => {
      const r = await call(`${gw.url}/api/auth/logout`, { method: 'POST', headers: asA });
      assert.equal(r.status, 204);
      assert.equal(r.text, '');
      assert.match(r.headers.getSetCookie()[0] ?? '', /Max-Age=0/);
    });

    it('forwards GET with authorization and no body', async () => {
      const r = await call(`${gw.url}/api/auth/me`, { headers: { authorization: 'Bearer k1' } });
      const echo = r.body as { method: string; headers: Record<string, string>; body: string };
      assert.equal(echo.method, 'GET');
      assert.equal(echo.headers.authorization, 'Bearer k1');
      assert.equal(echo.body, '');
      assert.equal(echo.headers['content-type'], undefined);
    });

    it('answers 503 when auth is down or slow, 502 when its answer is not JSON', async () => {
      auth.mode = 'hang';
      const start = Date.now();
      const slow = await call(`${gw.url}/api/auth/me`);
      assert.equal(slow.status, 503);
      assert.equal(codeOf(slow), 'SERVICE_UNAVAILABLE');
      assert.ok(slow.headers.get('retry-after'));
      assert.ok(Date.now() - start < 3000);
      auth.mode = 'garbage';
      const garbage = await call(`${gw.url}/api/auth/me`);
      assert.equal(garbage.status, 502);
      assert.equal(codeOf(garbage), 'BAD_GATEWAY');
      auth.mode = 'ok';
    });

    it('still validates the JSON envelope before relaying', async () => {
      const bad = await call(`${gw.url}/api/auth/login`, {
        method: 'POST',
        body: '{"email":',
        headers: { 'content-type': 'application/json' },
      });
      assert.equal(bad.status, 400);
      assert.equal(codeOf(bad), 'MALFORMED_JSON');
      const xml = await call(`${gw.url}/api/auth/login`, {
        method: 'POST',
        body: '<a/>',
        headers: { 'content-type': 'text/xml' },
      });
      assert.equal(xml.status, 415);
      assert.equal(codeOf(xml), 'UNSUPPORTED_MEDIA_TYPE');
    });
  });

  describe('authentication and scopes', () => {
    it('401 without credentials, with an unknown key, an unknown session or an oversized credential', async () => {
      for (const headers of [
        {},
        { authorization: 'Bearer nope' },
        { authorization: 'Basic dTpw' },
        { cookie: '__Host-sv_session=nope' },
        { cookie: 'other=sess-a' },
        { authorization: `Bearer ${'k'.repeat(600)}` },
      ]) {
        const r = await call(`${gw.url}/api/emails/00000000-0000-4000-8000-000000000000`, {
          headers,
        });
        assert.equal(r.status, 401, JSON.stringify(headers).slice(0, 80));
        assert.equal(codeOf(r), 'UNAUTHENTICATED');
        assert.match(r.headers.get('www-authenticate') ?? '', /^Bearer/);
      }
    });

    it('introspects with the right credential kind and the internal headers', async () => {
      auth.requests.length = 0;
      await call(`${gw.url}/api/emails/00000000-0000-4000-8000-000000000000`, {
        headers: { cookie: 'a=b; __Host-sv_session=sess-a', 'x-request-id': 'rid-42' },
      });
      await call(`${gw.url}/api/emails/00000000-0000-4000-8000-000000000000`, { headers: asAdmin });
      const calls = auth.requests.filter((q) => q.url === '/internal/introspect');
      assert.deepEqual(
        calls.map((q) => JSON.parse(q.body) as unknown),
        [{ sessionToken: 'sess-a' }, { apiKey: 'svk_admin' }],
      );
      assert.equal(calls[0]?.headers['x-request-id'], 'rid-42');
    });

    it('403 INSUFFICIENT_SCOPE names the required scope', async () => {
      const r = await call(`${gw.url}/api/generate-content`, {
        method: 'POST',
        json: { prompt: 'hi' },
        headers: { authorization: 'Bearer svk_a_email' },
      });
      assert.equal(r.status, 403);
      assert.equal(codeOf(r), 'INSUFFICIENT_SCOPE');
      assert.equal((r.body as { error: { required: string } }).error.required, 'ai:generate');
      const none = await call(`${gw.url}/api/audit/events`, {
        headers: { authorization: 'Bearer svk_a_none' },
      });
      assert.equal(none.status, 403);
      assert.equal((none.body as { error: { required: string } }).error.required, 'audit:read');
    });

    it('503 when auth is unreachable, slow or failing; 502 on a garbled introspection', async () => {
      const target = `${gw.url}/api/emails/00000000-0000-4000-8000-000000000000`;
      for (const [mode, status] of [
        ['hang', 503],
        ['error', 503],
        ['garbage', 502],
      ] as const) {
        auth.mode = mode;
        const r = await call(target, { headers: asA });
        assert.equal(r.status, status, mode);
      }
      auth.mode = 'ok';
      const down = await startGateway({ AUTH_URL: 'http://127.0.0.1:1', AUTH_TIMEOUT_MS: '500' });
      try {
        const r = await call(`${down.url}/api/emails/00000000-0000-4000-8000-000000000000`, {
          headers: asA,
        });
        assert.equal(r.status, 503);
        assert.equal(codeOf(r), 'SERVICE_UNAVAILABLE');
      } finally {
        await down.close();
      }
    });
  });

  describe('unknown routes and methods', () => {
    it('404 JSON for unknown /api paths and non-/api paths, 405 for a wrong method', async () => {
      // `/` and client routes are the web console's page (console.test.ts); files it lacks are 404s.
      for (const path of ['/api/nope', '/api', '/robots.txt', '/wp-login.php', '/api/emails']) {
        const r = await call(`${gw.url}${path}`);
        assert.equal(r.status, 404, path);
        assert.equal(codeOf(r), 'NOT_FOUND');
        assert.match(r.headers.get('content-type') ?? '', /application\/json/);
      }
      const r = await call(`${gw.url}/api/send-email`, { headers: asA });
      assert.equal(r.status, 405);
      assert.equal(r.headers.get('allow'), 'POST');
      assert.equal(codeOf(r), 'METHOD_NOT_ALLOWED');
    });

    it('body errors are 4xx with a code: malformed, wrong type, oversize', async () => {
      const malformed = await call(`${gw.url}/api/send-email`, {
        method: 'POST',
        body: '{"to":',
        headers: { ...asA, 'content-type': 'application/json' },
      });
      assert.equal(malformed.status, 400);
      assert.equal(codeOf(malformed), 'MALFORMED_JSON');
      const form = await call(`${gw.url}/api/generate-content`, {
        method: 'POST',
        body: 'prompt=hi',
        headers: { ...asA, 'content-type': 'application/x-www-form-urlencoded' },
      });
      assert.equal(form.status, 415);
      const big = await call(`${gw.url}/api/send-email`, {
        method: 'POST',
        json: { to: 'a@example.com', subject: 's', text: 'x'.repeat(2048) },
        headers: asA,
      });
      assert.equal(big.status, 413);
      assert.equal(codeOf(big), 'PAYLOAD_TOO_LARGE');
    });
  });

  describe('operator endpoints', () => {
    it('GET /api/health/detailed: 401 anonymous, 403 member, 200 admin and metrics token', async () => {
      assert.equal((await call(`${gw.url}/api/health/detailed`)).status, 401);
      const member = await call(`${gw.url}/api/health/detailed`, { headers: asA });
      assert.equal(member.status, 403);
      assert.equal(codeOf(member), 'FORBIDDEN');
      assert.equal(
        (
          await call(`${gw.url}/api/health/detailed`, {
            headers: { authorization: 'Bearer wrong-token' },
          })
        ).status,
        401,
      );
      for (const headers of [asAdmin, { authorization: `Bearer ${METRICS_TOKEN}` }]) {
        const r = await call(`${gw.url}/api/health/detailed`, { headers });
        assert.equal(r.status, 200, r.text);
        const body = r.body as {
          status: string;
          checks: Record<string, { ok: boolean }>;
          queues: Record<string, Record<string, number>>;
          process: {
            cpu: { percent: number };
            memory: { rss: number; heapUsed: number };
            uptime: number;
            eventLoopDelay: { p99Ms: number };
          };
        };
        assert.equal(body.status, 'ok');
        assert.deepEqual(Object.keys(body.checks).sort(), ['audit', 'auth', 'redis']);
        assert.ok(Object.values(body.checks).every((c) => c.ok));
        assert.equal(typeof body.queues.email?.waiting, 'number');
        assert.equal(typeof body.queues.ai?.failed, 'number');
        assert.equal(typeof body.queues.audit?.completed, 'number');
        assert.ok(body.process.memory.rss > 0 && body.process.memory.heapUsed > 0);
        assert.equal(typeof body.process.cpu.percent, 'number');
        assert.equal(typeof body.process.eventLoopDelay.p99Ms, 'number');
        assert.equal(r.headers.get('cache-control'), 'no-store');
      }
    });

    it('reports degraded with 503 when a downstream is not ready', async () => {
      const gw2 = await startGateway({
        AUTH_URL: auth.url,
        AUTH_HEALTH_URL: `${auth.url}/readyz`,
        AUDIT_HEALTH_URL: 'http://127.0.0.1:1/readyz',
        METRICS_TOKEN,
      });
      try {
        const r = await call(`${gw2.url}/api/health/detailed`, {
          headers: { authorization: `Bearer ${METRICS_TOKEN}` },
        });
        assert.equal(r.status, 503);
        const body = r.body as {
          status: string;
          checks: Record<string, { ok: boolean; error?: string }>;
        };
        assert.equal(body.status, 'degraded');
        assert.equal(body.checks.audit?.ok, false);
        assert.equal(body.checks.auth?.ok, true);
        assert.equal(body.checks.redis?.ok, true);
      } finally {
        await gw2.close();
      }
    });

    it('GET /api/metrics is guarded and serves Prometheus text with route templates', async () => {
      assert.equal((await call(`${gw.url}/api/metrics`)).status, 401);
      assert.equal((await call(`${gw.url}/api/metrics`, { headers: asA })).status, 403);
      await call(`${gw.url}/api/emails/00000000-0000-4000-8000-000000000001`, { headers: asA });
      const r = await call(`${gw.url}/api/metrics`, {
        headers: { authorization: `Bearer ${METRICS_TOKEN}` },
      });
      assert.equal(r.status, 200);
      assert.match(r.headers.get('content-type') ?? '', /text\/plain/);
      assert.match(r.text, /http_request_duration_seconds_bucket\{[^}]*route="\/api\/emails\/:id"/);
      assert.doesNotMatch(r.text, /route="\/api\/emails\/0000/);
      assert.match(r.text, /queue_jobs\{queue="email",state="waiting"\} \d+/);
      assert.match(r.text, /redis_connection_up\{client="producer"\} 1/);
      const admin = await call(`${gw.url}/api/metrics`, { headers: asAdmin });
      assert.equal(admin.status, 200);
      assert.ok(ADMIN);
    });
  });
});
