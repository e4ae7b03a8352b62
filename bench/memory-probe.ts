// Idle memory of each service, one at a time, from TypeScript sources, compiled in the workspace
// or from built trees, with the V8 heap broken down by space (prom-client's default metrics on the
// management port). For choosing heap flags, allocator settings and checking lazy loading;
// `make benchmark` rows 11 and 12 are the verdict.
//
//   node --conditions=securevault-source bench/memory-probe.ts                  # sources
//   node --conditions=securevault-source bench/memory-probe.ts --compiled       # services/<s>/dist (make build), as make benchmark
//   node --conditions=securevault-source bench/memory-probe.ts --built=/tmp/b   # /tmp/b/<service>/dist/main.js
//   ... --services=gateway,auth --node-options='--max-semi-space-size=2' --runs=3
//   ... --env=MALLOC_ARENA_MAX=2,MALLOC_MMAP_THRESHOLD_=1048576   # added to the services' environment
//   ... --quiet-ms=2000,10000,30000   # RSS read at each of these times after ready (or after the traffic below)
//   ... --exercise   # auth: one registration and one login first, as the benchmark's idle row has
//   ... --exercise --logins=300   # auth: then 300 logins, 8 in flight: peak RSS and auth's CPU ms per login
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
const compiled = process.argv.includes('--compiled');
const services = (arg('services')?.split(',') ?? [...SERVICES]) as ServiceName[];
const nodeOptions = arg('node-options');
const extraEnv = Object.fromEntries(
  (arg('env')?.split(',').filter(Boolean) ?? []).map((kv) => [
    kv.slice(0, kv.indexOf('=')),
    kv.slice(kv.indexOf('=') + 1),
  ]),
);
const runs = Number(arg('runs') ?? 1);
const quietMarks = (arg('quiet-ms') ?? '2000').split(',').map(Number);
const exercise = process.argv.includes('--exercise');
const logins = Number(arg('logins') ?? 0);
const LOGINS_IN_FLIGHT = 8;

/** One registration and one login on auth directly: two argon2id runs, like the benchmark's setup. */
async function exerciseAuth(): Promise<string> {
  const body = JSON.stringify({
    email: `probe-${randomBytes(4).toString('hex')}@example.com`,
    password: `probe ${randomBytes(6).toString('hex')} passphrase`,
  });
  await authPost('register', body);
  await authPost('login', body);
  return body;
}

async function authPost(path: string, body: string): Promise<void> {
  const res = await fetch(`http://127.0.0.1:${ports.auth}/api/auth/${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body,
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`auth ${path}: ${res.status} ${text}`);
}

/** CPU seconds (user + system, all threads) of a process so far, from /proc/<pid>/stat. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** `count` logins, LOGINS_IN_FLIGHT at a time: auth's CPU ms per login and its peak RSS meanwhile. */
async function loginLoad(
  pid: number,
  body: string,
  count: number,
): Promise<Record<string, number>> {
  let peak = 0;
  const sample = () => (peak = Math.max(peak, status(pid).VmRSS ?? 0));
  const timer = setInterval(sample, 100);
  const cpuBefore = cpuSeconds(pid);
  let next = 0;
  await Promise.all(
    Array.from({ length: LOGINS_IN_FLIGHT }, async () => {
      while (next < count) {
        next++;
        await authPost('login', body);
      }
    }),
  );
  const cpuMsPerLogin = ((cpuSeconds(pid) - cpuBefore) * 1000) / count;
  clearInterval(timer);
  sample();
  return { cpuMsPerLogin, peakRssUnderLogins: peak };
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
      extra: { ...(nodeOptions === undefined ? {} : { NODE_OPTIONS: nodeOptions }), ...extraEnv },
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
        : compiled
          ? [join(REPO_ROOT, 'services', service, 'dist', 'main.js')]
          : [
              '--conditions=securevault-source',
              join(REPO_ROOT, 'services', service, 'src', 'main.ts'),
            ];
      const started = performance.now();
      const child = spawn(process.execPath, args, {
        cwd: built
          ? join(built, service)
          : compiled
            ? join(REPO_ROOT, 'services', service)
            : REPO_ROOT,
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
        const pid = child.pid ?? 0;
        let load: Record<string, number> = {};
        if (exercise && service === 'auth') {
          const body = await exerciseAuth();
          if (logins > 0) load = await loginLoad(pid, body, logins);
        }
        const quietStart = performance.now();
        const rss: Record<string, number> = {};
        for (const [i, ms] of quietMarks.entries()) {
          await new Promise((r) =>
            setTimeout(r, Math.max(0, ms - (performance.now() - quietStart))),
          );
          // RSS before the scrape: /metrics itself allocates.
          const now = status(pid);
          if (i === quietMarks.length - 1) Object.assign(rss, now);
          else rss[`VmRSS@${ms}ms`] = now.VmRSS ?? 0;
        }
        samples.push({ readyMs, ...load, ...rss, ...(await heap(managementPorts[service])) });
      } finally {
        child.kill('SIGTERM');
        await exited;
      }
    }
    const keys = Object.keys(samples[0] ?? {});
    const row = Object.fromEntries(
      keys.map((k) => [k, Number(median(samples.map((s) => s[k] ?? 0)).toFixed(1))]),
    );
    const kind = built ? 'built' : compiled ? 'compiled' : 'source';
    process.stdout.write(`${service} ${kind} ${JSON.stringify(row)}\n`);
  }
} finally {
  await smtp.close();
  await model.close();
  await db.drop();
  await cleanupRedisPrefix(REDIS_URL, prefix);
}
