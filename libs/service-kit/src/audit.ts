// Emits audit events onto the audit queue from any service, shaped by the one contract.
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { AuditEvent, QUEUES, type AuditEventInput } from '@securevault/contracts';
import {
  currentRequestContext,
  currentTraceId,
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
  /** Enqueues an event; a failure is logged and counted, never thrown into the caller's request. */
  emit(event: AuditEventDraft): Promise<boolean>;
  producer: Producer<AuditEventInput>;
  close(): Promise<void>;
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
    schema: AuditEvent,
    connection: options.connection,
    prefix: options.prefix,
    // Audit events must not be dropped: many attempts, kept on failure.
    defaultJobOptions: { attempts: 20, removeOnComplete: { age: 3600, count: 10_000 } },
  });
  const failures = options.metrics.has('audit_emit_failures_total')
    ? options.metrics.get('audit_emit_failures_total')
    : undefined;
  return {
    producer,
    async emit(draft) {
      const requestId = draft.requestId ?? currentRequestContext()?.requestId;
      const traceId = currentTraceId();
      const event: AuditEventInput = {
        ...draft,
        id: randomUUID(),
        time: new Date().toISOString(),
        source: options.source,
        ...(requestId ? { requestId } : {}),
        ...(traceId ? { traceId } : {}),
      };
      try {
        await producer.add(event);
        return true;
      } catch (err) {
        failures?.inc();
        options.logger.error({ err, action: draft.action }, 'audit event could not be queued');
        return false;
      }
    },
    close: () => producer.close(),
  };
}
