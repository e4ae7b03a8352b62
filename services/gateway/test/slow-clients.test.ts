// Slow clients against the real gateway process: headers trickled forever (slowloris) and bodies
// that never end are cut by the server's timeouts (HTTP_HEADERS_TIMEOUT_MS, HTTP_REQUEST_TIMEOUT_MS)
// with a 408 in the API's error format, while normal requests keep being served.
// Real: the gateway process (main.ts and its config), Redis. Stand-in: auth (introspection only).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { cleanupRedisPrefix, freePort, uniquePrefix, waitForHttp } from '@securevault/testing';
import { childProcessEnv } from '../../../scripts/lib/service-env.ts';
import { spawnService, type ServiceProcess } from '../../../scripts/lib/processes.ts';
import { REDIS_URL, startAuthStandin, type Standin } from './helpers.ts';

const SLOW_HEADERS = 120;
const SLOW_BODIES = 40;
const HEADERS_TIMEOUT_MS = 1000;

interface SlowSocket {
  /** what the server sent before closing */
  received: Promise<string>;
}

/** Connects and sends `first`, then one more `drip` every 200 ms until the server closes. */
function trickle(port: number, first: string, drip: string): SlowSocket {
  const socket = net.connect(port, '127.0.0.1');
  const chunks: Buffer[] = [];
  let timer: NodeJS.Timeout | undefined;
  socket.on('connect', () => {
    socket.write(first);
    timer = setInterval(() => {
      if (socket.writable) socket.write(drip);
    }, 200);
  });
  socket.on('data', (c: Buffer) => chunks.push(c));
  const received = new Promise<string>((resolve) => {
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearInterval(timer);
      resolve(Buffer.concat(chunks).toString('utf8'));
    });
  });
  return { received };
}

function statusOf(raw: string): number {
  return Number(/^HTTP\/1\.1 (\d{3})/.exec(raw)?.[1] ?? 0);
}

function bodyOf(raw: string): unknown {
  const at = raw.indexOf('\r\n\r\n');
  return at === -1 ? undefined : (JSON.parse(raw.slice(at + 4)) as unknown);
}

describe('slow clients', { timeout: 120_000 }, () => {
  let auth: Standin;
  let gateway: ServiceProcess;
  let port = 0;
  const prefix = uniquePrefix('slow');
  const logs: string[] = [];

  before(async () => {
    auth = await startAuthStandin();
    port = await freePort();
    const management = await freePort();
    gateway = spawnService(
      'gateway',
      childProcessEnv({
        NODE_ENV: 'production',
        LOG_LEVEL: 'warn',
        OTEL_SDK_DISABLED: 'true',
        REDIS_URL,
        QUEUE_PREFIX: prefix,
        PORT: String(port),
        MANAGEMENT_PORT: String(management),
        AUTH_URL: auth.url,
        INTROSPECTION_CACHE_TTL_MS: '0',
        HTTP_HEADERS_TIMEOUT_MS: String(HEADERS_TIMEOUT_MS),
        HTTP_REQUEST_TIMEOUT_MS: '2000',
        HTTP_KEEP_ALIVE_TIMEOUT_MS: '30000',
        RATE_LIMIT_API_PER_MINUTE: '100000',
        RATE_LIMIT_AI_PER_MINUTE: '100000',
      }),
      { onLine: (line) => logs.push(line) },
    );
    await waitForHttp(`http://127.0.0.1:${management}/readyz`, {
      timeoutMs: 30_000,
      expectStatus: 200,
    }).catch((err: unknown) => {
      throw new Error(`${(err as Error).message}\n${logs.join('\n')}`);
    });
  });

  after(async () => {
    const code = await gateway.stop(15_000);
    await auth.close();
    await cleanupRedisPrefix(REDIS_URL, prefix);
    assert.equal(code, 0, logs.join('\n'));
  });

  it('cuts trickled headers and never-ending bodies with 408 while serving everyone else', async () => {
    const slowHeaders = Array.from({ length: SLOW_HEADERS }, () =>
      trickle(port, 'GET /api/health HTTP/1.1\r\nHost: localhost\r\n', 'X-Slow: 1\r\n'),
    );
    const slowBodies = Array.from({ length: SLOW_BODIES }, (_, i) =>
      i % 2 === 0
        ? trickle(
            port,
            'POST /api/generate-content HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer svk_admin\r\n' +
              'Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n1\r\n[\r\n',
            '1\r\n \r\n',
          )
        : trickle(
            port,
            'POST /api/send-email HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer svk_admin\r\n' +
              'Content-Type: application/json\r\nContent-Length: 50000\r\n\r\n{"to":',
            ' ',
          ),
    );

    // Everyone else is served meanwhile: anonymous, authenticated, and with a body.
    for (let round = 0; round < 5; round++) {
      const answers = await Promise.all([
        fetch(`http://127.0.0.1:${port}/api/health`),
        fetch(`http://127.0.0.1:${port}/api/ai/budget`, {
          headers: { authorization: 'Bearer svk_admin' },
        }),
        fetch(`http://127.0.0.1:${port}/api/generate-content`, {
          method: 'POST',
          headers: { authorization: 'Bearer svk_admin', 'content-type': 'application/json' },
          body: JSON.stringify({ prompt: 'hello', maxTokens: 8 }),
        }),
      ]);
      assert.deepEqual(
        answers.map((a) => a.status),
        [200, 200, 202],
      );
      await Promise.all(answers.map((a) => a.arrayBuffer()));
    }

    // Every slow connection is closed by the server, with a 408 in the API's error format.
    const raws = await Promise.all([...slowHeaders, ...slowBodies].map((s) => s.received));
    for (const raw of raws) {
      assert.equal(statusOf(raw), 408, raw.slice(0, 200));
      const body = bodyOf(raw) as { error: { code: string; requestId: string } };
      assert.equal(body.error.code, 'REQUEST_TIMEOUT');
      assert.ok(body.error.requestId);
    }

    // And the server still answers afterwards.
    assert.equal((await fetch(`http://127.0.0.1:${port}/api/health`)).status, 200);
  });

  it('keeps idle keep-alive connections beyond the headers timeout', async () => {
    const socket = net.connect(port, '127.0.0.1');
    let buffer = '';
    socket.on('data', (c: Buffer) => (buffer += c.toString('utf8')));
    const request = 'GET /api/health HTTP/1.1\r\nHost: localhost\r\n\r\n';
    const answered = async (count: number) => {
      while ((buffer.match(/HTTP\/1\.1 200/g) ?? []).length < count) {
        if (socket.destroyed) throw new Error(`connection closed: ${buffer}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    socket.write(request);
    await answered(1);
    // Idle for three headers timeouts: a keep-alive connection is not a slow request.
    await new Promise((r) => setTimeout(r, 3 * HEADERS_TIMEOUT_MS));
    assert.ok(!socket.destroyed, 'the idle connection was closed');
    socket.write(request);
    await answered(2);
    socket.destroy();
  });

  it('answers a request line it cannot parse with 400 in the error format', async () => {
    const raw = await new Promise<string>((resolve) => {
      const socket = net.connect(port, '127.0.0.1', () => socket.end('NOT HTTP AT ALL\r\n\r\n'));
      let text = '';
      socket.on('data', (c: Buffer) => (text += c.toString('utf8')));
      socket.on('close', () => resolve(text));
    });
    assert.equal(statusOf(raw), 400);
    assert.equal((bodyOf(raw) as { error: { code: string } }).error.code, 'MALFORMED_REQUEST');
  });
});
