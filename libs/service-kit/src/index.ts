// Public surface of @securevault/service-kit: the worker entry (./worker.ts) plus HTTP and Postgres.
export * from './worker.ts';
export * from './http.ts';
export * from './db.ts';
