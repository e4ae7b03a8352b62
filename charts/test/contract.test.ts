// Chart-to-code contract: render the production scenario, start each of the five Deployments as a
// process with exactly the env, args and ports its manifest gives, then probe it the way the
// kubelet and Prometheus would: the probes' paths on the probes' ports, the ServiceMonitor's
// port and path, which must serve every metric the catalog promises for that service.
// The processes run from source (services/<svc>/src/main.ts via spawnService); image.slow-test.ts
// proves the built output runs. No cluster, so the test plays Kubernetes' part, explicitly:
//   - Secret keys are written to a temp dir, and /var/run/secrets/securevault/<key> maps there;
//   - cluster DNS names of rendered Services (securevault-auth, securevault-auth-metrics, ...)
//     map to 127.0.0.1, and every containerPort of every Deployment to its own free local port
//     (five processes cannot all bind 9464), through the Service's targetPort;
//   - fieldRef variables get a pod's values, and $(VAR) references are expanded like the kubelet;
//   - the migration Job's containers run first, with the Job's env.
// Real: helm, Postgres (a fresh database), Redis (a unique queue prefix), the SMTP sink and the
// model stand-in for the external SMTP relay and AI provider, a local OTLP sink for the collector.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { IContainer } from 'kubernetes-models/v1/Container';
import type { IPodSpec } from 'kubernetes-models/v1/PodSpec';
import {
  cleanupRedisPrefix,
  createTestDatabase,
  freePort,
  startModelStandin,
  startSmtpSink,
  waitForHttp,
} from '@securevault/testing';
import type { ModelStandin, SmtpSink, TestDatabase } from '@securevault/testing';
// The catalog file directly: its package index pulls in pino/OpenTelemetry, not needed here.
import { metricsFor } from '../../libs/observability/src/catalog.ts';
import type { ServiceName } from '../../libs/observability/src/catalog.ts';
import { runNodeScript, spawnService } from '../../scripts/lib/processes.ts';
import type { ServiceProcess } from '../../scripts/lib/processes.ts';
import { renderDocs } from './render.ts';
import type { Doc } from './render.ts';

const SCENARIO = 'charts/securevault/ci/production-values.yaml';
const SECRET_DIR = '/var/run/secrets/securevault';
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const SERVICES = ['gateway', 'auth', 'audit', 'email-worker', 'ai-worker'] as const;

type PodTemplate = { name: string; spec: IPodSpec; labels: Record<string, string> };
interface ServicePort {
  name: string;
  port: number;
  targetPort: string | number;
}
interface ServiceDoc {
  name: string;
  selector: Record<string, string>;
  ports: ServicePort[];
}

const docs = renderDocs(SCENARIO);
const deployments: PodTemplate[] = docs
  .filter((d) => d.kind === 'Deployment')
  .map((d) => {
    const t = (
      d.spec as { template: { spec: IPodSpec; metadata: { labels: Record<string, string> } } }
    ).template;
    return { name: d.metadata.name, spec: t.spec, labels: t.metadata.labels };
  });
const services: ServiceDoc[] = docs
  .filter((d) => d.kind === 'Service')
  .map((d) => {
    const spec = d.spec as { selector: Record<string, string>; ports: ServicePort[] };
    return { name: d.metadata.name, selector: spec.selector, ports: spec.ports };
  });
const migrationJob = docs.find((d) => d.kind === 'Job');
const serviceMonitors = docs.filter((d) => d.kind === 'ServiceMonitor');

