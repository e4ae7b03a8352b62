// Periodic upkeep: retention (drop old monthly partitions), stats refresh, chain-head publication, alert re-publish.
import { sql } from 'kysely';
import type { Logger, Metrics } from '@securevault/observability';
import { readHead } from './chain.ts';
import type { Db } from './db/database.ts';
import type { Alert, Rule } from './detect.ts';
import { publishAlert, type AlertSink } from './processor.ts';

/**
 * Drops every monthly partition wholly older than `days` (run with the retention role's
 * connection: the writer cannot); the function checkpoints the last dropped hash first.
 * Also creates the next months' partitions so new events never land in the default one.
 */
export async function runRetention(
  db: Db,
  deps: { logger: Logger; metrics?: Metrics | undefined },
  days: number,
  now = new Date(),
): Promise<string[]> {
  await sql`select audit.ensure_partitions(2)`.execute(db);
  const cutoff = new Date(now.getTime() - days * 86_400_000);
  const { rows } = await sql<{ name: string }>`
    select audit.drop_partitions_before(${cutoff}) as name`.execute(db);
  const dropped = rows.map((r) => r.name);
  if (dropped.length > 0) {
    deps.metrics?.get('audit_retention_partitions_dropped_total').inc(dropped.length);
    deps.logger.info(
      { partitions: dropped, retentionDays: days },
      'audit partitions dropped by retention',
    );
  }
  return dropped;
}

/** Creates this month's and the next two months' partitions (the writer may; it drops nothing). */
export async function ensurePartitions(db: Db): Promise<void> {
  await sql`select audit.ensure_partitions(2)`.execute(db);
}

/** Refreshes the stats view; the outcome and time are exported as metrics. */
export async function refreshStats(
  db: Db,
  deps: { logger: Logger; metrics: Metrics },
): Promise<Date> {
  try {
    const { rows } = await sql<{ at: Date }>`select audit.refresh_stats() as at`.execute(db);
    const at = rows[0]?.at ?? new Date();
    deps.metrics.get('audit_stats_refresh_total').inc({ outcome: 'success' });
    deps.metrics.get('audit_stats_refreshed_timestamp_seconds').set(at.getTime() / 1000);
    return at;
  } catch (err) {
    deps.metrics.get('audit_stats_refresh_total').inc({ outcome: 'failure' });
    throw err;
  }
}

/** Logs and exports the chain head so it can be anchored outside the database (log archive, SIEM). */
export async function publishHead(db: Db, deps: { logger: Logger; metrics: Metrics }) {
  const head = await readHead(db);
  deps.metrics.get('audit_chain_head_seq').set(Number(head.seq));
  deps.logger.info({ chainHead: head }, 'audit chain head');
  return head;
}

/**
 * Re-enqueues the webhook jobs of recent alerts. Job ids are alert ids, so an alert whose job is
 * still known to BullMQ is not delivered twice; one lost to a Redis outage after commit is.
 */
export async function republishAlerts(
  db: Db,
  deps: { logger: Logger; metrics: Metrics; alerts?: AlertSink | undefined },
  sinceMs: number,
): Promise<number> {
  const rows = await db
    .selectFrom('audit.alerts')
    .selectAll()
    .where('time', '>=', new Date(Date.now() - sinceMs))
    .orderBy('time')
    .execute();
  let sent = 0;
  for (const r of rows) {
    const alert: Alert = {
      id: r.id,
      rule: r.rule as Rule,
      subject: r.subject,
      ownerId: r.owner_id,
      time: r.time,
      details: r.details,
    };
    if (await publishAlert(deps, alert)) sent++;
  }
  return sent;
}

/** Runs `task` every `ms`, never overlapping itself; errors are logged, not thrown. */
export function every(ms: number, name: string, logger: Logger, task: () => Promise<unknown>) {
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    task()
      .catch((err: unknown) => logger.error({ err, task: name }, 'periodic task failed'))
      .finally(() => {
        running = false;
      });
  }, ms);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
