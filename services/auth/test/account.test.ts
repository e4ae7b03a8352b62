// Register, login, me, logout, session expiry and role changes over HTTP.
// Real: Postgres (a fresh database, real migrations), Redis and the BullMQ audit queue, argon2id.
// Stand-ins: none. The app's clock is moved forward to simulate idle time.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { z } from 'zod';
import { SESSION_COOKIE } from '@securevault/contracts';
import { hmac } from '../src/credentials.ts';
import {
  IDLE_SECONDS,
  LoginReply,
  MeReply,
  UserReply,
  SECRET,
  TTL_SECONDS,
  containsNone,
  registerAndLogin,
  startHarness,
  tokenFrom,
  type Harness,
} from './helpers.ts';

const COOKIE_RE = new RegExp(
  `^${SESSION_COOKIE}=[A-Za-z0-9_-]{43}; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=${TTL_SECONDS}$`,
);
const CLEARED = `${SESSION_COOKIE}=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0`;

void describe('accounts and sessions', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness();
  });
  after(async () => {
    await h.close();
  });

  void it('registers, logs in, answers /me and logs out with the exact cookie attributes', async () => {
    const password = 'a very good passphrase';
    const reg = await h.request('POST', '/api/auth/register', {
      body: { email: '  Alice@Example.COM ', password },
      headers: {
        'x-securevault-client-ip': '203.0.113.7',
        'x-securevault-user-agent': 'test-browser/1.0',
      },
    });
    assert.equal(reg.status, 201);
    assert.deepEqual(Object.keys(reg.as(UserReply).user).sort(), [
      'createdAt',
      'email',
      'id',
      'role',
    ]);
    assert.equal(reg.as(UserReply).user.email, 'alice@example.com');
    assert.equal(reg.as(UserReply).user.role, 'member');
    assert.equal(reg.headers.get('cache-control'), 'no-store');

    const row = await h.db
      .selectFrom('auth.users')
      .selectAll()
      .where('id', '=', reg.as(UserReply).user.id)
      .executeTakeFirstOrThrow();
    assert.match(row.password_hash, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    assert.ok(!row.password_hash.includes(password));

    const login = await h.request('POST', '/api/auth/login', {
      body: { email: 'ALICE@example.com', password },
      headers: {
        'x-securevault-client-ip': '203.0.113.7',
        'x-securevault-user-agent': 'test-browser/1.0',
      },
    });
    assert.equal(login.status, 200);
    assert.match(login.headers.get('set-cookie') ?? '', COOKIE_RE);
    assert.equal(login.as(LoginReply).user.id, reg.as(UserReply).user.id);
    const expiresIn = Date.parse(login.as(LoginReply).expiresAt) - Date.now();
    assert.ok(
      expiresIn > (TTL_SECONDS - 60) * 1000 && expiresIn <= TTL_SECONDS * 1000,
      'absolute expiry is the TTL',
    );
    const token = tokenFrom(login);

    const session = await h.db
      .selectFrom('auth.sessions')
      .selectAll()
      .where('user_id', '=', row.id)
      .executeTakeFirstOrThrow();
    assert.equal(session.token_hash, hmac(SECRET, token), 'only the HMAC of the token is stored');
    assert.equal(session.ip, '203.0.113.7');
    assert.equal(session.user_agent, 'test-browser/1.0');

    const me = await h.request('GET', '/api/auth/me', { token });
    assert.equal(me.status, 200);
    assert.deepEqual(me.as(MeReply), {
      user: reg.as(UserReply).user,
      principal: {
        type: 'session',
        scopes: ['email:send', 'ai:generate', 'audit:read', 'stats:read'],
      },
    });

    const second = await h.request('POST', '/api/auth/login', {
      body: { email: 'alice@example.com', password },
    });
    assert.notEqual(tokenFrom(second), token, 'every login issues a new token');

    const logout = await h.request('POST', '/api/auth/logout', { token });
    assert.equal(logout.status, 204);
    assert.equal(logout.headers.get('set-cookie'), CLEARED);
    const revoked = await h.db
      .selectFrom('auth.sessions')
      .select('revoked_at')
      .where('id', '=', session.id)
      .executeTakeFirstOrThrow();
    assert.ok(revoked.revoked_at instanceof Date);

    const after = await h.request('GET', '/api/auth/me', { token });
    assert.equal(after.status, 401);
    assert.equal(after.error().code, 'UNAUTHENTICATED');
    assert.equal(after.headers.get('set-cookie'), CLEARED);
    const again = await h.request('POST', '/api/auth/logout', { token });
    assert.equal(again.status, 401);
    assert.equal((await h.request('POST', '/api/auth/logout')).status, 401);

    const events = await h.auditEvents();
    const mine = events.filter((e) => e.ownerId === row.id);
    assert.deepEqual(
      mine.map((e) => e.action),
      ['auth.register', 'auth.login.succeeded', 'auth.login.succeeded', 'auth.logout'],
    );
    const register = mine[0];
    assert.equal(register?.source, 'auth');
    assert.deepEqual(register?.actor, {
      type: 'user',
      id: row.id,
      ip: '203.0.113.7',
      userAgent: 'test-browser/1.0',
    });
    assert.equal(register?.requestId, reg.headers.get('x-request-id'));
    assert.deepEqual(mine[3]?.target, { type: 'session', id: session.id });
    assert.ok(containsNone(events, [password, token, row.password_hash, session.token_hash]));
  });

  void it('refuses a taken email with 409 EMAIL_TAKEN, whatever its case', async () => {
    await h.request('POST', '/api/auth/register', {
      body: { email: 'bob@example.com', password: 'password-one' },
    });
    const dup = await h.request('POST', '/api/auth/register', {
      body: { email: 'BOB@example.com', password: 'password-two' },
    });
    assert.equal(dup.status, 409);
    assert.equal(dup.error().code, 'EMAIL_TAKEN');
    assert.equal(typeof dup.error().requestId, 'string');
  });

  void it('enforces 8..128 code points, never truncating, and accepts Unicode passwords', async () => {
    const short = await h.request('POST', '/api/auth/register', {
      body: { email: 'p1@example.com', password: 'seven77' },
    });
    assert.equal(short.status, 400);
    assert.equal(short.error().code, 'VALIDATION_FAILED');
    assert.deepEqual(short.error().details, [
      { path: 'password', message: 'must be at least 8 characters' },
    ]);
    const long = await h.request('POST', '/api/auth/register', {
      body: { email: 'p1@example.com', password: 'x'.repeat(129) },
    });
    assert.equal(long.status, 400);
    assert.equal(long.error().details?.[0]?.path, 'password');

    // 8 emoji are 16 UTF-16 units but 8 code points: allowed. 128 emoji: allowed; 129: not.
    assert.equal(
      (
        await h.request('POST', '/api/auth/register', {
          body: { email: 'p2@example.com', password: '🔐'.repeat(8) },
        })
      ).status,
      201,
    );
    assert.equal(
      (
        await h.request('POST', '/api/auth/register', {
          body: { email: 'p3@example.com', password: '🔐'.repeat(129) },
        })
      ).status,
      400,
    );
    const max = 'é'.repeat(127) + 'x';
    assert.equal(
      (
        await h.request('POST', '/api/auth/register', {
          body: { email: 'p4@example.com', password: max },
        })
      ).status,
      201,
    );
    // Not truncated: the same password minus its last character does not log in.
    const truncated = await h.request('POST', '/api/auth/login', {
      body: { email: 'p4@example.com', password: max.slice(0, -1) },
    });
    assert.equal(truncated.status, 401);
    // Composed and decomposed forms of the same text are the same password.
    const composed = 'pässwörd-ünïcode';
    assert.equal(
      (
        await h.request('POST', '/api/auth/register', {
          body: { email: 'p5@example.com', password: composed },
        })
      ).status,
      201,
    );
    const decomposed = await h.request('POST', '/api/auth/login', {
      body: { email: 'p5@example.com', password: composed.normalize('NFD') },
    });
    assert.equal(decomposed.status, 200);
  });

  void it('answers wrong password, unknown email and disabled user alike: 401 INVALID_CREDENTIALS', async () => {
    const { userId } = await registerAndLogin(h, 'carol@example.com', 'carol-password');
    const wrong = await h.request('POST', '/api/auth/login', {
      body: { email: 'carol@example.com', password: 'not-her-password' },
    });
    const unknown = await h.request('POST', '/api/auth/login', {
      body: { email: 'nobody@example.com', password: 'whatever-password' },
    });
    await h.db
      .updateTable('auth.users')
      .set({ disabled_at: new Date() })
      .where('id', '=', userId)
      .execute();
    const disabled = await h.request('POST', '/api/auth/login', {
      body: { email: 'carol@example.com', password: 'carol-password' },
    });
    for (const reply of [wrong, unknown, disabled]) {
      assert.equal(reply.status, 401);
      assert.equal(reply.headers.get('set-cookie'), null);
      assert.deepEqual(Object.keys(reply.error()).sort(), ['code', 'message', 'requestId']);
      assert.equal(reply.error().code, 'INVALID_CREDENTIALS');
      assert.equal(reply.error().message, wrong.error().message);
    }

    const failed = (await h.auditEvents()).filter((e) => e.action === 'auth.login.failed');
    const byReason = new Map(failed.map((e) => [e.metadata.reason, e]));
    assert.equal(byReason.get('wrong_password')?.ownerId, userId);
    assert.equal(byReason.get('disabled')?.ownerId, userId);
    assert.equal(byReason.get('unknown_email')?.ownerId, null);
    for (const e of failed) {
      assert.equal(e.actor.type, 'anonymous');
      assert.equal(e.outcome, 'failure');
      assert.ok(
        containsNone(e, [
          'carol@example.com',
          'nobody@example.com',
          'not-her-password',
          'carol-password',
        ]),
      );
    }
  });

  void it('expires sessions absolutely and after idle time, refreshing last_seen_at at most once a minute', async () => {
    const { token } = await registerAndLogin(h, 'dave@example.com');
    const hash = hmac(SECRET, token);
    const seen = async () =>
      (
        await h.db
          .selectFrom('auth.sessions')
          .select('last_seen_at')
          .where('token_hash', '=', hash)
          .executeTakeFirstOrThrow()
      ).last_seen_at;
    const first = await seen();
    assert.equal((await h.request('GET', '/api/auth/me', { token })).status, 200);
    assert.equal((await seen()).getTime(), first.getTime(), 'not rewritten within a minute');

    h.advance(IDLE_SECONDS * 1000 - 120_000);
    assert.equal(
      (await h.request('GET', '/api/auth/me', { token })).status,
      200,
      'still inside the idle window',
    );
    assert.ok((await seen()).getTime() > first.getTime(), 'refreshed after a minute');
    h.advance(IDLE_SECONDS * 1000 + 1000);
    const idle = await h.request('GET', '/api/auth/me', { token });
    assert.equal(idle.status, 401);
    assert.equal(idle.error().code, 'UNAUTHENTICATED');

    const fresh = await h.request('POST', '/api/auth/login', {
      body: { email: 'dave@example.com', password: 'correct horse battery' },
    });
    const freshToken = tokenFrom(fresh);
    assert.equal((await h.request('GET', '/api/auth/me', { token: freshToken })).status, 200);
    await h.db
      .updateTable('auth.sessions')
      .set({ expires_at: new Date(Date.now() - 1000) })
      .where('token_hash', '=', hmac(SECRET, freshToken))
      .execute();
    assert.equal(
      (await h.request('GET', '/api/auth/me', { token: freshToken })).status,
      401,
      'past the absolute expiry',
    );
  });

  void it('revokes the session a browser held when it logs in again', async () => {
    const { token } = await registerAndLogin(h, 'erin@example.com');
    const again = await h.request('POST', '/api/auth/login', {
      token,
      body: { email: 'erin@example.com', password: 'correct horse battery' },
    });
    assert.equal(again.status, 200);
    assert.equal((await h.request('GET', '/api/auth/me', { token })).status, 401);
    assert.equal((await h.request('GET', '/api/auth/me', { token: tokenFrom(again) })).status, 200);
  });

  void it("lets only admins change roles, and a role change ends the target's sessions", async () => {
    const admin = await registerAndLogin(h, 'Root@Example.com');
    const me = await h.request('GET', '/api/auth/me', { token: admin.token });
    assert.equal(me.as(MeReply).user.role, 'admin', 'ADMIN_EMAILS makes the first admin');
    assert.ok(me.as(MeReply).principal.scopes.includes('admin'));
    const member = await registerAndLogin(h, 'frank@example.com');
    const other = await registerAndLogin(h, 'grace@example.com');

    const denied = await h.request('PATCH', `/api/auth/users/${other.userId}/role`, {
      token: member.token,
      body: { role: 'admin' },
    });
    assert.equal(denied.status, 403);
    assert.equal(denied.error().code, 'FORBIDDEN');
    assert.equal(
      (
        await h.request('PATCH', `/api/auth/users/${other.userId}/role`, {
          body: { role: 'admin' },
        })
      ).status,
      401,
    );

    const promoted = await h.request('PATCH', `/api/auth/users/${member.userId}/role`, {
      token: admin.token,
      body: { role: 'admin' },
    });
    assert.equal(promoted.status, 200);
    assert.equal(promoted.as(UserReply).user.role, 'admin');
    assert.equal(promoted.as(UserReply).user.id, member.userId);
    assert.equal(
      (await h.request('GET', '/api/auth/me', { token: member.token })).status,
      401,
      'must sign in again',
    );

    const same = await h.request('PATCH', `/api/auth/users/${member.userId}/role`, {
      token: admin.token,
      body: { role: 'admin' },
    });
    assert.equal(same.status, 200);

    const bad = [
      await h.request('PATCH', '/api/auth/users/not-a-uuid/role', {
        token: admin.token,
        body: { role: 'admin' },
      }),
      await h.request('PATCH', `/api/auth/users/${member.userId}/role`, {
        token: admin.token,
        body: { role: 'owner' },
      }),
      await h.request('PATCH', `/api/auth/users/${member.userId}/role`, {
        token: admin.token,
        body: { role: 'member', x: 1 },
      }),
    ];
    for (const reply of bad) {
      assert.equal(reply.status, 400);
      assert.equal(reply.error().code, 'VALIDATION_FAILED');
    }
    const missing = await h.request(
      'PATCH',
      '/api/auth/users/00000000-0000-4000-8000-000000000000/role',
      {
        token: admin.token,
        body: { role: 'admin' },
      },
    );
    assert.equal(missing.status, 404);
    assert.equal(missing.error().code, 'NOT_FOUND');

    // Demote the promoted admin, then the last admin may not demote themselves.
    const demoted = await h.request('PATCH', `/api/auth/users/${member.userId}/role`, {
      token: admin.token,
      body: { role: 'member' },
    });
    assert.equal(demoted.status, 200);
    const last = await h.request('PATCH', `/api/auth/users/${admin.userId}/role`, {
      token: admin.token,
      body: { role: 'member' },
    });
    assert.equal(last.status, 409);
    assert.equal(last.error().code, 'CONFLICT');

    const changes = (await h.auditEvents()).filter((e) => e.action === 'auth.role.changed');
    assert.equal(changes.length, 2, 'a no-op change records nothing');
    assert.equal(changes[0]?.ownerId, member.userId);
    assert.deepEqual(changes[0]?.actor.id, admin.userId);
    assert.deepEqual(changes[0]?.metadata, { from: 'member', to: 'admin', revokedSessions: 1 });
  });

  void it('answers bad input on every account endpoint with a 4xx code and no stack', async () => {
    const { token } = await registerAndLogin(h, 'heidi@example.com');
    const cases: Array<[string, string, Parameters<Harness['request']>[2], number, string]> = [
      [
        'POST',
        '/api/auth/register',
        { body: { email: 'x@example.com' } },
        400,
        'VALIDATION_FAILED',
      ],
      [
        'POST',
        '/api/auth/register',
        { body: { email: 'not-an-email', password: 'password123' } },
        400,
        'VALIDATION_FAILED',
      ],
      [
        'POST',
        '/api/auth/register',
        { body: { email: 'x@example.com', password: 'password123', role: 'admin' } },
        400,
        'VALIDATION_FAILED',
      ],
      [
        'POST',
        '/api/auth/register',
        { body: { email: 'x@example.com', password: 12345678 } },
        400,
        'VALIDATION_FAILED',
      ],
      ['POST', '/api/auth/register', {}, 400, 'VALIDATION_FAILED'],
      ['POST', '/api/auth/register', { body: ['x'] }, 400, 'VALIDATION_FAILED'],
      ['POST', '/api/auth/register', { rawBody: '{"email":' }, 400, 'MALFORMED_JSON'],
      [
        'POST',
        '/api/auth/register',
        { rawBody: 'email=x', contentType: 'application/x-www-form-urlencoded' },
        415,
        'UNSUPPORTED_MEDIA_TYPE',
      ],
      [
        'POST',
        '/api/auth/register',
        { rawBody: JSON.stringify({ email: 'x@example.com', password: 'p'.repeat(20_000) }) },
        413,
        'PAYLOAD_TOO_LARGE',
      ],
      [
        'POST',
        '/api/auth/login',
        { body: { email: 'heidi@example.com' } },
        400,
        'VALIDATION_FAILED',
      ],
      [
        'POST',
        '/api/auth/login',
        { body: { email: 'heidi@example.com', password: '' } },
        400,
        'VALIDATION_FAILED',
      ],
      [
        'POST',
        '/api/auth/login',
        { body: { email: 'heidi@example.com', password: 'x'.repeat(200) } },
        400,
        'VALIDATION_FAILED',
      ],
      ['GET', '/api/auth/me', { token: 'garbage' }, 401, 'UNAUTHENTICATED'],
      [
        'GET',
        '/api/auth/me',
        { headers: { authorization: 'Basic dXNlcjpwYXNz' } },
        401,
        'UNAUTHENTICATED',
      ],
      ['GET', '/api/auth/me', { bearer: 'svk_' + 'A'.repeat(40) }, 401, 'UNAUTHENTICATED'],
      ['GET', '/api/auth/me', {}, 401, 'UNAUTHENTICATED'],
      ['GET', '/api/auth/login', {}, 405, 'METHOD_NOT_ALLOWED'],
      ['DELETE', '/api/auth/me', { token }, 405, 'METHOD_NOT_ALLOWED'],
      ['GET', '/api/auth/nope', {}, 404, 'NOT_FOUND'],
    ];
    for (const [method, path, options, status, code] of cases) {
      const reply = await h.request(method, path, options);
      assert.equal(reply.status, status, `${method} ${path} ${JSON.stringify(options)}`);
      assert.equal(reply.error().code, code, `${method} ${path}`);
      assert.equal(typeof reply.error().message, 'string');
      assert.ok(!JSON.stringify(reply.body).includes('    at '), 'no stack trace');
    }
    const unauth = await h.request('GET', '/api/auth/me');
    assert.match(unauth.headers.get('www-authenticate') ?? '', /^Bearer/);
    assert.equal((await h.request('GET', '/api/auth/login')).headers.get('allow'), 'POST');
  });
});

