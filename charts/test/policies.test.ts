// Policy tests over the rendered chart in every scenario: images, disruption budgets, scaling,
// topology spread, ingress, bundled stores, and the NetworkPolicies evaluated as a firewall.
// Real: the helm binary and the chart. No cluster: the NetworkPolicy semantics are evaluated
// here (pod/namespace selectors, ipBlocks, ports), the way a CNI applies them.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import type { IContainer } from 'kubernetes-models/v1/Container';
import type { IPodSpec } from 'kubernetes-models/v1/PodSpec';
import type { INetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import type { INetworkPolicyPeer } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicyPeer';
import type { INetworkPolicyPort } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicyPort';
import { NAMESPACE, SCENARIOS, effectiveValues, renderDocs } from './render.ts';
import type { Doc } from './render.ts';

const COMPONENTS = ['app', 'auth', 'audit', 'email-worker', 'ai-worker'] as const;

interface Peer {
  cidrs: string[];
  ports: number[];
}
interface Values {
  queuePrefix: string;
  redis: { bundled: { enabled: boolean }; urlFromSecret: boolean };
  postgres: { bundled: { enabled: boolean } };
  migrations: { enabled: boolean };
  ingress: { enabled: boolean; host: string; tls: { enabled: boolean } };
  topologySpread: { enabled: boolean; whenUnsatisfiable: string };
  app: { autoscaling: { enabled: boolean; minReplicas: number; maxReplicas: number } };
  emailWorker: { keda: { enabled: boolean } };
  aiWorker: { keda: { enabled: boolean } };
  networkPolicy: {
    enabled: boolean;
    ingressNamespaceSelector: Record<string, string>;
    prometheusNamespaceSelector: Record<string, string>;
    dns: { namespaceSelector: Record<string, string>; podSelector: Record<string, string> };
    redis: Peer;
    postgres: Peer;
    smtp: Peer;
    aiProvider: Peer;
  };
}

function podTemplates(
  docs: Doc[],
): Array<{ owner: Doc; spec: IPodSpec; labels: Record<string, string> }> {
  return docs.flatMap((d) => {
    if (d.kind === 'Pod')
      return [{ owner: d, spec: d.spec as IPodSpec, labels: d.metadata.labels ?? {} }];
    if (['Deployment', 'StatefulSet', 'Job'].includes(d.kind)) {
      const t = (
        d.spec as { template: { spec: IPodSpec; metadata: { labels: Record<string, string> } } }
      ).template;
      return [{ owner: d, spec: t.spec, labels: t.metadata.labels }];
    }
    return [];
  });
}

function containers(spec: IPodSpec): IContainer[] {
  return [...(spec.initContainers ?? []), ...spec.containers];
}

// ---- NetworkPolicy evaluation ----------------------------------------------------------------

/** Something traffic comes from or goes to: a pod (ours or another namespace's) or an IP outside. */
type Endpoint =
  | {
      kind: 'pod';
      namespace: string;
      nsLabels: Record<string, string>;
      labels: Record<string, string>;
    }
  | { kind: 'ip'; ip: string };

function matches(
  selector: { matchLabels?: Record<string, string> } | undefined,
  labels: Record<string, string>,
) {
  if (!selector) return true;
  return Object.entries(selector.matchLabels ?? {}).every(([k, v]) => labels[k] === v);
}

function ipToInt(ip: string): number {
  return ip.split('.').reduce((n, part) => n * 256 + Number(part), 0);
}

function inCidr(ip: string, cidr: string): boolean {
  const [base, bits] = cidr.split('/') as [string, string];
  const size = 2 ** (32 - Number(bits));
  return Math.floor(ipToInt(ip) / size) === Math.floor(ipToInt(base) / size);
}

function peerMatches(peer: INetworkPolicyPeer, ep: Endpoint): boolean {
  if (peer.ipBlock) {
    if (ep.kind !== 'ip') return false;
    return (
      inCidr(ep.ip, peer.ipBlock.cidr) && !(peer.ipBlock.except ?? []).some((c) => inCidr(ep.ip, c))
    );
  }
  if (ep.kind !== 'pod') return false;
  // A podSelector alone means "pods of the policy's own namespace".
  if (!peer.namespaceSelector && ep.namespace !== NAMESPACE) return false;
  if (peer.namespaceSelector && !matches(peer.namespaceSelector, ep.nsLabels)) return false;
  return matches(peer.podSelector, ep.labels);
}

function portMatches(ports: INetworkPolicyPort[] | undefined, port: number, protocol: string) {
  if (!ports || ports.length === 0) return true;
  return ports.some(
    (p) => (p.protocol ?? 'TCP') === protocol && (p.port === undefined || p.port === port),
  );
}

/** Whether policies selecting `pod` let traffic out to (or in from) `other` on port/protocol. */
function allowed(
  policies: INetworkPolicy[],
  direction: 'Ingress' | 'Egress',
  pod: Endpoint,
  other: Endpoint,
  port: number,
  protocol: string,
): boolean {
  // Pods outside our namespace and IPs outside the cluster are not governed by our policies.
  if (pod.kind !== 'pod' || pod.namespace !== NAMESPACE) return true;
  const selecting = policies.filter(
    (p) =>
      matches(p.spec!.podSelector, pod.labels) && (p.spec!.policyTypes ?? []).includes(direction),
  );
  if (selecting.length === 0) return true;
  return selecting.some((p) => {
    const rules = direction === 'Ingress' ? (p.spec!.ingress ?? []) : (p.spec!.egress ?? []);
    return rules.some((r) => {
      const peers = 'from' in r ? r.from : (r as { to?: INetworkPolicyPeer[] }).to;
      const peerOk = !peers || peers.length === 0 || peers.some((x) => peerMatches(x, other));
      return peerOk && portMatches(r.ports, port, protocol);
    });
  });
}

function canConnect(
  policies: INetworkPolicy[],
  from: Endpoint,
  to: Endpoint,
  port: number,
  protocol = 'TCP',
) {
  return (
    allowed(policies, 'Egress', from, to, port, protocol) &&
    allowed(policies, 'Ingress', to, from, port, protocol)
  );
}

function ourPod(component: string): Endpoint {
  return {
    kind: 'pod',
    namespace: NAMESPACE,
    nsLabels: { 'kubernetes.io/metadata.name': NAMESPACE },
    labels: {
      'app.kubernetes.io/name': 'securevault',
      'app.kubernetes.io/instance': 'securevault',
      'app.kubernetes.io/component': component,
    },
  };
}

function foreignPod(
  nsLabels: Record<string, string>,
  labels: Record<string, string> = {},
): Endpoint {
  return { kind: 'pod', namespace: 'elsewhere', nsLabels, labels };
}

/** An address inside the first configured CIDR (its base address + 1). */
function ipIn(peer: Peer): Endpoint {
  const [base] = peer.cidrs[0]!.split('/') as [string];
  const n = ipToInt(base) + 1;
  return { kind: 'ip', ip: [24, 16, 8, 0].map((s) => (n >>> s) & 255).join('.') };
}

for (const scenario of SCENARIOS) {
  describe(`policies: ${scenario}`, () => {
    const docs = renderDocs(scenario);
    const values = effectiveValues(scenario) as unknown as Values;
    const byKind = (kind: string) => docs.filter((d) => d.kind === kind);
    const deployments = byKind('Deployment') as unknown as IDeployment[];

    test('every image is pinned: a tag that is neither empty nor "latest"', () => {
      for (const { owner, spec } of podTemplates(docs)) {
        for (const c of containers(spec)) {
          const image = c.image ?? '';
          const where = `${owner.kind}/${owner.metadata.name}/${c.name}: ${image}`;
          const m = /^(?<repo>[^@]+?)(?::(?<tag>[^:/@]*))?(?:@(?<digest>sha256:[a-f0-9]+))?$/.exec(
            image,
          );
          assert.ok(m?.groups, where);
          assert.ok(m.groups.tag || m.groups.digest, `${where} has no tag`);
          assert.notEqual(m.groups.tag, 'latest', `${where} uses latest`);
        }
      }
    });

    test('every Deployment has a PodDisruptionBudget selecting exactly its pods', () => {
      const pdbs = byKind('PodDisruptionBudget');
      assert.equal(pdbs.length, deployments.length);
      for (const d of deployments) {
        const labels = d.spec!.template.metadata!.labels!;
        const mine = pdbs.filter((p) =>
          matches(
            (p.spec as { selector: { matchLabels: Record<string, string> } }).selector,
            labels,
          ),
        );
        assert.equal(mine.length, 1, `${d.metadata!.name} has one PDB`);
        const spec = mine[0]!.spec as { maxUnavailable?: number; minAvailable?: number };
        assert.ok((spec.maxUnavailable ?? 0) >= 1, `${d.metadata!.name} PDB lets a drain proceed`);
      }
    });

    test('the gateway scales with an autoscaling/v2 CPU HPA, or keeps fixed replicas', () => {
      const hpas = byKind('HorizontalPodAutoscaler');
      const app = deployments.find((d) => d.metadata!.name === 'securevault-app')!;
      if (!values.app.autoscaling.enabled) {
        assert.equal(hpas.length, 0);
        assert.equal(typeof app.spec!.replicas, 'number');
        return;
      }
      assert.equal(hpas.length, 1);
      const spec = hpas[0]!.spec as {
        scaleTargetRef: { kind: string; name: string };
        minReplicas: number;
        maxReplicas: number;
        metrics: Array<{ type: string; resource: { name: string; target: { type: string } } }>;
      };
      assert.equal(hpas[0]!.apiVersion, 'autoscaling/v2');
      assert.deepEqual(spec.scaleTargetRef.kind, 'Deployment');
      assert.equal(spec.scaleTargetRef.name, 'securevault-app');
      assert.ok(spec.minReplicas >= 2, 'at least two gateways, so the PDB never blocks a drain');
      assert.ok(spec.maxReplicas >= spec.minReplicas);
      assert.deepEqual(
        spec.metrics.map((m) => [m.type, m.resource.name, m.resource.target.type]),
        [['Resource', 'cpu', 'Utilization']],
      );
      assert.equal(app.spec!.replicas, undefined, 'the HPA, not the Deployment, owns replicas');
    });

    test('KEDA ScaledObjects scale the workers on their BullMQ wait lists', () => {
      const scaled = byKind('ScaledObject');
      const expected: Record<string, string[]> = {};
      if (values.emailWorker.keda.enabled)
        expected['securevault-email-worker'] = ['email', 'webhook'].map(
          (q) => `${values.queuePrefix}:${q}:wait`,
        );
      if (values.aiWorker.keda.enabled)
        expected['securevault-ai-worker'] = [`${values.queuePrefix}:ai:wait`];
      assert.deepEqual(scaled.map((s) => s.metadata.name).sort(), Object.keys(expected).sort());
      for (const s of scaled) {
        const spec = s.spec as {
          scaleTargetRef: { name: string };
          triggers: Array<{ type: string; metadata: Record<string, string> }>;
        };
        assert.equal(spec.scaleTargetRef.name, s.metadata.name);
        assert.deepEqual(
          spec.triggers.map((t) => t.metadata.listName),
          expected[s.metadata.name],
        );
        for (const t of spec.triggers) {
          assert.equal(t.type, 'redis');
          assert.match(t.metadata.address ?? '', /^[^:/@]+:\d+$/, 'host:port without credentials');
          assert.match(t.metadata.listLength ?? '', /^\d+$/);
        }
        const target = deployments.find((d) => d.metadata!.name === s.metadata.name)!;
        assert.equal(target.spec!.replicas, undefined, 'KEDA, not the Deployment, owns replicas');
      }
    });

    test('pods spread over zones and nodes', (t) => {
      if (!values.topologySpread.enabled) {
        t.skip('topology spread disabled');
        return;
      }
      for (const d of deployments) {
        const constraints = d.spec!.template.spec!.topologySpreadConstraints ?? [];
        assert.deepEqual(
          constraints.map((c) => c.topologyKey).sort(),
          ['kubernetes.io/hostname', 'topology.kubernetes.io/zone'],
          d.metadata!.name,
        );
        for (const c of constraints) {
          assert.equal(c.whenUnsatisfiable, values.topologySpread.whenUnsatisfiable);
          assert.deepEqual(c.labelSelector?.matchLabels, d.spec!.selector.matchLabels);
        }
      }
    });

    test('the Ingress, when enabled, routes its TLS host to the gateway Service', () => {
      const ingresses = byKind('Ingress');
      if (!values.ingress.enabled) {
        assert.equal(ingresses.length, 0);
        return;
      }
      assert.equal(ingresses.length, 1);
      const spec = ingresses[0]!.spec as {
        tls?: Array<{ hosts: string[]; secretName: string }>;
        rules: Array<{
          host: string;
          http: {
            paths: Array<{ backend: { service: { name: string; port: { name: string } } } }>;
          };
        }>;
      };
      assert.equal(spec.rules[0]!.host, values.ingress.host);
      const backend = spec.rules[0]!.http.paths[0]!.backend.service;
      const gateway = docs.find((d) => d.kind === 'Service' && d.metadata.name === backend.name);
      assert.ok(gateway, 'the backend Service exists');
      const ports = (gateway.spec as { ports: Array<{ name: string }> }).ports;
      assert.ok(ports.some((p) => p.name === backend.port.name));
      if (values.ingress.tls.enabled) {
        assert.deepEqual(spec.tls?.[0]?.hosts, [values.ingress.host]);
        assert.ok(spec.tls[0].secretName);
      }
    });

    test('bundled Redis and Postgres: StatefulSets with PVCs, wired into the services', () => {
      const sets = byKind('StatefulSet');
      const expected = [
        ...(values.postgres.bundled.enabled ? ['securevault-postgres'] : []),
        ...(values.redis.bundled.enabled ? ['securevault-redis'] : []),
      ];
      assert.deepEqual(sets.map((s) => s.metadata.name).sort(), expected);
      for (const s of sets) {
        const spec = s.spec as {
          volumeClaimTemplates: Array<{ metadata: { name: string } }>;
          template: { spec: IPodSpec };
        };
        const c = spec.template.spec.containers[0]!;
        const claims = spec.volumeClaimTemplates.map((v) => v.metadata.name);
        assert.ok(
          c.volumeMounts?.some((m) => claims.includes(m.name)),
          `${s.metadata.name} stores on its PVC`,
        );
        assert.ok(docs.some((d) => d.kind === 'Service' && d.metadata.name === s.metadata.name));
      }
      const redis = sets.find((s) => s.metadata.name === 'securevault-redis');
      if (redis) {
        const args = (
          redis.spec as { template: { spec: IPodSpec } }
        ).template.spec.containers[0]!.args!.join(' ');
        assert.match(args, /--maxmemory-policy noeviction/);
        assert.match(args, /--appendonly yes/);
        for (const d of deployments) {
          const env = d.spec!.template.spec!.containers[0]!.env ?? [];
          assert.equal(
            env.find((e) => e.name === 'REDIS_URL')?.value,
            'redis://securevault-redis:6379',
            d.metadata!.name,
          );
        }
      }
      if (values.postgres.bundled.enabled) {
        const secret = docs.find((d) => d.kind === 'Secret');
        const data = (secret?.stringData ?? {}) as Record<string, string>;
        for (const name of ['securevault-auth', 'securevault-audit']) {
          const d = deployments.find((x) => x.metadata!.name === name)!;
          const file = d.spec!.template.spec!.containers[0]!.env!.find(
            (e) => e.name === 'DATABASE_URL_FILE',
          )!.value!;
          const key = file.split('/').pop()!;
          assert.match(
            data[key] ?? '',
            /^postgres:\/\/[^@]+@securevault-postgres:5432\//,
            `${name} reads the bundled Postgres URL`,
          );
        }
      }
    });

    test('NetworkPolicies: default deny first, then exactly the flows of the architecture', (t) => {
      const policies = byKind('NetworkPolicy') as unknown as INetworkPolicy[];
      if (!values.networkPolicy.enabled) {
        assert.equal(policies.length, 0);
        t.skip('networkPolicy disabled in this scenario');
        return;
      }
      const first = policies[0]!;
      assert.deepEqual(first.spec!.podSelector, {}, 'the first policy selects every pod');
      assert.deepEqual(first.spec!.policyTypes, ['Ingress', 'Egress']);
      assert.equal(first.spec!.ingress, undefined);
      assert.equal(first.spec!.egress, undefined);
      // Every pod of the chart has its own allow list.
      for (const { owner, labels } of podTemplates(docs)) {
        const own = policies
          .slice(1)
          .filter(
            (p) =>
              p.spec!.podSelector?.matchLabels?.['app.kubernetes.io/component'] ===
              labels['app.kubernetes.io/component'],
          );
        assert.equal(own.length, 1, `${owner.kind}/${owner.metadata.name} has an allow list`);
      }

      const np = values.networkPolicy;
      const ingressController = foreignPod(np.ingressNamespaceSelector);
      const prometheus = foreignPod(np.prometheusNamespaceSelector);
      const dns = foreignPod(np.dns.namespaceSelector, np.dns.podSelector);
      const redis = values.redis.bundled.enabled ? ourPod('redis') : ipIn(np.redis);
      const redisPort = values.redis.bundled.enabled ? 6379 : np.redis.ports[0]!;
      const postgres = values.postgres.bundled.enabled ? ourPod('postgres') : ipIn(np.postgres);
      const smtp = ipIn(np.smtp);
      const provider = ipIn(np.aiProvider);
      const elsewhere = foreignPod({ 'kubernetes.io/metadata.name': 'default' });
      const can = (from: Endpoint, to: Endpoint, port: number, protocol?: string) =>
        canConnect(policies, from, to, port, protocol);
      const [app, auth, audit, email, ai] = COMPONENTS.map(ourPod) as [
        Endpoint,
        Endpoint,
        Endpoint,
        Endpoint,
        Endpoint,
      ];
      const flows: Array<[string, boolean, boolean]> = [
        ['ingress controller → gateway 8080', can(ingressController, app, 8080), true],
        ['gateway → auth 8081', can(app, auth, 8081), true],
        ['gateway → audit 8082', can(app, audit, 8082), true],
        ['gateway → auth readiness 9464', can(app, auth, 9464), true],
        ['auth → Postgres', can(auth, postgres, 5432), true],
        ['audit → Postgres', can(audit, postgres, 5432), true],
        [
          'email-worker → SMTP 587',
          can(email, smtp, np.smtp.ports.includes(587) ? 587 : np.smtp.ports[0]!),
          true,
        ],
        ['ai-worker → provider', can(ai, provider, np.aiProvider.ports[0]!), true],
        ['helm test pod → gateway 8080', can(ourPod('test'), app, 8080), true],
        // What must stay closed.
        ['another namespace → gateway 8080', can(elsewhere, app, 8080), false],
        ['ingress controller → auth 8081', can(ingressController, auth, 8081), false],
        ['ingress controller → gateway 9464', can(ingressController, app, 9464), false],
        ['Prometheus → gateway 8080', can(prometheus, app, 8080), false],
        ['gateway → Postgres', can(app, postgres, 5432), false],
        ['email-worker → Postgres', can(email, postgres, 5432), false],
        ['ai-worker → Postgres', can(ai, postgres, 5432), false],
        ['email-worker → auth 8081', can(email, auth, 8081), false],
        ['ai-worker → gateway 8080', can(ai, app, 8080), false],
        ['audit → auth 8081', can(audit, auth, 8081), false],
        ['auth → provider', can(auth, provider, np.aiProvider.ports[0]!), false],
        ['gateway → provider', can(app, provider, np.aiProvider.ports[0]!), false],
        ['ai-worker → SMTP 25', can(ai, smtp, 25), np.aiProvider.ports.includes(25)],
        ['another namespace → auth 9464', can(elsewhere, auth, 9464), false],
      ];
      for (const c of COMPONENTS) {
        const pod = ourPod(c);
        flows.push([`${c} → Redis`, can(pod, redis, redisPort), true]);
        flows.push([`${c} → DNS (UDP 53)`, can(pod, dns, 53, 'UDP'), true]);
        flows.push([`Prometheus → ${c} 9464`, can(prometheus, pod, 9464), true]);
        flows.push([`${c} → another namespace`, can(pod, elsewhere, 8080), false]);
      }
      if (values.migrations.enabled) {
        flows.push(['migrations → Postgres', can(ourPod('migrations'), postgres, 5432), true]);
        flows.push(['migrations → Redis', can(ourPod('migrations'), redis, redisPort), false]);
      }
      if (values.redis.bundled.enabled)
        flows.push(['another namespace → bundled Redis', can(elsewhere, redis, 6379), false]);
      const wrong = flows
        .filter(([, actual, want]) => actual !== want)
        .map(([what, , want]) => `${what} should be ${want ? 'open' : 'closed'}`);
      assert.deepEqual(wrong, []);
    });
  });
}
