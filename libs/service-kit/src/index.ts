// Public surface of @securevault/service-kit.
export * from './config.ts';
export * from './errors.ts';
export * from './http.ts';
export * from './redis.ts';
export * from './db.ts';
export * from './queue.ts';
export * from './audit.ts';
export * from './runtime.ts';
export * from './egress.ts';
export * from './worker-service.ts';
