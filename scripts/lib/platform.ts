// The whole platform on one machine for tests: a fresh database and queue prefix, the SMTP sink and
// model stand-in, migrations, then the five services as real processes with the chart's variables.
import { randomBytes } from 'node:crypto';
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
import { SERVICES, buildServiceEnv, childProcessEnv, type ServiceName } from './service-env.ts';
import { runNodeScript, spawnService, type ServiceProcess } from './processes.ts';

export interface PlatformOptions {
  /** names the Redis prefix (`<label>-…`) so a leftover is easy to trace to its test */
  label: string;
  redisUrl?: string;
  sessionSecret?: string;
  openaiApiKey?: string;
  /** pause between the model stand-in's streamed words (default 1 ms) */
  modelChunkDelayMs?: number;
  nodeEnv?: string;
  logLevel?: string;
  /** applied to every service last (e.g. ADMIN_EMAILS, OTEL_*) */
  extra?: Record<string, string>;
  /** how long the services may take to become ready (default 20 s) */
  readyTimeoutMs?: number;
  /** which services to run as processes (default all five; migrations always run) */
  services?: readonly ServiceName[];
}

export interface Platform {
  /** the gateway, e.g. http://127.0.0.1:41234 */
  baseUrl: string;
  db: TestDatabase;
  smtp: SmtpSink;
  model: ModelStandin;
  prefix: string;
  redisUrl: string;
  /** the running services; a test that stops one itself should delete it from here */
  processes: Map<ServiceName, ServiceProcess>;
  managementPorts: Record<ServiceName, number>;
  /** every output line of every service, as `[service] line` */
  logs: string[];
  /** the public ports of the gateway, auth and audit */
  ports: { gateway: number; auth: number; audit: number };
  /** the environment `service` runs with (the chart's variables) */
  envFor(service: ServiceName): Record<string, string>;
  /** starts `service` (again, e.g. after a test stopped it) and registers it in `processes` */
  start(service: ServiceName): ServiceProcess;
  /** resolves once `service` answers /readyz with 200 */
  ready(service: ServiceName): Promise<void>;
  /**
   * Stops what is still running (services first, in parallel, each given `timeoutMs` before a
   * SIGKILL; default 15 s), then the stand-ins, the database and the Redis keys. Resolves with
   * each stopped service's exit code.
   */
  stop(timeoutMs?: number): Promise<Array<[ServiceName, number]>>;
}

/** Starts everything; on any failure, whatever was already started is stopped before rethrowing. */
export async function startPlatform(options: PlatformOptions): Promise<Platform> {
  const redisUrl = options.redisUrl ?? process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  const logs: string[] = [];
  const processes = new Map<ServiceName, ServiceProcess>();
  const managementPorts = {} as Record<ServiceName, number>;
  const prefix = uniquePrefix(options.label);
  let db: TestDatabase | undefined;
  let smtp: SmtpSink | undefined;
  let model: ModelStandin | undefined;

  const stop = async (timeoutMs = 15_000): Promise<Array<[ServiceName, number]>> => {
    const codes = await Promise.all(
      [...processes.entries()].map(
        async ([name, p]) => [name, await p.stop(timeoutMs)] as [ServiceName, number],
      ),
    );
    processes.clear();
    await smtp?.close();
    await model?.close();
    await db?.drop();
    await cleanupRedisPrefix(redisUrl, prefix);
    return codes;
  };

  try {
    db = await createTestDatabase();
    smtp = await startSmtpSink({ port: 0 });
    model = await startModelStandin({ port: 0, chunkDelayMs: options.modelChunkDelayMs ?? 1 });
    const ports = { gateway: await freePort(), auth: await freePort(), audit: await freePort() };
    for (const s of SERVICES) managementPorts[s] = await freePort();
    const base = {
      redisUrl,
      databaseUrl: db.url,
      smtpUrl: smtp.url,
      smtpFrom: 'SecureVault <no-reply@securevault.test>',
      openaiBaseUrl: model.baseUrl,
      openaiApiKey: options.openaiApiKey ?? 'sk-test-standin',
      sessionSecret: options.sessionSecret ?? randomBytes(32).toString('hex'),
      queuePrefix: prefix,
      ports,
      managementPorts,
      nodeEnv: options.nodeEnv ?? 'production',
      logLevel: options.logLevel ?? 'info',
      extra: { SHUTDOWN_GRACE_MS: '10000', ...options.extra },
    };
    const envFor = (service: ServiceName) => childProcessEnv(buildServiceEnv(service, base));
    const onLine = (name: string) => (line: string) => logs.push(`[${name}] ${line}`);

    // The chart's migration Job runs these before the services start.
    for (const service of ['auth', 'audit'] as const) {
      const code = await runNodeScript(
        `${service}-migrate`,
        `services/${service}/src/migrate.ts`,
        envFor(service),
        { onLine: onLine(`${service}-migrate`) },
      );
      if (code !== 0) throw new Error(`${service} migrations failed:\n${logs.join('\n')}`);
    }
    const start = (service: ServiceName): ServiceProcess => {
      const proc = spawnService(service, envFor(service), { onLine: onLine(service) });
      processes.set(service, proc);
      return proc;
    };
    const ready = async (service: ServiceName): Promise<void> => {
      await waitForHttp(`http://127.0.0.1:${managementPorts[service]}/readyz`, {
        timeoutMs: options.readyTimeoutMs ?? 20_000,
        expectStatus: 200,
      }).catch((err: unknown) => {
        throw new Error(
          `${service} did not become ready: ${(err as Error).message}\n${logs.slice(-60).join('\n')}`,
        );
      });
    };
    const services = options.services ?? SERVICES;
    for (const service of services) start(service);
    await Promise.all(services.map(ready));
    return {
      baseUrl: `http://127.0.0.1:${ports.gateway}`,
      db,
      smtp,
      model,
      prefix,
      redisUrl,
      processes,
      managementPorts,
      logs,
      ports,
      envFor,
      start,
      ready,
      stop,
    };
  } catch (err) {
    await stop().catch(() => undefined);
    throw err;
  }
}
