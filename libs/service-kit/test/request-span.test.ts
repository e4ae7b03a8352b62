// Request spans: one SERVER span per request of every service's app, continuing the caller's
// traceparent and named by the route template; exported over OTLP/HTTP JSON to a local receiver
// (a stand-in for a collector, speaking the real protocol).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  Metrics,
  createLogger,
  currentTraceId,
  enabledInstrumentations,
  injectTraceContext,
  startTelemetry,
  type Telemetry,
} from '@securevault/observability';
import { createBaseApp, finishApp, listen, route, type HttpServer } from '../src/index.ts';

interface ExportedSpan {
  traceId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  status?: { code?: number };
  attributes: Array<{ key: string; value: { stringValue?: string; intValue?: string | number } }>;
}

const OTEL_ENV = {
  OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
  OTEL_BSP_SCHEDULE_DELAY: '50',
};
const spans: ExportedSpan[] = [];
const receiver = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const body = JSON.parse(Buffer.concat(chunks).toString()) as {
      resourceSpans?: Array<{ scopeSpans?: Array<{ spans?: ExportedSpan[] }> }>;
    };
    for (const rs of body.resourceSpans ?? [])
      for (const ss of rs.scopeSpans ?? []) spans.push(...(ss.spans ?? []));
    res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
  });
});
let telemetry: Telemetry;
let server: HttpServer;
let base: string;
const seen: Array<{ traceId: string | undefined; carrier: unknown }> = [];

before(async () => {
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  Object.assign(process.env, OTEL_ENV, {
    OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`,
  });
  telemetry = await startTelemetry('gateway', process.env);
  const logger = createLogger({ service: 'gateway', level: 'silent' });
  const app = createBaseApp({ logger, metrics: new Metrics('gateway', { defaultMetrics: false }) });
  app.get(
    '/api/things/:id',
    route(async (_req, res) => {
      // What a handler sees: the request's trace, to put into jobs and downstream calls.
      seen.push({ traceId: currentTraceId(), carrier: injectTraceContext() });
      await new Promise((r) => setImmediate(r));
      res.json({ ok: true });
    }),
  );
  app.get(
    '/api/broken',
    route(() => Promise.reject(new Error('boom'))),
  );
  finishApp(app, logger);
  server = await listen(app, 0, '127.0.0.1');
  base = `http://127.0.0.1:${server.port}`;
});
after(async () => {
  await server.close();
  await telemetry.shutdown();
  for (const k of [...Object.keys(OTEL_ENV), 'OTEL_EXPORTER_OTLP_ENDPOINT']) delete process.env[k];
  receiver.close();
});

const attr = (span: ExportedSpan, key: string) => {
  const v = span.attributes.find((a) => a.key === key)?.value;
  return v?.stringValue ?? (v?.intValue === undefined ? undefined : Number(v.intValue));
};
const exported = async (traceId: string) => {
  const deadline = Date.now() + 5_000;
  for (;;) {
    const found = spans.filter((s) => s.traceId === traceId);
    if (found.length > 0 || Date.now() > deadline) return found;
    await new Promise((r) => setTimeout(r, 25));
  }
};

describe('requestSpanMiddleware', () => {
  it('continues the caller trace in one SERVER span named by the route template', async () => {
    assert.equal(telemetry.enabled, true);
    const traceId = randomBytes(16).toString('hex');
    const parentSpanId = randomBytes(8).toString('hex');
    const res = await fetch(`${base}/api/things/42?x=1`, {
      headers: { traceparent: `00-${traceId}-${parentSpanId}-01` },
    });
    assert.equal(res.status, 200);
    const [span, ...more] = await exported(traceId);
    assert.ok(span, 'span exported');
    assert.equal(more.length, 0, 'one span per request');
    assert.equal(span.name, 'GET /api/things/:id');
    assert.equal(span.kind, 2, 'SERVER');
    assert.equal(span.parentSpanId, parentSpanId);
    assert.equal(attr(span, 'http.route'), '/api/things/:id');
    assert.equal(attr(span, 'http.response.status_code'), 200);
    assert.equal(attr(span, 'url.path'), '/api/things/42');
    // The handler ran inside it: what it queues or calls carries this trace.
    const handler = seen.at(-1);
    assert.equal(handler?.traceId, traceId);
    assert.match(
      (handler?.carrier as { traceparent?: string } | undefined)?.traceparent ?? '',
      new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`),
    );
  });

  it('starts a trace when the caller has none, and marks a 500 as an error', async () => {
    const res = await fetch(`${base}/api/broken`);
    assert.equal(res.status, 500);
    const deadline = Date.now() + 5_000;
    let span: ExportedSpan | undefined;
    while (!span && Date.now() < deadline) {
      span = spans.find((s) => s.name === 'GET /api/broken');
      await new Promise((r) => setTimeout(r, 25));
    }
    assert.ok(span, 'span exported');
    assert.equal(span.parentSpanId ?? '', '');
    assert.equal(span.status?.code, 2, 'ERROR');
    const missing = await fetch(`${base}/nowhere`);
    assert.equal(missing.status, 404);
  });
});

describe('enabledInstrumentations', () => {
  it('reads OTEL_NODE_ENABLED_INSTRUMENTATIONS and refuses names it does not know', () => {
    assert.deepEqual(enabledInstrumentations({}), []);
    assert.deepEqual(
      enabledInstrumentations({ OTEL_NODE_ENABLED_INSTRUMENTATIONS: ' pg, ioredis ,pg' }),
      ['pg', 'ioredis'],
    );
    assert.throws(
      () => enabledInstrumentations({ OTEL_NODE_ENABLED_INSTRUMENTATIONS: 'http' }),
      /unknown instrumentation "http" \(known: ioredis, pg\)/,
    );
  });
});
