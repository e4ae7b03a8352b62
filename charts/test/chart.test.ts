// Renders the chart for every scenario and checks it against Kubernetes' schemas and our rules.
// Real: the helm binary, the kubernetes-models validators, promtool when installed. No cluster.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parse, parseAllDocuments, parseDocument } from 'yaml';
import type { YAMLMap, YAMLSeq } from 'yaml';
import { Deployment, StatefulSet } from 'kubernetes-models/apps/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { Ingress, NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { ScaledObject } from '@kubernetes-models/keda/keda.sh/v1alpha1';
import { Job } from 'kubernetes-models/batch/v1';
import { ConfigMap, Namespace, Pod, Secret, Service } from 'kubernetes-models/v1';
import type { IContainer } from 'kubernetes-models/v1/Container';
import type { IPodSpec } from 'kubernetes-models/v1/PodSpec';
import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import {
  PrometheusRule,
  ServiceMonitor,
} from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';
// The catalog file directly: @securevault/observability is not a dependency of the repo root, and
// its index pulls in pino/OpenTelemetry, which this test does not need.
import { CATALOG, PROCESS_METRICS } from '../../libs/observability/src/catalog.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const CHART = join(ROOT, 'charts/securevault');
const HELM = join(ROOT, 'node_modules/.bin/helm');
// helm 3.6 templates for Kubernetes 1.20 by default; the chart requires 1.25+.
const KUBE_VERSION = '1.30.0';
const NAMESPACE = 'securevault';
const MANAGEMENT_PORT = 9464;
const SECRET_DIR = '/var/run/secrets/securevault/';

const COMPONENTS = ['app', 'auth', 'audit', 'email-worker', 'ai-worker'] as const;
const SERVICES = ['gateway', 'auth', 'audit', 'email-worker', 'ai-worker'] as const;
const DEPLOYMENTS = COMPONENTS.map((c) => `securevault-${c}`).sort();
const SELECTOR_KEYS = [
  'app.kubernetes.io/component',
  'app.kubernetes.io/instance',
  'app.kubernetes.io/name',
];

type Doc = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> };
} & Record<string, unknown>;

const scenarios = [
  ...readdirSync(join(CHART, 'ci'))
    .filter((f) => f.endsWith('.yaml'))
    .map((f) => join('charts/securevault/ci', f)),
  'k8s/values-dev.yaml',
  'k8s/values-prod.yaml',
];

