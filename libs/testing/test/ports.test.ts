// Tests for the port helpers. Real: TCP sockets and HTTP on 127.0.0.1. Stand-in: none.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { freePort, waitForHttp } from '../src/ports.ts';

void test('freePort returns a port that can be bound', { timeout: 10_000 }, async (t) => {
  const port = await freePort();
  assert.ok(port > 0 && port < 65536);
  const server = createServer((_req, res) => res.end('ok'));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  t.after(() => server.close());
});

void test(
  'waitForHttp waits for a server that starts later, and for a status',
  { timeout: 15_000 },
  async (t) => {
    const port = await freePort();
    let ready = false;
    const server = createServer((_req, res) => {
      res.statusCode = ready ? 200 : 503;
      res.end();
    });
    // Reject on listen errors (e.g. the port was taken meanwhile) so the test fails instead of hanging.
    const started = new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      setTimeout(() => server.listen(port, '127.0.0.1', resolve), 300);
    });
    t.after(() => {
      server.closeAllConnections();
      server.close();
    });
    const url = `http://127.0.0.1:${port}/readyz`;
    assert.equal(await waitForHttp(url, { timeoutMs: 5000 }), 503);
    await started;
    setTimeout(() => {
      ready = true;
    }, 200);
    assert.equal(
      await waitForHttp(url, { timeoutMs: 5000, expectStatus: 200, intervalMs: 50 }),
      200,
    );
  },
);

void test('waitForHttp rejects after its timeout', async () => {
  const port = await freePort();
  await assert.rejects(
    waitForHttp(`http://127.0.0.1:${port}/`, { timeoutMs: 300 }),
    /did not answer within 300 ms \(last: ECONNREFUSED\)/,
  );
});

void test('waitForHttp stops when its signal aborts', async () => {
  const port = await freePort();
  const controller = new AbortController();
  setTimeout(() => controller.abort(new Error('process exited')), 100);
  await assert.rejects(
    waitForHttp(`http://127.0.0.1:${port}/`, { timeoutMs: 5000, signal: controller.signal }),
    /process exited/,
  );
});
