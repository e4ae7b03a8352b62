// auth.api_keys: long-lived keys for API consumers, found by the HMAC of the key, scoped.
import type { ColumnType, Generated, Insertable, Selectable, Updateable } from 'kysely';
import type { Role, Scope } from '@securevault/contracts';
import type { Db } from './database.ts';

export interface ApiKeysTable {
  id: Generated<string>;
  user_id: string;
  name: string;
  key_prefix: string;
  key_hash: string;
  scopes: ColumnType<Scope[], Scope[], Scope[]>;
  created_at: Generated<Date>;
  last_used_at: Date | null;
  expires_at: Date | null;
  revoked_at: Date | null;
}

export type ApiKey = Selectable<ApiKeysTable>;
export type NewApiKey = Insertable<ApiKeysTable>;
export type ApiKeyUpdate = Updateable<ApiKeysTable>;

export interface ActiveApiKey {
  id: string;
  user_id: string;
  scopes: Scope[];
  last_used_at: Date | null;
  expires_at: Date | null;
  role: Role;
}

/** The listing shape: never the key or its hash. */
export function publicApiKey(key: Omit<ApiKey, 'key_hash' | 'user_id'>) {
  return {
    id: key.id,
    name: key.name,
    keyPrefix: key.key_prefix,
    scopes: key.scopes,
    createdAt: key.created_at.toISOString(),
    lastUsedAt: key.last_used_at?.toISOString() ?? null,
    expiresAt: key.expires_at?.toISOString() ?? null,
    revokedAt: key.revoked_at?.toISOString() ?? null,
    revoked: key.revoked_at !== null,
  };
}

export async function insertApiKey(db: Db, key: NewApiKey): Promise<ApiKey> {
  return db.insertInto('auth.api_keys').values(key).returningAll().executeTakeFirstOrThrow();
}

/** The key behind a hash when usable at `now`, with its owner's current role. One indexed query. */
export async function findActiveApiKey(
  db: Db,
  keyHash: string,
  now: Date,
): Promise<ActiveApiKey | undefined> {
  return db
    .selectFrom('auth.api_keys as k')
    .innerJoin('auth.users as u', 'u.id', 'k.user_id')
    .select(['k.id', 'k.user_id', 'k.scopes', 'k.last_used_at', 'k.expires_at', 'u.role'])
    .where('k.key_hash', '=', keyHash)
    .where('k.revoked_at', 'is', null)
    .where((eb) => eb.or([eb('k.expires_at', 'is', null), eb('k.expires_at', '>', now)]))
    .where('u.disabled_at', 'is', null)
    .executeTakeFirst();
}

/** Stores the key's hash under the current secret (after a SESSION_SECRET rotation). */
export async function rehashApiKey(db: Db, id: string, keyHash: string): Promise<void> {
  await db.updateTable('auth.api_keys').set({ key_hash: keyHash }).where('id', '=', id).execute();
}

export async function touchApiKey(db: Db, id: string, now: Date): Promise<void> {
  await db.updateTable('auth.api_keys').set({ last_used_at: now }).where('id', '=', id).execute();
}

export async function listApiKeys(db: Db, userId: string) {
  return db
    .selectFrom('auth.api_keys')
    .select([
      'id',
      'name',
      'key_prefix',
      'scopes',
      'created_at',
      'last_used_at',
      'expires_at',
      'revoked_at',
    ])
    .where('user_id', '=', userId)
    .orderBy('created_at', 'desc')
    .orderBy('id')
    .execute();
}

/** Revokes a key of `userId`: 'revoked' now, 'already' revoked before, or 'missing' (not theirs). */
export async function revokeApiKey(
  db: Db,
  id: string,
  userId: string,
  now: Date,
): Promise<'revoked' | 'already' | 'missing'> {
  const updated = await db
    .updateTable('auth.api_keys')
    .set({ revoked_at: now })
    .where('id', '=', id)
    .where('user_id', '=', userId)
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  if (updated.numUpdatedRows > 0n) return 'revoked';
  const existing = await db
    .selectFrom('auth.api_keys')
    .select('id')
    .where('id', '=', id)
    .where('user_id', '=', userId)
    .executeTakeFirst();
  return existing ? 'already' : 'missing';
}
