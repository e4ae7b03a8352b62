// auth.users: accounts with a lower-cased unique email, an argon2id hash and a role.
import type { ColumnType, Generated, Insertable, Selectable, Updateable } from 'kysely';
import type { Role } from '@securevault/contracts';
import type { Db } from './database.ts';

export interface UsersTable {
  id: Generated<string>;
  email: string;
  password_hash: string;
  role: ColumnType<Role, Role | undefined, Role>;
  disabled_at: Date | null;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
}

export type User = Selectable<UsersTable>;
export type NewUser = Insertable<UsersTable>;
export type UserUpdate = Updateable<UsersTable>;

/** The public shape of a user in API answers: never the hash. */
export function publicUser(user: Pick<User, 'id' | 'email' | 'role' | 'created_at'>) {
  return {
    id: user.id,
    email: user.email,
    role: user.role,
    createdAt: user.created_at.toISOString(),
  };
}

/** Inserts a user; a taken email surfaces as the unique violation (pg code 23505). */
export async function insertUser(db: Db, user: NewUser): Promise<User> {
  return db.insertInto('auth.users').values(user).returningAll().executeTakeFirstOrThrow();
}

export async function findUserByEmail(db: Db, email: string): Promise<User | undefined> {
  return db
    .selectFrom('auth.users')
    .selectAll()
    .where('email', '=', email.toLowerCase())
    .executeTakeFirst();
}

export async function findUserById(db: Db, id: string): Promise<User | undefined> {
  return db.selectFrom('auth.users').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function setUserRole(
  db: Db,
  id: string,
  role: Role,
  now: Date,
): Promise<User | undefined> {
  return db
    .updateTable('auth.users')
    .set({ role, updated_at: now })
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirst();
}

/** Disables (or re-enables) an account; disabled accounts cannot sign in or use keys. */
export async function setUserDisabled(
  db: Db,
  id: string,
  disabled: boolean,
  now: Date,
): Promise<User | undefined> {
  return db
    .updateTable('auth.users')
    .set({ disabled_at: disabled ? now : null, updated_at: now })
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirst();
}

/**
 * Locks and returns the ids of admins that can still sign in; used inside a transaction to refuse
 * demoting the last one (locking them all keeps two concurrent demotions from both passing).
 */
export async function lockActiveAdmins(db: Db): Promise<string[]> {
  const rows = await db
    .selectFrom('auth.users')
    .select('id')
    .where('role', '=', 'admin')
    .where('disabled_at', 'is', null)
    .orderBy('id')
    .forUpdate()
    .execute();
  return rows.map((r) => r.id);
}

/**
 * A page of users, newest first, optionally those whose email starts with `emailPrefix`; `after`
 * continues below the (created_at, id) of the previous page's last row (keyset pagination).
 */
export async function listUsers(
  db: Db,
  options: { emailPrefix?: string; after?: { createdAt: Date; id: string }; limit: number },
): Promise<User[]> {
  let query = db.selectFrom('auth.users').selectAll();
  if (options.emailPrefix) {
    // LIKE metacharacters in the prefix are matched literally.
    const escaped = options.emailPrefix.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`);
    query = query.where('email', 'like', `${escaped}%`);
  }
  const after = options.after;
  if (after) {
    query = query.where((eb) =>
      eb.or([
        eb('created_at', '<', after.createdAt),
        eb.and([eb('created_at', '=', after.createdAt), eb('id', '<', after.id)]),
      ]),
    );
  }
  return query.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(options.limit).execute();
}

export function isUniqueViolation(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === '23505';
}
