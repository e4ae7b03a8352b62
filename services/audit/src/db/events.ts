// audit.events: the append-only event log, ordered by seq, one row per producer event id.
import { sql, type ColumnType, type Insertable, type Selectable } from 'kysely';
import type { AuditEvent, StoredAuditEvent } from '@securevault/contracts';
import { canonicalize } from '../canonical.ts';
import type { Db } from './database.ts';

export interface EventsTable {
  /** the chain's total order (audit.event_seq); pg returns int8 as a string, which is what cursors use. */
  seq: ColumnType<string, string | undefined, never>;
  id: string;
  time: ColumnType<Date, Date | string, never>;
  received_at: ColumnType<Date, Date | string | undefined, never>;
  source: string;
  actor_type: AuditEvent['actor']['type'];
  actor_id: string | null;
  api_key_id: string | null;
  ip: string | null;
  user_agent: string | null;
  action: string;
  target_type: string | null;
  target_id: string | null;
  outcome: AuditEvent['outcome'];
  owner_id: string | null;
  request_id: string | null;
  trace_id: string | null;
  metadata: ColumnType<Record<string, unknown>, string | undefined, never>;
  /** the previous event's hash (64 zeros for the first) and this event's own */
  prev_hash: ColumnType<string, string, never>;
  hash: ColumnType<string, string, never>;
}

export type EventRow = Selectable<EventsTable>;
export type NewEventRow = Insertable<EventsTable>;

/** A row's columns that do not depend on the chain: all but seq, received_at and the links. */
export type EventFields = Omit<EventRow, 'seq' | 'received_at' | 'prev_hash' | 'hash'>;

/**
 * The row for an (already masked) event, as Postgres will hold and return it; the trace carrier
 * is transport, not record.
 */
export function eventToRow(event: AuditEvent): EventFields {
  return {
    id: event.id,
    // Millisecond precision: what JavaScript reads back is exactly what was hashed.
    time: new Date(event.time),
    source: event.source,
    actor_type: event.actor.type,
    actor_id: event.actor.id ?? null,
    api_key_id: event.actor.apiKeyId ?? null,
    ip: event.actor.ip ?? null,
    user_agent: event.actor.userAgent ?? null,
    action: event.action,
    target_type: event.target?.type ?? null,
    target_id: event.target?.id ?? null,
    outcome: event.outcome,
    owner_id: event.ownerId ?? null,
    request_id: event.requestId ?? null,
    trace_id: event.traceId ?? null,
    metadata: asJsonb(event.metadata),
  };
}

/**
 * The value jsonb stores for `value`: JSON's round trip (undefined fields vanish, -0 becomes 0, NaN
 * null, a Date its string). Masked metadata parsed from a job is JSON already, so it is returned
 * as it is unless a walk finds something the round trip would change.
 */
export function asJsonb(value: Record<string, unknown>): Record<string, unknown> {
  return isPlainJson(value, 0)
    ? value
    : (JSON.parse(JSON.stringify(value)) as Record<string, unknown>);
}

/** True when JSON.parse(JSON.stringify(value)) would equal value, key order included. */
function isPlainJson(value: unknown, depth: number): boolean {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return true;
    case 'number':
      return Number.isFinite(value) && !Object.is(value, -0);
    case 'object': {
      if (value === null) return true;
      // Deeper than masking ever leaves (mask.ts MAX_DEPTH): let the round trip decide.
      if (depth > 16) return false;
      if (Array.isArray(value)) {
        if (Object.getPrototypeOf(value) !== Array.prototype) return false;
        for (let i = 0; i < value.length; i++) {
          if (!(i in value) || !isPlainJson(value[i], depth + 1)) return false;
        }
        return true;
      }
      if (Object.getPrototypeOf(value) !== Object.prototype) return false;
      // Keys keep their order: the round trip writes and reads them in Object.keys order.
      for (const key in value) {
        if (!Object.hasOwn(value, key)) return false;
        if (!isPlainJson((value as Record<string, unknown>)[key], depth + 1)) return false;
      }
      return true;
    }
    default:
      return false;
  }
}

/** The contract's shape of a stored row, as GET /internal/events answers it. */
export function rowToStored(
  row: Omit<EventRow, 'prev_hash' | 'hash' | 'received_at'>,
): StoredAuditEvent {
  return {
    seq: row.seq,
    id: row.id,
    time: row.time.toISOString(),
    source: row.source as StoredAuditEvent['source'],
    actor: {
      type: row.actor_type,
      id: row.actor_id,
      ...(row.api_key_id !== null ? { apiKeyId: row.api_key_id } : {}),
      ...(row.ip !== null ? { ip: row.ip } : {}),
      ...(row.user_agent !== null ? { userAgent: row.user_agent } : {}),
    },
    action: row.action,
    ...(row.target_type !== null
      ? { target: { type: row.target_type, id: row.target_id ?? '' } }
      : {}),
    outcome: row.outcome,
    ownerId: row.owner_id,
    ...(row.request_id !== null ? { requestId: row.request_id } : {}),
    ...(row.trace_id !== null ? { traceId: row.trace_id } : {}),
    metadata: row.metadata,
  };
}

