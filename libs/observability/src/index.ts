// Public surface of @securevault/observability.
export * from './redact.ts';
export * from './context.ts';
export * from './logger.ts';
export * from './catalog.ts';
export * from './metrics.ts';
export * from './http-metrics.ts';
export * from './health.ts';
export * from './management.ts';
export * from './lifecycle.ts';
export * from './resources.ts';
export * from './telemetry.ts';
export * from './startup.ts';
