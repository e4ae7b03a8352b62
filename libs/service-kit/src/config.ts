// Environment parsed once with zod into a frozen object; `<NAME>_FILE` supplies secrets from files.
import { readFileSync, statSync } from 'node:fs';
import { z } from 'zod';
import type { Logger, Metrics } from '@securevault/observability';

export class ConfigError extends Error {
  readonly variables: string[];
  constructor(problems: Array<{ variable: string; problem: string }>) {
    super(
      'invalid configuration (see docs/configuration.md):\n' +
        problems.map((p) => `  - ${p.variable}: ${p.problem}`).join('\n'),
    );
    this.name = 'ConfigError';
    this.variables = problems.map((p) => p.variable);
  }
}

/** Variables every service reads. */
export const commonEnv = {
  NODE_ENV: z.enum(['development', 'test', 'production']).default('development'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  MANAGEMENT_PORT: z.coerce.number().int().min(0).max(65535).default(9464),
  SHUTDOWN_GRACE_MS: z.coerce.number().int().min(100).max(600_000).default(25_000),
  SHUTDOWN_DRAIN_MS: z.coerce.number().int().min(0).max(60_000).default(0),
  // HTTP server timeouts (slow clients, docs/configuration.md): idle keep-alive connections, the
  // time to send the request headers (slowloris), and the time to send the whole request.
  HTTP_KEEP_ALIVE_TIMEOUT_MS: z.coerce.number().int().min(1000).max(600_000).default(65_000),
  HTTP_HEADERS_TIMEOUT_MS: z.coerce.number().int().min(500).max(600_000).default(20_000),
  HTTP_REQUEST_TIMEOUT_MS: z.coerce.number().int().min(1000).max(3_600_000).default(60_000),
  REDIS_URL: z.url({ protocol: /^rediss?$/ }).default('redis://127.0.0.1:6379'),
  QUEUE_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,64}$/)
    .default('sv'),
};

export const port = (fallback: number) =>
  z.coerce.number().int().min(0).max(65535).default(fallback);
export const postgresUrl = () => z.url({ protocol: /^postgres(ql)?$/ });
export const csv = () =>
  z
    .string()
    .default('')
    .transform((s) =>
      s
        .split(',')
        .map((x) => x.trim())
        .filter(Boolean),
    );

/**
 * Parses `env` against `shape`. Any variable may instead be given as `<NAME>_FILE` naming a
 * file (how Kubernetes mounts Secrets). Errors name variables, never their values.
 */
export function loadConfig<S extends z.ZodRawShape>(
  shape: S,
  env: NodeJS.ProcessEnv = process.env,
): Readonly<z.infer<z.ZodObject<S>>> {
  const input: Record<string, string | undefined> = {};
  const problems: Array<{ variable: string; problem: string }> = [];
  for (const key of Object.keys(shape)) {
    const file = env[`${key}_FILE`];
    if (file !== undefined && file !== '') {
      if (env[key] !== undefined) {
        problems.push({ variable: key, problem: `set both ${key} and ${key}_FILE; choose one` });
        continue;
      }
      try {
        input[key] = readFileSync(file, 'utf8').replace(/\r?\n$/, '');
      } catch {
        problems.push({ variable: `${key}_FILE`, problem: 'file cannot be read' });
      }
    } else {
      input[key] = env[key] === '' ? undefined : env[key];
    }
  }
  const parsed = z.object(shape).safeParse(input);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const variable = String(issue.path[0] ?? '(root)');
      problems.push({ variable, problem: describe(issue, input[variable] === undefined) });
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return deepFreeze(parsed.data as z.infer<z.ZodObject<S>>);
}

// zod's own messages can quote the received value; ours never do.
function describe(issue: z.core.$ZodIssue, missing: boolean): string {
  if (missing) return 'is required';
  switch (issue.code) {
    case 'invalid_type':
      return `must be a ${issue.expected}`;
    case 'invalid_value':
      return `must be one of ${issue.values.map(String).join(', ')}`;
    case 'invalid_format':
      return `must be a valid ${issue.format}`;
    case 'too_small':
      return `must be at least ${String(issue.minimum)}${issue.origin === 'string' ? ' characters' : ''}`;
    case 'too_big':
      return `must be at most ${String(issue.maximum)}${issue.origin === 'string' ? ' characters' : ''}`;
    default:
      return 'is invalid';
  }
}

function deepFreeze<T>(value: T): Readonly<T> {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

/**
 * Reads a secret from a mounted file with a cache: re-read after `ttlMs` (Kubernetes rotates
 * mounted Secrets in place) and, when the file cannot be read, the last good value is kept.
 */
export interface SecretFileOptions {
  ttlMs?: number;
  /** the variable it stands for (SESSION_SECRET): named in the warning and the metric label */
  name?: string;
  logger?: Pick<Logger, 'warn'>;
  metrics?: Metrics;
}

export class SecretFile {
  readonly #path: string;
  readonly #ttlMs: number;
  readonly #options: SecretFileOptions;
  #value: string | undefined;
  #previous: string | undefined;
  #readAt = 0;
  #mtimeMs = 0;

  constructor(path: string, ttlMsOrOptions: number | SecretFileOptions = {}) {
    this.#options = typeof ttlMsOrOptions === 'number' ? { ttlMs: ttlMsOrOptions } : ttlMsOrOptions;
    this.#path = path;
    this.#ttlMs = this.#options.ttlMs ?? 5 * 60_000;
  }

  get(now = Date.now()): string {
    if (this.#value !== undefined && now - this.#readAt < this.#ttlMs) return this.#value;
    try {
      const mtimeMs = statSync(this.#path).mtimeMs;
      if (this.#value === undefined || mtimeMs !== this.#mtimeMs) {
        const value = readFileSync(this.#path, 'utf8').replace(/\r?\n$/, '');
        if (this.#value !== undefined && value !== this.#value) this.#previous = this.#value;
        this.#value = value;
        this.#mtimeMs = mtimeMs;
      }
      this.#readAt = now;
    } catch (err) {
      if (this.#value === undefined) throw new Error(`secret file cannot be read`, { cause: err });
      // Stale fallback: keep serving the last value rather than failing every request, and say so
      // (the name of the secret only, never its path's contents). Retried on the next TTL.
      this.#readAt = now;
      const name = this.#options.name ?? 'unnamed';
      this.#options.logger?.warn(
        { secret: name },
        'secret file cannot be read; keeping the last good value',
      );
      this.#options.metrics?.get('secret_stale_total').inc({ secret: name });
    }
    return this.#value;
  }

  /** The value before the last rotation seen, so hashes made with it can still be verified. */
  get previous(): string | undefined {
    return this.#previous;
  }
}
