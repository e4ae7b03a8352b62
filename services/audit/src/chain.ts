// The hash chain: appending masked events in one total order under a lock, and verifying it.
import { createHash, hash as hashOnce } from 'node:crypto';
import { finished } from 'node:stream/promises';
import { Kysely, PostgresDialect, sql } from 'kysely';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import type { AuditEvent, StoredAuditEvent } from '@securevault/contracts';
import { canonicalize } from './canonical.ts';
import type { Database, Db } from './db/database.ts';
import {
  eventToRow,
  rowToStored,
  storedCanonicalParts,
  type EventFields,
  type EventRow,
} from './db/events.ts';

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

/** An event made ready to chain before the lock is taken: all but its seq, received_at and link. */
export interface PreparedEvent {
  row: EventFields;
  /** canonical JSON of the stored event before and after its seq value (see hashPrepared) */
  canonical: { before: string; after: string };
  /** the row's columns from id to metadata as COPY text fields, tab-separated (COPY_COLUMNS) */
  copyFields: string;
}

/**
 * Builds an (already masked) event's row, serialises its stored form (rowToStored) as canonical
 * JSON in two parts around the seq, which RFC 8785 puts at a fixed place among the keys, and
 * writes its COPY fields. This is the per-event work of appending, done as each job arrives so
 * that under the chain lock only string concatenation and SHA-256 remain (docs/performance.md,
 * audit events).
 */
export function prepareEvent(event: AuditEvent): PreparedEvent {
  const row = eventToRow(event);
  // Canonical JSON is JSON: jsonb stores the same value from it as from JSON.stringify's text.
  const metadata = canonicalize(row.metadata);
  const copyFields =
    `${copyText(row.id)}\t${row.time.toISOString()}\t${copyText(row.source)}\t` +
    `${copyText(row.actor_type)}\t${copyText(row.actor_id)}\t${copyText(row.api_key_id)}\t` +
    `${copyText(row.ip)}\t${copyText(row.user_agent)}\t${copyText(row.action)}\t` +
    `${copyText(row.target_type)}\t${copyText(row.target_id)}\t${copyText(row.outcome)}\t` +
    `${copyText(row.owner_id)}\t${copyText(row.request_id)}\t${copyText(row.trace_id)}\t` +
    copyText(metadata);
  return { row, canonical: storedCanonicalParts(row, metadata), copyFields };
}

/** hashStored(rowToStored(row), prevHash) for the row prepareEvent built, given its seq. */
export function hashPrepared(event: PreparedEvent, seq: string, prevHash: string): string {
  // One-shot: cheaper than a Hash object for inputs this small; the string is hashed as UTF-8.
  return hashOnce(
    'sha256',
    event.canonical.before + canonicalize(seq) + event.canonical.after + prevHash,
    'hex',
  );
}

/** The columns of a COPY line: the four the lock decides, then PreparedEvent.copyFields. */
const COPY_COLUMNS = [
  'seq',
  'received_at',
  'prev_hash',
  'hash',
  'id',
  'time',
  'source',
  'actor_type',
  'actor_id',
  'api_key_id',
  'ip',
  'user_agent',
  'action',
  'target_type',
  'target_id',
  'outcome',
  'owner_id',
  'request_id',
  'trace_id',
  'metadata',
] as const;
const COPY_EVENTS = `copy audit.events (${COPY_COLUMNS.join(', ')}) from stdin`;

const COPY_ESCAPES: Record<string, string> = {
  '\\': '\\\\',
  '\n': '\\n',
  '\r': '\\r',
  '\t': '\\t',
};

/** A field of COPY's text format: \N for null; backslash, newline, return and tab escaped. */
export function copyText(value: string | null): string {
  if (value === null) return '\\N';
  return /[\\\n\r\t]/.test(value)
    ? value.replace(/[\\\n\r\t]/g, (c) => COPY_ESCAPES[c] ?? c)
    : value;
}

