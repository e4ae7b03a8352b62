// The platform under test: the five services as real processes with the chart's environment, a fresh
// database and queue prefix, the SMTP sink and the model stand-in; plus a user and an API key.
// The services run compiled, as the images do: `node dist/main.js` of each service, the workspace
// libs from their dist/ (`make benchmark` runs `make build` first).
import { randomBytes, randomUUID } from 'node:crypto';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import {
  cleanupRedisPrefix,
  createTestDatabase,
  freePort,
  startModelStandin,
  startSmtpSink,
  uniquePrefix,
  waitForHttp,
  type ModelStandin,
  type SmtpSink,
  type TestDatabase,
} from '@securevault/testing';
import {
  NODE_OPTIONS,
  SERVICES,
  buildServiceEnv,
  childProcessEnv,
  type ServiceName,
} from '../../scripts/lib/service-env.ts';
import {
  REPO_ROOT,
  runNodeScript,
  spawnService,
  type ServiceProcess,
} from '../../scripts/lib/processes.ts';

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/**
 * What the benchmark changes from the chart's defaults, and why: the defaults protect a public
 * service from one client, and the load generator is exactly one client on one address.
 */
export const BENCH_OVERRIDES: Readonly<Record<string, string>> = {
  // Per-IP/per-principal limits would turn the measurement into a count of 429s.
  RATE_LIMIT_API_PER_MINUTE: '1000000',
  RATE_LIMIT_EMAIL_PER_MINUTE: '1000000',
  RATE_LIMIT_AI_PER_MINUTE: '1000000',
  // Login brute-force defence: one account logging in from one address thousands of times.
  RATE_LIMIT_LOGIN_MAX: '1000000',
  RATE_LIMIT_ACCOUNT_FAILURES_PER_HOUR: '1000000',
  // 2,000 concurrent streams on one gateway (default 1,000).
  SSE_MAX_STREAMS: '5000',
  // 2,000 generations must finish in bounded time; 5 at a time would take minutes.
  AI_CONCURRENCY: '100',
  // No per-day token budget (0 = off, the default), stated so a changed default cannot skew a run.
  AI_DAILY_TOKEN_BUDGET: '0',
  // The restarts of the start-up rows wait for a graceful stop; bounded like the e2e tests'.
  SHUTDOWN_GRACE_MS: '10000',
};

/**
 * Packages whose sources changed after their dist/ was written: the run would measure older code.
 * `make benchmark` builds first; running bench/run.ts directly does not.
 */
export function staleBuilds(): string[] {
  const packages = [
    ...SERVICES.map((s) => `services/${s}`),
    'libs/contracts',
    'libs/observability',
    'libs/service-kit',
  ];
  return packages.filter((pkg) => {
    const entry = join(
      REPO_ROOT,
      pkg,
      'dist',
      pkg.startsWith('services/') ? 'main.js' : 'index.js',
    );
    const builtAt = statSync(entry, { throwIfNoEntry: false })?.mtimeMs;
    if (builtAt === undefined) return true;
    const src = join(REPO_ROOT, pkg, 'src');
    return readdirSync(src, { recursive: true, encoding: 'utf8' }).some(
      (file) => !file.endsWith('.test.ts') && statSync(join(src, file)).mtimeMs > builtAt,
    );
  });
}

export interface StartedService {
  name: string;
  process: ServiceProcess;
  managementPort: number;
  /** spawn to the first 200 from /readyz */
  readyMs: number;
}

export interface Platform {
  base: string;
  db: TestDatabase;
  smtp: SmtpSink;
  model: ModelStandin;
  prefix: string;
  ports: { gateway: number; auth: number; audit: number };
  managementPorts: Record<ServiceName, number>;
  services: Map<ServiceName, StartedService>;
  apiKey: string;
  user: { email: string; password: string; id: string };
  envFor(service: ServiceName, extra?: Record<string, string>): Record<string, string>;
  /** Starts one more process of `service` (e.g. a second gateway) and measures its start. */
  startExtra(
    name: string,
    service: ServiceName,
    env: Record<string, string>,
    managementPort: number,
  ): Promise<StartedService>;
  /** Stops `service` and starts it again, returning the new start-up time. */
  restart(service: ServiceName): Promise<number>;
  logs: string[];
  stop(): Promise<number[]>;
}

async function startMeasured(
  name: string,
  service: ServiceName,
  env: Record<string, string>,
  managementPort: number,
  logs: string[],
): Promise<StartedService> {
  const started = performance.now();
  const proc = spawnService(service, env, {
    compiled: true,
    onLine: (line) => {
      logs.push(`[${name}] ${line}`);
      if (logs.length > 5000) logs.splice(0, logs.length - 4000);
    },
  });
  const exited = new AbortController();
  void proc.exited.then(() => exited.abort(new Error(`${name} exited during start-up`)));
  try {
    await waitForHttp(`http://127.0.0.1:${managementPort}/readyz`, {
      timeoutMs: 30_000,
      expectStatus: 200,
      intervalMs: 5,
      signal: exited.signal,
    });
  } catch (err) {
    await proc.stop(5_000);
    throw new Error(
      `${name} did not become ready: ${(err as Error).message}\n${logs.slice(-40).join('\n')}`,
    );
  }
  return { name, process: proc, managementPort, readyMs: performance.now() - started };
}

async function json(
  res: Response,
): Promise<{ status: number; body: Record<string, unknown>; res: Response }> {
  const text = await res.text();
  let body: Record<string, unknown> = {};
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    body = { raw: text };
  }
  return { status: res.status, body, res };
}

