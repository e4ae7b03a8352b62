// The gateway's configuration: defaults, TRUST_PROXY forms, the model allowlist, secrets from files.
// Everything real (pure parsing); no stand-ins.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '@securevault/service-kit';
import { loadGatewayConfig } from '../src/config.ts';

describe('gateway config', () => {
  it('has the documented defaults', () => {
    const c = loadGatewayConfig({});
    assert.equal(c.PORT, 8080);
    assert.equal(c.AUTH_URL, 'http://127.0.0.1:8081');
    assert.equal(c.AUDIT_URL, 'http://127.0.0.1:8082');
    assert.equal(c.AUTH_TIMEOUT_MS, 5000);
    assert.equal(c.BODY_LIMIT, '100kb');
    assert.equal(c.TRUST_PROXY, 0);
    assert.equal(c.AI_DEFAULT_MODEL, 'securevault-dev-1');
    assert.deepEqual(c.AI_MODELS, ['securevault-dev-1', 'securevault-dev-mini']);
    assert.equal(c.AI_MAX_TOKENS_LIMIT, 4096);
    assert.equal(c.METRICS_TOKEN, undefined);
    assert.equal(c.SSE_HEARTBEAT_MS, 15_000);
    assert.equal(c.SSE_BLOCK_MS, 15_000);
    assert.ok(Object.isFrozen(c));
  });

  it('TRUST_PROXY is a hop count or a CIDR list, never true', () => {
    assert.equal(loadGatewayConfig({ TRUST_PROXY: '1' }).TRUST_PROXY, 1);
    assert.deepEqual(loadGatewayConfig({ TRUST_PROXY: '10.0.0.0/8, 192.168.1.1' }).TRUST_PROXY, [
      '10.0.0.0/8',
      '192.168.1.1',
    ]);
    for (const bad of ['true', '*', 'evil host']) {
      assert.throws(
        () => loadGatewayConfig({ TRUST_PROXY: bad }),
        (err: unknown) =>
          err instanceof ConfigError &&
          err.variables.includes('TRUST_PROXY') &&
          !err.message.includes(bad),
      );
    }
  });

  it('the default model must be on the allowlist', () => {
    assert.throws(
      () => loadGatewayConfig({ AI_MODELS: 'a,b', AI_DEFAULT_MODEL: 'c' }),
      (err: unknown) => err instanceof ConfigError && err.variables.includes('AI_DEFAULT_MODEL'),
    );
    assert.deepEqual(loadGatewayConfig({ AI_MODELS: ' a , b ', AI_DEFAULT_MODEL: 'b' }).AI_MODELS, [
      'a',
      'b',
    ]);
  });

  it('reads METRICS_TOKEN from a file and never echoes a bad value', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gw-config-'));
    const file = join(dir, 'token');
    writeFileSync(file, 'a-long-metrics-token-value\n');
    assert.equal(
      loadGatewayConfig({ METRICS_TOKEN_FILE: file }).METRICS_TOKEN,
      'a-long-metrics-token-value',
    );
    assert.throws(
      () => loadGatewayConfig({ METRICS_TOKEN: 'short-secret' }),
      (err: unknown) =>
        err instanceof ConfigError &&
        err.variables.includes('METRICS_TOKEN') &&
        !err.message.includes('short-secret'),
    );
    assert.throws(() => loadGatewayConfig({ AUTH_URL: 'ftp://x' }), ConfigError);
  });
});
