// Queue names and job names: the one list producers and workers agree on.
export const QUEUES = {
  email: 'email',
  webhook: 'webhook',
  ai: 'ai',
  audit: 'audit',
} as const;

export type QueueName = (typeof QUEUES)[keyof typeof QUEUES];

/** Each queue carries exactly one job name; workers refuse anything else at start-up. */
export const JOB_NAMES = {
  email: 'send-email',
  webhook: 'deliver-webhook',
  ai: 'generate',
  audit: 'record',
} as const satisfies Record<QueueName, string>;

/** Redis key of the stream an ai-worker appends a generation's chunks to. */
export function generationStreamKey(prefix: string, generationId: string): string {
  return `${prefix}:gen:${generationId}:stream`;
}

/**
 * The backoff of jobs whose failures may say when to come back (a provider's 429 or 503 with
 * `Retry-After`): exponential with jitter, but never sooner than the error's `retryAfterMs`.
 * Every worker built by service-kit's createWorker knows this strategy.
 */
export const RETRY_AFTER_BACKOFF = {
  type: 'retry-after',
  delay: 1_000,
  jitter: 0.5,
} as const;
