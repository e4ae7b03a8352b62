// OpenTelemetry bootstrap (standard OTEL_* variables, off without an exporter) and job trace context.
import { register } from 'node:module';
import {
  ROOT_CONTEXT,
  context,
  propagation,
  trace,
  SpanKind,
  SpanStatusCode,
  type Context,
} from '@opentelemetry/api';

import type { NextFunction, Request, Response } from 'express';
import { routeTemplate } from './http-metrics.ts';

export interface Telemetry {
  enabled: boolean;
  shutdown(): Promise<void>;
}

/** Tracing is on only when an exporter is configured and the SDK is not disabled. */
export function tracingConfigured(env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.OTEL_SDK_DISABLED === 'true') return false;
  const exporter = env.OTEL_TRACES_EXPORTER;
  if (exporter !== undefined && exporter !== '') return exporter !== 'none';
  return Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
}

/**
 * The instrumentation packages a deployment may add with `OTEL_NODE_ENABLED_INSTRUMENTATIONS`
 * (comma-separated, the variable's standard names): a span per Redis command or SQL query. Off by
 * default: every request already gets one server span (`requestSpanMiddleware`) and every job one
 * consumer span, and the per-command spans cost the gateway more than half its throughput
 * (docs/performance.md, tracing tax).
 */
export const OPTIONAL_INSTRUMENTATIONS = ['ioredis', 'pg'] as const;
export type OptionalInstrumentation = (typeof OPTIONAL_INSTRUMENTATIONS)[number];

/** The optional instrumentations `OTEL_NODE_ENABLED_INSTRUMENTATIONS` asks for; unknown names are refused. */
export function enabledInstrumentations(
  env: NodeJS.ProcessEnv = process.env,
): OptionalInstrumentation[] {
  const names = (env.OTEL_NODE_ENABLED_INSTRUMENTATIONS ?? '')
    .split(',')
    .map((n) => n.trim())
    .filter((n) => n !== '');
  for (const name of names) {
    if (!(OPTIONAL_INSTRUMENTATIONS as readonly string[]).includes(name)) {
      throw new Error(
        `OTEL_NODE_ENABLED_INSTRUMENTATIONS: unknown instrumentation "${name}" (known: ${OPTIONAL_INSTRUMENTATIONS.join(', ')})`,
      );
    }
  }
  return [...new Set(names)] as OptionalInstrumentation[];
}

let requestSpans = false;

/**
 * Starts the SDK before the service imports ioredis or pg, so the optional instrumentations can
 * patch them: call it first in main.ts and import the app afterwards with `await import()`.
 */
export async function startTelemetry(
  serviceName: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<Telemetry> {
  if (!tracingConfigured(env)) return { enabled: false, shutdown: async () => {} };
  const optional = enabledInstrumentations(env);
  env.OTEL_SERVICE_NAME ??= serviceName;
  // We export metrics with prom-client and logs as JSON lines; the SDK only traces.
  env.OTEL_METRICS_EXPORTER ??= 'none';
  env.OTEL_LOGS_EXPORTER ??= 'none';
  // ESM modules are patched only through the loader hook, registered before they are imported;
  // without an instrumentation to apply, no hook slows every import down.
  if (optional.length > 0) register('@opentelemetry/instrumentation/hook.mjs', import.meta.url);
  const { NodeSDK } = await import('@opentelemetry/sdk-node');
  const instrumentations = await Promise.all(
    optional.map(async (name) =>
      name === 'ioredis'
        ? new (await import('@opentelemetry/instrumentation-ioredis')).IORedisInstrumentation()
        : new (await import('@opentelemetry/instrumentation-pg')).PgInstrumentation(),
    ),
  );
  const sdk = new NodeSDK({ instrumentations });
  sdk.start();
  requestSpans = true;
  return {
    enabled: true,
    shutdown: async () => {
      requestSpans = false;
      await sdk.shutdown();
    },
  };
}

/**
 * One SERVER span per request, continuing the caller's `traceparent`, named by the route template
 * once the answer is sent (`POST /api/send-email`) and active while the request is handled, so jobs
 * queued and downstream calls made for it carry its trace. A no-op while tracing is off.
 */
export function requestSpanMiddleware() {
  const tracer = trace.getTracer('securevault-http');
  return (req: Request, res: Response, next: NextFunction): void => {
    if (!requestSpans) return next();
    const parent = propagation.extract(ROOT_CONTEXT, req.headers);
    const span = tracer.startSpan(
      req.method,
      {
        kind: SpanKind.SERVER,
        attributes: { 'http.request.method': req.method, 'url.path': req.path },
      },
      parent,
    );
    res.once('close', () => {
      const template = routeTemplate(req);
      span.updateName(`${req.method} ${template}`);
      span.setAttribute('http.route', template);
      span.setAttribute('http.response.status_code', res.statusCode);
      if (res.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
    });
    context.with(trace.setSpan(parent, span), next);
  };
}

export interface TraceCarrier {
  traceparent?: string;
  tracestate?: string;
}

/** The current trace context as W3C headers, to put inside a job. */
export function injectTraceContext(ctx: Context = context.active()): TraceCarrier | undefined {
  const carrier: Record<string, string> = {};
  propagation.inject(ctx, carrier);
  if (!carrier.traceparent) return undefined;
  return carrier.tracestate
    ? { traceparent: carrier.traceparent, tracestate: carrier.tracestate }
    : { traceparent: carrier.traceparent };
}

/** Runs `fn` in a consumer span that continues the trace carried by a job. */
export async function runInJobSpan<T>(
  name: string,
  carrier: TraceCarrier | undefined,
  attributes: Record<string, string | number>,
  fn: () => Promise<T>,
): Promise<T> {
  const parent = carrier ? propagation.extract(context.active(), carrier) : context.active();
  const tracer = trace.getTracer('securevault');
  return tracer.startActiveSpan(
    name,
    { kind: SpanKind.CONSUMER, attributes },
    parent,
    async (span) => {
      try {
        return await fn();
      } catch (err) {
        span.recordException(err as Error);
        span.setStatus({ code: SpanStatusCode.ERROR });
        throw err;
      } finally {
        span.end();
      }
    },
  );
}

export function currentTraceId(): string | undefined {
  const id = trace.getActiveSpan()?.spanContext().traceId;
  return id && id !== '00000000000000000000000000000000' ? id : undefined;
}
