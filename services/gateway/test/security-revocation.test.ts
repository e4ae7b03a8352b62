// Revocation reaches every gateway replica at once: two real gateway apps with introspection
// caches on real Redis pub/sub. Stand-in: auth (a mutable token table that counts introspections;
// the test publishes revocations on the contract channel exactly as auth does).
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { revocationChannel, type Principal, type RevocationEvent } from '@securevault/contracts';
import { cleanupRedisPrefix, freePort, uniquePrefix } from '@securevault/testing';
import { REDIS_URL, call, startGateway, testRedis, type Gateway } from './helpers.ts';

const USER = randomUUID();
const OTHER = randomUUID();
const SESSION_ID = randomUUID();
const KEY_ID = randomUUID();

async function startAuth() {
  const table = new Map<string, Principal>();
  let introspections = 0;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString() || '{}') as Record<string, string>;
      introspections++;
      const p = table.get(body.apiKey ?? body.sessionToken ?? '');
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify(p ? { active: true, principal: p } : { active: false }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    table,
    count: () => introspections,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

describe('session and key revocation across gateway replicas', () => {
  const prefix = uniquePrefix('revoke');
  let auth: Awaited<ReturnType<typeof startAuth>>;
  let gw1: Gateway;
  let gw2: Gateway;
  const publisher = testRedis();

  before(async () => {
    auth = await startAuth();
    // One QUEUE_PREFIX for both: they are replicas of one deployment, on one channel.
    const env = { AUTH_URL: auth.url, QUEUE_PREFIX: prefix, INTROSPECTION_CACHE_TTL_MS: '300000' };
    gw1 = await startGateway(env);
    gw2 = await startGateway(env);
  });
  after(async () => {
    await gw1.close();
    await gw2.close();
    await auth.close();
    await publisher.quit();
    await cleanupRedisPrefix(REDIS_URL, prefix);
  });

  // An authenticated read: 404 means "signed in, no such email"; 401 means not signed in.
  const probe = (gw: Gateway, headers: Record<string, string>) =>
    call(`${gw.url}/api/emails/${randomUUID()}`, { headers }).then((r) => r.status);
  const revoke = (event: RevocationEvent) =>
    publisher.publish(revocationChannel(prefix), JSON.stringify(event));
  /** Bounded wait for the pushed message to land (milliseconds; far below the 300 s TTL). */
  async function until(check: () => Promise<boolean>): Promise<boolean> {
    for (let i = 0; i < 40; i++) {
      if (await check()) return true;
      await new Promise((r) => setTimeout(r, 50));
    }
    return false;
  }

  it('caches introspection, and a pushed session revocation ends the session on both replicas', async () => {
    auth.table.set('sess-1', {
      type: 'session',
      userId: USER,
      role: 'member',
      scopes: ['email:send'],
      sessionId: SESSION_ID,
    });
    const cookie = { cookie: '__Host-sv_session=sess-1' };
    assert.equal(await probe(gw1, cookie), 404);
    assert.equal(await probe(gw2, cookie), 404);
    const afterFirst = auth.count();
    assert.equal(await probe(gw1, cookie), 404);
    assert.equal(await probe(gw2, cookie), 404);
    assert.equal(auth.count(), afterFirst, 'served from the caches');

    // Logout at auth: the row is revoked and the revocation is published.
    auth.table.delete('sess-1');
    await revoke({ kind: 'session', sessionId: SESSION_ID });
    assert.ok(await until(async () => (await probe(gw1, cookie)) === 401), 'replica 1');
    assert.ok(await until(async () => (await probe(gw2, cookie)) === 401), 'replica 2');
  });

  it('a user revocation (disable, role change) drops all their credentials; others stay cached', async () => {
    auth.table.set('key-u', {
      type: 'apikey',
      userId: USER,
      role: 'member',
      scopes: ['email:send'],
      apiKeyId: KEY_ID,
    });
    auth.table.set('sess-other', {
      type: 'session',
      userId: OTHER,
      role: 'member',
      scopes: ['email:send'],
      sessionId: randomUUID(),
    });
    const key = { authorization: 'Bearer key-u' };
    const other = { cookie: '__Host-sv_session=sess-other' };
    assert.equal(await probe(gw1, key), 404);
    assert.equal(await probe(gw1, other), 404);
    auth.table.delete('key-u');
    await revoke({ kind: 'user', userId: USER });
    assert.ok(await until(async () => (await probe(gw1, key)) === 401));
    const before = auth.count();
    assert.equal(await probe(gw1, other), 404);
    assert.equal(auth.count(), before, 'the other user is still served from the cache');
  });

  it('an API key revocation is pushed too', async () => {
    const id = randomUUID();
    auth.table.set('key-2', {
      type: 'apikey',
      userId: OTHER,
      role: 'member',
      scopes: ['email:send'],
      apiKeyId: id,
    });
    const key = { authorization: 'Bearer key-2' };
    assert.equal(await probe(gw2, key), 404);
    auth.table.delete('key-2');
    await revoke({ kind: 'apikey', apiKeyId: id });
    assert.ok(await until(async () => (await probe(gw2, key)) === 401));
  });

  it('never keeps a principal past its own expiry', async () => {
    auth.table.set('sess-short', {
      type: 'session',
      userId: OTHER,
      role: 'member',
      scopes: ['email:send'],
      sessionId: randomUUID(),
      expiresAt: new Date(Date.now() + 300).toISOString(),
    });
    const cookie = { cookie: '__Host-sv_session=sess-short' };
    assert.equal(await probe(gw1, cookie), 404);
    auth.table.delete('sess-short');
    await new Promise((r) => setTimeout(r, 400));
    assert.equal(await probe(gw1, cookie), 401, 'expired: asked auth again, which says no');
  });
});

/** A TCP relay to the real Redis that the test can cut and restore on the same port. */
async function redisRelay(port: number) {
  const target = new URL(REDIS_URL);
  const sockets = new Set<net.Socket>();
  let server: net.Server | undefined;
  const up = () =>
    new Promise<void>((resolve) => {
      server = net.createServer((client) => {
        const upstream = net.connect(Number(target.port || 6379), target.hostname);
        sockets.add(client).add(upstream);
        client.pipe(upstream).pipe(client);
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
  return { up, down };
}

describe('a revocation sent while a replica was cut off from Redis', () => {
  const prefix = uniquePrefix('revoke-outage');
  let auth: Awaited<ReturnType<typeof startAuth>>;
  let gw: Gateway;
  let relay: Awaited<ReturnType<typeof redisRelay>>;
  const publisher = testRedis();

  before(async () => {
    auth = await startAuth();
    const port = await freePort();
    relay = await redisRelay(port);
    gw = await startGateway({
      AUTH_URL: auth.url,
      QUEUE_PREFIX: prefix,
      REDIS_URL: `redis://127.0.0.1:${port}`,
      INTROSPECTION_CACHE_TTL_MS: '300000',
    });
  });
  after(async () => {
    await gw.close();
    await relay.down();
    await auth.close();
    await publisher.quit();
    await cleanupRedisPrefix(REDIS_URL, prefix);
  });

  it('is not missed: losing the subscription empties the cache', async () => {
    const sessionId = randomUUID();
    auth.table.set('sess-x', {
      type: 'session',
      userId: USER,
      role: 'member',
      scopes: ['email:send'],
      sessionId,
    });
    const cookie = { cookie: '__Host-sv_session=sess-x' };
    const status = () =>
      call(`${gw.url}/api/emails/${randomUUID()}`, { headers: cookie }).then((r) => r.status);
    // Bounded wait until the gateway's connections through the relay are up and caching.
    let cached = false;
    for (let i = 0; i < 50 && !cached; i++) {
      const first = await status();
      const asked = auth.count();
      // Cached once a second request does not reach auth.
      cached = first === 404 && (await status()) === 404 && auth.count() === asked;
      if (!cached) await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(cached, 'the principal is served from the cache');

    await relay.down();
    auth.table.delete('sess-x');
    // Published on the real Redis: this replica cannot hear it.
    await publisher.publish(
      revocationChannel(prefix),
      JSON.stringify({ kind: 'session', sessionId }),
    );
    await relay.up();
    // Bounded wait until this replica is subscribed and caching again (another session gets cached)…
    auth.table.set('sess-y', {
      type: 'session',
      userId: OTHER,
      role: 'member',
      scopes: ['email:send'],
      sessionId: randomUUID(),
    });
    const other = () =>
      call(`${gw.url}/api/emails/${randomUUID()}`, {
        headers: { cookie: '__Host-sv_session=sess-y' },
      }).then((r) => r.status);
    let live = false;
    for (let i = 0; i < 100 && !live; i++) {
      const first = await other();
      const asked = auth.count();
      live = first === 404 && (await other()) === 404 && auth.count() === asked;
      if (!live) await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(live, 'caching again after the outage');
    // …and the session revoked during the outage was not kept from before it.
    const answer = await status();
    assert.equal(answer, 401, 'auth was asked again and said no');
  });
});
