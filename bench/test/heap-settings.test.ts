// The V8 heap flags the benchmark measures are the ones production gets: the chart's NODE_OPTIONS
// per Deployment equal scripts/lib/service-env.ts's (make dev, the tests, the benchmark), and Node
// accepts them and applies the old-space limit. No timing here: memory is measured by
// `make benchmark` (rows 11 and 12) and bench/memory-probe.ts.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { NODE_OPTIONS, SERVICES, type ServiceName } from '../../scripts/lib/service-env.ts';
import { renderDocs, type Doc } from '../../charts/test/render.ts';

const COMPONENT: Record<ServiceName, string> = {
  gateway: 'app',
  auth: 'auth',
  audit: 'audit',
  'email-worker': 'email-worker',
  'ai-worker': 'ai-worker',
};

type Container = { env?: Array<{ name: string; value?: string }> };

function nodeOptionsOf(docs: Doc[], component: string): string | undefined {
  const d = docs.find(
    (x) => x.kind === 'Deployment' && x.metadata.name === `securevault-${component}`,
  );
  assert.ok(d, `Deployment securevault-${component} rendered`);
  const spec = d.spec as { template: { spec: { containers: Container[] } } };
  const env = spec.template.spec.containers[0]?.env ?? [];
  return env.find((e) => e.name === 'NODE_OPTIONS')?.value;
}

describe('V8 heap flags', () => {
  for (const scenario of [undefined, 'charts/securevault/ci/production-values.yaml']) {
    it(`the chart (${scenario ?? 'defaults'}) sets each service's NODE_OPTIONS as service-env does`, () => {
      const docs = renderDocs(scenario);
      for (const service of SERVICES) {
        assert.equal(nodeOptionsOf(docs, COMPONENT[service]), NODE_OPTIONS[service], service);
      }
    });
  }

  it('an empty nodeOptions sets no NODE_OPTIONS; a value that is not flags is refused', () => {
    const docs = renderDocs(undefined, ['--set-string', 'app.nodeOptions=']);
    assert.equal(nodeOptionsOf(docs, 'app'), undefined);
    assert.equal(nodeOptionsOf(docs, 'auth'), NODE_OPTIONS.auth);
    assert.throws(
      () => renderDocs(undefined, ['--set-string', 'auth.nodeOptions=--inspect;touch /tmp/x']),
      /nodeOptions/,
    );
  });

  for (const service of SERVICES) {
    it(`node starts with ${service}'s flags and applies its old-space limit`, () => {
      const r = spawnSync(
        process.execPath,
        ['-e', 'process.stdout.write(String(require("v8").getHeapStatistics().heap_size_limit))'],
        {
          env: { PATH: process.env.PATH ?? '', NODE_OPTIONS: NODE_OPTIONS[service] },
          encoding: 'utf8',
        },
      );
      assert.equal(r.status, 0, r.stderr);
      const oldMb = Number(/--max-old-space-size=(\d+)/.exec(NODE_OPTIONS[service])?.[1]);
      const semiMb = Number(/--max-semi-space-size=(\d+)/.exec(NODE_OPTIONS[service])?.[1]);
      assert.ok(oldMb > 0 && semiMb > 0, `${service} sets both heap sizes`);
      // heap_size_limit = the old-space limit + the young generation (three semi-spaces' worth).
      const limitMb = Number(r.stdout) / 2 ** 20;
      assert.ok(
        limitMb >= oldMb + semiMb && limitMb <= oldMb + 3 * semiMb + 1,
        `${service}: heap limit ${limitMb} MiB for ${NODE_OPTIONS[service]}`,
      );
    });
  }
});
