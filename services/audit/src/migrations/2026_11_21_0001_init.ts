// The first audit schema: the events table and the indexes its queries use.
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('audit.events')
    .addColumn('seq', 'bigserial', (c) => c.primaryKey())
    // The producer's id: ON CONFLICT (id) DO NOTHING makes queue retries idempotent.
    .addColumn('id', 'uuid', (c) => c.notNull().unique())
    .addColumn('time', 'timestamptz', (c) => c.notNull())
    .addColumn('received_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('source', 'text', (c) => c.notNull())
    .addColumn('actor_type', 'text', (c) => c.notNull())
    .addColumn('actor_id', 'text')
    .addColumn('api_key_id', 'uuid')
    .addColumn('ip', 'text')
    .addColumn('user_agent', 'text')
    .addColumn('action', 'text', (c) => c.notNull())
    .addColumn('target_type', 'text')
    .addColumn('target_id', 'text')
    .addColumn('outcome', 'text', (c) =>
      c.notNull().check(sql`outcome in ('success', 'failure', 'denied')`),
    )
    .addColumn('owner_id', 'uuid')
    .addColumn('request_id', 'text')
    .addColumn('trace_id', 'text')
    .addColumn('metadata', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .execute();
  // A member's own events, newest first: the gateway's most common query.
  await sql`create index events_owner_seq_idx on audit.events (owner_id, seq desc)`.execute(db);
  // text_pattern_ops lets `action like 'auth.%'` use the index whatever the collation.
  await sql`create index events_action_idx on audit.events (action text_pattern_ops)`.execute(db);
  await sql`create index events_time_idx on audit.events (time)`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('audit.events').execute();
}
