// The kysely view of the `auth` schema: every table this service owns, by qualified name.
import type { Kysely } from 'kysely';
import type { UsersTable } from './users.ts';
import type { SessionsTable } from './sessions.ts';
import type { ApiKeysTable } from './api-keys.ts';

export interface Database {
  'auth.users': UsersTable;
  'auth.sessions': SessionsTable;
  'auth.api_keys': ApiKeysTable;
}

/** A connection or a transaction: repositories accept either. */
export type Db = Kysely<Database>;
