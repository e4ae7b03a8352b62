// Mounted secrets: rotation picked up after the TTL, the last good value kept with a warning and a
// metric when the file cannot be read. Real: files on disk and the gateway's metric registry.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Metrics } from '@securevault/observability';
import { SecretFile } from '@securevault/service-kit';

describe('SecretFile', () => {
  it('re-reads after the TTL, and keeps the last good value (warning + metric) when the read fails', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sv-secret-'));
    const path = join(dir, 'token');
    const warnings: unknown[] = [];
    const metrics = new Metrics('gateway', { defaultMetrics: false });
    try {
      writeFileSync(path, 'first-value-0123456789\n');
      const secret = new SecretFile(path, {
        ttlMs: 1000,
        name: 'METRICS_TOKEN',
        logger: { warn: (obj: unknown) => warnings.push(obj) },
        metrics,
      });
      assert.equal(secret.get(0), 'first-value-0123456789');
      writeFileSync(path, 'second-value-0123456789\n');
      // mtime resolution: make sure the rewrite is seen as a change.
      await new Promise((r) => setTimeout(r, 20));
      writeFileSync(path, 'second-value-0123456789\n');
      assert.equal(secret.get(500), 'first-value-0123456789', 'cached within the TTL');
      assert.equal(secret.get(1500), 'second-value-0123456789', 'rotation picked up after it');

      rmSync(path);
      assert.equal(secret.get(3000), 'second-value-0123456789', 'last good value kept');
      assert.deepEqual(warnings, [{ secret: 'METRICS_TOKEN' }]);
      const text = await metrics.text();
      assert.match(text, /secret_stale_total\{secret="METRICS_TOKEN"\} 1/);
      assert.ok(!text.includes('second-value'), 'the value never reaches metrics');
      assert.ok(!JSON.stringify(warnings).includes('second-value'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the secret scan of make security', () => {
  const root = fileURLToPath(new URL('../../../', import.meta.url));
  const scan = (text: string) => {
    const dir = mkdtempSync(join(tmpdir(), 'sv-scan-'));
    try {
      writeFileSync(join(dir, 'leak.txt'), text);
      return spawnSync(
        join(root, 'node_modules/.bin/secretlint'),
        ['--secretlintrc', join(root, 'scripts/secretlintrc.json'), join(dir, 'leak.txt')],
        { encoding: 'utf8', timeout: 60_000 },
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };

  it('finds a leaked SecureVault API key and a real connection string, and masks them', () => {
    const key = `svk_${'Ab1_'.repeat(10)}`;
    // Assembled at run time so the repository scan does not flag this file itself.
    const url = ['postgres://app', 's3cret-pass@db:5432/x'].join(':');
    const leaked = scan(`deploy with ${key}\nDATABASE_URL=${url}\n`);
    assert.equal(leaked.status, 1, leaked.stdout + leaked.stderr);
    assert.match(leaked.stdout, /secretlint-rule-pattern/);
    assert.match(leaked.stdout, /PostgreSQLConnection/);
    assert.ok(!leaked.stdout.includes(key), 'the report masks the key');
  });

  it('lets documentation placeholders through', () => {
    const clean = scan('postgres://securevault:<postgres-password>@postgres:5432/securevault\n');
    assert.equal(clean.status, 0, clean.stdout + clean.stderr);
  });
});
