// Emits audit events onto the audit queue from any service, shaped by the one contract.
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import {
  AUDIT_JOB_MAX_EVENTS,
  AuditJob,
  QUEUES,
  type AuditEvent,
  type AuditEventInput,
  type AuditJobInput,
} from '@securevault/contracts';
import {
  currentRequestContext,
  currentTraceId,
  injectTraceContext,
  type Logger,
  type Metrics,
} from '@securevault/observability';
import { createProducer, type Producer } from './queue.ts';

export type AuditEventDraft = Omit<
  AuditEventInput,
  'id' | 'time' | 'source' | 'requestId' | 'traceId' | 'trace'
> & {
  requestId?: string;
};

export interface AuditEmitter {
  /**
   * Enqueues an event and resolves once it is in Redis (true) or could not be queued (false: a
   * failure is logged and counted, never thrown into the caller's request). Events emitted while
   * an earlier job is being added travel together in the next job.
   */
  emit(event: AuditEventDraft): Promise<boolean>;
  producer: Producer<AuditJobInput>;
  /** Waits for the events already emitted to be queued, then closes the queue. */
  close(): Promise<void>;
}

interface Waiting {
  event: AuditEventInput;
  settle: (queued: boolean) => void;
}

export function createAuditEmitter(options: {
  source: AuditEvent['source'];
  connection: Redis;
  prefix: string;
  logger: Logger;
  metrics: Metrics;
}): AuditEmitter {
  const producer = createProducer({
    queue: QUEUES.audit,
    schema: AuditJob,
    connection: options.connection,
    prefix: options.prefix,
    // Audit events must not be dropped: many attempts, kept on failure.
    defaultJobOptions: { attempts: 20, removeOnComplete: { age: 3600, count: 10_000 } },
  });
  const failures = options.metrics.has('audit_emit_failures_total')
    ? options.metrics.get('audit_emit_failures_total')
    : undefined;
  const waiting: Waiting[] = [];
  let sending: Promise<void> | undefined;

  /** One job at a time: a batch of one is the event itself, as older producers queue it. */
  const send = async (batch: Waiting[]): Promise<void> => {
    const events = batch.map((w) => w.event);
    const [first] = events;
    try {
      await producer.add(
        batch.length === 1 && first ? first : { id: randomUUID(), events, trace: first?.trace },
      );
      for (const w of batch) w.settle(true);
    } catch (err) {
      failures?.inc(batch.length);
      options.logger.error(
        { err, actions: [...new Set(events.map((e) => e.action))], events: events.length },
        'audit events could not be queued',
      );
      for (const w of batch) w.settle(false);
    }
  };
  const drain = async (): Promise<void> => {
    while (waiting.length > 0) await send(waiting.splice(0, AUDIT_JOB_MAX_EVENTS));
    sending = undefined;
  };

  return {
    producer,
    emit(draft) {
      const requestId = draft.requestId ?? currentRequestContext()?.requestId;
      const traceId = currentTraceId();
      // The trace is taken now, in the caller's context, not when the batch is sent.
      const trace = injectTraceContext();
      const event: AuditEventInput = {
        ...draft,
        id: randomUUID(),
        time: new Date().toISOString(),
        source: options.source,
        ...(requestId ? { requestId } : {}),
        ...(traceId ? { traceId } : {}),
        ...(trace ? { trace } : {}),
      };
      return new Promise<boolean>((settle) => {
        waiting.push({ event, settle });
        sending ??= drain();
      });
    },
    async close() {
      await sending;
      await producer.close();
    },
  };
}
