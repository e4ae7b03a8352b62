// The audit queue's job processor: mask, batch, chain and store; detection and alert fan-out follow the commit.
import type { Job } from 'bullmq';
import {
  auditEventsOf,
  type AuditEvent,
  type AuditJob,
  type WebhookEventJob,
} from '@securevault/contracts';
import type { Logger, Metrics } from '@securevault/observability';
import { isStoreUnavailable } from './app.ts';
import { Batcher, ItemError } from './batcher.ts';
import { appendLocked, lockChain, type ChainedRow } from './chain.ts';
import type { Db } from './db/database.ts';
import { alertEvent, detect, type Alert, type DetectionConfig } from './detect.ts';
import { maskEvent } from './mask.ts';

/** Where alerts are handed to the email-worker's webhook delivery; the contract's producer. */
export interface AlertSink {
  add(job: WebhookEventJob): Promise<unknown>;
}

export interface ProcessorDeps {
  db: Db;
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
  return storeMasked(deps, events.map(maskEvent));
}

/** storeBatch for events masked already (the processor masks each job as it arrives). */
async function storeMasked(deps: ProcessorDeps, masked: AuditEvent[]): Promise<StoredBatch> {
  const result = await deps.db.transaction().execute(async (trx) => {
    await lockChain(trx);
    const rows = await appendLocked(trx, masked);
    const alerts = deps.detection ? await detect(trx, rows, deps.detection) : [];
    if (alerts.length > 0) {
      const alertRows = await appendLocked(trx, alerts.map(alertEvent));
      await trx
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
  const counted = deps.metrics.get('audit_events_total');
  for (const row of result.rows) counted.inc({ source: row.source, outcome: row.outcome });
  const last = result.rows.at(-1);
  if (last) deps.metrics.get('audit_chain_head_seq').set(Number(last.seq));
  deps.metrics.get('audit_batch_size').observe(masked.length);
  for (const alert of result.alerts) {
    deps.metrics.get('security_alerts_total').inc({ rule: alert.rule });
    deps.logger.warn({ alertId: alert.id, rule: alert.rule }, 'security alert raised');
    await publishAlert(deps, alert);
  }
  return result;
}

/** Enqueues the alert's webhook job; a failure is logged and the periodic re-publish retries it. */
export async function publishAlert(deps: ProcessorDeps, alert: Alert): Promise<boolean> {
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
  const outcomes = (events: AuditEvent[], rows: ChainedRow[]): RecordOutcome[] => {
    const stored = new Set(rows.map((r) => r.id));
    // A batch can carry the same id twice (a redelivery racing the original): the first wins.
    return events.map((e) => (stored.delete(e.id) ? 'stored' : 'duplicate'));
  };
  const batcher = new Batcher<AuditEvent, RecordOutcome>(
    async (events) => {
      try {
        return outcomes(events, (await storeMasked(deps, events)).rows);
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
            outcomes([event], (await storeMasked(deps, [event])).rows)[0] ?? 'duplicate',
          );
        } catch (err) {
          deps.logger.error({ err, eventId: event.id }, 'audit event refused; it will be retried');
          results.push(new ItemError(err));
        }
      }
      return results;
    },
    deps.batch ?? { maxSize: 100, lingerMs: 5 },
  );
  // A job's events join the current batch together; the job settles when all of them have, and
  // if any failed it is retried whole (the events already stored are duplicates then, skipped).
  // Masking happens here, as each job arrives, so it overlaps the flush Postgres is running.
  return async (job: AuditJob, _job: Job): Promise<RecordOutcome | RecordOutcome[]> => {
    if (!('events' in job)) return batcher.add(maskEvent(job));
    return Promise.all(auditEventsOf(job).map((event) => batcher.add(maskEvent(event))));
  };
}
