// The hash chain: appending masked events in one total order under a lock, and verifying it.
import { createHash } from 'node:crypto';
import { sql } from 'kysely';
import type { AuditEvent, StoredAuditEvent } from '@securevault/contracts';
import { canonicalize } from './canonical.ts';
import type { Db } from './db/database.ts';
import { eventToRow, rowToStored, type EventRow } from './db/events.ts';

/** The prev_hash of the very first event. */
export const GENESIS_HASH = '0'.repeat(64);

/**
 * One key for every replica: pg_advisory_xact_lock on it serialises appends across processes and
 * is released with the transaction, even when the process dies.
 */
export const CHAIN_LOCK_KEY = 0x5ec0a0d17n;

export type ChainedRow = EventRow & { prev_hash: string; hash: string };

/** hash = SHA-256( canonical JSON (RFC 8785) of the stored event, including seq ‖ prev_hash as hex ). */
export function hashStored(event: StoredAuditEvent, prevHash: string): string {
  return createHash('sha256')
    .update(canonicalize(event), 'utf8')
    .update(prevHash, 'utf8')
    .digest('hex');
}

export interface ChainHead {
  seq: string;
  hash: string;
}

/** The last link: the newest row, else the last checkpoint retention left, else genesis. */
export async function readHead(db: Db): Promise<ChainHead> {
  const last = await db
    .selectFrom('audit.events')
    .select(['seq', 'hash'])
    .orderBy('seq', 'desc')
    .limit(1)
    .executeTakeFirst();
  if (last) return last;
  const checkpoint = await latestCheckpoint(db);
  return checkpoint ?? { seq: '0', hash: GENESIS_HASH };
}

export async function latestCheckpoint(db: Db): Promise<ChainHead | undefined> {
  return db
    .selectFrom('audit.chain_checkpoints')
    .select(['seq', 'hash'])
    .orderBy('seq', 'desc')
    .limit(1)
    .executeTakeFirst();
}

/**
 * Appends events inside the caller's transaction, which must hold the chain lock. Events whose id
 * is already stored (a queue redelivery) are skipped. Returns the rows written, in chain order.
 */
export async function appendLocked(trx: Db, events: AuditEvent[]): Promise<ChainedRow[]> {
  const seen = new Set<string>();
  if (events.length > 0) {
    // One array parameter, not one per id: the statement is the same whatever the batch size.
    const { rows: existing } = await sql<{ id: string }>`
      select id from audit.events where id = any(${events.map((e) => e.id)}::uuid[])`.execute(trx);
    for (const r of existing) seen.add(r.id);
  }
  const fresh = events.filter((e) => {
    if (seen.has(e.id)) return false;
    seen.add(e.id);
    return true;
  });
  if (fresh.length === 0) return [];

  const { rows: meta } = await sql<{ seq: string; at: Date }>`
    select s::text as seq, clock_timestamp() as at
    from (select nextval('audit.event_seq') as s from generate_series(1, ${fresh.length})) n
    order by s`.execute(trx);
  // clock_timestamp() after the lock: received_at grows with seq, so partitions hold chain ranges.
  const receivedAt = meta[0]?.at ?? new Date();
  let prev = (await readHead(trx)).hash;
  const rows: ChainedRow[] = fresh.map((event, i) => {
    const base = eventToRow(event);
    const row: ChainedRow = {
      ...base,
      seq: meta[i]?.seq ?? '',
      // Millisecond precision: what JavaScript reads back is exactly what was hashed.
      time: new Date(new Date(event.time).getTime()),
      received_at: receivedAt,
      actor_id: base.actor_id ?? null,
      api_key_id: base.api_key_id ?? null,
      ip: base.ip ?? null,
      user_agent: base.user_agent ?? null,
      target_type: base.target_type ?? null,
      target_id: base.target_id ?? null,
      owner_id: base.owner_id ?? null,
      request_id: base.request_id ?? null,
      trace_id: base.trace_id ?? null,
      // The JSON round trip jsonb performs (undefined fields vanish, -0 becomes 0).
      metadata: JSON.parse(JSON.stringify(event.metadata)) as Record<string, unknown>,
      prev_hash: prev,
      hash: '',
    };
    row.hash = hashStored(rowToStored(row), prev);
    prev = row.hash;
    return row;
  });
  await insertRows(trx, rows);
  return rows;
}

/**
 * One INSERT … SELECT FROM unnest(one array per column): the statement has 20 parameters whatever
 * the batch size, so Postgres parses and plans it once per batch instead of binding and planning a
 * VALUES list of 20 parameters per row (docs/performance.md, audit events).
 */
