// Hash chain, monthly partitions, least-privilege roles, alerts and the stats view: the tamper-evident audit store.
import { sql, type Kysely } from 'kysely';
import * as init from './2026_11_21_0001_init.ts';
import { GENESIS_HASH, hashStored, type ChainedRow } from '../chain.ts';
import { rowToStored } from '../db/events.ts';

export const WRITER_ROLE = 'securevault_audit_writer';
export const RETENTION_ROLE = 'securevault_audit_retention';

/**
 * Roles are cluster-wide while migrations run per database (and in parallel in tests): creating
 * one that another migration just created is not an error. LOGIN without a password: operators
 * set one (ALTER ROLE ... PASSWORD) or map it to a certificate; trust-only clusters are dev ones.
 */
export async function ensureRole(db: Kysely<unknown>, role: string): Promise<void> {
  await sql
    .raw(
      `do $$ begin
         if not exists (select 1 from pg_roles where rolname = '${role}') then
           create role ${role} login nosuperuser nocreatedb nocreaterole;
         end if;
       exception
         when duplicate_object or unique_violation then null;
         -- A migration user without CREATEROLE (some managed Postgres): the operator creates the
         -- roles; the grants below are skipped for a role that does not exist.
         when insufficient_privilege then raise notice 'cannot create role ${role}';
       end $$`,
    )
    .execute(db);
}

/** Grants to a role only when it exists (see ensureRole). */
async function grantIfRole(db: Kysely<unknown>, role: string, statements: string[]): Promise<void> {
  const { rows } = await sql<{ n: string }>`
    select count(*)::text as n from pg_roles where rolname = ${role}`.execute(db);
  if (rows[0]?.n !== '1') return;
  for (const statement of statements) await sql.raw(statement).execute(db);
}

/** Rows of the pre-chain table, hashed in seq order, in pages so a large table is not one array. */
async function copyWithHashes(db: Kysely<unknown>): Promise<void> {
  let prev = GENESIS_HASH;
  let after = '0';
  for (;;) {
    const { rows } = await sql<ChainedRow>`
      select * from audit.events_v1 where seq > ${after} order by seq limit 1000`.execute(db);
    if (rows.length === 0) return;
    for (const row of rows) {
      // Times are stored at millisecond precision so the hash input survives a round trip.
      row.time = new Date(row.time.getTime());
      row.prev_hash = prev;
      row.hash = hashStored(rowToStored(row), prev);
      prev = row.hash;
      await sql`
        insert into audit.events (seq, id, time, received_at, source, actor_type, actor_id,
          api_key_id, ip, user_agent, action, target_type, target_id, outcome, owner_id,
          request_id, trace_id, metadata, prev_hash, hash)
        values (${row.seq}, ${row.id}, ${row.time}, ${row.received_at}, ${row.source},
          ${row.actor_type}, ${row.actor_id}, ${row.api_key_id}, ${row.ip}, ${row.user_agent},
          ${row.action}, ${row.target_type}, ${row.target_id}, ${row.outcome}, ${row.owner_id},
          ${row.request_id}, ${row.trace_id}, ${JSON.stringify(row.metadata)}::jsonb,
          ${row.prev_hash}, ${row.hash})`.execute(db);
    }
    after = rows.at(-1)?.seq ?? after;
  }
}

