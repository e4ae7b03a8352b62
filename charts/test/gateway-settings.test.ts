// The gateway's security and edge settings as the chart renders them are accepted by the gateway's
// own configuration and edge schemas (the code is imported, nothing is faked).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { loadGatewayConfig } from '../../services/gateway/src/config.ts';
import { EdgeConfig } from '../../services/gateway/src/edge-features.ts';
import { renderDocs, type Doc } from './render.ts';

interface EnvVar {
  name: string;
  value?: string;
}

function gateway(docs: Doc[]) {
  const deployment = docs.find(
    (d) => d.kind === 'Deployment' && d.metadata.name === 'securevault-app',
  ) as unknown as {
    spec: {
      template: {
        spec: {
          containers: Array<{
            env: EnvVar[];
            volumeMounts?: Array<{ name: string; mountPath: string }>;
          }>;
          volumes: Array<{ name: string; configMap?: { name: string } }>;
        };
      };
    };
  };
  assert.ok(deployment, 'gateway Deployment');
  const pod = deployment.spec.template.spec;
  const container = pod.containers[0]!;
  const env = Object.fromEntries(
    container.env
      .filter((e) => e.value !== undefined && !e.name.endsWith('_FILE'))
      .map((e) => [e.name, e.value]),
  );
  return { pod, container, env };
}

describe('gateway settings rendered by the chart', () => {
  for (const scenario of [
    'charts/securevault/ci/default-values.yaml',
    'charts/securevault/ci/edge-values.yaml',
  ]) {
    it(`${scenario}: the gateway accepts every plain setting`, () => {
      const { env } = gateway(renderDocs(scenario));
      for (const name of [
        'CORS_ORIGINS',
        'HSTS_MAX_AGE_SECONDS',
        'RATE_LIMIT_LOGIN_MAX',
        'INTROSPECTION_CACHE_TTL_MS',
      ]) {
        assert.ok(name in env, name);
      }
      const config = loadGatewayConfig(env);
      assert.equal(config.RATE_LIMIT_LOGIN_MAX, Number(env.RATE_LIMIT_LOGIN_MAX));
    });
  }

  it('edge configuration: a ConfigMap mounted as a directory (so updates reach the pod) that the gateway schema accepts', () => {
    const docs = renderDocs('charts/securevault/ci/edge-values.yaml');
    const { pod, container, env } = gateway(docs);
    assert.equal(env.EDGE_CONFIG_PATH, '/etc/securevault/edge/edge.json');
    const mount = container.volumeMounts?.find((m) => m.mountPath === '/etc/securevault/edge');
    assert.ok(mount, 'mounted without subPath: ConfigMap updates are swapped in place');
    const volume = pod.volumes.find((v) => v.name === mount.name);
    const configMap = docs.find(
      (d) => d.kind === 'ConfigMap' && d.metadata.name === volume?.configMap?.name,
    ) as unknown as {
      data: Record<string, string>;
    };
    const parsed = EdgeConfig.parse(JSON.parse(configMap.data['edge.json'] ?? ''));
    assert.deepEqual(parsed.experiments.onboarding?.variants, { a: 50, b: 50 });
    assert.equal(parsed.redirects[0]?.status, 301);

    const none = gateway(renderDocs('charts/securevault/ci/default-values.yaml'));
    assert.equal(none.env.EDGE_CONFIG_PATH, undefined, 'no edge file without edgeConfig');
  });
});
