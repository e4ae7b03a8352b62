// The service runtime: management server up first, graceful shutdown closes it; real HTTP.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createRuntime, exitOnStartupError } from '../src/runtime.ts';
import { spawnSync } from 'node:child_process';

describe('createRuntime', () => {
  it('serves management endpoints, is ready once started, and shuts down in order', async () => {
    const runtime = await createRuntime(
      'audit',
      { LOG_LEVEL: 'silent', MANAGEMENT_PORT: 0, SHUTDOWN_GRACE_MS: 2000, SHUTDOWN_DRAIN_MS: 0 },
      { installSignals: false, telemetry: { enabled: false, shutdown: () => Promise.resolve() } },
    );
    const base = `http://127.0.0.1:${runtime.managementPort}`;
    assert.equal((await fetch(`${base}/healthz`)).status, 200);
    // Not ready until the service says it has started, whatever its dependencies say.
    const starting = await fetch(`${base}/readyz`);
    assert.equal(starting.status, 503);
    assert.match(await starting.text(), /still starting/);
    runtime.markStarted();
    assert.equal((await fetch(`${base}/readyz`)).status, 200);
    assert.match(await (await fetch(`${base}/metrics`)).text(), /audit_events_total/);
    assert.equal(await runtime.lifecycle.shutdown('test'), 0);
    await assert.rejects(fetch(`${base}/healthz`));
  });

  it('exitOnStartupError prints one JSON line and exits 1', () => {
    assert.equal(typeof exitOnStartupError, 'function');
    const child = spawnSync(
      process.execPath,
      [
        '--conditions=securevault-source',
        '--input-type=module',
        '-e',
        `import { exitOnStartupError } from '@securevault/service-kit'; exitOnStartupError('auth', new Error('invalid configuration'));`,
      ],
      { cwd: new URL('..', import.meta.url), encoding: 'utf8' },
    );
    assert.equal(child.status, 1);
    const line = JSON.parse(child.stderr.trim()) as Record<string, unknown>;
    assert.equal(line.level, 'fatal');
    assert.equal(line.error, 'invalid configuration');
  });
});
