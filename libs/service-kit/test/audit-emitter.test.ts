// The audit emitter's group commit: events emitted while a job is being added travel together in
// the next job, each keeping the trace it was emitted in. Real Redis and BullMQ; tracing on, into a
// local OTLP receiver (a stand-in for a collector).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import {
  AUDIT_JOB_MAX_EVENTS,
  AuditEventBatch,
  AuditJob,
  auditEventsOf,
  type AuditEvent,
} from '@securevault/contracts';
import {
  Metrics,
  createLogger,
  runInJobSpan,
  startTelemetry,
  type Telemetry,
} from '@securevault/observability';
import { cleanupRedisPrefix, uniquePrefix } from '@securevault/testing';
import { closeRedis, createAuditEmitter, createRedis, waitForRedis } from '../src/index.ts';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const logger = createLogger({ service: 'gateway', level: 'silent' });
const metrics = new Metrics('gateway', { defaultMetrics: false });
const prefix = uniquePrefix('kit-audit');
const OTEL_ENV = ['OTEL_EXPORTER_OTLP_ENDPOINT', 'OTEL_EXPORTER_OTLP_PROTOCOL'];
let connection: Redis;
let telemetry: Telemetry;
const receiver = http.createServer((req, res) => {
  req.resume().on('end', () => res.writeHead(200).end('{}'));
});

before(async () => {
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  process.env.OTEL_EXPORTER_OTLP_ENDPOINT = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
  process.env.OTEL_EXPORTER_OTLP_PROTOCOL = 'http/json';
  telemetry = await startTelemetry('gateway', process.env);
  connection = createRedis({ url: REDIS_URL, name: 'audit', logger, metrics, role: 'producer' });
  await waitForRedis(connection);
});
after(async () => {
  await closeRedis(connection);
  await cleanupRedisPrefix(REDIS_URL, prefix);
  await telemetry.shutdown();
  for (const k of OTEL_ENV) delete process.env[k];
  receiver.close();
});

const draft = (i: number) => ({
  actor: { type: 'user' as const, id: `user-${i}` },
  action: 'email.queued',
  outcome: 'success' as const,
  ownerId: null,
  metadata: { i },
});

const gatewayEmitter = (queuePrefix: string) =>
  createAuditEmitter({ source: 'gateway', connection, prefix: queuePrefix, logger, metrics });

/** Runs `fn` inside a trace of its own, as a request handler would be. */
const inTrace = <T>(traceId: string, fn: () => Promise<T>) =>
  runInJobSpan(
    'request',
    { traceparent: `00-${traceId}-${randomBytes(8).toString('hex')}-01` },
    {},
    fn,
  );

describe('createAuditEmitter group commit', () => {
  it('queues concurrent events in few jobs, in order, each with the trace it was emitted in', async () => {
    assert.equal(telemetry.enabled, true);
    const emitter = gatewayEmitter(`${prefix}-a`);
    const n = 250;
    const traces = Array.from({ length: n }, () => randomBytes(16).toString('hex'));
    const results = await Promise.all(
      traces.map((traceId, i) => inTrace(traceId, () => emitter.emit(draft(i)))),
    );
    assert.deepEqual(results, Array<boolean>(n).fill(true), 'every emit resolves true');

    const jobs = await emitter.producer.queue.getJobs(['waiting']);
    assert.ok(jobs.length < n / 2, `${jobs.length} jobs for ${n} events`);
    const events: AuditEvent[] = [];
    for (const job of jobs) {
      const payload = AuditJob.parse(job.data);
      const inJob = auditEventsOf(payload);
      assert.ok(inJob.length <= AUDIT_JOB_MAX_EVENTS, `${inJob.length} events in one job`);
      if (inJob.length > 1) {
        const batch = AuditEventBatch.parse(job.data);
        assert.equal(job.id, batch.id, 'the job id is the batch id');
        assert.equal(batch.trace?.traceparent, inJob[0]?.trace?.traceparent, 'first event trace');
      } else {
        assert.equal(job.id, inJob[0]?.id, 'a batch of one is the event itself');
      }
      const order = inJob.map((e) => (e.metadata as { i: number }).i);
      assert.deepEqual(
        order,
        [...order].sort((a, b) => a - b),
        'emission order inside a job',
      );
      events.push(...inJob);
    }
    assert.deepEqual(
      events.map((e) => (e.metadata as { i: number }).i).sort((a, b) => a - b),
      Array.from({ length: n }, (_, i) => i),
      'every event queued exactly once',
    );
    // The first event went alone (nothing to wait for): a batch of one is the event itself.
    const [first] = events.filter((e) => (e.metadata as { i: number }).i === 0);
    assert.ok(jobs.some((j) => j.id === first?.id && !('events' in j.data)));
    for (const e of events) {
      const i = (e.metadata as { i: number }).i;
      assert.equal(e.trace?.traceparent?.split('-')[1], traces[i], `event ${i} keeps its trace`);
      assert.equal(e.traceId, traces[i]);
    }
    await emitter.close();
  });

  it('close() waits for the events already emitted', async () => {
    const emitter = gatewayEmitter(`${prefix}-b`);
    const emitted = Array.from({ length: 20 }, (_, i) => emitter.emit(draft(i)));
    const queue = emitter.producer.queue;
    await emitter.close();
    assert.deepEqual(await Promise.all(emitted), Array<boolean>(20).fill(true));
    const reader = new Queue(queue.name, { connection, prefix: `${prefix}-b` });
    const jobs = await reader.getJobs(['waiting']);
    assert.equal(
      jobs.flatMap((j) => auditEventsOf(AuditJob.parse(j.data))).length,
      20,
      'all 20 queued before close returned',
    );
    await reader.close();
  });
});
