// Streaming export of the audit trail as NDJSON or CSV, page by page: memory stays constant.
import { once } from 'node:events';
import type { Response } from 'express';
import type { AuditExportQuery } from '@securevault/contracts';
import type { ChainedRow } from './chain.ts';
import type { Db } from './db/database.ts';
import { filtered, rowToStored, type EventFilter } from './db/events.ts';

export const CSV_COLUMNS = [
  'seq',
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

/**
 * One CSV field: quoted when needed, and a leading `=`, `+`, `-`, `@`, tab or CR prefixed with
 * `'` so a spreadsheet never evaluates an attacker-supplied value as a formula.
 */
export function csvField(value: string | null): string {
  if (value === null) return '';
  const safe = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

export function csvLine(row: ChainedRow): string {
  const values: Record<(typeof CSV_COLUMNS)[number], string | null> = {
    ...row,
    time: row.time.toISOString(),
    metadata: JSON.stringify(row.metadata),
  };
  return `${CSV_COLUMNS.map((c) => csvField(values[c])).join(',')}\r\n`;
}

/** The stored event as NDJSON: the exact object that was hashed, plus the two hashes. */
export function ndjsonLine(row: ChainedRow): string {
  return `${JSON.stringify({ ...rowToStored(row), prevHash: row.prev_hash, hash: row.hash })}\n`;
}

export function toFilter(q: AuditExportQuery): Omit<EventFilter, 'limit' | 'beforeSeq'> {
  return {
    ownerId: q.ownerId,
    actionPrefix: q.action,
    actorId: q.actorId,
    targetType: q.targetType,
    targetId: q.targetId,
    outcome: q.outcome,
    from: q.from !== undefined ? new Date(q.from) : undefined,
    to: q.to !== undefined ? new Date(q.to) : undefined,
  };
}

const PAGE = 1000;

/**
 * Writes every matching event, oldest first, in keyset pages of PAGE rows, waiting for the
 * socket to drain between writes; stops when the client goes away. Returns the rows written.
 */
export async function streamExport(
  db: Db,
  query: AuditExportQuery,
  res: Response,
): Promise<number> {
  const line = query.format === 'csv' ? csvLine : ndjsonLine;
  if (query.format === 'csv') res.write(`${CSV_COLUMNS.join(',')}\r\n`);
  let after = '0';
  let written = 0;
  for (;;) {
    const rows = (await filtered(db, toFilter(query))
      .where('seq', '>', after)
      .orderBy('seq', 'asc')
      .limit(PAGE)
      .execute()) as ChainedRow[];
    for (const row of rows) {
      if (res.destroyed) return written;
      if (!res.write(line(row))) await Promise.race([once(res, 'drain'), once(res, 'close')]);
      written++;
    }
    if (rows.length < PAGE) return written;
    after = rows.at(-1)?.seq ?? after;
  }
}
