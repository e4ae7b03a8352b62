// Health registry, management server and graceful shutdown, over real HTTP on loopback.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { HealthRegistry } from '../src/health.ts';
import { startManagementServer } from '../src/management.ts';
import { Metrics } from '../src/metrics.ts';
import { Lifecycle } from '../src/lifecycle.ts';
import { createLogger } from '../src/logger.ts';

const silent = createLogger({ service: 'gateway', level: 'silent' });

describe('HealthRegistry', () => {
  it('is ready when every check passes, within its timeout', async () => {
    const health = new HealthRegistry();
    health.register('fast', () => undefined);
    health.register('async', async () => new Promise((r) => setTimeout(r, 5)));
    const r = await health.readiness();
    assert.equal(r.ready, true);
    assert.equal(r.checks.fast?.ok, true);
  });

  it('fails a check that throws or times out, and turns false on shutdown', async () => {
    const health = new HealthRegistry();
    health.register('broken', () => {
      throw new Error('db down');
    });
    health.register('slow', () => new Promise(() => {}), { timeoutMs: 20 });
    const r = await health.readiness();
    assert.equal(r.ready, false);
    assert.equal(r.checks.broken?.error, 'db down');
    assert.match(r.checks.slow?.error ?? '', /timed out after 20 ms/);

    const ok = new HealthRegistry();
    ok.register('x', () => undefined);
    ok.markShuttingDown();
    assert.equal(ok.shuttingDown, true);
    assert.equal((await ok.readiness()).ready, false);
  });

  it('rejects a duplicate check name', () => {
    const health = new HealthRegistry();
    health.register('a', () => undefined);
    assert.throws(() => health.register('a', () => undefined), /registered twice/);
  });
});

describe('management server', () => {
  it('serves /healthz, /readyz and /metrics and nothing else', async () => {
    const health = new HealthRegistry();
    let up = true;
    health.register('dep', () => {
      if (!up) throw new Error('redis://user:secretpw@host down');
    });
    const metrics = new Metrics('audit');
    const server = await startManagementServer({ port: 0, host: '127.0.0.1', health, metrics });
    const base = `http://127.0.0.1:${server.port}`;
    try {
      assert.deepEqual(await (await fetch(`${base}/healthz`)).json(), { status: 'ok' });
      assert.equal((await fetch(`${base}/readyz`)).status, 200);
      up = false;
      const notReady = await fetch(`${base}/readyz`);
      assert.equal(notReady.status, 503);
      const body = await notReady.text();
      assert.doesNotMatch(body, /secretpw/);
      const m = await fetch(`${base}/metrics`);
      assert.match(m.headers.get('content-type') ?? '', /text\/plain/);
      assert.match(await m.text(), /audit_events_total/);
      assert.equal((await fetch(`${base}/other`)).status, 404);
      assert.equal((await fetch(`${base}/metrics`, { method: 'POST' })).status, 405);
    } finally {
      await server.close();
    }
  });
});

describe('Lifecycle', () => {
  it('closes in reverse start order and reports 0', async () => {
    const health = new HealthRegistry();
    const order: string[] = [];
    const lifecycle = new Lifecycle({ logger: silent, health, graceMs: 1000 });
    lifecycle.onStop('redis', () => order.push('redis'));
    lifecycle.onStop('db', async () => {
      await new Promise((r) => setTimeout(r, 5));
      order.push('db');
    });
    lifecycle.onStop('http', () => {
      assert.equal(health.shuttingDown, true, 'readiness turns false before anything closes');
      order.push('http');
    });
    const [a, b] = await Promise.all([lifecycle.shutdown('SIGTERM'), lifecycle.shutdown('again')]);
    assert.deepEqual(order, ['http', 'db', 'redis']);
    assert.equal(a, 0);
    assert.equal(b, 0);
  });

  it('keeps closing after a failure and reports 1; gives up after the grace period', async () => {
    const lines: string[] = [];
    const logger = createLogger({
      service: 'auth',
      destination: new Writable({ write: (c: Buffer, _e, cb) => (lines.push(c.toString()), cb()) }),
    });
    const failing = new Lifecycle({ logger, health: new HealthRegistry(), graceMs: 1000 });
    const closed: string[] = [];
    failing.onStop('a', () => closed.push('a'));
    failing.onStop('b', () => Promise.reject(new Error('nope')));
    assert.equal(await failing.shutdown('test'), 1);
    assert.deepEqual(closed, ['a']);
    assert.ok(lines.some((l) => l.includes('close failed')));

    const stuck = new Lifecycle({
      logger: silent,
      health: new HealthRegistry(),
      graceMs: 30,
      drainMs: 1,
    });
    stuck.onStop('never', () => new Promise(() => {}));
    assert.equal(await stuck.shutdown('test'), 1);
  });

  it('turns SIGTERM into a shutdown and an exit code', async () => {
    let code: number | undefined;
    const done = new Promise<void>((resolve) => {
      const lifecycle = new Lifecycle({
        logger: silent,
        health: new HealthRegistry(),
        graceMs: 500,
        exit: (c) => {
          code = c;
          resolve();
        },
      });
      lifecycle.installSignalHandlers();
    });
    process.kill(process.pid, 'SIGTERM');
    await done;
    assert.equal(code, 0);
  });
});
