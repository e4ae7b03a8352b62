// The entrypoint as a process: starts fast, logs one ready line, serves, and on SIGTERM ends open
// SSE streams and exits 0. Real: the process, Redis, BullMQ. Stand-in: auth (token table).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { cleanupRedisPrefix, uniquePrefix } from '@securevault/testing';
import { REDIS_URL, asA, call, startAuthStandin, type Standin } from './helpers.ts';

const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));

describe('main.ts', () => {
  let auth: Standin;
  const prefix = uniquePrefix('gateway-main');

  before(async () => {
    auth = await startAuthStandin();
  });
  after(async () => {
    await auth.close();
    await cleanupRedisPrefix(REDIS_URL, prefix);
  });

  function start(env: Record<string, string>): {
    child: ChildProcess;
    lines: Array<Record<string, unknown>>;
    ready: Promise<Record<string, unknown>>;
  } {
    const child = spawn(process.execPath, ['--conditions=securevault-source', MAIN], {
      env: {
        PATH: process.env.PATH ?? '',
        PORT: '0',
        MANAGEMENT_PORT: '0',
        REDIS_URL,
        QUEUE_PREFIX: prefix,
        AUTH_URL: auth.url,
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const lines: Array<Record<string, unknown>> = [];
    const ready = new Promise<Record<string, unknown>>((resolve, reject) => {
      let buf = '';
      child.stdout?.on('data', (d: Buffer) => {
        buf += d.toString();
        let nl;
        while ((nl = buf.indexOf('\n')) !== -1) {
          const line = JSON.parse(buf.slice(0, nl)) as Record<string, unknown>;
          buf = buf.slice(nl + 1);
          lines.push(line);
          if (line.msg === 'ready') resolve(line);
        }
      });
      child.once('exit', (code) => reject(new Error(`exited ${code}`)));
    });
    return { child, lines, ready };
  }

  it('starts, serves, and shuts down gracefully with an open stream', async () => {
    const started = Date.now();
    const { child, lines, ready } = start({});
    const line = await ready;
    assert.ok(Date.now() - started < 5000);
    const url = `http://127.0.0.1:${String(line.port)}`;
    assert.deepEqual((await call(`${url}/api/health`)).body, { status: 'ok' });
    const mgmt = await fetch(`http://127.0.0.1:${String(line.managementPort)}/readyz`);
    assert.equal(mgmt.status, 200);
    await mgmt.arrayBuffer();

    const queued = await call(`${url}/api/generate-content`, {
      method: 'POST',
      json: { prompt: 'p' },
      headers: asA,
    });
    assert.equal(queued.status, 202);
    const id = (queued.body as { id: string }).id;
    const stream = await fetch(`${url}/api/generations/${id}/stream`, {
      headers: { ...asA, accept: 'text/event-stream' },
    });
    assert.equal(stream.status, 200);
    const body = stream.text();

    const exit = once(child, 'exit');
    child.kill('SIGTERM');
    const [code] = (await exit) as [number];
    assert.equal(code, 0);
    assert.equal(await body, '', 'the stream ended cleanly');
    assert.ok(lines.some((l) => l.msg === 'shutdown complete'));
  });

  it('exits non-zero naming the variable on bad configuration', async () => {
    const child = spawn(process.execPath, ['--conditions=securevault-source', MAIN], {
      env: { PATH: process.env.PATH ?? '', TRUST_PROXY: 'true' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const [code] = (await once(child, 'exit')) as [number];
    assert.equal(code, 1);
    assert.match(err, /TRUST_PROXY/);
  });
});
