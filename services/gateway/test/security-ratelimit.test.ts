// Rate limits and login brute-force defence through the real gateway app on real Redis. Real:
// express-rate-limit + rate-limit-redis on Redis, the audit queue, the metrics endpoint, and (for
// the outage) a TCP relay in front of the real Redis that the test cuts and restores. Stand-in:
// auth (a login that accepts one password, plus the token table for authenticated routes).
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AuditJob, auditEventsOf } from '@securevault/contracts';
import { freePort } from '@securevault/testing';
import {
  API_KEYS,
  REDIS_URL,
  SESSIONS,
  asA,
  asB,
  call,
  codeOf,
  startGateway,
  type Gateway,
} from './helpers.ts';

const GOOD_PASSWORD = 'correct horse battery staple';
const METRICS_TOKEN = 'metrics-token-for-security-tests';

/** auth stand-in: login succeeds only with GOOD_PASSWORD; introspection from the helpers' table. */
async function startLoginStandin(): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString() || '{}') as Record<string, string>;
      const send = (status: number, payload: unknown) =>
        res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(payload));
      if (req.url === '/internal/introspect') {
        const p =
          body.apiKey !== undefined ? API_KEYS[body.apiKey] : SESSIONS[body.sessionToken ?? ''];
        return send(200, p ? { active: true, principal: p } : { active: false });
      }
      if (req.url === '/api/auth/login') {
        return body.password === GOOD_PASSWORD
          ? send(200, { user: { id: 'u' } })
          : send(401, { error: { code: 'INVALID_CREDENTIALS', message: 'no' } });
      }
      return send(200, { ok: true });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

const login = (gw: Gateway, email: string, password: string, ip?: string) =>
  call(`${gw.url}/api/auth/login`, {
    method: 'POST',
    json: { email, password },
    headers: ip ? { 'x-forwarded-for': ip } : {},
  });

async function auditActions(gw: Gateway): Promise<Array<Record<string, unknown>>> {
  const jobs = await gw.auditQueue.getJobs(['waiting', 'delayed', 'active', 'completed']);
  return jobs.flatMap((j) => auditEventsOf(AuditJob.parse(j.data)));
}

describe('login brute-force defence', () => {
  let auth: Awaited<ReturnType<typeof startLoginStandin>>;
  let gw: Gateway;

  before(async () => {
    auth = await startLoginStandin();
    gw = await startGateway({
      AUTH_URL: auth.url,
      TRUST_PROXY: 'loopback',
      RATE_LIMIT_LOGIN_MAX: '3',
      RATE_LIMIT_LOGIN_BLOCK_SECONDS: '1',
      RATE_LIMIT_ACCOUNT_FAILURES_PER_HOUR: '6',
      METRICS_TOKEN,
    });
  });
  after(async () => {
    await gw.close();
    await auth.close();
  });

  it('blocks the attacking pair after the limit, with Retry-After, RateLimit headers, metric and audit event', async () => {
    for (let i = 0; i < 3; i++) {
      const r = await login(gw, 'victim@example.com', 'wrong', '203.0.113.5');
      assert.equal(r.status, 401);
      assert.match(r.headers.get('ratelimit-policy') ?? '', /"login"; q=3; w=300/);
      assert.match(r.headers.get('ratelimit') ?? '', /"login"; r=\d+; t=\d+/);
    }
    const blocked = await login(gw, 'victim@example.com', GOOD_PASSWORD, '203.0.113.5');
    assert.equal(blocked.status, 429, 'even the right password waits out the block');
    assert.equal(codeOf(blocked), 'RATE_LIMITED');
    assert.equal(blocked.headers.get('retry-after'), '1');
    // The real user, from their own address, is not locked out by the attack.
    const user = await login(gw, 'victim@example.com', GOOD_PASSWORD, '198.51.100.7');
    assert.equal(user.status, 200);

    const metrics = await call(`${gw.url}/api/metrics`, {
      headers: { authorization: `Bearer ${METRICS_TOKEN}` },
    });
    assert.match(metrics.text, /rate_limit_blocked_total\{policy="login"\} [1-9]/);
    const events = (await auditActions(gw)).filter((e) => e.action === 'security.rate_limited');
    assert.ok(events.length >= 1);
    assert.deepEqual((events[0]?.metadata as { policy: string }).policy, 'login');
    assert.equal((events[0]?.actor as { ip: string }).ip, '203.0.113.5');
    assert.ok(!JSON.stringify(events).includes('victim@example.com'), 'no email in the event');
  });

  it('grows the block on repeat', async () => {
    const ip = '203.0.113.6';
    for (let i = 0; i < 3; i++) await login(gw, 'grow@example.com', 'wrong', ip);
    const first = await login(gw, 'grow@example.com', 'wrong', ip);
    assert.equal(first.status, 429);
    assert.equal(first.headers.get('retry-after'), '1');
    // Wait (bounded) for the block to end: Redis expires the block key itself.
    const blockKeys = `${gw.prefix}:rl:login-block:*`;
    for (let i = 0; i < 40 && (await gw.redis.keys(blockKeys)).length > 0; i++)
      await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(await gw.redis.keys(blockKeys), [], 'the first block ended');
    // Still over the window's limit once the block ends: the second strike doubles it.
    const second = await login(gw, 'grow@example.com', 'wrong', ip);
    assert.equal(second.status, 429, `after the block: ${second.text}`);
    assert.equal(second.headers.get('retry-after'), '2');
  });

  it('caps failures per account across many addresses, sparing addresses the user signed in from', async () => {
    const email = 'spread@example.com';
    assert.equal((await login(gw, email, GOOD_PASSWORD, '192.0.2.200')).status, 200);
    const statuses: number[] = [];
    for (let i = 1; i <= 8; i++)
      statuses.push((await login(gw, email, 'wrong', `192.0.2.${i}`)).status);
    assert.deepEqual(statuses, [401, 401, 401, 401, 401, 401, 429, 429]);
    const capped = await login(gw, email, GOOD_PASSWORD, '192.0.2.99');
    assert.equal(capped.status, 429, 'an unknown address is capped');
    const known = await login(gw, email, GOOD_PASSWORD, '192.0.2.200');
    assert.equal(known.status, 200, 'the address the user signed in from before still works');
  });
});

