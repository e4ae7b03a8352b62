// auth.sessions: browser sessions, found by the HMAC of their token, with absolute and idle expiry.
import type { Generated, Insertable, Selectable, Updateable } from 'kysely';
import type { Role } from '@securevault/contracts';
import type { Db } from './database.ts';

export interface SessionsTable {
  id: Generated<string>;
  user_id: string;
  token_hash: string;
  created_at: Generated<Date>;
  expires_at: Date;
  last_seen_at: Date;
  revoked_at: Date | null;
  ip: string | null;
  user_agent: string | null;
}

export type Session = Selectable<SessionsTable>;
export type NewSession = Insertable<SessionsTable>;
export type SessionUpdate = Updateable<SessionsTable>;

export interface ActiveSession {
  id: string;
  user_id: string;
  last_seen_at: Date;
  expires_at: Date;
  role: Role;
}

export async function insertSession(db: Db, session: NewSession): Promise<Session> {
  return db.insertInto('auth.sessions').values(session).returningAll().executeTakeFirstOrThrow();
}

/**
 * The session behind a token hash when it is usable at `now`: not revoked, before its absolute
 * expiry, seen within the idle window, and its user not disabled. One query on a unique index.
 */
export async function findActiveSession(
  db: Db,
  tokenHash: string,
  now: Date,
  idleSeconds: number,
): Promise<ActiveSession | undefined> {
  const idleSince = new Date(now.getTime() - idleSeconds * 1000);
  return db
    .selectFrom('auth.sessions as s')
    .innerJoin('auth.users as u', 'u.id', 's.user_id')
    .select(['s.id', 's.user_id', 's.last_seen_at', 's.expires_at', 'u.role'])
    .where('s.token_hash', '=', tokenHash)
    .where('s.revoked_at', 'is', null)
    .where('s.expires_at', '>', now)
    .where('s.last_seen_at', '>', idleSince)
    .where('u.disabled_at', 'is', null)
    .executeTakeFirst();
}

export async function touchSession(db: Db, id: string, now: Date): Promise<void> {
  await db.updateTable('auth.sessions').set({ last_seen_at: now }).where('id', '=', id).execute();
}

/** Stores the token's hash under the current secret (after a SESSION_SECRET rotation). */
export async function rehashSession(db: Db, id: string, tokenHash: string): Promise<void> {
  await db
    .updateTable('auth.sessions')
    .set({ token_hash: tokenHash })
    .where('id', '=', id)
    .execute();
}

/** Revokes one session; false when it was already revoked (or never existed). */
export async function revokeSession(db: Db, id: string, now: Date): Promise<boolean> {
  const result = await db
    .updateTable('auth.sessions')
    .set({ revoked_at: now })
    .where('id', '=', id)
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

/** Revokes every live session of a user (role changes must re-authenticate); returns how many. */
export async function revokeUserSessions(db: Db, userId: string, now: Date): Promise<number> {
  const result = await db
    .updateTable('auth.sessions')
    .set({ revoked_at: now })
    .where('user_id', '=', userId)
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  return Number(result.numUpdatedRows);
}

/** Revokes the session a token hash names, if live: a login replaces the caller's old session. */
export async function revokeSessionByTokenHash(
  db: Db,
  tokenHash: string,
  now: Date,
): Promise<string | undefined> {
  const row = await db
    .updateTable('auth.sessions')
    .set({ revoked_at: now })
    .where('token_hash', '=', tokenHash)
    .where('revoked_at', 'is', null)
    .returning('id')
    .executeTakeFirst();
  return row?.id;
}
