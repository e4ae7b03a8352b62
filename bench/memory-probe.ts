// Idle memory of each service, one at a time, from TypeScript sources or from built trees, with
// the V8 heap broken down by space (prom-client's default metrics on the management port). For
// choosing heap flags and checking lazy loading; `make benchmark` rows 11 and 12 are the verdict.
//
//   node --conditions=securevault-source bench/memory-probe.ts                  # sources
//   node --conditions=securevault-source bench/memory-probe.ts --built=/tmp/b   # /tmp/b/<service>/dist/main.js
//   ... --services=gateway,auth --node-options='--max-semi-space-size=2' --runs=3
//   ... --exercise   # auth: one registration and one login first, as the benchmark's idle row has
//
// Built trees come from `scripts/build-service.sh <service> /tmp/b/<service>` (what the image runs).
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import {
  createTestDatabase,
  freePort,
  startModelStandin,
  startSmtpSink,
  uniquePrefix,
  cleanupRedisPrefix,
  waitForHttp,
} from '@securevault/testing';
import {
  SERVICES,
  buildServiceEnv,
  childProcessEnv,
  type ServiceName,
} from '../scripts/lib/service-env.ts';
import { REPO_ROOT, runNodeScript } from '../scripts/lib/processes.ts';
import { REDIS_URL } from './lib/platform.ts';
import { median } from './lib/stats.ts';

const arg = (name: string): string | undefined =>
  process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const built = arg('built');
const services = (arg('services')?.split(',') ?? [...SERVICES]) as ServiceName[];
const nodeOptions = arg('node-options');
const runs = Number(arg('runs') ?? 1);
const quietMs = Number(arg('quiet-ms') ?? 2000);
const exercise = process.argv.includes('--exercise');

/** One registration and one login on auth directly: two argon2id runs, like the benchmark's setup. */
async function exerciseAuth(): Promise<void> {
  const base = `http://127.0.0.1:${ports.auth}/api/auth`;
  const body = JSON.stringify({
    email: `probe-${randomBytes(4).toString('hex')}@example.com`,
    password: `probe ${randomBytes(6).toString('hex')} passphrase`,
  });
  for (const path of ['register', 'login']) {
    const res = await fetch(`${base}/${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    });
    if (!res.ok) throw new Error(`auth ${path}: ${res.status} ${await res.text()}`);
  }
}

function status(pid: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of readFileSync(`/proc/${pid}/status`, 'utf8').matchAll(
    /^(Rss\w+|VmRSS):\s+(\d+) kB$/gm,
  ))
    out[m[1] as string] = Number(m[2]) / 1024;
  return out;
}

/** The heap gauges of prom-client's default metrics, in MB. */
async function heap(managementPort: number): Promise<Record<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${managementPort}/metrics`)).text();
  const out: Record<string, number> = {};
  for (const m of text.matchAll(
    /^nodejs_(heap_size_used_bytes|heap_size_total_bytes|external_memory_bytes|heap_space_size_used_bytes\{space="(\w+)"\}|heap_space_size_total_bytes\{space="(\w+)"\}) ([\d.e+]+)$/gm,
  )) {
    const key = m[2] ? `used:${m[2]}` : m[3] ? `total:${m[3]}` : (m[1] as string);
    out[key] = Number(m[4]) / 2 ** 20;
  }
  return out;
}

const db = await createTestDatabase();
const smtp = await startSmtpSink({ port: 0 });
const model = await startModelStandin({ port: 0, chunkDelayMs: 1 });
const prefix = uniquePrefix('memprobe');
const ports = { gateway: await freePort(), auth: await freePort(), audit: await freePort() };
const managementPorts = {} as Record<ServiceName, number>;
for (const s of SERVICES) managementPorts[s] = await freePort();
const envFor = (service: ServiceName) =>
  childProcessEnv(
    buildServiceEnv(service, {
      redisUrl: REDIS_URL,
      databaseUrl: db.url,
      smtpUrl: smtp.url,
      smtpFrom: 'SecureVault <no-reply@securevault.test>',
      openaiBaseUrl: model.baseUrl,
      openaiApiKey: 'sk-probe-standin',
      sessionSecret: randomBytes(32).toString('hex'),
      queuePrefix: prefix,
      ports,
      managementPorts,
      nodeEnv: 'production',
      logLevel: 'warn',
      ...(nodeOptions === undefined ? {} : { extra: { NODE_OPTIONS: nodeOptions } }),
    }),
    Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('OTEL_'))),
  );

try {
  for (const service of ['auth', 'audit'] as const) {
    const code = await runNodeScript(
      `${service}-migrate`,
      `services/${service}/src/migrate.ts`,
      envFor(service),
      { onLine: () => {} },
    );
    if (code !== 0) throw new Error(`${service} migrations failed`);
  }
  for (const service of services) {
    const samples: Array<Record<string, number>> = [];
    for (let i = 0; i < runs; i++) {
      const args = built
        ? [join(built, service, 'dist', 'main.js')]
        : [
            '--conditions=securevault-source',
            join(REPO_ROOT, 'services', service, 'src', 'main.ts'),
          ];
      const started = performance.now();
      const child = spawn(process.execPath, args, {
        cwd: built ? join(built, service) : REPO_ROOT,
        env: envFor(service),
        stdio: ['ignore', 'ignore', 'inherit'],
      });
      const exited = new Promise((resolve) => child.once('exit', resolve));
      try {
        await waitForHttp(`http://127.0.0.1:${managementPorts[service]}/readyz`, {
          timeoutMs: 30_000,
          expectStatus: 200,
          intervalMs: 5,
        });
        const readyMs = performance.now() - started;
        if (exercise && service === 'auth') await exerciseAuth();
        await new Promise((r) => setTimeout(r, quietMs));
        // RSS before the scrape: /metrics itself allocates.
        const rss = status(child.pid ?? 0);
        samples.push({ readyMs, ...rss, ...(await heap(managementPorts[service])) });
      } finally {
        child.kill('SIGTERM');
        await exited;
      }
    }
    const keys = Object.keys(samples[0] ?? {});
    const row = Object.fromEntries(
      keys.map((k) => [k, Number(median(samples.map((s) => s[k] ?? 0)).toFixed(1))]),
    );
    process.stdout.write(`${service} ${built ? 'built' : 'source'} ${JSON.stringify(row)}\n`);
  }
} finally {
  await smtp.close();
  await model.close();
  await db.drop();
  await cleanupRedisPrefix(REDIS_URL, prefix);
}