async function insertRows(trx: Db, rows: ChainedRow[]): Promise<void> {
  const col = <T>(pick: (r: ChainedRow) => T): T[] => rows.map(pick);
  await sql`
    insert into audit.events (seq, id, time, received_at, source, actor_type, actor_id, api_key_id,
      ip, user_agent, action, target_type, target_id, outcome, owner_id, request_id, trace_id,
      metadata, prev_hash, hash)
    select * from unnest(
      ${col((r) => r.seq)}::bigint[], ${col((r) => r.id)}::uuid[],
      ${col((r) => r.time.toISOString())}::timestamptz[],
      ${col((r) => r.received_at.toISOString())}::timestamptz[],
      ${col((r) => r.source)}::text[], ${col((r) => r.actor_type)}::text[],
      ${col((r) => r.actor_id)}::text[], ${col((r) => r.api_key_id)}::uuid[],
      ${col((r) => r.ip)}::text[], ${col((r) => r.user_agent)}::text[],
      ${col((r) => r.action)}::text[], ${col((r) => r.target_type)}::text[],
      ${col((r) => r.target_id)}::text[], ${col((r) => r.outcome)}::text[],
      ${col((r) => r.owner_id)}::uuid[], ${col((r) => r.request_id)}::text[],
      ${col((r) => r.trace_id)}::text[], ${col((r) => JSON.stringify(r.metadata))}::jsonb[],
      ${col((r) => r.prev_hash)}::text[], ${col((r) => r.hash)}::text[])`.execute(trx);
}

export async function lockChain(trx: Db): Promise<void> {
  await sql`select pg_advisory_xact_lock(${CHAIN_LOCK_KEY.toString()}::bigint)`.execute(trx);
}

export interface VerifyResult {
  valid: boolean;
  /** rows checked */
  checked: number;
  /** the first seq whose link or content does not match, null when valid */
  firstBrokenSeq: string | null;
  reason: 'prev_hash_mismatch' | 'hash_mismatch' | null;
  /** the newest row of the range checked (publish it to anchor the chain outside the database) */
  head: ChainHead | null;
  /** where verification started: genesis, a retention checkpoint, or the row before fromSeq */
  anchor: { seq: string; hash: string; kind: 'genesis' | 'checkpoint' | 'previous_row' };
}

const PAGE = 1000;

/**
 * Walks the chain in seq order, recomputing each hash. A changed row breaks its own hash; a
 * deleted or reordered row breaks the next row's link. Reads pages of PAGE rows: constant memory.
 */
export async function verifyChain(
  db: Db,
  range: { fromSeq?: string | undefined; toSeq?: string | undefined } = {},
): Promise<VerifyResult> {
  let anchor: VerifyResult['anchor'] = { seq: '0', hash: GENESIS_HASH, kind: 'genesis' };
  const checkpoint = await latestCheckpoint(db);
  if (checkpoint) anchor = { ...checkpoint, kind: 'checkpoint' };
  if (range.fromSeq !== undefined && BigInt(range.fromSeq) > BigInt(anchor.seq) + 1n) {
    const before = await db
      .selectFrom('audit.events')
      .select(['seq', 'hash'])
      .where('seq', '<', range.fromSeq)
      .where('seq', '>', anchor.seq)
      .orderBy('seq', 'desc')
      .limit(1)
      .executeTakeFirst();
    if (before) anchor = { ...before, kind: 'previous_row' };
  }
  let prev = anchor.hash;
  let after = anchor.seq;
  let checked = 0;
  let head: ChainHead | null = null;
  for (;;) {
    let query = db
      .selectFrom('audit.events')
      .selectAll()
      .where('seq', '>', after)
      .orderBy('seq', 'asc')
      .limit(PAGE);
    if (range.toSeq !== undefined) query = query.where('seq', '<=', range.toSeq);
    const rows = (await query.execute()) as ChainedRow[];
    for (const row of rows) {
      checked++;
      if (row.prev_hash !== prev) {
        return {
          valid: false,
          checked,
          firstBrokenSeq: row.seq,
          reason: 'prev_hash_mismatch',
          head,
          anchor,
        };
      }
      if (hashStored(rowToStored(row), row.prev_hash) !== row.hash) {
        return {
          valid: false,
          checked,
          firstBrokenSeq: row.seq,
          reason: 'hash_mismatch',
          head,
          anchor,
        };
      }
      prev = row.hash;
      head = { seq: row.seq, hash: row.hash };
    }
    if (rows.length < PAGE) break;
    after = rows.at(-1)?.seq ?? after;
  }
  return { valid: true, checked, firstBrokenSeq: null, reason: null, head, anchor };
}