/** The chain transaction's one connection, seen two ways: kysely for statements, pg for COPY. */
export interface ChainTransaction {
  trx: Db;
  client: pg.PoolClient;
}

/**
 * Runs `work` in one transaction that holds the chain lock, on one connection checked out of
 * `pool`. Kysely runs the transaction over that very client (as a pool of one), so its statements
 * and the COPY that appendLocked streams through pg-copy-streams are one transaction.
 */
export async function inChainTransaction<T>(
  pool: pg.Pool,
  work: (tx: ChainTransaction) => Promise<T>,
): Promise<T> {
  let client: pg.PoolClient | undefined;
  const db = new Kysely<Database>({
    dialect: new PostgresDialect({
      pool: {
        connect: async () => (client = await pool.connect()),
        end: () => Promise.resolve(),
      },
    }),
  });
  return db.transaction().execute(async (trx) => {
    if (!client) throw new Error('the chain transaction has no connection');
    await lockChain(trx);
    return work({ trx, client });
  });
}

/**
 * Appends events inside a chain transaction (see inChainTransaction). Events whose id is already
 * stored (a queue redelivery) or comes twice in `events` are skipped (the first is kept). Returns
 * the rows written, in chain order.
 */
export async function appendLocked(
  tx: ChainTransaction,
  events: PreparedEvent[],
): Promise<ChainedRow[]> {
  // Postgres compares uuids regardless of case; so does this, so both agree on what is fresh.
  const seen = new Set<string>();
  const candidates = events.filter((e) => {
    const id = e.row.id.toLowerCase();
    if (seen.has(id)) return false;
    seen.add(id);
    return true;
  });
  if (candidates.length === 0) return [];

  // One round trip for what needs the lock: which ids are new (redelivered ones are stored
  // already), one seq per new event, the time, and the previous link. clock_timestamp() after the
  // lock: received_at grows with seq, so partitions hold chain ranges. One array parameter, not
  // one per id: the statement is the same whatever the batch size.
  const { rows } = await sql<{ fresh: number[]; seqs: string[]; at: Date; head: string | null }>`
    with fresh as materialized (
      select u.ord from unnest(${candidates.map((e) => e.row.id)}::uuid[]) with ordinality u(id, ord)
      where not exists (select 1 from audit.events e where e.id = u.id)
    ), seqs as materialized (
      select nextval('audit.event_seq') as s from fresh
    )
    select array(select ord::int - 1 as i from fresh order by ord) as fresh,
      array(select s::text as seq from seqs order by s) as seqs,
      clock_timestamp() as at,
      coalesce((select hash from audit.events order by seq desc limit 1),
        (select hash from audit.chain_checkpoints order by seq desc limit 1)) as head`.execute(
    tx.trx,
  );
  const state = rows[0];
  if (!state || state.seqs.length !== state.fresh.length) {
    throw new Error('chain append: seq allocation does not match the events to store');
  }
  if (state.fresh.length === 0) return [];
  // The newest row, else the last checkpoint retention left, else genesis (as readHead).
  let prev = state.head ?? GENESIS_HASH;
  const receivedAt = state.at.toISOString();
  let lines = '';
  const chained = state.fresh.map((index, i): ChainedRow => {
    const event = candidates[index] as PreparedEvent;
    const seq = state.seqs[i] as string;
    const hash = hashPrepared(event, seq, prev);
    lines += `${seq}\t${receivedAt}\t${prev}\t${hash}\t${event.copyFields}\n`;
    const row: ChainedRow = { ...event.row, seq, received_at: state.at, prev_hash: prev, hash };
    prev = hash;
    return row;
  });
  // COPY rather than INSERT … SELECT FROM unnest: no array parameters to encode under the lock,
  // and Postgres loads rows faster (docs/performance.md, audit events).
  const copy = tx.client.query(copyFrom(COPY_EVENTS));
  copy.end(lines);
  await finished(copy);
  return chained;
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
