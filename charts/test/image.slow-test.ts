// The images' contents run: for each service, build the pruned production tree the Dockerfile
// copies to /app (scripts/build-service.sh, the same script the Dockerfile runs), start it the way
// the image does (plain `node dist/main.js`, NODE_ENV=production, no source conditions), and check
// /healthz and /readyz on its management port. auth and audit first run `node dist/migrate.js`
// like the chart's migration Job.
// Real: pnpm, tsc, node, Postgres (a fresh database), Redis (a unique queue prefix), the SMTP sink
// and the model stand-in (both speak the real protocols). No Docker engine: the build stage's
// commands run on this machine, the runtime stage is the node binary on the output directory.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import {
  cleanupRedisPrefix,
  createTestDatabase,
  freePort,
  startModelStandin,
  startSmtpSink,
  uniquePrefix,
  waitForHttp,
} from '@securevault/testing';
import type { ModelStandin, SmtpSink, TestDatabase } from '@securevault/testing';
import { SERVICES, buildServiceEnv } from '../../scripts/lib/service-env.ts';
import type { ServiceName } from '../../scripts/lib/service-env.ts';
import { ROOT } from './render.ts';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
// pnpm and turbo as `make` finds them (scripts/ensure-node.sh puts pnpm in .cache/bin).
const PATH = [join(ROOT, '.cache/bin'), join(ROOT, 'node_modules/.bin'), process.env.PATH].join(
  delimiter,
);

let workdir: string;
let db: TestDatabase;
let smtp: SmtpSink;
let model: ModelStandin;
let prefix: string;
const running: Array<{ name: string; child: ChildProcess; exited: Promise<number | null> }> = [];
const logs: string[] = [];

/** `node <script>` in the output directory, exactly as the image's entrypoint runs it. */
function runProduction(name: string, cwd: string, script: string, env: Record<string, string>) {
  const child = spawn(process.execPath, [script], {
    cwd,
    // Only what the container would have: no NODE_OPTIONS, no inherited conditions.
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  for (const stream of [child.stdout, child.stderr])
    stream.on('data', (chunk: Buffer) => logs.push(`[${name}] ${chunk.toString().trimEnd()}`));
  const exited = new Promise<number | null>((resolve) =>
    child.once('close', (code) => resolve(code)),
  );
  return { name, child, exited };
}

before(async () => {
  workdir = mkdtempSync(join(tmpdir(), 'securevault-image-'));
  db = await createTestDatabase();
  smtp = await startSmtpSink({ port: 0 });
  model = await startModelStandin({ port: 0 });
  prefix = uniquePrefix('image');
});

after(async () => {
  for (const p of running) {
    if (p.child.exitCode === null) p.child.kill('SIGKILL');
    await p.exited;
  }
  await Promise.allSettled([db?.drop(), smtp?.close(), model?.close()]);
  await cleanupRedisPrefix(REDIS_URL, prefix);
  rmSync(workdir, { recursive: true, force: true });
});

describe('production build of each service', () => {
  const ports = { gateway: 0, auth: 0, audit: 0 };
  const managementPorts = {} as Record<ServiceName, number>;
  const sessionSecret = randomBytes(32).toString('hex');

  before(async () => {
    for (const k of ['gateway', 'auth', 'audit'] as const) ports[k] = await freePort();
    for (const s of SERVICES) managementPorts[s] = await freePort();
  });

  const envFor = (service: ServiceName) =>
    buildServiceEnv(service, {
      redisUrl: REDIS_URL,
      databaseUrl: db.url,
      smtpUrl: smtp.url,
      smtpFrom: 'SecureVault <no-reply@securevault.test>',
      openaiBaseUrl: model.baseUrl,
      openaiApiKey: 'sk-image-standin',
      sessionSecret,
      queuePrefix: prefix,
      ports,
      managementPorts,
      nodeEnv: 'production',
      logLevel: 'warn',
    });

  // auth and audit before the gateway, whose readiness asks them.
  for (const service of ['auth', 'audit', 'email-worker', 'ai-worker', 'gateway'] as const) {
    test(`${service}: the deployed tree serves /healthz and /readyz in production`, async () => {
      const out = join(workdir, service);
      // One retry: a build stalled by the shared machine is killed whole and tried once more.
      let build = await buildService(service, out);
      if (build.status !== 0) {
        rmSync(out, { recursive: true, force: true });
        build = await buildService(service, out);
      }
      assert.equal(build.status, 0, `build failed:\n${build.output}`);
      // What the image runs: dist/ and production dependencies only.
      const pkg = JSON.parse(readFileSync(join(out, 'package.json'), 'utf8')) as { name: string };
      assert.equal(pkg.name, `@securevault/${service}`);
      assert.ok(existsSync(join(out, 'dist/main.js')));
      assert.equal(existsSync(join(out, 'node_modules/typescript')), false, 'no devDependencies');

      const env = envFor(service);
      if (service === 'auth' || service === 'audit') {
        const migrate = runProduction(`${service}-migrate`, out, 'dist/migrate.js', env);
        assert.equal(await migrate.exited, 0, `migrations failed:\n${logs.join('\n')}`);
      }
      const proc = runProduction(service, out, 'dist/main.js', env);
      running.push(proc);
      const exitedEarly = new AbortController();
      void proc.exited.then(() => exitedEarly.abort());
      const base = `http://127.0.0.1:${managementPorts[service]}`;
      try {
        await waitForHttp(`${base}/healthz`, {
          timeoutMs: 30_000,
          expectStatus: 200,
          signal: exitedEarly.signal,
        });
        await waitForHttp(`${base}/readyz`, {
          timeoutMs: 30_000,
          expectStatus: 200,
          signal: exitedEarly.signal,
        });
      } catch (err) {
        throw new Error(
          `${service} did not come up: ${(err as Error).message}\n${logs.join('\n')}`,
        );
      }
      const health = await fetch(`${base}/healthz`);
      assert.equal(health.status, 200);
      const metrics = await (await fetch(`${base}/metrics`)).text();
      assert.match(metrics, /^process_resident_memory_bytes /m, 'serves Prometheus metrics');
      if (service === 'gateway') {
        // The image carries the built web console, served with a fresh nonce CSP.
        const page = await fetch(`http://127.0.0.1:${ports.gateway}/`);
        const html = await page.text();
        assert.equal(page.status, 200, html.slice(0, 200));
        assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
        const nonce = /'nonce-([^']+)'/.exec(
          page.headers.get('content-security-policy') ?? '',
        )?.[1];
        assert.ok(nonce, 'the page has a nonce CSP');
        assert.ok(html.includes(`nonce="${nonce}"`), 'its script tags carry the nonce');
      }
    });
  }

  test('every service stops cleanly on SIGTERM', async () => {
    assert.equal(running.length, SERVICES.length);
    // Gateway first, like a rolling shutdown from the edge inwards.
    for (const p of [...running].reverse()) {
      p.child.kill('SIGTERM');
      assert.equal(await p.exited, 0, `${p.name} exit code\n${logs.slice(-20).join('\n')}`);
    }
  });
});

