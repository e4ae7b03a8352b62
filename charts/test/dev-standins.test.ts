// The Kubernetes dev loop's stand-ins: the manifest validates against Kubernetes' schemas and
// matches what k8s/values-dev.yaml points the workers at, and the process really speaks SMTP,
// serves the mail viewer and the OpenAI-compatible API (started here on free local ports).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { Deployment } from 'kubernetes-models/apps/v1';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { Service } from 'kubernetes-models/v1';
import { STANDIN_MODELS, freePort, waitForHttp } from '@securevault/testing';
import { REPO_ROOT, spawnNodeScript } from '../../scripts/lib/processes.ts';

interface Doc {
  kind: string;
  metadata: { name: string; namespace?: string };
  spec: Record<string, unknown>;
}

const docs = parseAllDocuments(readFileSync(join(REPO_ROOT, 'k8s/dev-standins.yaml'), 'utf8')).map(
  (d) => d.toJSON() as Doc,
);
const values = parse(readFileSync(join(REPO_ROOT, 'k8s/values-dev.yaml'), 'utf8')) as {
  secrets: { values: Record<string, string> };
  ai: { baseUrl: string; defaultModel: string; models: string[] };
};

describe('k8s/dev-standins.yaml', () => {
  it('validates and runs restricted', () => {
    for (const doc of docs) {
      assert.equal(doc.metadata.namespace, 'securevault', doc.metadata.name);
      if (doc.kind === 'Deployment') new Deployment(doc as never).validate();
      else if (doc.kind === 'Service') new Service(doc).validate();
      else if (doc.kind === 'NetworkPolicy') new NetworkPolicy(doc).validate();
      else assert.fail(`unexpected kind ${doc.kind}`);
    }
    const deployment = docs.find((d) => d.kind === 'Deployment') as unknown as {
      spec: {
        template: {
          spec: {
            automountServiceAccountToken: boolean;
            securityContext: Record<string, unknown>;
            containers: Array<{
              securityContext: Record<string, unknown>;
              resources: { limits: unknown };
            }>;
          };
        };
      };
    };
    const pod = deployment.spec.template.spec;
    assert.equal(pod.automountServiceAccountToken, false);
    assert.equal(pod.securityContext.runAsNonRoot, true);
    for (const c of pod.containers) {
      assert.equal(c.securityContext.allowPrivilegeEscalation, false);
      assert.equal(c.securityContext.readOnlyRootFilesystem, true);
      assert.deepEqual((c.securityContext.capabilities as { drop: string[] }).drop, ['ALL']);
      assert.ok(c.resources.limits);
    }
  });

  it('offers the Services and ports the dev values point the workers at', () => {
    const services = new Map(
      docs
        .filter((d) => d.kind === 'Service')
        .map((d) => [
          d.metadata.name,
          (d.spec.ports as Array<{ port: number }>).map((p) => p.port),
        ]),
    );
    const smtp = new URL(values.secrets.values['smtp-url'] ?? '');
    assert.ok(
      services.get(smtp.hostname)?.includes(Number(smtp.port)),
      `Service ${smtp.hostname}:${smtp.port}`,
    );
    const ai = new URL(values.ai.baseUrl);
    assert.ok(
      services.get(ai.hostname)?.includes(Number(ai.port)),
      `Service ${ai.hostname}:${ai.port}`,
    );
    // The dev model list must be what the stand-in serves, or every generation would 404.
    for (const model of [values.ai.defaultModel, ...values.ai.models]) {
      assert.ok((STANDIN_MODELS as readonly string[]).includes(model), model);
    }
  });
});

describe('scripts/dev-standins.ts', () => {
  it('speaks SMTP, serves the viewer and the model API, and stops on SIGTERM', async () => {
    const [smtpPort, viewerPort, modelPort] = [
      await freePort(),
      await freePort(),
      await freePort(),
    ];
    const proc = spawnNodeScript(
      'dev-standins',
      'scripts/dev-standins.ts',
      {
        PATH: process.env.PATH ?? '',
        STANDINS_HOST: '127.0.0.1',
        SMTP_PORT: String(smtpPort),
        MAIL_VIEWER_PORT: String(viewerPort),
        MODEL_PORT: String(modelPort),
      },
      { onLine: () => undefined },
    );
    try {
      await waitForHttp(`http://127.0.0.1:${viewerPort}/messages.json`, {
        timeoutMs: 10_000,
        expectStatus: 200,
      });
      const models = await fetch(`http://127.0.0.1:${modelPort}/v1/models`, {
        headers: { authorization: 'Bearer dev' },
      });
      assert.equal(models.status, 200);
      assert.ok(JSON.stringify(await models.json()).includes('securevault-dev-1'));
      const greeting = await new Promise<string>((resolve, reject) => {
        const socket = net.connect(smtpPort, '127.0.0.1');
        socket.once('data', (d: Buffer) => {
          socket.end('QUIT\r\n');
          resolve(d.toString());
        });
        socket.once('error', reject);
      });
      assert.match(greeting, /^220 /);
    } finally {
      assert.equal(await proc.stop(5000), 0);
    }
  });
});