void describe('the admins’ user directory', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness();
  });
  after(async () => {
    await h.close();
  });

  const Page = z.strictObject({
    items: z.array(
      z.strictObject({
        id: z.uuid(),
        email: z.string(),
        role: z.enum(['admin', 'member']),
        createdAt: z.string(),
        disabled: z.boolean(),
      }),
    ),
    nextCursor: z.string().nullable(),
  });

  void it('lists users newest first, page by page, filtered by email prefix, for admins only', async () => {
    const admin = await registerAndLogin(h, 'root@example.com');
    const members = [];
    for (const name of ['dir.ann', 'dir.bob', 'dir.cat', 'other.dan', 'dir_x']) {
      members.push(await registerAndLogin(h, `${name}@example.com`));
    }
    await h.request('PATCH', `/api/auth/users/${members[1]?.userId}/status`, {
      token: admin.token,
      body: { disabled: true },
    });

    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const query: string = cursor ? `&cursor=${cursor}` : '';
      const r = await h.request('GET', `/api/auth/users?limit=2${query}`, { token: admin.token });
      assert.equal(r.status, 200);
      const page = r.as(Page);
      assert.ok(page.items.length <= 2);
      seen.push(...page.items.map((u) => u.email));
      cursor = page.nextCursor;
    } while (cursor);
    assert.deepEqual(seen, [
      'dir_x@example.com',
      'other.dan@example.com',
      'dir.cat@example.com',
      'dir.bob@example.com',
      'dir.ann@example.com',
      'root@example.com',
    ]);

    const filtered = (
      await h.request('GET', '/api/auth/users?email=DIR.', { token: admin.token })
    ).as(Page);
    assert.deepEqual(
      filtered.items.map((u) => [u.email, u.disabled]),
      [
        ['dir.cat@example.com', false],
        ['dir.bob@example.com', true],
        ['dir.ann@example.com', false],
      ],
      'the prefix is literal: dir_x does not match "dir."',
    );

    const denied = await h.request('GET', '/api/auth/users', { token: members[0]?.token });
    assert.equal(denied.status, 403);
    assert.equal(denied.error().code, 'FORBIDDEN');
    assert.equal((await h.request('GET', '/api/auth/users')).status, 401);
    for (const bad of ['cursor=bm90LWEtY3Vyc29y', 'limit=0', 'limit=101', 'role=admin']) {
      const r = await h.request('GET', `/api/auth/users?${bad}`, { token: admin.token });
      assert.equal(r.status, 400, bad);
      assert.equal(r.error().code, 'VALIDATION_FAILED');
    }
  });
});