test('the Dockerfile deploys through the same script, from files that exist', () => {
  const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
  assert.match(dockerfile, /bash scripts\/build-service\.sh "\$\{SERVICE\}" \/out/);
  // A COPY of a missing file fails `docker build`; there is no engine here, so check the sources.
  for (const m of dockerfile.matchAll(/^COPY (?!--from)(.+) \S+$/gm)) {
    for (const source of m[1]!.trim().split(/\s+/)) {
      if (source === '.') continue;
      assert.ok(
        existsSync(join(ROOT, source)),
        `Dockerfile copies ${source}, which does not exist`,
      );
    }
  }
});

/**
 * Runs scripts/build-service.sh in its own process group with the environment a person's shell
 * would give it: none of the test runner's, c8's or make's variables (NODE_TEST_CONTEXT,
 * NODE_V8_COVERAGE, NODE_PATH, MAKEFLAGS), which only ever leak into pnpm here. On the time limit
 * the whole group is killed, so no pnpm is left behind holding the store.
 */
async function buildService(
  service: string,
  out: string,
): Promise<{ status: number | null; output: string }> {
  // The machine's network settings pass through: on a fresh machine pnpm deploy reads the registry
  // metadata of the direct dependencies once, and a registry behind a proxy or a private CA is
  // unreachable without them (pnpm then retries until the build is killed).
  const network = Object.entries(process.env).filter(
    ([k]) =>
      /^(https?_proxy|no_proxy)$/i.test(k) ||
      k === 'NODE_EXTRA_CA_CERTS' ||
      k === 'SSL_CERT_FILE' ||
      k === 'SSL_CERT_DIR',
  );
  const env: NodeJS.ProcessEnv = {
    ...Object.fromEntries(network),
    PATH,
    HOME: process.env.HOME,
    CI: 'true',
  };
  const child = spawn('bash', [join(ROOT, 'scripts/build-service.sh'), service, out], {
    cwd: ROOT,
    env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-20_000)));
  child.stderr.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-20_000)));
  const timer = setTimeout(() => {
    output += '\n[killed after 150 s]';
    if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
  }, 150_000);
  const status = await new Promise<number | null>((resolve) =>
    child.once('close', (code) => resolve(code)),
  );
  clearTimeout(timer);
  return { status, output };
}
