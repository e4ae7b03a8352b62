// `make dev`: runs the whole platform on one machine as plain processes with local stand-ins.
//
// What it starts and what it stops:
// - Redis and Postgres: started by scripts/ensure-*.sh only when none answers locally, and then
//   left running on exit (restarts stay fast and queued jobs survive); the scripts say how to stop them.
// - The SMTP sink (2525, viewer on 8025) and the model stand-in (8090) unless SMTP_URL /
//   OPENAI_BASE_URL point elsewhere: in-process, closed on exit.
// - The five services, as child processes: SIGTERM on Ctrl-C, SIGKILL after 15 s.
// Any variable the user exports (LOG_LEVEL, DATABASE_URL, ...) wins over the defaults below.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { styleText } from 'node:util';
import {
  ensureDatabase,
  startModelStandin,
  startSmtpSink,
  waitForHttp,
} from '@securevault/testing';
import type { ModelStandin, SmtpSink } from '@securevault/testing';
import {
  DEV_MANAGEMENT_PORTS,
  DEV_PORTS,
  SERVICES,
  applyUserOverrides,
  buildServiceEnv,
  childProcessEnv,
} from './lib/service-env.ts';
import type { ServiceName } from './lib/service-env.ts';
import {
  REPO_ROOT,
  formatLogLine,
  runNodeScript,
  serviceEntry,
  spawnService,
} from './lib/processes.ts';
import type { OutputStream, ServiceProcess } from './lib/processes.ts';

const env = process.env;
const SMTP_PORT = 2525;
const MAIL_VIEWER_PORT = 8025;
const MODEL_PORT = 8090;
const READY_TIMEOUT_MS = 90_000;

const COLORS = ['cyan', 'magenta', 'yellow', 'green', 'blue', 'white'] as const;
const LABELS = [...SERVICES, 'auth-migrate', 'audit-migrate', 'dev'];
const LABEL_WIDTH = Math.max(...LABELS.map((l) => l.length));

function label(name: string): string {
  const index = LABELS.indexOf(name);
  const color = name === 'dev' ? 'white' : (COLORS[index % COLORS.length] ?? 'white');
  return styleText(color, name.padEnd(LABEL_WIDTH));
}

function say(message: string): void {
  console.log(`${label('dev')} │ ${message}`);
}

function warn(message: string): void {
  console.error(`${label('dev')} │ ${styleText('yellow', message)}`);
}

function lineWriter(name: string): (line: string, stream: OutputStream) => void {
  return (line, stream) => {
    const out = stream === 'stderr' ? process.stderr : process.stdout;
    for (const part of formatLogLine(line).split('\n')) out.write(`${label(name)} │ ${part}\n`);
  };
}

function isLocalHost(url: string): boolean {
  try {
    return ['127.0.0.1', 'localhost', '[::1]', '::1'].includes(new URL(url).hostname);
  } catch {
    return false;
  }
}

