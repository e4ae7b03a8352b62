// Tracing against a local OTLP/HTTP receiver (a stand-in for a collector, speaking the real protocol).
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { context, trace } from '@opentelemetry/api';
import {
  tracingConfigured,
  startTelemetry,
  injectTraceContext,
  runInJobSpan,
  currentTraceId,
} from '../src/telemetry.ts';

describe('tracingConfigured', () => {
  it('is off without an exporter and when disabled', () => {
    assert.equal(tracingConfigured({}), false);
    assert.equal(tracingConfigured({ OTEL_TRACES_EXPORTER: 'none' }), false);
    assert.equal(tracingConfigured({ OTEL_TRACES_EXPORTER: 'otlp' }), true);
    assert.equal(tracingConfigured({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://x:4318' }), true);
    assert.equal(
      tracingConfigured({
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://x:4318',
        OTEL_SDK_DISABLED: 'true',
      }),
      false,
    );
  });

  it('does nothing when off', async () => {
    const t = await startTelemetry('gateway', {});
    assert.equal(t.enabled, false);
    await t.shutdown();
    assert.equal(injectTraceContext(), undefined);
  });
});

describe('startTelemetry with an OTLP receiver', () => {
  const received: Buffer[] = [];
  const receiver = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.url === '/v1/traces') received.push(Buffer.concat(chunks));
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  after(() => receiver.close());

  it('exports spans and carries the trace through a job payload', async () => {
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    const port = (receiver.address() as AddressInfo).port;
    const env: NodeJS.ProcessEnv = {
      OTEL_TRACES_EXPORTER: 'otlp',
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`,
      OTEL_BSP_SCHEDULE_DELAY: '50',
    };
    Object.assign(process.env, env);
    const telemetry = await startTelemetry('email-worker', process.env);
    assert.equal(telemetry.enabled, true);
    const tracer = trace.getTracer('test');
    let carrier: ReturnType<typeof injectTraceContext>;
    let producerTrace = '';
    tracer.startActiveSpan('produce', (span) => {
      producerTrace = span.spanContext().traceId;
      carrier = injectTraceContext(context.active());
      span.end();
    });
    assert.match(carrier?.traceparent ?? '', new RegExp(`^00-${producerTrace}-`));
    const consumerTrace = await runInJobSpan(
      'email process',
      carrier,
      { 'messaging.system': 'bullmq' },
      () => Promise.resolve(currentTraceId()),
    );
    assert.equal(consumerTrace, producerTrace, 'the worker continues the producer trace');
    await assert.rejects(
      runInJobSpan('email process', carrier, {}, () => Promise.reject(new Error('smtp down'))),
      /smtp down/,
    );
    await telemetry.shutdown();
    const body = Buffer.concat(received).toString();
    assert.match(body, /email process/);
    assert.match(body, /email-worker/);
    for (const k of Object.keys(env)) delete process.env[k];
  });
});
