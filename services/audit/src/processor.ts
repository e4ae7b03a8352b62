// The audit queue's job processor: mask, batch, chain and store; detection and alert fan-out follow the commit.
import type { Job } from 'bullmq';
import type pg from 'pg';
import {
  auditEventsOf,
  type AuditEvent,
  type AuditJob,
  type WebhookEventJob,
} from '@securevault/contracts';
import type { Logger, Metrics } from '@securevault/observability';
import { isStoreUnavailable } from './app.ts';
import { Batcher, ItemError, Slicer } from './batcher.ts';
import {
  appendLocked,
  inChainTransaction,
  prepareEvent,
  type ChainedRow,
  type PreparedEvent,
} from './chain.ts';
import { alertEvent, detect, type Alert, type DetectionConfig } from './detect.ts';
import { maskEvent } from './mask.ts';

/** How long preparing queued events may hold the event loop before Postgres's answers are read. */
const PREPARE_SLICE_MS = 2;

/** Where alerts are handed to the email-worker's webhook delivery; the contract's producer. */
export interface AlertSink {
  add(job: WebhookEventJob): Promise<unknown>;
}

export interface ProcessorDeps {
  /** the service's pool: a chain transaction checks out one client for kysely and COPY alike */
  pool: pg.Pool;
  logger: Logger;
  metrics: Metrics;
  detection?: DetectionConfig | undefined;
  alerts?: AlertSink | undefined;
  batch?: { maxSize: number; lingerMs: number } | undefined;
}

export type RecordOutcome = 'stored' | 'duplicate';

export interface StoredBatch {
  rows: ChainedRow[];
  alerts: Alert[];
}

/** The webhook job for an alert: the id makes a re-enqueue of the same alert a no-op. */
export function alertJob(alert: Alert): WebhookEventJob {
  return {
    id: alert.id,
    event: 'security.alert',
    ownerId: alert.ownerId,
    payload: { alertId: alert.id, rule: alert.rule, subject: alert.subject, ...alert.details },
    occurredAt: alert.time.toISOString(),
  };
}

/**
 * Stores masked events in one transaction under the chain lock: appended in order, rules
 * evaluated, alerts recorded as chained `security.alert` events. Throws on any database error so
 * every job of the batch is retried (re-delivered events already stored are skipped).
 */
export async function storeBatch(deps: ProcessorDeps, events: AuditEvent[]): Promise<StoredBatch> {
  return storePrepared(deps, events.map(prepare));
}

/** Masked, then serialised for the chain: everything about an event that needs no lock. */
function prepare(event: AuditEvent): PreparedEvent {
  return prepareEvent(maskEvent(event));
}

/** storeBatch for events prepared already (the processor prepares each job as it arrives). */
export async function storePrepared(
  deps: ProcessorDeps,
  prepared: PreparedEvent[],
): Promise<StoredBatch> {
  const result = await inChainTransaction(deps.pool, async (tx) => {
    const rows = await appendLocked(tx, prepared);
    const alerts = deps.detection ? await detect(tx.trx, rows, deps.detection) : [];
    if (alerts.length > 0) {
      const alertRows = await appendLocked(
        tx,
        alerts.map((a) => prepareEvent(alertEvent(a))),
      );
      await tx.trx
        .insertInto('audit.alerts')
        .values(
          alerts.map((a, i) => ({
            id: a.id,
            time: a.time,
            rule: a.rule,
            subject: a.subject,
            owner_id: a.ownerId,
            event_seq: alertRows[i]?.seq ?? '0',
            details: JSON.stringify(a.details),
          })),
        )
        .execute();
      rows.push(...alertRows);
    }
    return { rows, alerts };
  });
  // Counted per label pair, not per row: each inc() with labels hashes them.
  const counts = new Map<string, { source: string; outcome: string; n: number }>();
  for (const { source, outcome } of result.rows) {
    const key = `${source}|${outcome}`;
    const entry = counts.get(key);
    if (entry) entry.n++;
    else counts.set(key, { source, outcome, n: 1 });
  }
  const counted = deps.metrics.get('audit_events_total');
  for (const { source, outcome, n } of counts.values()) counted.inc({ source, outcome }, n);
  const last = result.rows.at(-1);
  if (last) deps.metrics.get('audit_chain_head_seq').set(Number(last.seq));
  deps.metrics.get('audit_batch_size').observe(prepared.length);
  for (const alert of result.alerts) {
    deps.metrics.get('security_alerts_total').inc({ rule: alert.rule });
    deps.logger.warn({ alertId: alert.id, rule: alert.rule }, 'security alert raised');
    await publishAlert(deps, alert);
  }
  return result;
}

