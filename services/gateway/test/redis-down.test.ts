// Redis unreachable: every Redis-backed endpoint answers 503 fast, never hangs. Real: the app
// pointed at a closed Redis port. Stand-in: auth (token table).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { freePort } from '@securevault/testing';
import {
  asA,
  asAdmin,
  call,
  codeOf,
  startAuthStandin,
  startGateway,
  type Gateway,
  type Standin,
} from './helpers.ts';

describe('Redis down', () => {
  let auth: Standin;
  let gw: Gateway;

  before(async () => {
    auth = await startAuthStandin();
    const port = await freePort();
    gw = await startGateway({
      AUTH_URL: auth.url,
      REDIS_URL: `redis://127.0.0.1:${port}`,
      AUTH_HEALTH_URL: `${auth.url}/readyz`,
      AUDIT_HEALTH_URL: `${auth.url}/readyz`,
    });
  });
  after(async () => {
    await gw.close();
    await auth.close();
  });

  const fast = async (path: string, init: Parameters<typeof call>[1]) => {
    const started = Date.now();
    const r = await call(`${gw.url}${path}`, init);
    assert.ok(Date.now() - started < 2000, `${path} answered in ${Date.now() - started} ms`);
    return r;
  };

  it('POST /api/send-email and /api/generate-content answer 503 with Retry-After', async () => {
    for (const [path, json] of [
      ['/api/send-email', { to: 'a@example.com', subject: 's', text: 't' }],
      ['/api/generate-content', { prompt: 'p' }],
    ] as const) {
      const r = await fast(path, { method: 'POST', json, headers: asA });
      assert.equal(r.status, 503, path);
      assert.equal(codeOf(r), 'SERVICE_UNAVAILABLE');
      assert.equal(r.headers.get('retry-after'), '5');
    }
  });

  it('status reads and streams answer 503', async () => {
    const id = '6f1c0a3e-1111-4222-8333-944444444444';
    for (const path of [
      `/api/emails/${id}`,
      `/api/generations/${id}`,
      `/api/generations/${id}/stream`,
    ]) {
      const r = await fast(path, { headers: asA });
      assert.equal(r.status, 503, path);
      assert.equal(codeOf(r), 'SERVICE_UNAVAILABLE');
    }
  });

  it('GET /api/health stays ok; /api/health/detailed reports degraded', async () => {
    assert.equal((await fast('/api/health', {})).status, 200);
    const r = await fast('/api/health/detailed', { headers: asAdmin });
    assert.equal(r.status, 503);
    const body = r.body as {
      status: string;
      checks: { redis: { ok: boolean } };
      queues: { email: unknown };
    };
    assert.equal(body.status, 'degraded');
    assert.equal(body.checks.redis.ok, false);
    assert.equal(body.queues.email, null);
  });
});