/**
 * canonicalize(rowToStored(row)) in two parts, before and after the seq's value (which only the
 * chain lock decides), written out for the stored event's fixed shape: its keys and their RFC
 * 8785 order are known, so only metadata goes through the general serialiser (or comes
 * canonicalised already). This runs for every event stored; it must change with rowToStored, and
 * test/prepare.test.ts checks the two agree on generated events.
 */
export function storedCanonicalParts(
  row: EventFields,
  canonicalMetadata = canonicalize(row.metadata),
): { before: string; after: string } {
  const actor =
    `{${row.api_key_id !== null ? `"apiKeyId":${canonicalize(row.api_key_id)},` : ''}` +
    `"id":${canonicalize(row.actor_id)}` +
    `${row.ip !== null ? `,"ip":${canonicalize(row.ip)}` : ''}` +
    `,"type":${canonicalize(row.actor_type)}` +
    `${row.user_agent !== null ? `,"userAgent":${canonicalize(row.user_agent)}` : ''}}`;
  const target =
    row.target_type !== null
      ? `,"target":{"id":${canonicalize(row.target_id ?? '')},"type":${canonicalize(row.target_type)}}`
      : '';
  return {
    before:
      `{"action":${canonicalize(row.action)},"actor":${actor},"id":${canonicalize(row.id)}` +
      `,"metadata":${canonicalMetadata},"outcome":${canonicalize(row.outcome)}` +
      `,"ownerId":${canonicalize(row.owner_id)}` +
      `${row.request_id !== null ? `,"requestId":${canonicalize(row.request_id)}` : ''},"seq":`,
    after:
      `,"source":${canonicalize(row.source)}${target}` +
      `,"time":${canonicalize(row.time.toISOString())}` +
      `${row.trace_id !== null ? `,"traceId":${canonicalize(row.trace_id)}` : ''}}`,
  };
}

export interface EventFilter {
  ownerId?: string | undefined;
  actorId?: string | undefined;
  targetType?: string | undefined;
  targetId?: string | undefined;
  outcome?: AuditEvent['outcome'] | undefined;
  /** event time, inclusive lower and exclusive upper bound */
  from?: Date | undefined;
  to?: Date | undefined;
  /** a literal prefix of the action name, `auth.` for every auth event */
  actionPrefix?: string | undefined;
  /** only events older than this seq (the previous page's last) */
  beforeSeq?: string | undefined;
  limit: number;
}

/** LIKE treats `%`, `_` and the escape character itself specially; a prefix must not. */
export function escapeLike(value: string): string {
  return value.replace(/[\\%_]/g, (c) => `\\${c}`);
}

/** The WHERE clauses every filter field adds; shared by listing and export. */
export function filtered(db: Db, filter: Omit<EventFilter, 'limit' | 'beforeSeq'>) {
  let query = db.selectFrom('audit.events').selectAll();
  if (filter.ownerId !== undefined) query = query.where('owner_id', '=', filter.ownerId);
  if (filter.actorId !== undefined) query = query.where('actor_id', '=', filter.actorId);
  if (filter.targetType !== undefined) query = query.where('target_type', '=', filter.targetType);
  if (filter.targetId !== undefined) query = query.where('target_id', '=', filter.targetId);
  if (filter.outcome !== undefined) query = query.where('outcome', '=', filter.outcome);
  if (filter.from !== undefined) query = query.where('time', '>=', filter.from);
  if (filter.to !== undefined) query = query.where('time', '<', filter.to);
  if (filter.actionPrefix !== undefined && filter.actionPrefix !== '') {
    const pattern = `${escapeLike(filter.actionPrefix)}%`;
    query = query.where(sql<boolean>`action like ${pattern} escape '\\'`);
  }
  return query;
}

/** Newest first, by seq; reads `limit` rows. */
export async function listEvents(db: Db, filter: EventFilter): Promise<EventRow[]> {
  let query = filtered(db, filter);
  if (filter.beforeSeq !== undefined) query = query.where('seq', '<', filter.beforeSeq);
  return query.orderBy('seq', 'desc').limit(filter.limit).execute();
}

export async function findEventById(db: Db, id: string): Promise<EventRow | undefined> {
  return db
    .selectFrom('audit.events')
    .selectAll()
    .where('id', '=', id)
    .orderBy('seq')
    .limit(1)
    .executeTakeFirst();
}