/** Enqueues the alert's webhook job; a failure is logged and the periodic re-publish retries it. */
export async function publishAlert(
  deps: Pick<ProcessorDeps, 'alerts' | 'logger'>,
  alert: Alert,
): Promise<boolean> {
  if (!deps.alerts) return false;
  try {
    await deps.alerts.add(alertJob(alert));
    return true;
  } catch (err) {
    deps.logger.error(
      { err, alertId: alert.id },
      'security alert could not be queued for webhooks',
    );
    return false;
  }
}

/** Events straight through one batch of their own (tests and the service's own events). */
export async function recordEvent(deps: ProcessorDeps, event: AuditEvent): Promise<RecordOutcome> {
  const { rows } = await storeBatch(deps, [event]);
  return rows.some((r) => r.id === event.id) ? 'stored' : 'duplicate';
}

/**
 * The processor createWorker calls: each job's events join the current batch and settle with it. When a
 * batch fails for a reason other than Postgres being unreachable, its events are retried one by
 * one, so one event Postgres refuses cannot hold back the others it was batched with.
 */
export function createProcessor(deps: ProcessorDeps) {
  const outcomes = (events: PreparedEvent[], rows: ChainedRow[]): RecordOutcome[] => {
    const stored = new Set(rows.map((r) => r.id));
    // A batch can carry the same id twice (a redelivery racing the original): the first wins.
    return events.map((e) => (stored.delete(e.row.id) ? 'stored' : 'duplicate'));
  };
  const batcher = new Batcher<PreparedEvent, RecordOutcome>(
    async (events) => {
      try {
        return outcomes(events, (await storePrepared(deps, events)).rows);
      } catch (err) {
        // Thrown on purpose: the jobs go back to the queue with backoff instead of being lost.
        deps.logger.error(
          { err, events: events.length },
          'audit batch could not be stored; its events will be retried',
        );
        if (events.length === 1 || isStoreUnavailable(err)) throw err;
      }
      const results: Array<RecordOutcome | ItemError> = [];
      for (const event of events) {
        try {
          results.push(
            outcomes([event], (await storePrepared(deps, [event])).rows)[0] ?? 'duplicate',
          );
        } catch (err) {
          deps.logger.error(
            { err, eventId: event.row.id },
            'audit event refused; it will be retried',
          );
          results.push(new ItemError(err));
        }
      }
      return results;
    },
    deps.batch ?? { maxSize: 100, lingerMs: 5 },
  );
  // A job's events join the batches in order; the job settles when all of them have, and if any
  // failed it is retried whole (the events already stored are duplicates then, skipped).
  // Masking, building the row, its canonical JSON and its COPY fields happen here, as each job
  // arrives, so they overlap the flush Postgres is running and leave only the seq-dependent
  // hashing to the lock. In slices: a burst of jobs handed out at once would otherwise hold the
  // event loop while the flush's next statement waits behind them (docs/performance.md).
  // An event that cannot be serialised fails alone, as one Postgres refuses does.
  const slicer = new Slicer(PREPARE_SLICE_MS);
  const add = (event: AuditEvent): Promise<RecordOutcome> =>
    slicer.run(() => batcher.add(prepare(event)));
  return async (job: AuditJob, _job: Job): Promise<RecordOutcome | RecordOutcome[]> => {
    if (!('events' in job)) return add(job);
    return Promise.all(auditEventsOf(job).map(add));
  };
}