export async function up(db: Kysely<unknown>): Promise<void> {
  await ensureRole(db, WRITER_ROLE);
  await ensureRole(db, RETENTION_ROLE);

  await sql`alter table audit.events rename to events_v1`.execute(db);
  for (const idx of [
    'events_pkey',
    'events_id_key',
    'events_owner_seq_idx',
    'events_action_idx',
    'events_time_idx',
  ]) {
    await sql.raw(`alter index audit.${idx} rename to v1_${idx}`).execute(db);
  }
  await sql`create sequence audit.event_seq as bigint`.execute(db);
  await sql`select setval('audit.event_seq', greatest((select max(seq) from audit.events_v1), 1),
              (select max(seq) from audit.events_v1) is not null)`.execute(db);

  // Partitioned by the time the audit service stored the row (taken after the chain lock, so it
  // grows with seq): dropping the oldest months removes a prefix of the chain.
  await sql`
    create table audit.events (
      seq bigint not null default nextval('audit.event_seq'),
      id uuid not null,
      time timestamptz not null,
      received_at timestamptz not null default clock_timestamp(),
      source text not null,
      actor_type text not null,
      actor_id text,
      api_key_id uuid,
      ip text,
      user_agent text,
      action text not null,
      target_type text,
      target_id text,
      outcome text not null check (outcome in ('success', 'failure', 'denied')),
      owner_id uuid,
      request_id text,
      trace_id text,
      metadata jsonb not null default '{}'::jsonb,
      prev_hash text not null check (prev_hash ~ '^[0-9a-f]{64}$'),
      hash text not null check (hash ~ '^[0-9a-f]{64}$'),
      primary key (seq, received_at)
    ) partition by range (received_at)`.execute(db);
  await sql`alter sequence audit.event_seq owned by audit.events.seq`.execute(db);
  await sql`create table audit.events_default partition of audit.events default`.execute(db);
  await sql`create index events_owner_seq_idx on audit.events (owner_id, seq desc)`.execute(db);
  await sql`create index events_action_idx on audit.events (action text_pattern_ops)`.execute(db);
  await sql`create index events_time_idx on audit.events (time)`.execute(db);
  // Not unique (a unique index must include the partition key): duplicates are refused by the
  // writer under the chain lock, and this index makes that check cheap.
  await sql`create index events_id_idx on audit.events (id)`.execute(db);
  // The detection rules count recent events per IP and per API key.
  await sql`create index events_ip_idx on audit.events (ip, received_at) where ip is not null`.execute(
    db,
  );
  await sql`create index events_key_idx on audit.events (api_key_id, received_at) where api_key_id is not null`.execute(
    db,
  );

  // Retention's record of what it dropped: the last dropped hash anchors what remains.
  await sql`
    create table audit.chain_checkpoints (
      seq bigint primary key,
      hash text not null,
      partition text not null,
      dropped_at timestamptz not null default clock_timestamp()
    )`.execute(db);

  await sql`
    create table audit.alerts (
      id uuid primary key,
      time timestamptz not null default clock_timestamp(),
      rule text not null,
      subject text not null,
      owner_id uuid,
      event_seq bigint not null,
      details jsonb not null default '{}'::jsonb
    )`.execute(db);
  await sql`create index alerts_rule_subject_idx on audit.alerts (rule, subject, time desc)`.execute(
    db,
  );
  await sql`create index alerts_owner_idx on audit.alerts (owner_id, time desc)`.execute(db);
  await sql`create index alerts_time_idx on audit.alerts (time desc)`.execute(db);

  // Partition management: security definer so neither the writer nor retention owns the table.
  await sql`
    create function audit.create_month_partition(month date) returns text
    language plpgsql security definer set search_path = pg_catalog, audit as $fn$
    declare
      start date := date_trunc('month', month)::date;
      name text := format('events_%s', to_char(start, 'YYYY_MM'));
    begin
      if to_regclass('audit.' || name) is null then
        execute format('create table audit.%I partition of audit.events for values from (%L) to (%L)',
          name, start::timestamptz, (start + interval '1 month')::timestamptz);
      end if;
      return name;
    end $fn$`.execute(db);
  await sql`
    create function audit.ensure_partitions(months_ahead int) returns void
    language plpgsql security definer set search_path = pg_catalog, audit as $fn$
    begin
      for i in 0 .. greatest(months_ahead, 0) loop
        perform audit.create_month_partition((date_trunc('month', now()) + make_interval(months => i))::date);
      end loop;
    end $fn$`.execute(db);
  // Drops every monthly partition wholly older than the cutoff, oldest first, checkpointing the
  // hash of each one's last row first so verification of what remains can start from it.
  await sql`
    create function audit.drop_partitions_before(cutoff timestamptz) returns setof text
    language plpgsql security definer set search_path = pg_catalog, audit as $fn$
    declare
      part record;
    begin
      for part in
        select c.relname as name, to_date(substr(c.relname, 8), 'YYYY_MM') as month
        from pg_inherits i join pg_class c on c.oid = i.inhrelid
        where i.inhparent = 'audit.events'::regclass and c.relname ~ '^events_[0-9]{4}_[0-9]{2}$'
        order by 2
      loop
        exit when part.month + interval '1 month' > cutoff;
        execute format('insert into audit.chain_checkpoints (seq, hash, partition)
                        select seq, hash, %L from audit.%I order by seq desc limit 1
                        on conflict (seq) do nothing', part.name, part.name);
        execute format('drop table audit.%I', part.name);
        return next part.name;
      end loop;
    end $fn$`.execute(db);

  // Partitions for every month the old rows cover, then now and two months ahead.
  await sql`
    select audit.create_month_partition(m::date)
    from generate_series(date_trunc('month', coalesce((select min(received_at) from audit.events_v1), now())),
                         date_trunc('month', now()), interval '1 month') m`.execute(db);
  await sql`select audit.ensure_partitions(2)`.execute(db);
  await copyWithHashes(db);
  await sql`drop table audit.events_v1`.execute(db);

  // Stats: per day and owner, from the events the workers emit; refreshed by refresh_stats().
  await sql`
    create materialized view audit.stats_daily as
    select (time at time zone 'UTC')::date as day,
      coalesce(owner_id, '00000000-0000-0000-0000-000000000000'::uuid) as owner_id,
      count(*) filter (where action = 'email.sent') as emails_sent,
      count(*) filter (where action = 'email.failed') as emails_failed,
      count(*) filter (where action = 'ai.completed') as generations,
      coalesce(sum(floor((metadata->>'promptTokens')::numeric))
        filter (where action = 'ai.completed' and jsonb_typeof(metadata->'promptTokens') = 'number'), 0) as prompt_tokens,
      coalesce(sum(floor((metadata->>'completionTokens')::numeric))
        filter (where action = 'ai.completed' and jsonb_typeof(metadata->'completionTokens') = 'number'), 0) as completion_tokens
    from audit.events
    where action in ('email.sent', 'email.failed', 'ai.completed')
    group by 1, 2`.execute(db);
  await sql`create unique index stats_daily_key on audit.stats_daily (day, owner_id)`.execute(db);
  await sql`
    create table audit.stats_refresh (
      id boolean primary key default true check (id),
      refreshed_at timestamptz not null
    )`.execute(db);
  await sql`insert into audit.stats_refresh (refreshed_at) values (clock_timestamp())`.execute(db);
  await sql`
    create function audit.refresh_stats() returns timestamptz
    language plpgsql security definer set search_path = pg_catalog, audit as $fn$
    declare
      at timestamptz;
    begin
      refresh materialized view concurrently audit.stats_daily;
      at := clock_timestamp();
      update audit.stats_refresh set refreshed_at = at;
      return at;
    end $fn$`.execute(db);

  // Least privilege. Functions are executable by PUBLIC unless revoked.
  for (const fn of [
    'audit.create_month_partition(date)',
    'audit.ensure_partitions(int)',
    'audit.drop_partitions_before(timestamptz)',
    'audit.refresh_stats()',
  ]) {
    await sql.raw(`revoke all on function ${fn} from public`).execute(db);
  }
  await grantIfRole(db, WRITER_ROLE, [
    `grant usage on schema audit to ${WRITER_ROLE}`,
    `grant select, insert on audit.events, audit.alerts to ${WRITER_ROLE}`,
    `grant select on audit.chain_checkpoints, audit.stats_daily, audit.stats_refresh to ${WRITER_ROLE}`,
    `grant usage on sequence audit.event_seq to ${WRITER_ROLE}`,
    `grant execute on function audit.refresh_stats(), audit.ensure_partitions(int) to ${WRITER_ROLE}`,
  ]);
  await grantIfRole(db, RETENTION_ROLE, [
    `grant usage on schema audit to ${RETENTION_ROLE}`,
    `grant select on audit.events, audit.chain_checkpoints to ${RETENTION_ROLE}`,
    `grant execute on function audit.drop_partitions_before(timestamptz), audit.ensure_partitions(int), audit.create_month_partition(date) to ${RETENTION_ROLE}`,
  ]);
}

