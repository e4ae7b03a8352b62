// The audit service's environment, parsed once at start-up into a frozen, typed object.
import { z } from 'zod';
import { commonEnv, loadConfig, port, postgresUrl } from '@securevault/service-kit';
import type { DetectionConfig } from './detect.ts';

const interval = (fallback: number) =>
  z.coerce.number().int().min(1_000).max(86_400_000).default(fallback);
const threshold = (fallback: number) =>
  z.coerce.number().int().min(2).max(100_000).default(fallback);

export const auditEnv = {
  ...commonEnv,
  PORT: port(8082),
  DATABASE_URL: postgresUrl(),
  /**
   * jobs held at once; they wait on the batcher, which writes them in one transaction on one
   * connection, so this bounds the batch size: below AUDIT_BATCH_MAX it caps every batch (at 8 the
   * service stored ~800 events/s, at 100 ~3,600/s: docs/performance.md)
   */
  AUDIT_CONCURRENCY: z.coerce.number().int().min(1).max(256).default(100),
  DB_POOL_MAX: z.coerce.number().int().min(1).max(100).default(10),
  /**
   * events written per transaction at most; jobs arriving together share one (100 → 500: from
   * ~6,500 to ~8,600 events/s in the benchmark, docs/performance.md)
   */
  AUDIT_BATCH_MAX: z.coerce.number().int().min(1).max(1000).default(500),
  AUDIT_BATCH_LINGER_MS: z.coerce.number().int().min(0).max(1000).default(5),
  AUDIT_RETENTION_DAYS: z.coerce.number().int().min(1).max(3650).default(365),
  /** the retention role's connection; unset: retention does not run in this process */
  AUDIT_RETENTION_DATABASE_URL: postgresUrl().optional(),
  AUDIT_RETENTION_INTERVAL_MS: interval(3_600_000),
  AUDIT_STATS_REFRESH_MS: interval(60_000),
  AUDIT_CHAIN_HEAD_INTERVAL_MS: interval(60_000),
  AUDIT_RULE_WINDOW_SECONDS: z.coerce.number().int().min(10).max(86_400).default(600),
  AUDIT_RULE_FAILED_LOGINS: threshold(10),
  AUDIT_RULE_STUFFING_ACCOUNTS: threshold(5),
  AUDIT_RULE_NEW_LOGIN_LOCATION: z
    .enum(['true', 'false'])
    .default('true')
    .transform((v) => v === 'true'),
  AUDIT_RULE_APIKEY_IPS: threshold(5),
  AUDIT_RULE_EXPORTS: threshold(10),
  AUDIT_RULE_RATE_LIMITED: threshold(20),
};

export function detectionConfig(config: AuditConfig): DetectionConfig {
  return {
    windowSeconds: config.AUDIT_RULE_WINDOW_SECONDS,
    failedLogins: config.AUDIT_RULE_FAILED_LOGINS,
    stuffingAccounts: config.AUDIT_RULE_STUFFING_ACCOUNTS,
    newLoginLocation: config.AUDIT_RULE_NEW_LOGIN_LOCATION,
    apiKeyIps: config.AUDIT_RULE_APIKEY_IPS,
    exports: config.AUDIT_RULE_EXPORTS,
    rateLimitBlocks: config.AUDIT_RULE_RATE_LIMITED,
  };
}

export type AuditConfig = ReturnType<typeof loadAuditConfig>;

export function loadAuditConfig(env: NodeJS.ProcessEnv = process.env) {
  return loadConfig(auditEnv, env);
}

/** The subset the migration Job needs. */
export function loadMigrationConfig(env: NodeJS.ProcessEnv = process.env) {
  return loadConfig({ LOG_LEVEL: commonEnv.LOG_LEVEL, DATABASE_URL: postgresUrl() }, env);
}
