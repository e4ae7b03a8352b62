// Test and local-development helpers shared by every SecureVault package (never used in production).
export { startSmtpSink } from './smtp-sink.ts';
export type { ReceivedMessage, SmtpSink, SmtpSinkOptions } from './smtp-sink.ts';
export { startModelStandin, standinReplyWords, STANDIN_MODELS } from './model-standin.ts';
export type {
  ModelStandin,
  ModelStandinFailures,
  ModelStandinOptions,
  RecordedRequest,
} from './model-standin.ts';
export { createTestDatabase, ensureDatabase } from './postgres.ts';
export type { TestDatabase } from './postgres.ts';
export { uniquePrefix, cleanupRedisPrefix } from './redis.ts';
export { freePort, waitForHttp } from './ports.ts';
export type { WaitForHttpOptions } from './ports.ts';
export { waitForJobState } from './jobs.ts';