/** Back to the plain table of the init migration; hashes, alerts and checkpoints are dropped. The roles stay (other databases may use them). */
export async function down(db: Kysely<unknown>): Promise<void> {
  await grantIfRole(db, WRITER_ROLE, [`revoke all on schema audit from ${WRITER_ROLE}`]);
  await grantIfRole(db, RETENTION_ROLE, [`revoke all on schema audit from ${RETENTION_ROLE}`]);
  await sql`drop function audit.refresh_stats()`.execute(db);
  await sql`drop table audit.stats_refresh`.execute(db);
  await sql`drop materialized view audit.stats_daily`.execute(db);
  await sql`drop function audit.drop_partitions_before(timestamptz)`.execute(db);
  await sql`drop function audit.ensure_partitions(int)`.execute(db);
  await sql`drop function audit.create_month_partition(date)`.execute(db);
  await sql`drop table audit.alerts`.execute(db);
  await sql`drop table audit.chain_checkpoints`.execute(db);
  await sql`alter table audit.events rename to events_chain`.execute(db);
  for (const idx of [
    'events_pkey',
    'events_owner_seq_idx',
    'events_action_idx',
    'events_time_idx',
  ]) {
    await sql.raw(`alter index audit.${idx} rename to chain_${idx}`).execute(db);
  }
  await init.up(db);
  await sql`
    insert into audit.events (seq, id, time, received_at, source, actor_type, actor_id, api_key_id,
      ip, user_agent, action, target_type, target_id, outcome, owner_id, request_id, trace_id, metadata)
    select distinct on (id) seq, id, time, received_at, source, actor_type, actor_id, api_key_id,
      ip, user_agent, action, target_type, target_id, outcome, owner_id, request_id, trace_id, metadata
    from audit.events_chain order by id, seq`.execute(db);
  await sql`select setval('audit.events_seq_seq', greatest((select max(seq) from audit.events), 1),
              (select max(seq) from audit.events) is not null)`.execute(db);
  await sql`drop table audit.events_chain`.execute(db);
}