export async function startPlatform(options: {
  log: (line: string) => void;
  /** services to run under `node --cpu-prof`, profiles written to this folder on exit */
  profile?: { services: readonly ServiceName[]; dir: string };
}): Promise<Platform> {
  const logs: string[] = [];
  const stale = staleBuilds();
  if (stale.length > 0) {
    options.log(
      `  WARNING: sources newer than dist/ in ${stale.join(', ')}: run \`make build\` (make benchmark does)`,
    );
  }
  const db = await createTestDatabase();
  const smtp = await startSmtpSink({ port: 0 });
  // 1 ms between chunks: the stand-in's own pacing stays far below what is measured.
  const model = await startModelStandin({ port: 0, chunkDelayMs: 1 });
  const prefix = uniquePrefix('bench');
  const ports = { gateway: await freePort(), auth: await freePort(), audit: await freePort() };
  const managementPorts = {} as Record<ServiceName, number>;
  for (const s of SERVICES) managementPorts[s] = await freePort();
  const sessionSecret = randomBytes(32).toString('hex');
  const envFor = (service: ServiceName, extra: Record<string, string> = {}) =>
    childProcessEnv(
      buildServiceEnv(service, {
        redisUrl: REDIS_URL,
        databaseUrl: db.url,
        smtpUrl: smtp.url,
        smtpFrom: 'SecureVault <no-reply@securevault.test>',
        openaiBaseUrl: model.baseUrl,
        openaiApiKey: 'sk-bench-standin',
        sessionSecret,
        queuePrefix: prefix,
        ports,
        managementPorts,
        nodeEnv: 'production',
        logLevel: 'info',
        extra: {
          ...BENCH_OVERRIDES,
          // Added to the service's heap flags, not instead of them: profile what production runs.
          ...(options.profile?.services.includes(service)
            ? {
                NODE_OPTIONS: `${NODE_OPTIONS[service]} --cpu-prof --cpu-prof-dir=${options.profile.dir}`,
              }
            : {}),
          ...extra,
        },
      }),
      // Tracing is off unless a row turns it on: the runner's own OTEL_* must not leak in.
      Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('OTEL_'))),
    );
  for (const service of ['auth', 'audit'] as const) {
    // The chart's migration Job runs the image's dist/migrate.js; so does the benchmark.
    const code = await runNodeScript(
      `${service}-migrate`,
      `services/${service}/dist/migrate.js`,
      envFor(service),
      { compiled: true, onLine: (line) => logs.push(`[${service}-migrate] ${line}`) },
    );
    if (code !== 0) throw new Error(`${service} migrations failed:\n${logs.join('\n')}`);
  }
  const services = new Map<ServiceName, StartedService>();
  // One at a time, dependencies first, so each start-up time is the service's own.
  for (const service of ['auth', 'audit', 'email-worker', 'ai-worker', 'gateway'] as const) {
    const started = await startMeasured(
      service,
      service,
      envFor(service),
      managementPorts[service],
      logs,
    );
    services.set(service, started);
    options.log(`  ${service} ready in ${started.readyMs.toFixed(0)} ms`);
  }
  const base = `http://127.0.0.1:${ports.gateway}`;

  // A user with a session, then an API key, exactly as a consumer would get them.
  const user = {
    email: `bench-${randomUUID().slice(0, 8)}@example.com`,
    password: `bench ${randomBytes(6).toString('hex')} passphrase`,
    id: '',
  };
  const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(base + path, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
    }).then(json);
  const reg = await post('/api/auth/register', { email: user.email, password: user.password });
  if (reg.status !== 201) throw new Error(`register: ${reg.status} ${JSON.stringify(reg.body)}`);
  user.id = ((reg.body.user ?? {}) as { id?: string }).id ?? '';
  const login = await post('/api/auth/login', { email: user.email, password: user.password });
  if (login.status !== 200) throw new Error(`login: ${login.status}`);
  const cookie = login.res.headers.getSetCookie()[0]?.split(';')[0] ?? '';
  const key = await post(
    '/api/auth/api-keys',
    { name: 'bench', scopes: ['email:send', 'ai:generate', 'audit:read'] },
    { cookie },
  );
  if (key.status !== 201) throw new Error(`api key: ${key.status} ${JSON.stringify(key.body)}`);
  const apiKey = key.body.key as string;

  const extras: StartedService[] = [];
  return {
    base,
    db,
    smtp,
    model,
    prefix,
    ports,
    managementPorts,
    services,
    apiKey,
    user,
    envFor,
    logs,
    async startExtra(name, service, env, managementPort) {
      const started = await startMeasured(name, service, env, managementPort, logs);
      extras.push(started);
      return started;
    },
    async restart(service) {
      const current = services.get(service);
      if (current) await current.process.stop(15_000);
      const started = await startMeasured(
        service,
        service,
        envFor(service),
        managementPorts[service],
        logs,
      );
      services.set(service, started);
      return started.readyMs;
    },
    async stop() {
      // Reverse order of start: the gateway first, the stores' owners last.
      const codes: number[] = [];
      for (const extra of extras) codes.push(await extra.process.stop(15_000));
      for (const service of ['gateway', 'ai-worker', 'email-worker', 'audit', 'auth'] as const) {
        const s = services.get(service);
        if (s) codes.push(await s.process.stop(15_000));
      }
      await smtp.close();
      await model.close();
      await db.drop();
      await cleanupRedisPrefix(REDIS_URL, prefix);
      return codes;
    },
  };
}