/** Runs one ensure script; returns true when it started something (its line says "started"). */
function runEnsure(script: string, extraEnv: Record<string, string>): boolean {
  const result = spawnSync('bash', [join(REPO_ROOT, 'scripts', script)], {
    env: { ...env, ...extraEnv },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const out = result.stdout.trim();
  if (out) for (const line of out.split('\n')) say(line);
  if (result.status !== 0) {
    throw new Error(
      `scripts/${script} failed (exit ${result.status ?? result.signal ?? 'unknown'})`,
    );
  }
  return /\bstarted\b/.test(out);
}

/** Dev-only secrets, generated once per checkout and kept in .data (git-ignored), never printed. */
function devSecret(name: string): string {
  const fromEnv = env[name];
  if (fromEnv) return fromEnv;
  const dir = join(REPO_ROOT, '.data');
  const file = join(dir, 'dev-secrets.json');
  let secrets: Record<string, string> = {};
  if (existsSync(file)) secrets = JSON.parse(readFileSync(file, 'utf8')) as Record<string, string>;
  const existing = secrets[name];
  if (existing) return existing;
  const value = randomBytes(32).toString('base64url');
  secrets[name] = value;
  mkdirSync(dir, { recursive: true });
  writeFileSync(file, `${JSON.stringify(secrets, null, 2)}\n`, { mode: 0o600 });
  return value;
}

function portOf(url: string, fallback: number): string {
  const port = new URL(url).port;
  return port === '' ? String(fallback) : port;
}

async function main(): Promise<void> {
  const redisUrl = env.REDIS_URL || 'redis://127.0.0.1:6379';
  const databaseUrl = env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/securevault';
  const startedInfra: string[] = [];
  let sink: SmtpSink | undefined;
  let model: ModelStandin | undefined;
  const children = new Map<ServiceName, ServiceProcess>();
  let shuttingDown = false;

  const closeStandins = async (): Promise<void> => {
    await Promise.allSettled([sink?.close(), model?.close()]);
  };

  const shutdown = async (signal: string): Promise<void> => {
    if (shuttingDown) {
      // A second Ctrl-C: the user does not want to wait for graceful shutdown.
      warn('second signal: killing the services now');
      for (const c of children.values()) c.child.kill('SIGKILL');
      process.exit(130);
    }
    shuttingDown = true;
    const running = [...children.values()].filter(
      (c) => c.child.exitCode === null && c.child.signalCode === null,
    );
    say(
      `${signal}: stopping ${running.length} running service(s) (SIGTERM, SIGKILL after 15 s)...`,
    );
    const codes = await Promise.all(
      [...children.values()].map(async (c) => `${c.name}=${await c.stop(15_000)}`),
    );
    if (codes.length > 0) say(`services stopped (exit codes: ${codes.join(', ')})`);
    await closeStandins();
    if (startedInfra.length > 0) {
      say(
        `left running on purpose: ${startedInfra.join(' and ')} (started by this run; the lines above say how to stop them).`,
      );
    }
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));

  try {
    // 1. Redis and Postgres, when they are meant to be local.
    if (isLocalHost(redisUrl)) {
      if (runEnsure('ensure-redis.sh', { REDIS_PORT: portOf(redisUrl, 6379) }))
        startedInfra.push('Redis');
    } else say(`using Redis at ${new URL(redisUrl).host} (REDIS_URL)`);
    if (isLocalHost(databaseUrl)) {
      if (runEnsure('ensure-postgres.sh', { PGPORT: portOf(databaseUrl, 5432) }))
        startedInfra.push('Postgres');
    } else say(`using Postgres at ${new URL(databaseUrl).host} (DATABASE_URL)`);
    if (await ensureDatabase(databaseUrl))
      say(`created database ${new URL(databaseUrl).pathname.slice(1)}`);

    // 2. Stand-ins for the outside world.
    let smtpUrl = env.SMTP_URL;
    if (!smtpUrl) {
      sink = await startSmtpSink({ port: SMTP_PORT, httpPort: MAIL_VIEWER_PORT });
      smtpUrl = sink.url;
      say(`SMTP sink on ${sink.url}; mail viewer on http://localhost:${MAIL_VIEWER_PORT}`);
    }
    let openaiBaseUrl = env.OPENAI_BASE_URL;
    let openaiApiKey = env.OPENAI_API_KEY;
    if (!openaiBaseUrl) {
      model = await startModelStandin({ port: MODEL_PORT });
      openaiBaseUrl = model.baseUrl;
      // The stand-in only checks that a bearer token is present; a real provider needs a real key.
      openaiApiKey ||= 'sk-securevault-dev-placeholder';
      say(`model stand-in on ${model.baseUrl} (models securevault-dev-1, securevault-dev-mini)`);
    } else if (!openaiApiKey) {
      warn(
        'OPENAI_BASE_URL is set but OPENAI_API_KEY is not; using a placeholder key (fine for Ollama-like servers).',
      );
      openaiApiKey = 'sk-securevault-dev-placeholder';
    }

    // 3. The environment, exactly as the e2e tests build it, with the user's overrides on top.
    const base = {
      redisUrl,
      databaseUrl,
      smtpUrl,
      smtpFrom: env.SMTP_FROM || 'SecureVault <no-reply@securevault.local>',
      openaiBaseUrl,
      openaiApiKey,
      sessionSecret: devSecret('SESSION_SECRET'),
      queuePrefix: env.QUEUE_PREFIX || 'sv',
      ports: { ...DEV_PORTS },
      managementPorts: { ...DEV_MANAGEMENT_PORTS },
      // On one machine a webhook receiver is usually local: let endpoints on loopback through
      // (production refuses private addresses; see docs/configuration.md).
      extra: { WEBHOOK_ALLOWED_CIDRS: '127.0.0.0/8,::1/128' },
    };
    const envFor = (service: ServiceName): Record<string, string> =>
      childProcessEnv(applyUserOverrides(buildServiceEnv(service, base), env));

    // 4. Migrations, owner by owner. A failed migration stops here: the services would fail anyway.
    for (const service of ['auth', 'audit'] as const) {
      const script = join(REPO_ROOT, 'services', service, 'src', 'migrate.ts');
      if (!existsSync(script)) {
        warn(`services/${service}/src/migrate.ts does not exist yet; skipping its migrations`);
        continue;
      }
      const code = await runNodeScript(`${service}-migrate`, script, envFor(service), {
        onLine: lineWriter(`${service}-migrate`),
      });
      if (code !== 0)
        throw new Error(`${service} migrations failed (exit ${code}); see the lines above`);
      say(`${service} migrations applied`);
    }

    // 5. The services.
    for (const service of SERVICES) {
      if (shuttingDown) break;
      if (!existsSync(serviceEntry(service))) {
        warn(`services/${service}/src/main.ts does not exist yet; not starting ${service}`);
        continue;
      }
      const proc = spawnService(service, envFor(service), { onLine: lineWriter(service) });
      children.set(service, proc);
      void proc.exited.then((info) => {
        if (proc.stopping || shuttingDown) return;
        const how = info.signal ? `signal ${info.signal}` : `code ${info.code ?? '?'}`;
        console.error(
          `${label(service)} │ ${styleText(['red', 'bold'], `✖ ${service} exited with ${how}; the other services keep running (fix it and restart make dev)`)}`,
        );
      });
    }
  } catch (err) {
    warn(`make dev could not start: ${err instanceof Error ? err.message : String(err)}`);
    if ((err as { code?: string }).code === 'EADDRINUSE') {
      warn(
        'is another make dev still running? Stop it, or set SMTP_URL / OPENAI_BASE_URL to use other servers.',
      );
    }
    for (const c of children.values()) await c.stop(15_000);
    await closeStandins();
    process.exit(1);
  }

  // 6. Readiness: poll each management /readyz; a service that exits stops its own wait.
  const results = await Promise.all(
    [...children.entries()].map(async ([service, proc]) => {
      const gone = new AbortController();
      void proc.exited.then(() => gone.abort(new Error('exited')));
      try {
        await waitForHttp(`http://127.0.0.1:${DEV_MANAGEMENT_PORTS[service]}/readyz`, {
          timeoutMs: READY_TIMEOUT_MS,
          expectStatus: 200,
          intervalMs: 250,
          signal: gone.signal,
        });
        return [service, true] as const;
      } catch {
        return [service, false] as const;
      }
    }),
  );
  if (shuttingDown) return;
  const notReady = results.filter(([, ok]) => !ok).map(([s]) => s);
  const missing = SERVICES.filter((s) => !children.has(s));
  const lines = [
    notReady.length === 0 && missing.length === 0
      ? styleText(['green', 'bold'], 'SecureVault is up.')
      : styleText(
          ['yellow', 'bold'],
          `SecureVault is partly up (not ready: ${[...notReady, ...missing].join(', ')}).`,
        ),
    `  API            http://localhost:${DEV_PORTS.gateway}/api/health`,
    sink
      ? `  Mail viewer    http://localhost:${MAIL_VIEWER_PORT}`
      : `  SMTP           ${smtpHostNote()}`,
    model
      ? `  Model          ${model.baseUrl} (stand-in)`
      : `  Model          ${env.OPENAI_BASE_URL ?? ''}`,
    `  Metrics        ${SERVICES.map((s) => `${s} :${DEV_MANAGEMENT_PORTS[s]}`).join(', ')} (GET /metrics, /readyz, /healthz)`,
    '  Ctrl-C stops the services and stand-ins.',
  ];
  for (const line of lines) say(line);
}

/** The SMTP host the services use when SMTP_URL is the user's own (credentials never shown). */
function smtpHostNote(): string {
  try {
    const url = new URL(env.SMTP_URL ?? '');
    return `${url.protocol}//${url.host} (SMTP_URL)`;
  } catch {
    return 'SMTP_URL';
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