function selects(selector: Record<string, string>, labels: Record<string, string>) {
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

function envValue(c: IContainer, name: string): string | undefined {
  return c.env?.find((e) => e.name === name)?.value;
}

/** The explicit port map: "<deployment>/<containerPort>" → local port. */
const localPorts = new Map<string, number>();
function localPort(deployment: string, containerPort: number): number {
  const port = localPorts.get(`${deployment}/${containerPort}`);
  assert.ok(port, `no local port for ${deployment}:${containerPort}`);
  return port;
}

/** A Service's port → the Deployment behind it and its container port (via targetPort). */
function resolveService(name: string, port: number): { deployment: string; containerPort: number } {
  const svc = services.find((s) => s.name === name);
  assert.ok(svc, `no Service named ${name} in the chart`);
  const sp = svc.ports.find((p) => p.port === port);
  assert.ok(sp, `Service ${name} has no port ${port}`);
  const target = deployments.find((d) => selects(svc.selector, d.labels));
  assert.ok(target, `Service ${name} selects no Deployment`);
  const container = target.spec.containers[0]!;
  const containerPort =
    typeof sp.targetPort === 'number'
      ? sp.targetPort
      : container.ports?.find((p) => p.name === sp.targetPort)?.containerPort;
  assert.ok(containerPort, `Service ${name}:${port} targets no container port`);
  return { deployment: target.name, containerPort };
}

let workdir: string;
let secretDir: string;
let db: TestDatabase;
let smtp: SmtpSink;
let model: ModelStandin;
let otlp: Server;
let otlpUrl: string;
let secrets: Record<string, string>;
const queuePrefix = (() => {
  const d = docs.find((x) => x.kind === 'Deployment')!;
  const t = (d.spec as { template: { spec: IPodSpec } }).template.spec.containers[0]!;
  return envValue(t, 'QUEUE_PREFIX')!;
})();
const running = new Map<string, ServiceProcess>();
const logs: string[] = [];

/** External endpoints of the production values → the local stand-ins, by exact URL. */
function externalUrls(): Map<string, string> {
  return new Map([
    ['https://api.openai.com/v1', model.baseUrl],
    ['http://otel-collector.observability:4318', otlpUrl],
  ]);
}

/** What the kubelet would give a container of `pod`, translated to this machine. */
function containerEnv(
  pod: string,
  c: IContainer,
  mountedKeys: Set<string>,
): Record<string, string> {
  const fieldRefs: Record<string, string> = {
    'metadata.name': `${pod}-contract-0`,
    'metadata.namespace': 'securevault',
    'spec.nodeName': 'contract-node',
  };
  const out: Record<string, string> = {};
  const external = externalUrls();
  for (const e of c.env ?? []) {
    assert.equal(e.valueFrom?.secretKeyRef, undefined, `${pod} ${e.name}: secrets come as files`);
    let value: string;
    if (e.valueFrom?.fieldRef) {
      value = fieldRefs[e.valueFrom.fieldRef.fieldPath]!;
      assert.ok(value, `${pod} ${e.name}: unknown fieldRef ${e.valueFrom.fieldRef.fieldPath}`);
    } else {
      // $(VAR) refers to a variable defined earlier in the list, like Kubernetes expands it.
      value = (e.value ?? '').replace(
        /\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g,
        (m, v: string) => out[v] ?? m,
      );
    }
    if (e.name === 'PORT' || e.name === 'MANAGEMENT_PORT') {
      const declared = c.ports?.some((p) => p.containerPort === Number(value));
      assert.ok(declared, `${pod} ${e.name}=${value} is not a declared containerPort`);
      value = String(localPort(pod, Number(value)));
    } else if (e.name.endsWith('_FILE')) {
      assert.ok(value.startsWith(`${SECRET_DIR}/`), `${pod} ${e.name} points into ${SECRET_DIR}`);
      const key = value.slice(SECRET_DIR.length + 1);
      assert.ok(mountedKeys.has(key), `${pod} ${e.name}: key ${key} is not mounted`);
      assert.ok(secrets[key] !== undefined, `${pod} ${e.name}: the test has no value for ${key}`);
      value = join(secretDir, key);
    } else if (external.has(value)) {
      value = external.get(value)!;
    } else {
      // Cluster DNS: http://<service>:<port>/... → the local port of the pod behind it.
      value = value.replace(
        /^(https?):\/\/([a-z0-9-]+):(\d+)/,
        (m, scheme: string, host: string, port: string) => {
          if (!services.some((s) => s.name === host)) return m;
          const { deployment, containerPort } = resolveService(host, Number(port));
          return `${scheme}://127.0.0.1:${localPort(deployment, containerPort)}`;
        },
      );
      assert.doesNotMatch(
        value,
        /:\/\/securevault-|\.svc\b|\.cluster\.local/,
        `${pod} ${e.name} left unmapped`,
      );
    }
    out[e.name] = value;
  }
  return { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...out };
}

function mountedKeys(spec: IPodSpec): Set<string> {
  return new Set((spec.volumes ?? []).flatMap((v) => (v.secret?.items ?? []).map((i) => i.path)));
}

/** The service a Deployment runs: OTEL_SERVICE_NAME, which the catalog also uses. */
function serviceOf(d: PodTemplate): ServiceName {
  const name = envValue(d.spec.containers[0]!, 'OTEL_SERVICE_NAME');
  assert.ok(SERVICES.includes(name as never), `${d.name} OTEL_SERVICE_NAME=${name}`);
  return name as ServiceName;
}

/** The image's entrypoint is `node dist/main.js`; the chart must not override it. */
function assertDefaultEntrypoint(where: string, c: IContainer, args: string[] | undefined) {
  assert.equal(c.command, undefined, `${where} overrides the image's entrypoint`);
  assert.deepEqual(c.args, args, `${where} args`);
}

before(async () => {
  workdir = mkdtempSync(join(tmpdir(), 'securevault-contract-'));
  secretDir = join(workdir, 'secrets');
  mkdirSync(secretDir);
  db = await createTestDatabase();
  smtp = await startSmtpSink({ port: 0 });
  model = await startModelStandin({ port: 0 });
  // The OTLP collector is outside our system: a sink that accepts every export.
  otlp = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{}'));
  });
  await new Promise<void>((resolve) => otlp.listen(0, '127.0.0.1', resolve));
  otlpUrl = `http://127.0.0.1:${(otlp.address() as AddressInfo).port}`;
  // The existingSecret of the production values, with every key the chart mounts.
  secrets = {
    'auth-database-url': db.url,
    // As in production: audit runs as the INSERT/SELECT-only writer role, retention as its own
    // role; the migration Job (owner) creates both (trust authentication locally).
    'audit-database-url': withUser(db.url, 'securevault_audit_writer'),
    'audit-retention-database-url': withUser(db.url, 'securevault_audit_retention'),
    'audit-export-signing-key': randomBytes(32).toString('hex'),
    'auth-migrate-database-url': db.url,
    'audit-migrate-database-url': db.url,
    'session-secret': randomBytes(32).toString('hex'),
    'smtp-url': smtp.url,
    'openai-api-key': 'sk-contract-standin',
    'metrics-token': randomBytes(24).toString('hex'),
    'redis-url': REDIS_URL,
  };
  for (const [key, value] of Object.entries(secrets)) writeFileSync(join(secretDir, key), value);
  for (const d of deployments)
    for (const p of d.spec.containers[0]!.ports ?? [])
      localPorts.set(`${d.name}/${p.containerPort}`, await freePort());
});

