// Public surface of @securevault/contracts.
export * from './queues.ts';
export * from './jobs.ts';
export * from './audit.ts';
export * from './http.ts';
export * from './pii.ts';
