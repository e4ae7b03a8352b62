// Account routes: register, login, logout, me, and admin role changes.
import type { Router } from 'express';
import { z } from 'zod';
import { Role, SESSION_COOKIE } from '@securevault/contracts';
import { AppError, route, validate } from '@securevault/service-kit';
import {
  NewPassword,
  OfferedPassword,
  hashPassword,
  hmac,
  newSessionToken,
  verifyPassword,
} from '../credentials.ts';
import {
  findUserByEmail,
  findUserById,
  lockActiveAdmins,
  insertUser,
  isUniqueViolation,
  listUsers,
  publicUser,
  setUserDisabled,
  setUserRole,
} from '../db/users.ts';
import {
  insertSession,
  revokeSession,
  revokeSessionByTokenHash,
  revokeUserSessions,
} from '../db/sessions.ts';
import { sessionPrincipal } from '../principals.ts';
import {
  CLEARED_SESSION_COOKIE,
  clientInfo,
  readCookie,
  requirePrincipal,
  sessionCookie,
  userActor,
} from '../request-auth.ts';
import { param, type RouteContext } from './context.ts';

const Email = z
  .string()
  .trim()
  .toLowerCase()
  .max(254, 'must be at most 254 characters')
  .pipe(z.email());

const RegisterBody = z.strictObject({ email: Email, password: NewPassword });
const LoginBody = z.strictObject({ email: Email, password: OfferedPassword });
const RoleBody = z.strictObject({ role: Role });
const StatusBody = z.strictObject({ disabled: z.boolean() });
const UserId = z.uuid('must be a UUID');
const ListQuery = z.strictObject({
  // Postgres text cannot hold NUL (the query would fail: a 500); no email has control characters.
  email: z
    .string()
    .trim()
    .max(254)
    .regex(/^[^\p{Cc}]*$/u, 'must not contain control characters')
    .optional(),
  cursor: z.string().max(200).optional(),
  limit: z.coerce.number().int().min(1).max(100).default(50),
});

/** The opaque cursor of GET /api/auth/users: base64url of "<created_at ISO>|<id>". */
function decodeCursor(cursor: string): { createdAt: Date; id: string } {
  const [at = '', id = ''] = Buffer.from(cursor, 'base64url').toString('utf8').split('|');
  const createdAt = new Date(at);
  // A forged cursor may carry any date JavaScript accepts; Postgres refuses years outside 4713 BC
  // to 294276 AD (a 500), and no account predates 1970 or outlives 9999.
  const ms = createdAt.getTime();
  if (Number.isNaN(ms) || ms < 0 || ms > 253_402_300_799_999 || !UserId.safeParse(id).success) {
    throw new AppError('VALIDATION_FAILED', 'invalid cursor');
  }
  return { createdAt, id };
}

