// Peer for audit events/s: raw COPY FROM STDIN (pg + pg-copy-streams) of the very rows the audit
// service stored, into a table shaped like audit.events (same columns, indexes and defaults).
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';

const COLUMNS = [
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
  'prev_hash',
  'hash',
] as const;

/** COPY text format: \N for null; backslash, tab, newline and carriage return escaped. */
export function copyField(value: unknown): string {
  if (value === null || value === undefined) return '\\N';
  const text =
    value instanceof Date
      ? value.toISOString()
      : typeof value === 'string'
        ? value
        : typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint'
          ? value.toString()
          : JSON.stringify(value);
  return text
    .replaceAll('\\', '\\\\')
    .replaceAll('\t', '\\t')
    .replaceAll('\n', '\\n')
    .replaceAll('\r', '\\r');
}

export type EventRecord = Record<(typeof COLUMNS)[number], unknown>;

/** Reads `limit` stored rows (the ones the audit service just wrote), oldest first. */
export async function readStoredRows(databaseUrl: string, limit: number): Promise<EventRecord[]> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query<EventRecord>(
      `SELECT ${COLUMNS.join(', ')} FROM audit.events ORDER BY seq DESC LIMIT $1`,
      [limit],
    );
    return rows.reverse();
  } finally {
    await client.end();
  }
}

/** Seconds to COPY `rows` into a fresh copy of audit.events' shape (created before timing). */
export async function copyRows(databaseUrl: string, rows: readonly EventRecord[]): Promise<number> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  const table = `public.bench_copy_${Date.now().toString(36)}`;
  try {
    await client.query(`CREATE TABLE ${table} (LIKE audit.events INCLUDING ALL)`);
    const started = performance.now();
    const lines = function* () {
      // Batches of lines: one write per row would measure the stream machinery, not COPY.
      let chunk = '';
      for (const row of rows) {
        chunk += `${COLUMNS.map((c) => copyField(row[c])).join('\t')}\n`;
        if (chunk.length > 64 * 1024) {
          yield chunk;
          chunk = '';
        }
      }
      if (chunk) yield chunk;
    };
    await client.query('BEGIN');
    await pipeline(
      Readable.from(lines()),
      client.query(copyFrom(`COPY ${table} (${COLUMNS.join(', ')}) FROM STDIN`)),
    );
    await client.query('COMMIT');
    return (performance.now() - started) / 1000;
  } finally {
    await client.query(`DROP TABLE IF EXISTS ${table}`).catch(() => undefined);
    await client.end();
  }
}
