// OpenTelemetry bootstrap (standard OTEL_* variables, off without an exporter) and job trace context.
import { register } from 'node:module';
import {
  context,
  propagation,
  trace,
  SpanKind,
  SpanStatusCode,
  type Context,
} from '@opentelemetry/api';

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
 * Starts the SDK before the service imports express, pg or ioredis, so their instrumentations
 * can patch them: call it first in main.ts and import the app afterwards with `await import()`.
 */
export async function startTelemetry(
  serviceName: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<Telemetry> {
  if (!tracingConfigured(env)) return { enabled: false, shutdown: async () => {} };
  env.OTEL_SERVICE_NAME ??= serviceName;
  // We export metrics with prom-client and logs as JSON lines; the SDK only traces.
  env.OTEL_METRICS_EXPORTER ??= 'none';
  env.OTEL_LOGS_EXPORTER ??= 'none';
  // ESM modules are patched only through the loader hook, registered before they are imported.
  register('@opentelemetry/instrumentation/hook.mjs', import.meta.url);
  const [{ NodeSDK }, http, express, ioredis, pg] = await Promise.all([
    import('@opentelemetry/sdk-node'),
    import('@opentelemetry/instrumentation-http'),
    import('@opentelemetry/instrumentation-express'),
    import('@opentelemetry/instrumentation-ioredis'),
    import('@opentelemetry/instrumentation-pg'),
  ]);
  const sdk = new NodeSDK({
    instrumentations: [
      new http.HttpInstrumentation({
        ignoreIncomingRequestHook: (req) =>
          ['/healthz', '/readyz', '/metrics'].includes(req.url ?? ''),
      }),
      // Router and handler spans only: a span per middleware (helmet, parsers, limiters...) cost
      // more CPU than the request itself under load (docs/performance.md, tracing tax).
      new express.ExpressInstrumentation({
        ignoreLayersType: [express.ExpressLayerType.MIDDLEWARE],
      }),
      new ioredis.IORedisInstrumentation(),
      new pg.PgInstrumentation(),
    ],
  });
  sdk.start();
  return { enabled: true, shutdown: () => sdk.shutdown() };
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
