// API keys (create, list, revoke, scopes) and the gateway's introspection endpoint over HTTP.
// Real: Postgres (a fresh database, real migrations), Redis and the BullMQ audit queue, argon2id.
// Stand-ins: none. Expiry is simulated by moving expires_at into the past.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { IntrospectResponse } from '@securevault/contracts';
import { hmac } from '../src/credentials.ts';
import {
  ApiKeyCreated,
  ApiKeyList,
  MeReply,
  SECRET,
  containsNone,
  registerAndLogin,
  startHarness,
  type Harness,
} from './helpers.ts';

void describe('API keys and introspection', () => {
  let h: Harness;
  let member: { userId: string; token: string };
  let admin: { userId: string; token: string };
  before(async () => {
    h = await startHarness();
    member = await registerAndLogin(h, 'member@example.com');
    admin = await registerAndLogin(h, 'root@example.com');
  });
  after(async () => {
    await h.close();
  });

  const introspect = async (body: unknown) => {
    const reply = await h.request('POST', '/internal/introspect', { body });
    assert.equal(reply.status, 200);
    return IntrospectResponse.parse(reply.body);
  };

  void it('creates a key shown once, stores only its HMAC, lists and revokes it', async () => {
    const created = await h.request('POST', '/api/auth/api-keys', {
      token: member.token,
      body: { name: 'ci pipeline', scopes: ['email:send', 'ai:generate'] },
    });
    assert.equal(created.status, 201);
    assert.equal(created.headers.get('cache-control'), 'no-store');
    const { id, key } = created.as(ApiKeyCreated);
    assert.match(key, /^svk_[A-Za-z0-9_-]{40}$/);
    assert.equal(created.as(ApiKeyCreated).keyPrefix, key.slice(0, 12));
    assert.deepEqual(created.as(ApiKeyCreated).scopes, ['email:send', 'ai:generate']);
    assert.equal(created.as(ApiKeyCreated).expiresAt, null);

    const row = await h.db
      .selectFrom('auth.api_keys')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirstOrThrow();
    assert.equal(row.key_hash, hmac(SECRET, key));
    assert.ok(containsNone(row, [key]), 'the row does not hold the key');

    const me = await h.request('GET', '/api/auth/me', { bearer: key });
    assert.equal(me.status, 200);
    assert.deepEqual(me.as(MeReply).principal, {
      type: 'apikey',
      scopes: ['email:send', 'ai:generate'],
      apiKeyId: id,
    });
    const used = await h.db
      .selectFrom('auth.api_keys')
      .select('last_used_at')
      .where('id', '=', id)
      .executeTakeFirstOrThrow();
    assert.ok(used.last_used_at instanceof Date, 'last_used_at is recorded');

    const list = await h.request('GET', '/api/auth/api-keys', { token: member.token });
    assert.equal(list.status, 200);
    assert.equal(list.as(ApiKeyList).items.length, 1);
    const item = list.as(ApiKeyList).items[0];
    assert.deepEqual(Object.keys(item ?? {}).sort(), [
      'createdAt',
      'expiresAt',
      'id',
      'keyPrefix',
      'lastUsedAt',
      'name',
      'revoked',
      'revokedAt',
      'scopes',
    ]);
    assert.ok(containsNone(list.as(ApiKeyList), [key, row.key_hash]), 'never the key or its hash');

    // Another user's key is not found, not forbidden.
    const theirs = await h.request('DELETE', `/api/auth/api-keys/${id}`, { token: admin.token });
    assert.equal(theirs.status, 404);
    assert.equal(theirs.error().code, 'NOT_FOUND');
    const adminList = await h.request('GET', '/api/auth/api-keys', { token: admin.token });
    assert.deepEqual(adminList.as(ApiKeyList).items, [], "only the caller's own keys are listed");

    // A key without the admin scope cannot manage keys.
    const byKey = await h.request('GET', '/api/auth/api-keys', { bearer: key });
    assert.equal(byKey.status, 403);
    assert.equal(byKey.error().code, 'INSUFFICIENT_SCOPE');

    const del = await h.request('DELETE', `/api/auth/api-keys/${id}`, { token: member.token });
    assert.equal(del.status, 204);
    assert.equal(
      (await h.request('DELETE', `/api/auth/api-keys/${id}`, { token: member.token })).status,
      204,
      'idempotent',
    );
    assert.equal((await h.request('GET', '/api/auth/me', { bearer: key })).status, 401);
    const revoked = await h.request('GET', '/api/auth/api-keys', { token: member.token });
    assert.equal(revoked.as(ApiKeyList).items[0]?.revoked, true);
    assert.equal(typeof revoked.as(ApiKeyList).items[0]?.revokedAt, 'string');

    const events = (await h.auditEvents()).filter((e) => e.action.startsWith('apikey.'));
    assert.deepEqual(
      events.map((e) => e.action),
      ['apikey.created', 'apikey.revoked'],
    );
    assert.deepEqual(events[0]?.target, { type: 'apikey', id });
    assert.deepEqual(events[0]?.metadata, {
      name: 'ci pipeline',
      scopes: ['email:send', 'ai:generate'],
    });
    assert.equal(events[0]?.ownerId, member.userId);
    assert.equal(events[0]?.actor.id, member.userId);
    assert.ok(containsNone(await h.auditEvents(), [key, row.key_hash, member.token]));
  });

  void it('applies the scope rules: members all but admin, admins any, admin keys manage keys', async () => {
    const denied = await h.request('POST', '/api/auth/api-keys', {
      token: member.token,
      body: { name: 'too much', scopes: ['email:send', 'admin'] },
    });
    assert.equal(denied.status, 403);
    assert.equal(denied.error().code, 'INSUFFICIENT_SCOPE');

    const adminKey = await h.request('POST', '/api/auth/api-keys', {
      token: admin.token,
      body: { name: 'ops', scopes: ['admin', 'audit:read'] },
    });
    assert.equal(adminKey.status, 201);
    // An admin-scoped key can manage keys and change roles, but cannot grant beyond itself.
    const viaKey = await h.request('POST', '/api/auth/api-keys', {
      bearer: adminKey.as(ApiKeyCreated).key,
      body: { name: 'child', scopes: ['audit:read'] },
    });
    assert.equal(viaKey.status, 201);
    const beyond = await h.request('POST', '/api/auth/api-keys', {
      bearer: adminKey.as(ApiKeyCreated).key,
      body: { name: 'child', scopes: ['email:send'] },
    });
    assert.equal(beyond.status, 403);
    const events = await h.auditEvents();
    const created = events.find(
      (e) => e.action === 'apikey.created' && e.target?.id === viaKey.as(ApiKeyCreated).id,
    );
    assert.equal(created?.actor.apiKeyId, adminKey.as(ApiKeyCreated).id);
    assert.equal(
      (await h.request('GET', '/api/auth/api-keys', { bearer: adminKey.as(ApiKeyCreated).key })).as(
        ApiKeyList,
      ).items.length,
      2,
    );

    const introspected = await introspect({ apiKey: adminKey.as(ApiKeyCreated).key });
    assert.ok(introspected.active);
    assert.deepEqual(introspected.principal.scopes, ['admin', 'audit:read']);
    assert.equal(introspected.principal.role, 'admin');
  });

  void it('honours expiresAt and refuses past or malformed expiry', async () => {
    const past = await h.request('POST', '/api/auth/api-keys', {
      token: member.token,
      body: {
        name: 'old',
        scopes: ['stats:read'],
        expiresAt: new Date(Date.now() - 60_000).toISOString(),
      },
    });
    assert.equal(past.status, 400);
    assert.deepEqual(past.error().details, [
      { path: 'expiresAt', message: 'must be in the future' },
    ]);
    const malformed = await h.request('POST', '/api/auth/api-keys', {
      token: member.token,
      body: { name: 'old', scopes: ['stats:read'], expiresAt: 'tomorrow' },
    });
    assert.equal(malformed.status, 400);

    const expiresAt = new Date(Date.now() + 3_600_000).toISOString();
    const key = await h.request('POST', '/api/auth/api-keys', {
      token: member.token,
      body: { name: 'short-lived', scopes: ['stats:read'], expiresAt },
    });
    assert.equal(key.status, 201);
    assert.equal(key.as(ApiKeyCreated).expiresAt, expiresAt);
    assert.equal((await introspect({ apiKey: key.as(ApiKeyCreated).key })).active, true);
    // Time passes (by the row, so the sessions other tests hold do not idle out meanwhile).
    await h.db
      .updateTable('auth.api_keys')
      .set({ expires_at: new Date(Date.now() - 1000) })
      .where('id', '=', key.as(ApiKeyCreated).id)
      .execute();
    assert.deepEqual(await introspect({ apiKey: key.as(ApiKeyCreated).key }), { active: false });
    assert.equal(
      (await h.request('GET', '/api/auth/me', { bearer: key.as(ApiKeyCreated).key })).status,
      401,
    );
  });

  void it('introspects sessions and keys, and answers inactive for revoked, disabled and garbage', async () => {
    const fresh = await registerAndLogin(h, 'ivan@example.com');
    const session = await introspect({ sessionToken: fresh.token });
    assert.ok(session.active);
    assert.equal(session.principal.type, 'session');
    assert.equal(session.principal.userId, fresh.userId);
    assert.equal(session.principal.role, 'member');
    assert.deepEqual(session.principal.scopes, [
      'email:send',
      'ai:generate',
      'audit:read',
      'stats:read',
    ]);
    assert.equal(typeof session.principal.sessionId, 'string');

    const adminSession = await introspect({ sessionToken: admin.token });
    assert.ok(adminSession.active);
    assert.ok(adminSession.principal.scopes.includes('admin'));

    const created = await h.request('POST', '/api/auth/api-keys', {
      token: fresh.token,
      body: { name: 'k', scopes: ['ai:generate'] },
    });
    const viaKey = await introspect({ apiKey: created.as(ApiKeyCreated).key });
    assert.ok(viaKey.active);
    assert.deepEqual(viaKey.principal, {
      type: 'apikey',
      userId: fresh.userId,
      role: 'member',
      scopes: ['ai:generate'],
      apiKeyId: created.as(ApiKeyCreated).id,
    });

    for (const garbage of [
      { sessionToken: 'nope' },
      { sessionToken: 'A'.repeat(43) },
      { apiKey: 'svk_short' },
      { apiKey: `svk_${'B'.repeat(40)}` },
    ]) {
      assert.deepEqual(await introspect(garbage), { active: false });
    }

    // A disabled user's sessions and keys stop at once.
    await h.db
      .updateTable('auth.users')
      .set({ disabled_at: new Date() })
      .where('id', '=', fresh.userId)
      .execute();
    assert.deepEqual(await introspect({ sessionToken: fresh.token }), { active: false });
    assert.deepEqual(await introspect({ apiKey: created.as(ApiKeyCreated).key }), {
      active: false,
    });
    await h.db
      .updateTable('auth.users')
      .set({ disabled_at: null })
      .where('id', '=', fresh.userId)
      .execute();

    assert.equal((await h.request('POST', '/api/auth/logout', { token: fresh.token })).status, 204);
    assert.deepEqual(await introspect({ sessionToken: fresh.token }), { active: false });

    for (const body of [
      {},
      { sessionToken: 'a', apiKey: 'b' },
      { sessionToken: 42 },
      { apiKey: 'x'.repeat(600) },
    ]) {
      const reply = await h.request('POST', '/internal/introspect', { body });
      assert.equal(reply.status, 400);
      assert.equal(reply.error().code, 'VALIDATION_FAILED');
    }
  });

  void it('demoting an admin disarms the admin scope on their keys', async () => {
    const second = await registerAndLogin(h, 'judy@example.com');
    await h.request('PATCH', `/api/auth/users/${second.userId}/role`, {
      token: admin.token,
      body: { role: 'admin' },
    });
    const relogin = await h.request('POST', '/api/auth/login', {
      body: { email: 'judy@example.com', password: 'correct horse battery' },
    });
    const token =
      /__Host-sv_session=([^;]+)/.exec(relogin.headers.get('set-cookie') ?? '')?.[1] ?? '';
    const key = await h.request('POST', '/api/auth/api-keys', {
      token,
      body: { name: 'ops', scopes: ['admin', 'stats:read'] },
    });
    assert.equal(key.status, 201);
    // The admin key may change roles: demote someone else's role back and forth via the key.
    const viaKey = await h.request('PATCH', `/api/auth/users/${member.userId}/role`, {
      bearer: key.as(ApiKeyCreated).key,
      body: { role: 'member' },
    });
    assert.equal(viaKey.status, 200);
    await h.request('PATCH', `/api/auth/users/${second.userId}/role`, {
      token: admin.token,
      body: { role: 'member' },
    });
    const after = await introspect({ apiKey: key.as(ApiKeyCreated).key });
    assert.ok(after.active);
    assert.deepEqual(after.principal.scopes, ['stats:read']);
    const denied = await h.request('PATCH', `/api/auth/users/${member.userId}/role`, {
      bearer: key.as(ApiKeyCreated).key,
      body: { role: 'member' },
    });
    assert.equal(denied.status, 403);
  });

  void it('answers bad input on the key endpoints with 4xx codes', async () => {
    const cases: Array<[string, string, Parameters<Harness['request']>[2], number, string]> = [
      [
        'POST',
        '/api/auth/api-keys',
        { body: { name: 'x', scopes: ['email:send'] } },
        401,
        'UNAUTHENTICATED',
      ],
      [
        'POST',
        '/api/auth/api-keys',
        { token: member.token, body: { name: '', scopes: ['email:send'] } },
        400,
        'VALIDATION_FAILED',
      ],
      [
        'POST',
        '/api/auth/api-keys',
        { token: member.token, body: { name: 'n'.repeat(101), scopes: ['email:send'] } },
        400,
        'VALIDATION_FAILED',
      ],
      [
        'POST',
        '/api/auth/api-keys',
        { token: member.token, body: { name: 'x', scopes: [] } },
        400,
        'VALIDATION_FAILED',
      ],
      [
        'POST',
        '/api/auth/api-keys',
        { token: member.token, body: { name: 'x', scopes: ['email:send', 'email:send'] } },
        400,
        'VALIDATION_FAILED',
      ],
      [
        'POST',
        '/api/auth/api-keys',
        { token: member.token, body: { name: 'x', scopes: ['root'] } },
        400,
        'VALIDATION_FAILED',
      ],
      [
        'POST',
        '/api/auth/api-keys',
        { token: member.token, body: { name: 'x', scopes: ['email:send'], key: 'svk_mine' } },
        400,
        'VALIDATION_FAILED',
      ],
      ['GET', '/api/auth/api-keys', {}, 401, 'UNAUTHENTICATED'],
      [
        'DELETE',
        '/api/auth/api-keys/not-a-uuid',
        { token: member.token },
        400,
        'VALIDATION_FAILED',
      ],
      [
        'DELETE',
        '/api/auth/api-keys/00000000-0000-4000-8000-000000000000',
        { token: member.token },
        404,
        'NOT_FOUND',
      ],
      [
        'DELETE',
        '/api/auth/api-keys/00000000-0000-4000-8000-000000000000',
        {},
        401,
        'UNAUTHENTICATED',
      ],
      ['PUT', '/api/auth/api-keys', { token: member.token }, 405, 'METHOD_NOT_ALLOWED'],
      ['GET', '/internal/introspect', {}, 405, 'METHOD_NOT_ALLOWED'],
    ];
    for (const [method, path, options, status, code] of cases) {
      const reply = await h.request(method, path, options);
      assert.equal(reply.status, status, `${method} ${path} ${JSON.stringify(options)}`);
      assert.equal(reply.error().code, code);
      assert.ok(!JSON.stringify(reply.body).includes('    at '));
    }
  });
});