function helm(args: string[]) {
  const r = spawnSync(HELM, args, { cwd: ROOT, encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function render(valuesFile?: string, extra: string[] = []) {
  const args = [
    'template',
    'securevault',
    'charts/securevault',
    '-n',
    NAMESPACE,
    '--kube-version',
    KUBE_VERSION,
  ];
  if (valuesFile) args.push('-f', valuesFile);
  return helm([...args, ...extra]);
}

/** Parses rendered manifests; YAML errors are returned, not thrown, so one test reports them. */
function parseDocs(text: string): { docs: Doc[]; errors: string[] } {
  const parsed = parseAllDocuments(text);
  const errors = parsed.flatMap((d) => d.errors.map((e) => e.message));
  const docs =
    errors.length > 0
      ? []
      : parsed.map((d) => d.toJS() as Doc | null).filter((d): d is Doc => d !== null);
  return { docs, errors };
}

const VALIDATORS: Record<string, (doc: Doc) => void> = {
  'apps/v1/Deployment': (d) => new Deployment(d).validate(),
  'apps/v1/StatefulSet': (d) => new StatefulSet(d).validate(),
  'autoscaling/v2/HorizontalPodAutoscaler': (d) =>
    new HorizontalPodAutoscaler(d as never).validate(),
  'policy/v1/PodDisruptionBudget': (d) => new PodDisruptionBudget(d).validate(),
  'networking.k8s.io/v1/NetworkPolicy': (d) => new NetworkPolicy(d).validate(),
  'networking.k8s.io/v1/Ingress': (d) => new Ingress(d).validate(),
  'keda.sh/v1alpha1/ScaledObject': (d) => new ScaledObject(d as never).validate(),
  'batch/v1/Job': (d) => new Job(d).validate(),
  'v1/Service': (d) => new Service(d).validate(),
  'v1/Secret': (d) => new Secret(d).validate(),
  'v1/ConfigMap': (d) => new ConfigMap(d).validate(),
  'v1/Pod': (d) => new Pod(d).validate(),
  'monitoring.coreos.com/v1/ServiceMonitor': (d) => new ServiceMonitor(d as never).validate(),
  'monitoring.coreos.com/v1/PrometheusRule': (d) => new PrometheusRule(d as never).validate(),
};

function podSpecs(docs: Doc[]): Array<{ owner: string; spec: IPodSpec }> {
  const out: Array<{ owner: string; spec: IPodSpec }> = [];
  for (const d of docs) {
    const spec = d.spec as Record<string, unknown> | undefined;
    if (d.kind === 'Pod')
      out.push({ owner: `Pod/${d.metadata.name}`, spec: spec as unknown as IPodSpec });
    if (d.kind === 'Deployment' || d.kind === 'Job' || d.kind === 'StatefulSet') {
      const template = spec?.template as { spec: IPodSpec };
      out.push({ owner: `${d.kind}/${d.metadata.name}`, spec: template.spec });
    }
  }
  return out;
}

function allContainers(spec: IPodSpec): IContainer[] {
  return [...(spec.initContainers ?? []), ...spec.containers];
}

function probePort(container: IContainer, port: number | string | undefined): number | undefined {
  if (typeof port === 'number') return port;
  return container.ports?.find((p) => p.name === port)?.containerPort;
}

/** Strings the scenario's values mark as secret; none may appear in any env value. */
function secretValues(valuesFile: string, docs: Doc[]): string[] {
  const values = (parse(readFileSync(join(ROOT, valuesFile), 'utf8')) ?? {}) as {
    secrets?: { values?: Record<string, string> };
  };
  const fromValues = Object.values(values.secrets?.values ?? {});
  const fromSecrets = docs
    .filter((d) => d.kind === 'Secret')
    .flatMap((d) => Object.values((d.stringData ?? {}) as Record<string, string>));
  return [...fromValues, ...fromSecrets].filter((v) => typeof v === 'string' && v.length >= 4);
}

for (const scenario of scenarios) {
  describe(`scenario ${scenario}`, () => {
    const rendered = render(scenario);
    const { docs, errors: yamlErrors } =
      rendered.code === 0 ? parseDocs(rendered.stdout) : { docs: [], errors: [] };
    const values = (parse(readFileSync(join(ROOT, scenario), 'utf8')) ?? {}) as {
      commonLabels?: Record<string, string>;
      tracing?: { enabled?: boolean; instrumentations?: string[] };
    };

    test('helm lint passes', () => {
      const r = helm(['lint', 'charts/securevault', '--strict', '-f', scenario]);
      assert.equal(r.code, 0, r.stdout + r.stderr);
    });

    test('helm template renders', () => {
      assert.equal(rendered.code, 0, rendered.stderr);
      assert.deepEqual(yamlErrors, [], 'rendered YAML parses');
      assert.ok(docs.length > 0);
    });

    test('every document validates against its Kubernetes schema', () => {
      for (const d of docs) {
        const key = `${d.apiVersion}/${d.kind}`;
        const validate = VALIDATORS[key];
        assert.ok(
          validate,
          `no validator for ${key} (${d.metadata.name}): add one or do not render it`,
        );
        assert.doesNotThrow(() => validate(d), `${key} ${d.metadata.name}`);
      }
    });

    test('the Deployments are exactly the five components', () => {
      const names = docs
        .filter((d) => d.kind === 'Deployment')
        .map((d) => d.metadata.name)
        .sort();
      assert.deepEqual(names, DEPLOYMENTS);
    });

    test('every container runs restricted, read-only, with requests and limits', () => {
      const pods = podSpecs(docs);
      assert.ok(pods.length >= 5);
      for (const { owner, spec } of pods) {
        assert.equal(spec.securityContext?.runAsNonRoot, true, `${owner} pod runAsNonRoot`);
        assert.equal(
          spec.securityContext?.seccompProfile?.type,
          'RuntimeDefault',
          `${owner} pod seccomp`,
        );
        assert.equal(spec.automountServiceAccountToken, false, `${owner} mounts no API token`);
        for (const c of allContainers(spec)) {
          const where = `${owner} container ${c.name}`;
          const sc = c.securityContext;
          assert.ok(sc, `${where} has a securityContext`);
          assert.equal(sc.runAsNonRoot, true, `${where} runAsNonRoot`);
          assert.equal(
            typeof sc.runAsUser === 'number' && sc.runAsUser > 0,
            true,
            `${where} runAsUser non-zero`,
          );
          assert.equal(sc.allowPrivilegeEscalation, false, `${where} allowPrivilegeEscalation`);
          assert.equal(sc.readOnlyRootFilesystem, true, `${where} readOnlyRootFilesystem`);
          assert.deepEqual(sc.capabilities?.drop, ['ALL'], `${where} drops ALL capabilities`);
          assert.equal(sc.capabilities?.add, undefined, `${where} adds no capabilities`);
          assert.equal(sc.seccompProfile?.type, 'RuntimeDefault', `${where} seccomp`);
          assert.ok(
            c.resources?.requests?.cpu && c.resources.requests.memory,
            `${where} requests cpu and memory`,
          );
          assert.ok(c.resources?.limits?.memory, `${where} limits memory`);
        }
      }
    });

    test('Deployments: probes on 9464, /tmp emptyDir, grace period above SHUTDOWN_GRACE_MS', () => {
      for (const d of docs.filter((x) => x.kind === 'Deployment') as unknown as IDeployment[]) {
        const spec = d.spec!.template.spec!;
        const name = d.metadata!.name;
        const grace = spec.terminationGracePeriodSeconds;
        assert.ok(typeof grace === 'number', `${name} sets terminationGracePeriodSeconds`);
        assert.ok(
          spec.volumes?.some((v) => v.name === 'tmp' && v.emptyDir),
          `${name} has an emptyDir for /tmp`,
        );
        for (const c of spec.containers) {
          const where = `${name}/${c.name}`;
          assert.ok(
            c.ports?.some((p) => p.name === 'management' && p.containerPort === MANAGEMENT_PORT),
            `${where} management port`,
          );
          assert.equal(c.readinessProbe?.httpGet?.path, '/readyz', `${where} readiness path`);
          assert.equal(c.livenessProbe?.httpGet?.path, '/healthz', `${where} liveness path`);
          assert.equal(c.startupProbe?.httpGet?.path, '/healthz', `${where} startup path`);
          for (const probe of [c.readinessProbe, c.livenessProbe, c.startupProbe]) {
            assert.equal(
              probePort(c, probe?.httpGet?.port),
              MANAGEMENT_PORT,
              `${where} probes hit ${MANAGEMENT_PORT}`,
            );
          }
          assert.ok(
            c.volumeMounts?.some((m) => m.mountPath === '/tmp'),
            `${where} mounts /tmp`,
          );
          const env = new Map((c.env ?? []).map((e) => [e.name, e]));
          const graceMs = Number(env.get('SHUTDOWN_GRACE_MS')?.value);
          assert.ok(graceMs > 0, `${where} sets SHUTDOWN_GRACE_MS`);
          assert.ok(
            grace * 1000 > graceMs,
            `${where}: ${grace}s grace period must exceed SHUTDOWN_GRACE_MS=${graceMs}`,
          );
          assert.equal(env.get('NODE_ENV')?.value, 'production');
          assert.equal(env.get('MANAGEMENT_PORT')?.value, String(MANAGEMENT_PORT));
          assert.ok(
            env.has('REDIS_URL') !== env.has('REDIS_URL_FILE'),
            `${where} has exactly one of REDIS_URL(_FILE)`,
          );
          assert.ok(
            SERVICES.includes(env.get('OTEL_SERVICE_NAME')?.value as never),
            `${where} OTEL_SERVICE_NAME`,
          );
          assert.match(
            env.get('OTEL_RESOURCE_ATTRIBUTES')?.value ?? '',
            /k8s\.pod\.name=\$\(K8S_POD_NAME\)/,
          );
          assert.equal(
            env.has('OTEL_EXPORTER_OTLP_ENDPOINT'),
            values.tracing?.enabled === true,
            `${where} tracing env follows values`,
          );
          const wanted = values.tracing?.enabled ? values.tracing.instrumentations : undefined;
          assert.equal(
            env.get('OTEL_NODE_ENABLED_INSTRUMENTATIONS')?.value,
            wanted?.length ? wanted.join(',') : undefined,
            `${where} optional instrumentations follow values`,
          );
        }
      }
    });

    test('selectors use only name/instance/component and match the pod labels', () => {
      const custom = Object.keys(values.commonLabels ?? {});
      for (const d of docs.filter((x) => x.kind === 'Deployment') as unknown as IDeployment[]) {
        const selector = d.spec!.selector.matchLabels ?? {};
        const podLabels = d.spec!.template.metadata?.labels ?? {};
        assert.deepEqual(
          Object.keys(selector).sort(),
          SELECTOR_KEYS,
          `${d.metadata!.name} selector keys`,
        );
        for (const [k, v] of Object.entries(selector))
          assert.equal(podLabels[k], v, `${d.metadata!.name} pod label ${k}`);
        for (const k of custom) {
          assert.equal(k in selector, false, `custom label ${k} not in selector`);
          assert.equal(podLabels[k], values.commonLabels![k], `custom label ${k} on pods`);
        }
      }
      for (const s of docs.filter((x) => x.kind === 'Service')) {
        const selector = (s.spec as { selector: Record<string, string> }).selector;
        assert.deepEqual(
          Object.keys(selector).sort(),
          SELECTOR_KEYS,
          `Service ${s.metadata.name} selector keys`,
        );
      }
    });

    test('secrets reach containers only as files', () => {
      const secrets = secretValues(scenario, docs);
      for (const { owner, spec } of podSpecs(docs)) {
        const mounted = new Set(
          (spec.volumes ?? []).flatMap((v) =>
            (v.secret?.items ?? []).map((i) => SECRET_DIR + i.path),
          ),
        );
        for (const c of allContainers(spec)) {
          for (const e of c.env ?? []) {
            const where = `${owner}/${c.name} env ${e.name}`;
            assert.equal(
              e.valueFrom?.secretKeyRef,
              undefined,
              `${where} must not read a Secret into env`,
            );
            for (const s of secrets)
              assert.ok(!(e.value ?? '').includes(s), `${where} contains a secret value`);
            assert.doesNotMatch(
              e.name,
              /^(DATABASE_URL|SESSION_SECRET|SMTP_URL|OPENAI_API_KEY|METRICS_TOKEN)$/,
              `${where}: use ${e.name}_FILE`,
            );
            if (e.name === 'REDIS_URL')
              assert.doesNotMatch(e.value ?? '', /@/, `${where} carries credentials`);
            if (e.name.endsWith('_FILE')) {
              assert.ok(e.value?.startsWith(SECRET_DIR), `${where} points into ${SECRET_DIR}`);
              assert.ok(
                mounted.has(e.value ?? ''),
                `${where}: ${e.value} is mounted from the Secret`,
              );
            }
          }
        }
      }
    });

    test('the migration Job runs auth then audit as a pre-install/pre-upgrade hook', (t) => {
      const job = docs.find((d) => d.kind === 'Job');
      if (!job) {
        t.skip('migrations disabled in this scenario');
        return;
      }
      const annotations = job.metadata.annotations ?? {};
      // The bundled Postgres only exists after pre-install hooks: then the Job is post-install
      // on the first install and waits for it (bounded) before migrating.
      const bundled = docs.some(
        (d) => d.kind === 'StatefulSet' && d.metadata.name.endsWith('-postgres'),
      );
      assert.equal(
        annotations['helm.sh/hook'],
        bundled ? 'post-install,pre-upgrade' : 'pre-install,pre-upgrade',
      );
      const spec = (job.spec as { template: { spec: IPodSpec } }).template.spec;
      const migrations = allContainers(spec).filter((c) => c.name !== 'wait-for-postgres');
      assert.equal(spec.initContainers![0]!.name === 'wait-for-postgres', bundled);
      assert.deepEqual(
        migrations.map((c) => c.name),
        ['migrate-auth', 'migrate-audit'],
      );
      assert.match(migrations[0]!.image!, /\/auth:/);
      assert.match(migrations[1]!.image!, /\/audit:/);
      for (const c of migrations) assert.deepEqual(c.args, ['dist/migrate.js']);
    });

    test('PrometheusRule uses only catalog metric names and passes promtool', (t) => {
      const rule = docs.find((d) => d.kind === 'PrometheusRule');
      if (!rule) {
        t.skip('prometheusRule disabled in this scenario');
        return;
      }
      checkRuleMetrics(rule);
      promtoolCheck(t, rule);
    });
  });
}

// Functions, aggregations and keywords of PromQL that can look like metric names.
const PROMQL_WORDS = new Set([
  'sum',
  'min',
  'max',
  'avg',
  'count',
  'stddev',
  'stdvar',
  'topk',
  'bottomk',
  'quantile',
  'group',
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'bool',
  'and',
  'or',
  'unless',
  'offset',
]);

function allowedMetricNames(recorded: string[]): Set<string> {
  const names = new Set<string>(['up', ...PROCESS_METRICS, ...recorded]);
  for (const [name, def] of Object.entries(CATALOG)) {
    names.add(name);
    if (def.type === 'histogram')
      for (const s of ['_bucket', '_sum', '_count']) names.add(name + s);
  }
  return names;
}

/** Metric names in a PromQL expression: identifiers that are not functions, keywords or labels. */
function metricNames(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""') // string literals
    .replace(/\{[^}]*\}/g, '') // label matchers
    .replace(/\[[^\]]*\]/g, '') // range selectors
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ''); // label lists
  const names: string[] = [];
  for (const m of stripped.matchAll(/[A-Za-z_:][A-Za-z0-9_:]*/g)) {
    const after = stripped.slice(m.index + m[0].length).trimStart();
    if (after.startsWith('(') || PROMQL_WORDS.has(m[0])) continue;
    names.push(m[0]);
  }
  return names;
}

