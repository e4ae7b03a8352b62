// The email-worker's environment, parsed once at start-up into a frozen, typed object.
import { z } from 'zod';
import { CidrList, commonEnv, loadConfig } from '@securevault/service-kit/worker';
import { domainOf } from './address.ts';

const count = (fallback: number, max: number) =>
  z.coerce.number().int().min(1).max(max).default(fallback);

export const emailEnv = {
  ...commonEnv,
  // A nodemailer connection URL (`smtp://user:pass@host:587`); it may hold a password, so it is
  // normally mounted as SMTP_URL_FILE and never logged.
  SMTP_URL: z.url({ protocol: /^smtps?$/ }),
  // `SecureVault <no-reply@example.com>`: its domain also names our Message-IDs.
  SMTP_FROM: z
    .string()
    .max(320)
    .refine((from) => domainOf(from) !== undefined),
  // Jobs wait on Redis and SMTP, not on CPU: 50 in flight over 10 pooled connections delivered
  // 500-550 emails/s end to end in the benchmark against 380-410 with 10 over 5
  // (docs/performance.md, emails).
  EMAIL_CONCURRENCY: count(50, 1000),
  SMTP_POOL_MAX_CONNECTIONS: count(10, 100),
  // nodemailer's own defaults are minutes; a stuck server must fail the attempt long before that.
  SMTP_TIMEOUT_MS: z.coerce.number().int().min(100).max(600_000).default(30_000),
  // A job whose worker died (SIGKILL, OOM) is taken up again once its lock lapses.
  EMAIL_LOCK_DURATION_MS: z.coerce.number().int().min(1000).max(600_000).default(30_000),
  WEBHOOK_CONCURRENCY: count(10, 1000),
  WEBHOOK_TIMEOUT_MS: z.coerce.number().int().min(100).max(120_000).default(10_000),
  // The operators' Slack-compatible incoming webhook; it embeds a token, so mount it as WEBHOOK_URL_FILE.
  WEBHOOK_URL: z.url({ protocol: /^https?$/ }).optional(),
  WEBHOOK_OPERATOR_MAX_PER_MINUTE: count(10, 10_000),
  // Consumers' webhook endpoints never reach private, loopback or link-local addresses, except
  // these CIDRs (comma-separated; e.g. 127.0.0.0/8 for local development). Empty in production.
  WEBHOOK_ALLOWED_CIDRS: CidrList,
};

export type EmailWorkerConfig = ReturnType<typeof loadEmailWorkerConfig>;

export function loadEmailWorkerConfig(env: NodeJS.ProcessEnv = process.env) {
  return loadConfig(emailEnv, env);
}