export function accountRoutes(router: Router, ctx: RouteContext): void {
  router.post(
    '/api/auth/register',
    route(async (req, res) => {
      const body = validate(RegisterBody, req.body, 'registration');
      const passwordHash = await hashPassword(body.password);
      const role = ctx.adminEmails.has(body.email) ? 'admin' : 'member';
      let user;
      try {
        user = await insertUser(ctx.db, { email: body.email, password_hash: passwordHash, role });
      } catch (err) {
        if (isUniqueViolation(err))
          throw new AppError('EMAIL_TAKEN', 'an account with this email already exists');
        throw err;
      }
      req.log.info({ userId: user.id, role }, 'user registered');
      await ctx.audit.emit({
        actor: { type: 'user', id: user.id, ...clientInfo(req) },
        action: 'auth.register',
        target: { type: 'user', id: user.id },
        outcome: 'success',
        ownerId: user.id,
        metadata: { role },
      });
      res.status(201).json({ user: publicUser(user) });
    }),
  );

  router.post(
    '/api/auth/login',
    route(async (req, res) => {
      const body = validate(LoginBody, req.body, 'login');
      const client = clientInfo(req);
      const user = await findUserByEmail(ctx.db, body.email);
      // Every path runs one argon2 verification, so timing does not reveal which emails exist.
      const passwordOk = await verifyPassword(
        user?.password_hash ?? (await ctx.dummyHash()),
        body.password,
      );
      const reason = !user
        ? 'unknown_email'
        : !passwordOk
          ? 'wrong_password'
          : user.disabled_at
            ? 'disabled'
            : undefined;
      if (!user || reason) {
        req.log.info({ userId: user?.id, reason }, 'login failed');
        await ctx.audit.emit({
          actor: { type: 'anonymous', id: null, ...client },
          action: 'auth.login.failed',
          outcome: 'failure',
          ownerId: user?.id ?? null,
          metadata: { reason },
        });
        throw new AppError('INVALID_CREDENTIALS', 'the email or password is incorrect');
      }
      const now = ctx.now();
      // A login replaces the session the browser held, if any (no session fixation).
      const previous = readCookie(req, SESSION_COOKIE);
      if (previous) {
        const replaced = await revokeSessionByTokenHash(ctx.db, hmac(ctx.secret, previous), now);
        if (replaced) await ctx.revocations.publish({ kind: 'session', sessionId: replaced });
      }
      const token = newSessionToken();
      const session = await insertSession(ctx.db, {
        user_id: user.id,
        token_hash: hmac(ctx.secret, token),
        created_at: now,
        expires_at: new Date(now.getTime() + ctx.ttlSeconds * 1000),
        last_seen_at: now,
        ip: client.ip ?? null,
        user_agent: client.userAgent ?? null,
      });
      req.log.info({ userId: user.id, sessionId: session.id }, 'login succeeded');
      await ctx.audit.emit({
        actor: { type: 'user', id: user.id, ...client },
        action: 'auth.login.succeeded',
        target: { type: 'session', id: session.id },
        outcome: 'success',
        ownerId: user.id,
      });
      res.setHeader('Set-Cookie', sessionCookie(token, ctx.ttlSeconds));
      res.json({ user: publicUser(user), expiresAt: session.expires_at.toISOString() });
    }),
  );

  router.post(
    '/api/auth/logout',
    route(async (req, res) => {
      const token = readCookie(req, SESSION_COOKIE);
      const principal = token ? await sessionPrincipal(ctx, token) : undefined;
      if (!principal?.sessionId) {
        throw new AppError('UNAUTHENTICATED', 'there is no session to sign out of', {
          headers: { 'Set-Cookie': CLEARED_SESSION_COOKIE },
        });
      }
      await revokeSession(ctx.db, principal.sessionId, ctx.now());
      await ctx.revocations.publish({ kind: 'session', sessionId: principal.sessionId });
      await ctx.audit.emit({
        actor: userActor(principal, clientInfo(req)),
        action: 'auth.logout',
        target: { type: 'session', id: principal.sessionId },
        outcome: 'success',
        ownerId: principal.userId,
      });
      res.setHeader('Set-Cookie', CLEARED_SESSION_COOKIE);
      res.status(204).end();
    }),
  );

  router.get(
    '/api/auth/me',
    route(async (req, res) => {
      const principal = await requirePrincipal(req, ctx);
      const user = await findUserById(ctx.db, principal.userId);
      if (!user) throw new AppError('UNAUTHENTICATED', 'sign in first');
      res.json({
        user: publicUser(user),
        principal: {
          type: principal.type,
          scopes: principal.scopes,
          ...(principal.apiKeyId ? { apiKeyId: principal.apiKeyId } : {}),
        },
      });
    }),
  );

  // Admins' user directory: newest first, filtered by email prefix, keyset-paginated.
  router.get(
    '/api/auth/users',
    route(async (req, res) => {
      const principal = await requirePrincipal(req, ctx);
      if (principal.role !== 'admin' || !principal.scopes.includes('admin')) {
        throw new AppError('FORBIDDEN', 'only admins can list users');
      }
      const query = validate(ListQuery, req.query, 'user list query');
      const after = query.cursor === undefined ? undefined : decodeCursor(query.cursor);
      const rows = await listUsers(ctx.db, {
        ...(query.email ? { emailPrefix: query.email } : {}),
        ...(after ? { after } : {}),
        limit: query.limit + 1,
      });
      const page = rows.slice(0, query.limit);
      const last = page.at(-1);
      res.json({
        items: page.map((u) => ({ ...publicUser(u), disabled: u.disabled_at !== null })),
        nextCursor:
          rows.length > query.limit && last
            ? Buffer.from(`${last.created_at.toISOString()}|${last.id}`).toString('base64url')
            : null,
      });
    }),
  );

  router.patch(
    '/api/auth/users/:id/role',
    route(async (req, res) => {
      const principal = await requirePrincipal(req, ctx);
      if (principal.role !== 'admin' || !principal.scopes.includes('admin')) {
        throw new AppError('FORBIDDEN', 'only admins can change roles');
      }
      const id = validate(UserId, param(req, 'id'), 'user id');
      const { role } = validate(RoleBody, req.body, 'role change');
      const now = ctx.now();
      const outcome = await ctx.db.transaction().execute(async (trx) => {
        const target = await trx
          .selectFrom('auth.users')
          .selectAll()
          .where('id', '=', id)
          .forUpdate()
          .executeTakeFirst();
        if (!target) throw new AppError('NOT_FOUND', 'no such user');
        if (target.role === role) return { user: target, from: target.role, revoked: 0 };
        if (
          target.role === 'admin' &&
          !target.disabled_at &&
          (await lockActiveAdmins(trx)).length <= 1
        ) {
          throw new AppError('CONFLICT', 'the last admin cannot be demoted');
        }
        const user = await setUserRole(trx, id, role, now);
        if (!user) throw new AppError('NOT_FOUND', 'no such user');
        // The role is baked into live sessions' scopes: the user must sign in again.
        const revoked = await revokeUserSessions(trx, id, now);
        return { user, from: target.role, revoked };
      });
      if (outcome.from !== role) {
        await ctx.revocations.publish({ kind: 'user', userId: id });
        req.log.info(
          { userId: id, from: outcome.from, to: role, revokedSessions: outcome.revoked },
          'role changed',
        );
        await ctx.audit.emit({
          actor: userActor(principal, clientInfo(req)),
          action: 'auth.role.changed',
          target: { type: 'user', id },
          outcome: 'success',
          ownerId: id,
          metadata: { from: outcome.from, to: role, revokedSessions: outcome.revoked },
        });
      }
      res.json({ user: publicUser(outcome.user) });
    }),
  );
  // Disabling ends every session and disarms every key of the account at once, on every gateway.
  router.patch(
    '/api/auth/users/:id/status',
    route(async (req, res) => {
      const principal = await requirePrincipal(req, ctx);
      if (principal.role !== 'admin' || !principal.scopes.includes('admin')) {
        throw new AppError('FORBIDDEN', 'only admins can disable accounts');
      }
      const id = validate(UserId, param(req, 'id'), 'user id');
      const { disabled } = validate(StatusBody, req.body, 'status change');
      if (disabled && id === principal.userId) {
        throw new AppError('CONFLICT', 'admins cannot disable their own account');
      }
      const now = ctx.now();
      const outcome = await ctx.db.transaction().execute(async (trx) => {
        const target = await trx
          .selectFrom('auth.users')
          .selectAll()
          .where('id', '=', id)
          .forUpdate()
          .executeTakeFirst();
        if (!target) throw new AppError('NOT_FOUND', 'no such user');
        if (disabled === (target.disabled_at !== null))
          return { user: target, revoked: 0, changed: false };
        if (disabled && target.role === 'admin' && (await lockActiveAdmins(trx)).length <= 1) {
          throw new AppError('CONFLICT', 'the last admin cannot be disabled');
        }
        const user = await setUserDisabled(trx, id, disabled, now);
        if (!user) throw new AppError('NOT_FOUND', 'no such user');
        const revoked = disabled ? await revokeUserSessions(trx, id, now) : 0;
        return { user, revoked, changed: true };
      });
      if (outcome.changed) {
        if (disabled) await ctx.revocations.publish({ kind: 'user', userId: id });
        req.log.info(
          { userId: id, disabled, revokedSessions: outcome.revoked },
          'account status changed',
        );
        await ctx.audit.emit({
          actor: userActor(principal, clientInfo(req)),
          action: disabled ? 'auth.user.disabled' : 'auth.user.enabled',
          target: { type: 'user', id },
          outcome: 'success',
          ownerId: id,
          metadata: { revokedSessions: outcome.revoked },
        });
      }
      res.json({
        user: { ...publicUser(outcome.user), disabled: outcome.user.disabled_at !== null },
      });
    }),
  );
}
