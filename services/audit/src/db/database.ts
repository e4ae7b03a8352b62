// The kysely view of the `audit` schema: every table this service owns, by qualified name.
import type { ColumnType, Kysely } from 'kysely';
import type { EventsTable } from './events.ts';

export interface CheckpointsTable {
  seq: string;
  hash: string;
  partition: string;
  dropped_at: ColumnType<Date, never, never>;
}

export interface AlertsTable {
  id: string;
  time: ColumnType<Date, Date | undefined, never>;
  rule: string;
  subject: string;
  owner_id: string | null;
  event_seq: string;
  details: ColumnType<Record<string, unknown>, string, never>;
}

export interface StatsDailyView {
  day: ColumnType<Date, never, never>;
  owner_id: string;
  emails_sent: string;
  emails_failed: string;
  generations: string;
  prompt_tokens: string;
  completion_tokens: string;
}

export interface Database {
  'audit.events': EventsTable;
  'audit.chain_checkpoints': CheckpointsTable;
  'audit.alerts': AlertsTable;
  'audit.stats_daily': StatsDailyView;
  'audit.stats_refresh': { id: boolean; refreshed_at: Date };
}

/** A connection or a transaction: repositories accept either. */
export type Db = Kysely<Database>;
