// The ai-worker's environment, parsed once at start-up into a frozen, typed object.
import { z } from 'zod';
import { ConfigError, commonEnv, loadConfig } from '@securevault/service-kit/worker';

const DEFAULT_MODELS = 'securevault-dev-1,securevault-dev-mini';

export const aiEnv = {
  ...commonEnv,
  OPENAI_BASE_URL: z.url({ protocol: /^https?$/ }).default('https://api.openai.com/v1'),
  // Normally mounted as OPENAI_API_KEY_FILE; never logged.
  OPENAI_API_KEY: z.string().min(1).max(4096),
  AI_DEFAULT_MODEL: z.string().min(1).max(128).default('securevault-dev-1'),
  // The only models a job may name: anything else fails at once instead of costing a provider call.
  AI_MODELS: z
    .string()
    .default(DEFAULT_MODELS)
    .transform((s) =>
      s
        .split(',')
        .map((m) => m.trim())
        .filter(Boolean),
    )
    .pipe(z.array(z.string().max(128)).min(1)),
  AI_TIMEOUT_MS: z.coerce.number().int().min(100).max(600_000).default(30_000),
  // The SDK's own retries, kept small: BullMQ retries the whole job with backoff as well.
  OPENAI_MAX_RETRIES: z.coerce.number().int().min(0).max(10).default(1),
  // The longest provider Retry-After (429/503) a job waits before its next attempt; a provider
  // asking for more fails the generation at once instead of retrying too early.
  AI_RETRY_AFTER_MAX_MS: z.coerce.number().int().min(0).max(3_600_000).default(60_000),
  AI_CONCURRENCY: z.coerce.number().int().min(1).max(1000).default(5),
  // How often a running generation looks for its owner's cancel (DELETE /api/generations/:id).
  AI_CANCEL_POLL_MS: z.coerce.number().int().min(20).max(10_000).default(250),
  // Optional response cache: identical model, prompt and maxTokens within the TTL reuse the text. 0 = off.
  AI_CACHE_TTL_SECONDS: z.coerce
    .number()
    .int()
    .min(0)
    .max(7 * 24 * 3600)
    .default(0),
  AI_STREAM_TTL_SECONDS: z.coerce
    .number()
    .int()
    .min(60)
    .max(30 * 24 * 3600)
    .default(86_400),
};

export type AiWorkerConfig = ReturnType<typeof loadAiWorkerConfig>;

export function loadAiWorkerConfig(env: NodeJS.ProcessEnv = process.env) {
  const config = loadConfig(aiEnv, env);
  if (!config.AI_MODELS.includes(config.AI_DEFAULT_MODEL)) {
    throw new ConfigError([{ variable: 'AI_DEFAULT_MODEL', problem: 'must be one of AI_MODELS' }]);
  }
  return config;
}