after(async () => {
  await Promise.all([...running.values()].map((p) => p.stop(10_000)));
  await Promise.allSettled([
    db?.drop(),
    smtp?.close(),
    model?.close(),
    new Promise((resolve) => otlp?.close(resolve)),
  ]);
  if (queuePrefix) await cleanupRedisPrefix(REDIS_URL, queuePrefix);
  rmSync(workdir, { recursive: true, force: true });
});

describe(`contract: ${SCENARIO}`, () => {
  test('the scenario renders five Deployments, the migration Job and a ServiceMonitor each', () => {
    assert.deepEqual(deployments.map(serviceOf).sort(), [...SERVICES].sort());
    assert.ok(migrationJob, 'the production scenario runs migrations');
    assert.equal(serviceMonitors.length, 5);
    // The production values route Redis through the Secret; the contract covers that path.
    for (const d of deployments)
      assert.ok(envValue(d.spec.containers[0]!, 'REDIS_URL_FILE'), `${d.name} REDIS_URL_FILE`);
  });

  test('the migration Job runs auth then audit with the env it is given', async () => {
    const spec = (migrationJob!.spec as { template: { spec: IPodSpec } }).template.spec;
    const keys = mountedKeys(spec);
    for (const c of [...(spec.initContainers ?? []), ...spec.containers]) {
      assertDefaultEntrypoint(`Job ${c.name}`, c, ['dist/migrate.js']);
      const service = c.name.replace(/^migrate-/, '') as 'auth' | 'audit';
      const code = await runNodeScript(
        c.name,
        `services/${service}/src/migrate.ts`,
        containerEnv(migrationJob!.metadata.name, c, keys),
        { onLine: (line) => logs.push(`[${c.name}] ${line}`) },
      );
      assert.equal(code, 0, `${c.name} failed:\n${logs.join('\n')}`);
    }
  });

  test('every Deployment starts with its manifest and passes its probes', async () => {
    for (const d of deployments) {
      const c = d.spec.containers[0]!;
      assertDefaultEntrypoint(d.name, c, undefined);
      const env = containerEnv(d.name, c, mountedKeys(d.spec));
      const service = serviceOf(d);
      running.set(
        d.name,
        spawnService(service, env, { onLine: (line) => logs.push(`[${d.name}] ${line}`) }),
      );
    }
    for (const d of deployments) {
      const c = d.spec.containers[0]!;
      const probes = [
        ['startup', c.startupProbe, 200],
        ['readiness', c.readinessProbe, 200],
        ['liveness', c.livenessProbe, 200],
      ] as const;
      for (const [kind, probe, status] of probes) {
        const get = probe?.httpGet;
        assert.ok(get, `${d.name} has an HTTP ${kind} probe`);
        const containerPort =
          typeof get.port === 'number'
            ? get.port
            : c.ports?.find((p) => p.name === get.port)?.containerPort;
        assert.ok(containerPort, `${d.name} ${kind} probe port ${String(get.port)} is declared`);
        const url = `http://127.0.0.1:${localPort(d.name, containerPort)}${get.path}`;
        try {
          await waitForHttp(url, { timeoutMs: 30_000, expectStatus: status });
        } catch (err) {
          throw new Error(
            `${d.name} ${kind} probe ${get.path}: ${(err as Error).message}\n${logs.slice(-40).join('\n')}`,
          );
        }
      }
    }
  });

  test('each ServiceMonitor scrapes the metrics the catalog promises for its service', async () => {
    for (const sm of serviceMonitors) {
      const spec = sm.spec as {
        selector: { matchLabels: Record<string, string> };
        endpoints: Array<{ port: string; path: string; scheme?: string }>;
      };
      const targets = docs.filter(
        (d: Doc) =>
          d.kind === 'Service' && selects(spec.selector.matchLabels, d.metadata.labels ?? {}),
      );
      assert.equal(targets.length, 1, `${sm.metadata.name} selects one Service`);
      const svc = services.find((s) => s.name === targets[0]!.metadata.name)!;
      for (const endpoint of spec.endpoints) {
        const sp = svc.ports.find((p) => p.name === endpoint.port);
        assert.ok(sp, `${sm.metadata.name}: Service ${svc.name} has port "${endpoint.port}"`);
        const { deployment, containerPort } = resolveService(svc.name, sp.port);
        const d = deployments.find((x) => x.name === deployment)!;
        const res = await fetch(
          `${endpoint.scheme ?? 'http'}://127.0.0.1:${localPort(deployment, containerPort)}${endpoint.path}`,
        );
        assert.equal(res.status, 200, `${sm.metadata.name} ${endpoint.path}`);
        assert.match(res.headers.get('content-type') ?? '', /^text\/plain/);
        const text = await res.text();
        const exported = new Set([...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]));
        const missing = metricsFor(serviceOf(d)).filter((name) => !exported.has(name));
        assert.deepEqual(missing, [], `${deployment} is missing catalog metrics`);
      }
    }
  });

  test('the gateway reaches auth and audit through the URLs the chart gives it', async () => {
    const app = deployments.find((d) => serviceOf(d) === 'gateway')!;
    const http = app.spec.containers[0]!.ports!.find((p) => p.name === 'http')!.containerPort;
    const base = `http://127.0.0.1:${localPort(app.name, http)}`;
    const health = await fetch(`${base}/api/health`);
    assert.equal(health.status, 200);
    // The detailed check calls AUTH_HEALTH_URL and AUDIT_HEALTH_URL; the metrics token is the
    // Secret file the chart mounts (app.metricsToken in the production values).
    const detailed = await fetch(`${base}/api/health/detailed`, {
      headers: { authorization: `Bearer ${secrets['metrics-token']}` },
    });
    const body = (await detailed.json()) as {
      status: string;
      checks: Record<string, { ok: boolean; error?: string }>;
    };
    assert.equal(detailed.status, 200, JSON.stringify(body));
    assert.equal(body.status, 'ok');
    for (const check of ['redis', 'auth', 'audit'])
      assert.equal(body.checks[check]?.ok, true, check);
  });

  test('every service shuts down cleanly on SIGTERM within the grace period', async () => {
    // In parallel, like pods of a deleted release: each drains for SHUTDOWN_DRAIN_MS first.
    await Promise.all(
      deployments.map(async (d) => {
        const grace = d.spec.terminationGracePeriodSeconds!;
        const code = await running.get(d.name)!.stop(grace * 1000);
        assert.equal(code, 0, `${d.name} exit code\n${logs.slice(-20).join('\n')}`);
        running.delete(d.name);
      }),
    );
  });
});

function withUser(url: string, user: string): string {
  const u = new URL(url);
  u.username = user;
  u.password = '';
  return u.toString();
}