describe('client addresses: trust proxy and IPv6 buckets', () => {
  let auth: Awaited<ReturnType<typeof startLoginStandin>>;
  let direct: Gateway;
  let behindProxy: Gateway;

  before(async () => {
    auth = await startLoginStandin();
    direct = await startGateway({ AUTH_URL: auth.url, RATE_LIMIT_API_PER_MINUTE: '2' });
    behindProxy = await startGateway({
      AUTH_URL: auth.url,
      TRUST_PROXY: '1',
      RATE_LIMIT_API_PER_MINUTE: '2',
    });
  });
  after(async () => {
    await direct.close();
    await behindProxy.close();
    await auth.close();
  });

  const me = (gw: Gateway, xff: string) =>
    call(`${gw.url}/api/auth/me`, { headers: { 'x-forwarded-for': xff } });

  it('ignores X-Forwarded-For when no proxy is trusted', async () => {
    const statuses = [];
    for (const xff of ['10.0.0.1', '10.0.0.2', '10.0.0.3'])
      statuses.push((await me(direct, xff)).status);
    assert.deepEqual(statuses, [200, 200, 429]);
  });

  it('takes only the hop the trusted proxy appended: forged entries before it do not help', async () => {
    const statuses = [];
    for (const forged of ['1.1.1.1', '2.2.2.2', '3.3.3.3'])
      statuses.push((await me(behindProxy, `${forged}, 198.51.100.20`)).status);
    assert.deepEqual(statuses, [200, 200, 429]);
  });

  it('puts IPv6 addresses of one /56 in one bucket, and another /56 in its own', async () => {
    assert.equal((await me(behindProxy, '2001:db8:0:1::1')).status, 200);
    assert.equal((await me(behindProxy, '2001:db8:0:ff::2')).status, 200);
    assert.equal((await me(behindProxy, '2001:db8:0:42::3')).status, 429);
    assert.equal((await me(behindProxy, '2001:db8:0:100::1')).status, 200);
  });
});

describe('per-principal policies', () => {
  let auth: Awaited<ReturnType<typeof startLoginStandin>>;
  let gw: Gateway;

  before(async () => {
    auth = await startLoginStandin();
    gw = await startGateway({
      AUTH_URL: auth.url,
      RATE_LIMIT_EMAIL_PER_MINUTE: '2',
      RATE_LIMIT_AI_PER_MINUTE: '1',
    });
  });
  after(async () => {
    await gw.close();
    await auth.close();
  });

  const email = (headers: Record<string, string>) =>
    call(`${gw.url}/api/send-email`, {
      method: 'POST',
      headers,
      json: { to: 'r@example.com', subject: 's', text: 't' },
    });

  it('limits email per user; another user keeps their own allowance', async () => {
    assert.equal((await email(asA)).status, 202);
    assert.equal((await email(asA)).status, 202);
    const third = await email(asA);
    assert.equal(third.status, 429);
    assert.ok(Number(third.headers.get('retry-after')) > 0);
    assert.match(third.headers.get('ratelimit') ?? '', /"email"; r=0/);
    assert.equal((await email(asB)).status, 202);
  });

  it('limits AI generation per principal', async () => {
    const gen = () =>
      call(`${gw.url}/api/generate-content`, {
        method: 'POST',
        headers: asB,
        json: { prompt: 'p' },
      });
    assert.equal((await gen()).status, 202);
    const second = await gen();
    assert.equal(second.status, 429);
    assert.equal(codeOf(second), 'RATE_LIMITED');
  });
});

