// The gateway's environment, parsed once into a frozen, typed object.
import { z } from 'zod';
import { CidrList, ConfigError, commonEnv, csv, loadConfig, port } from '@securevault/service-kit';

const CIDR = /^[0-9a-fA-F:.]+(\/\d{1,3})?$/;

/** A hop count (`1`) or a comma list of addresses/CIDRs; `true` would trust any X-Forwarded-For. */
const trustProxy = () =>
  z
    .string()
    .default('0')
    .transform((value, ctx) => {
      const trimmed = value.trim();
      if (/^\d{1,2}$/.test(trimmed)) return Number(trimmed);
      const list = trimmed
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
      if (
        list.length === 0 ||
        !list.every((s) => CIDR.test(s) || ['loopback', 'linklocal', 'uniquelocal'].includes(s))
      ) {
        ctx.addIssue({ code: 'custom', message: 'must be a hop count or a comma list of CIDRs' });
        return z.NEVER;
      }
      return list;
    });

const httpUrl = () => z.url({ protocol: /^https?$/ });
const count = (fallback: number) => z.coerce.number().int().min(1).max(1_000_000).default(fallback);

export const gatewayEnv = {
  ...commonEnv,
  PORT: port(8080),
  AUTH_URL: httpUrl().default('http://127.0.0.1:8081'),
  AUDIT_URL: httpUrl().default('http://127.0.0.1:8082'),
  AUTH_HEALTH_URL: httpUrl().default('http://127.0.0.1:9465/readyz'),
  AUDIT_HEALTH_URL: httpUrl().default('http://127.0.0.1:9466/readyz'),
  AUTH_TIMEOUT_MS: z.coerce.number().int().min(50).max(60_000).default(5000),
  BODY_LIMIT: z
    .string()
    .regex(/^\d+(b|kb|mb)$/i)
    .default('100kb'),
  TRUST_PROXY: trustProxy(),
  AI_DEFAULT_MODEL: z.string().min(1).max(128).default('securevault-dev-1'),
  AI_MODELS: csv()
    .refine((list) => list.length > 0, 'must name at least one model')
    .default(['securevault-dev-1', 'securevault-dev-mini']),
  AI_MAX_TOKENS_LIMIT: z.coerce.number().int().min(1).max(32_768).default(4096),
  METRICS_TOKEN: z.string().min(16).max(512).optional(),
  SSE_HEARTBEAT_MS: z.coerce.number().int().min(100).max(120_000).default(15_000),
  SSE_BLOCK_MS: z.coerce.number().int().min(100).max(120_000).default(15_000),
  SSE_MAX_STREAMS: z.coerce.number().int().min(1).max(100_000).default(1000),
  // Rate limits and brute-force defence (docs/security.md): counts per window, windows in seconds.
  RATE_LIMIT_LOGIN_MAX: count(5),
  RATE_LIMIT_LOGIN_WINDOW_SECONDS: count(300),
  RATE_LIMIT_LOGIN_BLOCK_SECONDS: count(300),
  RATE_LIMIT_ACCOUNT_FAILURES_PER_HOUR: count(100),
  RATE_LIMIT_API_PER_MINUTE: count(60),
  RATE_LIMIT_EMAIL_PER_MINUTE: count(10),
  RATE_LIMIT_AI_PER_MINUTE: count(5),
  // No request waits longer than this for the limiter's Redis (the issue caps it at 1 s).
  RATE_LIMIT_TIMEOUT_MS: z.coerce.number().int().min(50).max(1000).default(500),
  RATE_LIMIT_IPV6_SUBNET: z.coerce.number().int().min(32).max(64).default(56),
  // How long an introspection answer may be reused; revocations are pushed, so this only bounds
  // how long auth's other changes (scopes of a key) take to show. 0 turns the cache off.
  INTROSPECTION_CACHE_TTL_MS: z.coerce.number().int().min(0).max(300_000).default(30_000),
  // Feature flags, A/B experiments and redirects (docs/security.md): a mounted JSON file, re-read
  // when its modification time changes, checked at most every EDGE_CONFIG_TTL_MS.
  EDGE_CONFIG_PATH: z.string().min(1).optional(),
  EDGE_CONFIG_TTL_MS: z.coerce.number().int().min(50).max(600_000).default(10_000),
  // Strict-Transport-Security: at least a year; subdomains included unless some serve plain http.
  HSTS_MAX_AGE_SECONDS: z.coerce.number().int().min(31_536_000).max(63_072_000).default(31_536_000),
  HSTS_INCLUDE_SUBDOMAINS: z
    .enum(['true', 'false'])
    .default('true')
    .transform((v) => v === 'true'),
  // Browser origins allowed to call the API cross-origin; empty means none.
  CORS_ORIGINS: csv().pipe(z.array(z.url({ protocol: /^https?$/ }))),
  // Webhook URLs on private, loopback or link-local addresses are refused, except in these CIDRs
  // (comma-separated; the email-worker has the same setting for deliveries).
  WEBHOOK_ALLOWED_CIDRS: CidrList,
  // Delivery (docs/api-delivery.md): attempts per email job, and the decoded size cap of attachments.
  EMAIL_ATTEMPTS: z.coerce.number().int().min(1).max(50).default(5),
  // AI job attempts; each may make 1 + OPENAI_MAX_RETRIES provider calls (ai-worker).
  AI_ATTEMPTS: z.coerce.number().int().min(1).max(20).default(3),
  // Tokens per principal per UTC day, reserved before each generation; 0 turns the budget off.
  AI_DAILY_TOKEN_BUDGET: z.coerce.number().int().min(0).max(1_000_000_000).default(0),
  // Audit export links (docs/audit.md): HMAC key shared by every gateway replica; unset, each
  // process makes a random one (fine for one replica: links then only work on the one that signed).
  AUDIT_EXPORT_SIGNING_KEY: z.string().min(32).max(512).optional(),
  AUDIT_EXPORT_LINK_TTL_SECONDS: z.coerce.number().int().min(10).max(300).default(300),
  // GET /api/stats answers are cached in Redis this long (1 to 5 minutes).
  STATS_CACHE_TTL_SECONDS: z.coerce.number().int().min(60).max(300).default(60),
  // The built web console (index.html + assets/); unset: the installed @securevault/console's dist/.
  CONSOLE_DIR: z.string().min(1).optional(),
  EMAIL_ATTACHMENTS_MAX_BYTES: z.coerce
    .number()
    .int()
    .min(0)
    .max(10 * 1024 * 1024)
    .default(5 * 1024 * 1024),
};

export type GatewayConfig = ReturnType<typeof loadConfig<typeof gatewayEnv>>;

/** Parses the environment; the default model must be on the allowlist (a wiring mistake otherwise). */
export function loadGatewayConfig(env: NodeJS.ProcessEnv = process.env): GatewayConfig {
  const config = loadConfig(gatewayEnv, env);
  if (!config.AI_MODELS.includes(config.AI_DEFAULT_MODEL)) {
    throw new ConfigError([{ variable: 'AI_DEFAULT_MODEL', problem: 'must be one of AI_MODELS' }]);
  }
  return config;
}