function checkRuleMetrics(rule: Doc) {
  type Rule = {
    alert?: string;
    record?: string;
    expr: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  const groups = (rule.spec as { groups: Array<{ rules: Rule[] }> }).groups;
  const rules = groups.flatMap((g) => g.rules);
  const allowed = allowedMetricNames(rules.flatMap((r) => (r.record ? [r.record] : [])));
  let seen = 0;
  for (const r of rules) {
    const names = metricNames(r.expr);
    assert.ok(names.length > 0, `${r.alert ?? r.record} names a metric`);
    for (const n of names) {
      seen++;
      assert.ok(
        allowed.has(n),
        `${r.alert ?? r.record} uses ${n}, which is not in the metric catalog`,
      );
    }
    if (r.alert) {
      assert.match(r.labels?.severity ?? '', /^(info|warning|critical)$/, `${r.alert} severity`);
      assert.match(
        r.annotations?.runbook_url ?? '',
        /^https?:\/\/.+docs\/runbooks\.md#[a-z0-9-]+$/,
        `${r.alert} runbook_url`,
      );
    }
  }
  assert.ok(seen > 5);
  assert.ok(rules.some((r) => r.record === 'securevault:cache_hit_rate:ratio_rate5m'));
}

function promtoolCheck(t: { skip: (msg: string) => void }, rule: Doc) {
  const found = spawnSync('sh', ['-c', 'command -v promtool'], { encoding: 'utf8' });
  if (found.status !== 0) {
    t.skip(
      'promtool not on PATH (Debian package "prometheus"; scripts/ensure-tools.sh installs it): rule syntax unchecked',
    );
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'securevault-rules-'));
  try {
    const file = join(dir, 'rules.yaml');
    writeFileSync(file, JSON.stringify(rule.spec));
    const r = spawnSync('promtool', ['check', 'rules', file], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stdout + r.stderr);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('values.schema.json', () => {
  test('values.yaml points editors at the schema', () => {
    const first = readFileSync(join(CHART, 'values.yaml'), 'utf8').split('\n')[0];
    assert.equal(first, '# yaml-language-server: $schema=values.schema.json');
  });

  test('every object with properties forbids unknown keys', () => {
    const schema = JSON.parse(readFileSync(join(CHART, 'values.schema.json'), 'utf8')) as unknown;
    const walk = (node: unknown, path: string) => {
      if (!node || typeof node !== 'object') return;
      const n = node as Record<string, unknown>;
      if (n.properties)
        assert.equal(n.additionalProperties, false, `${path} must set additionalProperties: false`);
      for (const [k, v] of Object.entries(n)) walk(v, `${path}/${k}`);
    };
    walk(schema, '#');
  });

  const invalid: Array<[string, string[]]> = [
    ['replicas is not a number', ['--set', 'app.replicas=x']],
    ['an unknown top-level key', ['--set', 'replicaCount=2']],
    ['an unknown nested key', ['--set', 'auth.replica=2']],
    ['a bad enum value', ['--set', 'logLevel=loud']],
    ['a "latest" image for the bundled Redis', ['--set', 'redis.bundled.image=redis:latest']],
  ];
  for (const [what, args] of invalid) {
    test(`helm template fails on ${what}`, () => {
      const r = render(undefined, args);
      assert.notEqual(r.code, 0, `rendered despite ${what}`);
      assert.match(r.stderr, /don't meet the specifications of the schema/);
    });
  }

  test('a grace period shorter than SHUTDOWN_GRACE_MS is refused', () => {
    const r = render(undefined, ['--set', 'terminationGracePeriodSeconds=20']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /terminationGracePeriodSeconds/);
  });
});

describe('k8s/', () => {
  test('namespace.yaml enforces Pod Security "restricted"', () => {
    const ns = parse(readFileSync(join(ROOT, 'k8s/namespace.yaml'), 'utf8')) as Doc;
    new Namespace(ns).validate();
    assert.equal(ns.metadata.name, NAMESPACE);
    for (const mode of ['enforce', 'audit', 'warn']) {
      assert.equal(ns.metadata.labels?.[`pod-security.kubernetes.io/${mode}`], 'restricted', mode);
    }
  });

  test('kind-cluster.yaml is a kind Cluster with ingress ports and workers in two zones', () => {
    const kind = parse(readFileSync(join(ROOT, 'k8s/kind-cluster.yaml'), 'utf8')) as {
      kind: string;
      apiVersion: string;
      nodes: Array<{
        role: string;
        labels?: Record<string, string>;
        extraPortMappings?: Array<{ containerPort: number; hostPort: number }>;
      }>;
    };
    assert.equal(kind.kind, 'Cluster');
    assert.equal(kind.apiVersion, 'kind.x-k8s.io/v1alpha4');
    const planes = kind.nodes.filter((n) => n.role === 'control-plane');
    const workers = kind.nodes.filter((n) => n.role === 'worker');
    assert.equal(planes.length, 1);
    assert.equal(planes[0]!.labels?.['ingress-ready'], 'true');
    assert.deepEqual(
      planes[0]!.extraPortMappings?.map((m) => m.hostPort),
      [80, 443],
    );
    const zones = new Set(workers.map((w) => w.labels?.['topology.kubernetes.io/zone']));
    assert.ok(workers.length >= 2 && zones.size >= 2 && !zones.has(undefined));
  });

  test('make k8s-deploy applies the namespace, checks the Secret and waits for the rollout', () => {
    const makefile = readFileSync(join(ROOT, 'Makefile'), 'utf8');
    const recipe = /^k8s-deploy:.*\n((?:\t.*\n|\t.*\\\n.*\n)+)/m.exec(makefile)?.[1] ?? '';
    assert.match(recipe, /kubectl apply -f k8s\/namespace\.yaml/);
    assert.match(recipe, /get secret securevault-secrets/);
    assert.match(recipe, /helm upgrade --install \$\(RELEASE\) charts\/securevault .*--wait/);
    assert.match(makefile, /^logs:.*\n\tkubectl logs -f deployment\/securevault-app/m);
    assert.match(makefile, /^health:.*\n.*\/api\/health/m);
  });
});

describe('skaffold.yaml', () => {
  const config = parse(readFileSync(join(ROOT, 'skaffold.yaml'), 'utf8')) as {
    apiVersion: string;
    kind: string;
    build: {
      artifacts: Array<{
        image: string;
        context?: string;
        docker: { dockerfile: string; buildArgs?: Record<string, string>; target?: string };
      }>;
    };
    deploy: {
      helm: {
        releases: Array<{
          name: string;
          chartPath: string;
          valuesFiles: string[];
          setValueTemplates: Record<string, string>;
        }>;
      };
    };
    portForward: Array<{
      resourceType: string;
      resourceName: string;
      port: number;
      localPort?: number;
    }>;
  };

  test('is a skaffold v4 Config', () => {
    assert.match(config.apiVersion, /^skaffold\/v4beta\d+$/);
    assert.equal(config.kind, 'Config');
  });

  // The service images; the one other artifact is the dev stand-ins image (k8s/dev-standins.yaml).
  const serviceArtifacts = config.build.artifacts.filter((a) => a.docker.buildArgs?.SERVICE);

  test('builds one image per service from the root Dockerfile', () => {
    const built = serviceArtifacts.map((a) => a.docker.buildArgs?.SERVICE).sort();
    assert.deepEqual(built, [...SERVICES].sort());
    for (const a of config.build.artifacts) assert.equal(a.docker.dockerfile, 'Dockerfile');
    const others = config.build.artifacts.filter((a) => !a.docker.buildArgs?.SERVICE);
    assert.deepEqual(
      others.map((a) => [a.image, a.docker.target]),
      [['securevault/dev-standins', 'dev-standins']],
    );
  });

  test('deploys the chart with the dev values and every image', () => {
    const [release] = config.deploy.helm.releases;
    assert.ok(release);
    assert.equal(release.name, 'securevault');
    assert.equal(release.chartPath, 'charts/securevault');
    assert.deepEqual(release.valuesFiles, ['k8s/values-dev.yaml']);
    for (const a of serviceArtifacts) {
      const id = a.image.replace(/[^A-Za-z0-9]/g, '_');
      const templates = Object.values(release.setValueTemplates).join(' ');
      assert.ok(
        templates.includes(`IMAGE_REPO_${id}`),
        `${a.image} repository is passed to the chart`,
      );
      assert.ok(templates.includes(`IMAGE_TAG_${id}`), `${a.image} tag is passed to the chart`);
    }
    // Every value key skaffold sets must exist in the schema, or helm would refuse it.
    const rendered = render(
      'k8s/values-dev.yaml',
      Object.keys(release.setValueTemplates).flatMap((k) => ['--set', `${k}=x`]),
    );
    assert.equal(rendered.code, 0, rendered.stderr);
  });

  test('every profile is commented with when to use it, and patches existing paths', () => {
    const doc = parseDocument(readFileSync(join(ROOT, 'skaffold.yaml'), 'utf8'));
    const profiles = doc.get('profiles') as YAMLSeq<YAMLMap>;
    assert.ok(profiles.items.length >= 2);
    profiles.items.forEach((p, i) => {
      const name = String(p.get('name'));
      // The yaml parser attaches the first item's comment to the sequence itself.
      const comment = (i === 0 ? profiles.commentBefore : p.commentBefore) ?? '';
      assert.match(comment, /^ *When /, `profile ${name} says when to use it`);
      const patches = (
        p.toJSON() as { patches: Array<{ op: string; path: string; value: unknown }> }
      ).patches;
      for (const patch of patches) {
        // "add" may create the last segment; everything before it must exist in the config.
        const segments = patch.path.split('/').slice(1);
        const parent = patch.op === 'add' ? segments.slice(0, -1) : segments;
        let node: unknown = config;
        for (const seg of parent) node = (node as Record<string, unknown>)[seg];
        assert.ok(node !== undefined, `profile ${name}: ${patch.path} does not exist`);
      }
      // Values a profile sets must exist in the chart's schema.
      const prefix = '/deploy/helm/releases/0/setValues/';
      const args = patches
        .filter((x) => x.path.startsWith(prefix))
        .flatMap((x) => ['--set', `${x.path.slice(prefix.length)}=${String(x.value)}`]);
      const r = render('k8s/values-dev.yaml', args);
      assert.equal(r.code, 0, `profile ${name}: ${r.stderr}`);
    });
  });

  test('forwards the gateway on 8080', () => {
    assert.ok(
      config.portForward.some((p) => p.resourceName === 'securevault-app' && p.localPort === 8080),
    );
  });
});

describe('Dockerfile', () => {
  const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
    packageManager: string;
  };

  test('installs the pnpm version package.json pins', () => {
    const pinned = pkg.packageManager.replace(/^pnpm@/, '').split('+')[0];
    assert.match(dockerfile, new RegExp(`ARG PNPM_VERSION=${pinned!.replace(/\./g, '\\.')}\\n`));
  });

  test('runs as non-root on distroless with the deployed entrypoint', () => {
    assert.match(dockerfile, /^FROM gcr\.io\/distroless\/nodejs24-debian12:nonroot\b/m);
    assert.match(dockerfile, /^CMD \["dist\/main\.js"\]$/m);
    assert.match(dockerfile, /^ENV NODE_ENV=production$/m);
    assert.ok(existsSync(join(ROOT, '.dockerignore')));
  });
});
