// Stats read from the materialized view: per day, totals, and per user for the global (admin) view.
import { sql } from 'kysely';
import type { StatsCounts, StatsReport } from '@securevault/contracts';
import type { Db } from './db/database.ts';

/** The view's key for events that belong to no user. */
export const NO_OWNER = '00000000-0000-0000-0000-000000000000';

interface CountRow {
  emails_sent: string;
  emails_failed: string;
  generations: string;
  prompt_tokens: string;
  completion_tokens: string;
}

const counts = (r: CountRow | undefined): StatsCounts => ({
  emailsSent: Number(r?.emails_sent ?? 0),
  emailsFailed: Number(r?.emails_failed ?? 0),
  generations: Number(r?.generations ?? 0),
  promptTokens: Number(r?.prompt_tokens ?? 0),
  completionTokens: Number(r?.completion_tokens ?? 0),
});

const SUMS = sql`coalesce(sum(emails_sent), 0)::text as emails_sent,
  coalesce(sum(emails_failed), 0)::text as emails_failed,
  coalesce(sum(generations), 0)::text as generations,
  coalesce(sum(prompt_tokens), 0)::text as prompt_tokens,
  coalesce(sum(completion_tokens), 0)::text as completion_tokens`;

/** Numbers of the last `days` days (UTC), for one owner or, without one, everyone. */
export async function readStats(
  db: Db,
  options: { ownerId?: string | undefined; days: number; now?: Date },
): Promise<StatsReport> {
  const now = options.now ?? new Date();
  const from = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()));
  from.setUTCDate(from.getUTCDate() - (options.days - 1));
  const fromDay = from.toISOString().slice(0, 10);
  const owner = options.ownerId === undefined ? sql`true` : sql`owner_id = ${options.ownerId}`;
  const refreshed = await db
    .selectFrom('audit.stats_refresh')
    .select('refreshed_at')
    .executeTakeFirst();
  const { rows: days } = await sql<CountRow & { day: string }>`
    select to_char(day, 'YYYY-MM-DD') as day, ${SUMS} from audit.stats_daily
    where day >= ${fromDay}::date and ${owner} group by day order by day`.execute(db);
  const { rows: totals } = await sql<CountRow>`
    select ${SUMS} from audit.stats_daily where day >= ${fromDay}::date and ${owner}`.execute(db);
  const report: StatsReport = {
    refreshedAt: (refreshed?.refreshed_at ?? new Date(0)).toISOString(),
    from: fromDay,
    totals: counts(totals[0]),
    days: days.map((d) => ({ day: d.day, ...counts(d) })),
  };
  if (options.ownerId === undefined) {
    const { rows: users } = await sql<CountRow & { owner_id: string }>`
      select owner_id, ${SUMS} from audit.stats_daily where day >= ${fromDay}::date
      group by owner_id order by owner_id`.execute(db);
    report.users = users.map((u) => ({
      ownerId: u.owner_id === NO_OWNER ? null : u.owner_id,
      ...counts(u),
    }));
  }
  return report;
}
