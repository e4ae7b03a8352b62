// Auth announces every revocation on Redis pub/sub, and account disabling ends access at once.
// Real: the auth app on a fresh Postgres database, real Redis (a subscriber on the contract channel).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { RevocationEvent, revocationChannel } from '@securevault/contracts';
import { REDIS_URL, registerAndLogin, startHarness, tokenFrom, type Harness } from './helpers.ts';

const PASSWORD = 'correct horse battery';

void describe('revocations and account disabling', () => {
  let h: Harness;
  let sub: Redis;
  const received: RevocationEvent[] = [];

  before(async () => {
    h = await startHarness({ adminEmails: ['root@example.com'] });
    sub = new Redis(REDIS_URL);
    sub.on('message', (_c: string, m: string) =>
      received.push(RevocationEvent.parse(JSON.parse(m))),
    );
    await sub.subscribe(revocationChannel(h.prefix));
  });
  after(async () => {
    await sub.quit();
    await h.close();
  });

  /** Bounded wait for a published event to arrive. */
  async function next(): Promise<RevocationEvent> {
    for (let i = 0; i < 40 && received.length === 0; i++)
      await new Promise((r) => setTimeout(r, 25));
    const event = received.shift();
    assert.ok(event, 'a revocation was published');
    return event;
  }

  void it('publishes the session on logout, and the old session on a new login', async () => {
    const a = await registerAndLogin(h, 'a@example.com');
    const me = await h.request('GET', '/api/auth/me', { token: a.token });
    assert.equal(me.status, 200);
    const again = await h.request('POST', '/api/auth/login', {
      body: { email: 'a@example.com', password: PASSWORD },
      token: a.token,
    });
    assert.equal(again.status, 200);
    const replaced = await next();
    assert.equal(replaced.kind, 'session');
    const out = await h.request('POST', '/api/auth/logout', { token: tokenFrom(again) });
    assert.equal(out.status, 204);
    const loggedOut = await next();
    assert.equal(loggedOut.kind, 'session');
    assert.notEqual(
      (loggedOut as { sessionId: string }).sessionId,
      (replaced as { sessionId: string }).sessionId,
    );
  });

  void it('publishes the key on revocation and the user on a role change', async () => {
    const root = await registerAndLogin(h, 'root@example.com');
    const b = await registerAndLogin(h, 'b@example.com');
    const created = await h.request('POST', '/api/auth/api-keys', {
      token: b.token,
      body: { name: 'ci', scopes: ['email:send'] },
    });
    const { id } = created.body as { id: string };
    assert.equal(
      (await h.request('DELETE', `/api/auth/api-keys/${id}`, { token: b.token })).status,
      204,
    );
    assert.deepEqual(await next(), { kind: 'apikey', apiKeyId: id });
    const role = await h.request('PATCH', `/api/auth/users/${b.userId}/role`, {
      token: root.token,
      body: { role: 'admin' },
    });
    assert.equal(role.status, 200);
    assert.deepEqual(await next(), { kind: 'user', userId: b.userId });
  });

  void it('disabling an account ends its sessions and keys at once, refuses sign-in, and is audited', async () => {
    const member = await registerAndLogin(h, 'm@example.com');
    const rootLogin = await h.request('POST', '/api/auth/login', {
      body: { email: 'root@example.com', password: PASSWORD },
    });
    const admin = tokenFrom(rootLogin);
    received.length = 0;
    const c = await registerAndLogin(h, 'c@example.com');
    const key = await h.request('POST', '/api/auth/api-keys', {
      token: c.token,
      body: { name: 'k', scopes: ['email:send'] },
    });
    const apiKey = (key.body as { key: string }).key;

    const forbidden = await h.request('PATCH', `/api/auth/users/${c.userId}/status`, {
      token: member.token,
      body: { disabled: true },
    });
    assert.equal(forbidden.status, 403, 'members cannot disable accounts');

    const off = await h.request('PATCH', `/api/auth/users/${c.userId}/status`, {
      token: admin,
      body: { disabled: true },
    });
    assert.equal(off.status, 200);
    assert.equal((off.body as { user: { disabled: boolean } }).user.disabled, true);
    assert.deepEqual(await next(), { kind: 'user', userId: c.userId });
    assert.equal((await h.request('GET', '/api/auth/me', { token: c.token })).status, 401);
    assert.equal((await h.request('GET', '/api/auth/me', { bearer: apiKey })).status, 401);
    const login = await h.request('POST', '/api/auth/login', {
      body: { email: 'c@example.com', password: PASSWORD },
    });
    assert.equal(login.status, 401);
    assert.equal(login.error().code, 'INVALID_CREDENTIALS', 'the same generic answer');

    const on = await h.request('PATCH', `/api/auth/users/${c.userId}/status`, {
      token: admin,
      body: { disabled: false },
    });
    assert.equal(on.status, 200);
    const back = await h.request('POST', '/api/auth/login', {
      body: { email: 'c@example.com', password: PASSWORD },
    });
    assert.equal(back.status, 200);

    const actions = (await h.auditEvents()).map((e) => e.action);
    assert.ok(actions.includes('auth.user.disabled'));
    assert.ok(actions.includes('auth.user.enabled'));
  });

  void it('refuses disabling oneself', async () => {
    const rootLogin = await h.request('POST', '/api/auth/login', {
      body: { email: 'root@example.com', password: PASSWORD },
    });
    const me = await h.request('GET', '/api/auth/me', { token: tokenFrom(rootLogin) });
    const id = (me.body as { user: { id: string } }).user.id;
    const self = await h.request('PATCH', `/api/auth/users/${id}/status`, {
      token: tokenFrom(rootLogin),
      body: { disabled: true },
    });
    assert.equal(self.status, 409);
  });
});
