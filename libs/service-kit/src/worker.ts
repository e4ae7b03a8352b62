// What a queue worker needs from @securevault/service-kit, without the HTTP server (express,
// helmet) or the database (pg, kysely) modules: the ai-worker and the email-worker import this
// entry, and its module graph leaves those packages unloaded (docs/performance.md, memory).
export * from './config.ts';
export * from './errors.ts';
export * from './redis.ts';
export * from './queue.ts';
export * from './audit.ts';
export * from './runtime.ts';
export * from './egress.ts';
export * from './worker-service.ts';