/** A TCP relay to the real Redis that the test can cut and restore on the same port. */
async function redisRelay(port: number) {
  const target = new URL(REDIS_URL);
  const sockets = new Set<net.Socket>();
  let server: net.Server | undefined;
  let paused = false;
  const up = () =>
    new Promise<void>((resolve) => {
      server = net.createServer((client) => {
        const upstream = net.connect(Number(target.port || 6379), target.hostname);
        sockets.add(client).add(upstream);
        // While `paused`, commands are swallowed: Redis looks alive but never answers.
        client.on('data', (chunk: Buffer) => {
          if (!paused) upstream.write(chunk);
        });
        upstream.pipe(client);
        const drop = () => {
          client.destroy();
          upstream.destroy();
        };
        client.on('error', drop).on('close', drop);
        upstream.on('error', drop).on('close', drop);
      });
      server.listen(port, '127.0.0.1', resolve);
    });
  const down = () =>
    new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      sockets.clear();
      if (!server) return resolve();
      server.close(() => resolve());
    });
  await up();
  return {
    up,
    down,
    pause: () => {
      paused = true;
    },
    resume: () => {
      paused = false;
    },
  };
}

describe('Redis outage', () => {
  let auth: Awaited<ReturnType<typeof startLoginStandin>>;
  let gw: Gateway;
  let relay: Awaited<ReturnType<typeof redisRelay>>;

  before(async () => {
    auth = await startLoginStandin();
    const port = await freePort();
    relay = await redisRelay(port);
    gw = await startGateway({
      AUTH_URL: auth.url,
      REDIS_URL: `redis://127.0.0.1:${port}`,
      RATE_LIMIT_API_PER_MINUTE: '1000',
      RATE_LIMIT_TIMEOUT_MS: '300',
    });
  });
  after(async () => {
    await gw.close();
    await relay.down();
    await auth.close();
  });

  it('login fails closed with 503, other routes fail open, and limiting resumes when Redis returns', async () => {
    // Wait (bounded) for the gateway's connection through the relay.
    let ready = false;
    for (let i = 0; i < 50 && !ready; i++) {
      ready = (await login(gw, 'x@example.com', GOOD_PASSWORD)).status === 200;
      if (!ready) await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(ready, 'login works while Redis is up');

    await relay.down();
    const closed = await login(gw, 'x@example.com', GOOD_PASSWORD);
    assert.equal(closed.status, 503);
    assert.equal(codeOf(closed), 'SERVICE_UNAVAILABLE');
    const open = await call(`${gw.url}/api/auth/me`);
    assert.equal(open.status, 200, 'non-login routes are let through while Redis is down');

    await relay.up();
    let resumed = false;
    for (let i = 0; i < 100 && !resumed; i++) {
      const r = await login(gw, 'x@example.com', GOOD_PASSWORD);
      resumed = r.status === 200 && (r.headers.get('ratelimit') ?? '') !== '';
      if (!resumed) await new Promise((r2) => setTimeout(r2, 100));
    }
    assert.ok(resumed, 'login is limited again once Redis is back');
  });
});

describe('Redis that hangs', () => {
  it('login answers 503 once the limiter timeout passes, instead of waiting for Redis', async () => {
    const auth = await startLoginStandin();
    const port = await freePort();
    const relay = await redisRelay(port);
    const gw = await startGateway({
      AUTH_URL: auth.url,
      REDIS_URL: `redis://127.0.0.1:${port}`,
      RATE_LIMIT_TIMEOUT_MS: '300',
    });
    try {
      for (let i = 0; i < 100 && gw.redis.status !== 'ready'; i++)
        await new Promise((r) => setTimeout(r, 50));
      assert.equal((await login(gw, 'h@example.com', GOOD_PASSWORD)).status, 200);
      relay.pause();
      // The abort bounds the wait: a limiter that waited for Redis would fail this request.
      const hung = await call(`${gw.url}/api/auth/login`, {
        method: 'POST',
        json: { email: 'h@example.com', password: GOOD_PASSWORD },
        signal: AbortSignal.timeout(5_000),
      });
      assert.equal(hung.status, 503);
      assert.equal(codeOf(hung), 'SERVICE_UNAVAILABLE');
    } finally {
      relay.resume();
      await gw.close();
      await relay.down();
      await auth.close();
    }
  });
});

describe('gateway started before Redis', () => {
  it('limits the first login once Redis answers (the limiter script loads late)', async () => {
    const auth = await startLoginStandin();
    const port = await freePort();
    const relay = await redisRelay(port);
    await relay.down();
    const gw = await startGateway({ AUTH_URL: auth.url, REDIS_URL: `redis://127.0.0.1:${port}` });
    try {
      await relay.up();
      for (let i = 0; i < 100 && gw.redis.status !== 'ready'; i++)
        await new Promise((r) => setTimeout(r, 50));
      assert.equal(gw.redis.status, 'ready');
      const first = await login(gw, 'late@example.com', GOOD_PASSWORD);
      assert.equal(first.status, 200);
      assert.match(first.headers.get('ratelimit') ?? '', /"login"/);
    } finally {
      await gw.close();
      await relay.down();
      await auth.close();
    }
  });
});
