// The one place that maps shared settings to each service's environment, for `make dev` and the e2e tests.
export const SERVICES = ['gateway', 'auth', 'audit', 'email-worker', 'ai-worker'] as const;
export type ServiceName = (typeof SERVICES)[number];

/** HTTP ports of the services that have one (the workers serve only their management port). */
export const DEV_PORTS = { gateway: 8080, auth: 8081, audit: 8082 } as const;

/** Management ports (/healthz, /readyz, /metrics). In Kubernetes all use 9464; on one machine they must differ. */
export const DEV_MANAGEMENT_PORTS: Readonly<Record<ServiceName, number>> = {
  gateway: 9464,
  auth: 9465,
  audit: 9466,
  'email-worker': 9467,
  'ai-worker': 9468,
};

export interface ServiceEnvBase {
  redisUrl: string;
  databaseUrl: string;
  smtpUrl: string;
  smtpFrom: string;
  openaiBaseUrl: string;
  openaiApiKey: string;
  sessionSecret: string;
  queuePrefix: string;
  ports: { gateway: number; auth: number; audit: number };
  managementPorts: Record<ServiceName, number>;
  /** Default 'development'. */
  nodeEnv?: string;
  /** Default 'info'. */
  logLevel?: string;
  /** Applied last, to every service: overrides anything above. */
  extra?: Record<string, string>;
}

/**
 * V8 heap flags per service, the chart's `<component>.nodeOptions` defaults (values.yaml says why,
 * flag by flag; bench/test/heap-settings.test.ts checks the two agree). A young generation of
 * 2 × 2 MB instead of V8's up to 2 × 32 MB for the services that mostly wait on I/O; 2 × 16 MB for
 * the gateway, whose requests/s fell 15-30 % with less (docs/performance.md); an old-space limit
 * well under each container's memory limit, which also makes V8 collect start-up garbage.
 */
export const NODE_OPTIONS: Readonly<Record<ServiceName, string>> = {
  gateway: '--max-semi-space-size=16 --max-old-space-size=256',
  auth: '--max-semi-space-size=2 --max-old-space-size=192',
  audit: '--max-semi-space-size=2 --max-old-space-size=192',
  'email-worker': '--max-semi-space-size=2 --max-old-space-size=192',
  'ai-worker': '--max-semi-space-size=2 --max-old-space-size=256',
};

/** Variables that differ per service, so a value from the user's shell must never be copied to all of them. */
export const PER_SERVICE_KEYS: readonly string[] = ['PORT', 'MANAGEMENT_PORT'];

/**
 * The environment for one service, the same names the Helm chart sets. Pure: no process.env,
 * so the e2e tests get exactly what `make dev` would give with the same inputs.
 */
export function buildServiceEnv(
  service: ServiceName,
  base: ServiceEnvBase,
): Record<string, string> {
  const env: Record<string, string> = {
    NODE_ENV: base.nodeEnv ?? 'development',
    LOG_LEVEL: base.logLevel ?? 'info',
    REDIS_URL: base.redisUrl,
    QUEUE_PREFIX: base.queuePrefix,
    MANAGEMENT_PORT: String(base.managementPorts[service]),
    NODE_OPTIONS: NODE_OPTIONS[service],
  };
  // Each service gets only the settings and secrets it uses, as the chart mounts them.
  switch (service) {
    case 'gateway':
      Object.assign(env, {
        PORT: String(base.ports.gateway),
        AUTH_URL: `http://127.0.0.1:${base.ports.auth}`,
        AUDIT_URL: `http://127.0.0.1:${base.ports.audit}`,
        AUTH_HEALTH_URL: `http://127.0.0.1:${base.managementPorts.auth}/readyz`,
        AUDIT_HEALTH_URL: `http://127.0.0.1:${base.managementPorts.audit}/readyz`,
      });
      break;
    case 'auth':
      Object.assign(env, {
        PORT: String(base.ports.auth),
        DATABASE_URL: base.databaseUrl,
        SESSION_SECRET: base.sessionSecret,
      });
      break;
    case 'audit':
      Object.assign(env, { PORT: String(base.ports.audit), DATABASE_URL: base.databaseUrl });
      break;
    case 'email-worker':
      Object.assign(env, { SMTP_URL: base.smtpUrl, SMTP_FROM: base.smtpFrom });
      break;
    case 'ai-worker':
      Object.assign(env, {
        OPENAI_BASE_URL: base.openaiBaseUrl,
        OPENAI_API_KEY: base.openaiApiKey,
      });
      break;
  }
  return { ...env, ...base.extra };
}

/**
 * Lets variables the user exported win over the defaults from buildServiceEnv (e.g. LOG_LEVEL=debug
 * make dev), except the per-service ones, which would otherwise give five services one port.
 */
export function applyUserOverrides(
  env: Record<string, string>,
  userEnv: Record<string, string | undefined>,
): Record<string, string> {
  const out = { ...env };
  for (const key of Object.keys(env)) {
    const value = userEnv[key];
    if (value !== undefined && value !== '' && !PER_SERVICE_KEYS.includes(key)) out[key] = value;
  }
  return out;
}

/**
 * The full environment for a child process: the parent's (PATH, HOME, OTEL_*, ...) minus the
 * per-service keys, then the service's own. A worker must not inherit a stray PORT from the shell.
 */
export function childProcessEnv(
  serviceEnv: Record<string, string>,
  parentEnv: Record<string, string | undefined> = process.env,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(parentEnv)) {
    if (value !== undefined && !PER_SERVICE_KEYS.includes(key)) out[key] = value;
  }
  return { ...out, ...serviceEnv };
}
