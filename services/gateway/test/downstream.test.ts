// The gateway's client for auth and audit (src/downstream.ts): node:http(s) through one
// keep-alive agent per service, never fetch. Real: the app, Redis, the client and its sockets,
// and in the last suite the entrypoint as a process with tracing on. Stand-ins: auth and audit,
// local node:http(s) servers speaking the internal contracts that count their connections and
// can stall, reset, garble or stream their answers.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import https from 'node:https';
import tls from 'node:tls';
import type { AddressInfo, Socket } from 'node:net';
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { IntrospectRequest } from '@securevault/contracts';
import { cleanupRedisPrefix, freePort, uniquePrefix } from '@securevault/testing';
import { callService, readJson, type Downstream } from '../src/downstream.ts';
import {
  API_KEYS,
  REDIS_URL,
  SESSIONS,
  asA,
  asAdmin,
  call,
  codeOf,
  startGateway,
  type Gateway,
} from './helpers.ts';

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  /** which TCP connection it came on (1, 2, ...) and how many requests that connection carried */
  connection: number;
  nth: number;
}

type Handler = (seen: Seen, res: http.ServerResponse, socket: Socket) => void;

interface Upstream {
  url: string;
  requests: Seen[];
  handle: Handler;
  close(): Promise<void>;
}

/** A local HTTP(S) server that numbers its connections and hands each request to `handle`. */
async function upstream(handle: Handler, tlsOptions?: https.ServerOptions): Promise<Upstream> {
  const ids = new WeakMap<Socket, { id: number; served: number }>();
  let connections = 0;
  const up: Upstream = { url: '', requests: [], handle, close: async () => {} };
  const listener: http.RequestListener = (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const conn = ids.get(req.socket) ?? { id: 0, served: 0 };
      conn.served += 1;
      const seen: Seen = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString(),
        connection: conn.id,
        nth: conn.served,
      };
      up.requests.push(seen);
      up.handle(seen, res, req.socket);
    });
  };
  const server = tlsOptions
    ? https.createServer(tlsOptions, listener)
    : http.createServer(listener);
  // Our services' keep-alive timeout (HTTP_KEEP_ALIVE_TIMEOUT_MS): the client must close first.
  server.keepAliveTimeout = 65_000;
  const onSocket = (socket: Socket) => ids.set(socket, { id: ++connections, served: 0 });
  server.on(tlsOptions ? 'secureConnection' : 'connection', onSocket);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  up.url = `${tlsOptions ? 'https' : 'http'}://127.0.0.1:${port}`;
  up.close = () =>
    new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    });
  return up;
}

function json(res: http.ServerResponse, status: number, body: unknown, headers = {}): void {
  res
    .writeHead(status, { 'content-type': 'application/json', ...headers })
    .end(JSON.stringify(body));
}

const COOKIES = [
  '__Host-sv_session=new; Path=/; Secure; HttpOnly; SameSite=Lax',
  'sv_csrf=abc; Path=/; Secure',
  // A comma inside a value: joining the headers with ", " would break this one in two.
  'sv_seen=1; Path=/; Expires=Wed, 21 Oct 2037 07:28:00 GMT; Secure',
];

/** auth: introspection against the helpers' token table, a login with three cookies, an echo. */
const authContract: Handler = (seen, res) => {
  const path = seen.url.split('?')[0];
  if (seen.method === 'POST' && path === '/internal/introspect') {
    const parsed = IntrospectRequest.safeParse(JSON.parse(seen.body || '{}'));
    if (!parsed.success) return json(res, 400, { error: { code: 'VALIDATION_FAILED' } });
    const principal =
      parsed.data.apiKey !== undefined
        ? API_KEYS[parsed.data.apiKey]
        : SESSIONS[parsed.data.sessionToken ?? ''];
    return json(res, 200, principal ? { active: true, principal } : { active: false });
  }
  if (seen.method === 'POST' && path === '/api/auth/login') {
    return json(res, 200, { user: { id: 'u1' } }, { 'set-cookie': COOKIES });
  }
  if (path === '/readyz') return json(res, 200, { ready: true });
  return json(res, 200, { method: seen.method, url: seen.url });
};

/** audit: an empty page of events, readiness, and an NDJSON export of `EXPORT_LINES` lines. */
const EXPORT_LINES = 12;
const auditContract: Handler = (seen, res) => {
  const path = seen.url.split('?')[0];
  if (path === '/internal/events') return json(res, 200, { items: [], nextCursor: null });
  if (path === '/readyz') return json(res, 200, { ready: true });
  if (path === '/internal/export') {
    // Slower than the gateway's timeout in all: the timeout bounds the wait for headers only.
    res.writeHead(200, { 'content-type': 'application/x-ndjson' });
    let i = 0;
    const timer = setInterval(() => {
      res.write(`${JSON.stringify({ seq: String(++i) })}\n`);
      if (i === EXPORT_LINES) {
        clearInterval(timer);
        res.end();
      }
    }, 50);
    res.on('close', () => clearInterval(timer));
    return;
  }
  return json(res, 404, { error: { code: 'NOT_FOUND' } });
};

const TIMEOUT_MS = 300;
const EMAIL = `/api/emails/00000000-0000-4000-8000-000000000000`;

/** The requests of `up` from index `from` on, as "METHOD path#connection". */
const trail = (up: Upstream, from: number) =>
  up.requests.slice(from).map((r) => `${r.method} ${r.url.split('?')[0]}#${r.connection}`);

async function downloadLink(gw: Gateway): Promise<string> {
  const r = await call(`${gw.url}/api/audit/export`, { headers: asA });
  assert.equal(r.status, 200, r.text);
  return `${gw.url}${(r.body as { url: string }).url}`;
}

describe('downstream calls through the gateway (node:http, keep-alive agents)', () => {
  let auth: Upstream;
  let audit: Upstream;
  let gw: Gateway;

  before(async () => {
    auth = await upstream(authContract);
    audit = await upstream(auditContract);
    gw = await startGateway({
      AUTH_URL: auth.url,
      AUDIT_URL: audit.url,
      AUTH_HEALTH_URL: `${auth.url}/readyz`,
      AUDIT_HEALTH_URL: `${audit.url}/readyz`,
      AUTH_TIMEOUT_MS: String(TIMEOUT_MS),
    });
  });
  after(async () => {
    await gw.close();
    await auth.close();
    await audit.close();
  });
  const restore = () => {
    auth.handle = authContract;
    audit.handle = auditContract;
  };

  it('sequential calls share one kept-alive connection per service, with the internal headers', async () => {
    const a = auth.requests.length;
    const b = audit.requests.length;
    for (let i = 0; i < 4; i++) {
      const r = await call(`${gw.url}/api/audit/events`, {
        headers: { ...asA, 'user-agent': 'tester/2', 'x-request-id': `seq-${i}` },
      });
      assert.equal(r.status, 200, r.text);
      assert.equal((await call(`${gw.url}/api/auth/me`)).status, 200);
    }
    const authConnections = new Set(auth.requests.slice(a).map((r) => r.connection));
    const auditConnections = new Set(audit.requests.slice(b).map((r) => r.connection));
    assert.equal(auth.requests.length - a, 8, 'four introspections and four relayed calls');
    assert.equal(authConnections.size, 1, trail(auth, a).join(', '));
    assert.equal(auditConnections.size, 1, trail(audit, b).join(', '));
    assert.ok((auth.requests.at(-1)?.nth ?? 0) >= 8);

    const introspection = auth.requests.slice(a).find((r) => r.url === '/internal/introspect');
    assert.ok(introspection);
    assert.equal(introspection.headers.connection, 'keep-alive');
    assert.equal(introspection.headers['x-request-id'], 'seq-0');
    assert.equal(introspection.headers['x-securevault-user-agent'], 'tester/2');
    assert.equal(introspection.headers['x-securevault-client-ip'], '127.0.0.1');
    assert.equal(introspection.headers['content-type'], 'application/json');
    assert.equal(introspection.headers['content-length'], String(introspection.body.length));
    assert.equal(introspection.headers['transfer-encoding'], undefined);
    const events = audit.requests.at(-1);
    assert.equal(events?.headers['x-request-id'], 'seq-3');
    assert.equal(events?.headers.accept, 'application/json');
  });

  it('relays every Set-Cookie apart, and a redirect as it is (not followed)', async () => {
    const login = await call(`${gw.url}/api/auth/login`, {
      method: 'POST',
      json: { email: 'a@example.com', password: 'pw-123456789' },
    });
    assert.equal(login.status, 200);
    assert.deepEqual(login.headers.getSetCookie(), COOKIES);

    auth.handle = (seen, res) => {
      if (seen.url === '/api/auth/sso') {
        res.writeHead(302, { location: '/api/auth/elsewhere', 'content-length': '0' }).end();
      } else authContract(seen, res, res.socket as Socket);
    };
    try {
      const from = auth.requests.length;
      const sso = await call(`${gw.url}/api/auth/sso`, { redirect: 'manual' });
      assert.equal(sso.status, 302);
      assert.equal(sso.headers.get('location'), '/api/auth/elsewhere');
      assert.deepEqual(
        auth.requests.slice(from).map((r) => r.url),
        ['/api/auth/sso'],
      );
    } finally {
      restore();
    }
  });

  it('a timeout is a 503 with Retry-After, waiting for headers or in the body; the stalled connection is not reused', async () => {
    // No answer at all.
    auth.handle = () => {};
    try {
      for (const [path, headers] of [
        ['/api/auth/me', {}],
        [EMAIL, asA],
      ] as const) {
        const started = Date.now();
        const r = await call(`${gw.url}${path}`, { headers });
        assert.equal(r.status, 503, path);
        assert.equal(codeOf(r), 'SERVICE_UNAVAILABLE');
        assert.equal(r.headers.get('retry-after'), '5');
        assert.ok(Date.now() - started < TIMEOUT_MS + 1500, `${path} answered in time`);
      }
      // Headers, then a body that never finishes: the timeout covers reading it too.
      let stalled = 0;
      auth.handle = (seen, res) => {
        stalled = seen.connection;
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': '100' });
        res.write('{"active":');
      };
      const r = await call(`${gw.url}${EMAIL}`, { headers: asA });
      assert.equal(r.status, 503);
      assert.equal(codeOf(r), 'SERVICE_UNAVAILABLE');
      restore();
      const from = auth.requests.length;
      assert.equal((await call(`${gw.url}/api/auth/me`)).status, 200);
      assert.notEqual(auth.requests[from]?.connection, stalled, 'a new connection');
    } finally {
      restore();
    }
  });

  it('an unparseable answer is a 502 BAD_GATEWAY (relay, introspection, audit)', async () => {
    const garbage: Handler = (_seen, res) => {
      res.writeHead(200, { 'content-type': 'application/json' }).end('<html>nope');
    };
    auth.handle = garbage;
    try {
      for (const [path, headers] of [
        ['/api/auth/me', {}],
        [EMAIL, asA],
      ] as const) {
        const r = await call(`${gw.url}${path}`, { headers });
        assert.equal(r.status, 502, path);
        assert.equal(codeOf(r), 'BAD_GATEWAY');
      }
      restore();
      audit.handle = garbage;
      const r = await call(`${gw.url}/api/audit/events`, { headers: asA });
      assert.equal(r.status, 502);
      assert.equal(codeOf(r), 'BAD_GATEWAY');
    } finally {
      restore();
    }
  });

  it('a 5xx answer is a 503; a small body is drained so the connection is reused, a large one dropped', async () => {
    auth.handle = (seen, res) => {
      if (seen.url === '/internal/introspect') {
        json(res, 500, { error: { code: 'INTERNAL', message: 'x' } });
      } else authContract(seen, res, res.socket as Socket);
    };
    try {
      const from = auth.requests.length;
      const r = await call(`${gw.url}${EMAIL}`, { headers: asA });
      assert.equal(r.status, 503);
      assert.equal(r.headers.get('retry-after'), '5');
      assert.equal((await call(`${gw.url}/api/auth/me`)).status, 200);
      const [failed, next] = auth.requests.slice(from);
      assert.equal(next?.connection, failed?.connection, 'the connection went back to the agent');

      // A large error body of unknown length is not read: its connection is closed instead.
      auth.handle = (seen, res) => {
        if (seen.url !== '/internal/introspect')
          return authContract(seen, res, res.socket as Socket);
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.write('x'.repeat(256 * 1024));
      };
      const big = await call(`${gw.url}${EMAIL}`, { headers: asA });
      assert.equal(big.status, 503);
      restore();
      const at = auth.requests.length;
      assert.equal((await call(`${gw.url}/api/auth/me`)).status, 200);
      assert.notEqual(auth.requests[at]?.connection, auth.requests[at - 1]?.connection);
    } finally {
      restore();
    }
  });

  it('a reused connection reset by the server is retried once for idempotent calls only', async () => {
    // One call first, so the agent holds an idle connection that has served a request.
    assert.equal((await call(`${gw.url}/api/auth/me`)).status, 200);
    // The server now resets every connection on its second request and later ones: what a
    // client sees when the server closes an idle connection just as a request goes out on it.
    auth.handle = (seen, res, socket) => {
      if (seen.nth >= 2) socket.resetAndDestroy();
      else authContract(seen, res, socket);
    };
    try {
      let from = auth.requests.length;
      const me = await call(`${gw.url}/api/auth/me`);
      assert.equal(me.status, 200, 'GET: retried on a new connection');
      let seen = auth.requests.slice(from);
      assert.equal(seen.length, 2, trail(auth, from).join(', '));
      assert.equal(seen[0]?.url, seen[1]?.url);
      assert.notEqual(seen[0]?.connection, seen[1]?.connection);

      from = auth.requests.length;
      const logout = await call(`${gw.url}/api/auth/logout`, { method: 'POST', json: {} });
      assert.equal(logout.status, 503, 'POST through the relay: not sent twice');
      assert.equal(logout.headers.get('retry-after'), '5');
      assert.deepEqual(trail(auth, from).length, 1, trail(auth, from).join(', '));

      // Introspection is a POST but a lookup: marked idempotent, it is retried.
      assert.equal((await call(`${gw.url}/api/auth/me`)).status, 200);
      from = auth.requests.length;
      const events = await call(`${gw.url}/api/audit/events`, { headers: asA });
      assert.equal(events.status, 200, events.text);
      seen = auth.requests.slice(from);
      assert.deepEqual(
        seen.map((r) => r.url),
        ['/internal/introspect', '/internal/introspect'],
      );
      assert.notEqual(seen[0]?.connection, seen[1]?.connection);
    } finally {
      restore();
    }
  });

  it('streams an export for longer than the timeout; the timeout only bounds the wait for headers', async () => {
    const link = await downloadLink(gw);
    const r = await call(link);
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type') ?? '', /ndjson/);
    const lines = r.text.trim().split('\n');
    assert.equal(lines.length, EXPORT_LINES);
    assert.deepEqual(JSON.parse(lines.at(-1) ?? ''), { seq: String(EXPORT_LINES) });

    audit.handle = (seen, res) => {
      if (!seen.url.startsWith('/internal/export')) auditContract(seen, res, res.socket as Socket);
    };
    try {
      const started = Date.now();
      const slow = await call(await downloadLink(gw));
      assert.equal(slow.status, 503);
      assert.equal(codeOf(slow), 'SERVICE_UNAVAILABLE');
      assert.ok(Date.now() - started < TIMEOUT_MS + 1500);
    } finally {
      restore();
    }
  });

  it('a client leaving mid-download aborts the upstream export', async () => {
    let upstreamClosed!: (finished: boolean) => void;
    const closed = new Promise<boolean>((r) => (upstreamClosed = r));
    audit.handle = (seen, res) => {
      if (!seen.url.startsWith('/internal/export')) {
        auditContract(seen, res, res.socket as Socket);
        return;
      }
      // Endless: only the gateway going away ends it.
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      const timer = setInterval(() => res.write('{"seq":"1"}\n'), 20);
      res.on('close', () => {
        clearInterval(timer);
        upstreamClosed(res.writableEnded);
      });
    };
    try {
      const link = await downloadLink(gw);
      const client = http.get(link);
      const [answer] = (await once(client, 'response')) as [http.IncomingMessage];
      assert.equal(answer.statusCode, 200);
      await once(answer, 'data');
      client.destroy();
      const outcome = await Promise.race([
        closed,
        new Promise<string>((r) => setTimeout(() => r('still streaming'), 3000).unref()),
      ]);
      assert.equal(outcome, false, 'the upstream response was cut, not finished');
    } finally {
      restore();
    }
  });

  it('a refused connection is a 503 (relay and introspection)', async () => {
    const port = await freePort();
    const down = await startGateway({
      AUTH_URL: `http://127.0.0.1:${port}`,
      AUTH_TIMEOUT_MS: String(TIMEOUT_MS),
    });
    try {
      for (const [path, headers] of [
        ['/api/auth/me', {}],
        [EMAIL, asA],
      ] as const) {
        const r = await call(`${down.url}${path}`, { headers });
        assert.equal(r.status, 503, path);
        assert.equal(codeOf(r), 'SERVICE_UNAVAILABLE');
        assert.equal(r.headers.get('retry-after'), '5');
      }
    } finally {
      await down.close();
    }
  });
});

describe('downstream calls over https', () => {
  let dir: string;
  let server: Upstream;
  let defaults: string[];

  before(async () => {
    // A throwaway self-signed certificate for 127.0.0.1, trusted by this process only.
    dir = mkdtempSync(join(tmpdir(), 'gateway-tls-'));
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
        '-days',
        '1',
        '-subj',
        '/CN=127.0.0.1',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
      ],
      { stdio: 'ignore' },
    );
    const cert = readFileSync(join(dir, 'cert.pem'), 'utf8');
    defaults = tls.getCACertificates('default');
    tls.setDefaultCACertificates([...defaults, cert]);
    server = await upstream(authContract, { key: readFileSync(join(dir, 'key.pem')), cert });
  });
  after(async () => {
    tls.setDefaultCACertificates(defaults);
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('calls an https service and keeps its TLS connection alive between calls', async () => {
    const service: Downstream = { name: 'auth', url: server.url, timeoutMs: 2000 };
    for (let i = 0; i < 3; i++) {
      const response = await callService(service, '/internal/introspect', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ sessionToken: 'sess-a' }),
        idempotent: true,
      });
      assert.equal(response.statusCode, 200);
      assert.deepEqual(await readJson(service, response), {
        active: true,
        principal: SESSIONS['sess-a'],
      });
    }
    assert.equal(server.requests.length, 3);
    assert.deepEqual(
      server.requests.map((r) => r.connection),
      [1, 1, 1],
    );
  });

  it('refuses a certificate it does not trust (503)', async () => {
    tls.setDefaultCACertificates(defaults);
    try {
      // Another service name: a new agent, so no already-verified connection is reused.
      const service: Downstream = { name: 'audit', url: server.url, timeoutMs: 2000 };
      await assert.rejects(callService(service, '/readyz'), (err: Error & { code?: string }) => {
        assert.equal(err.code, 'SERVICE_UNAVAILABLE');
        return true;
      });
    } finally {
      tls.setDefaultCACertificates([...defaults, readFileSync(join(dir, 'cert.pem'), 'utf8')]);
    }
  });
});

// Records every request and connection undici (fetch) makes, from its diagnostics channels, and
// writes them to $UNDICI_REPORT at exit. Not `process.moduleLoadList`: in Node 24 undici's module
// is loaded whenever ES code imports node:http (its ES facade reads the WebSocket, CloseEvent and
// MessageEvent getters), so it is in every service's list; what fetch costs is using it (its
// dispatcher, connection pools and WebAssembly HTTP parser), and any use publishes here.
const REPORT_PRELOAD = `data:text/javascript,${encodeURIComponent(
  "import { subscribe } from 'node:diagnostics_channel';" +
    "import { writeFileSync } from 'node:fs';" +
    'const seen = [];' +
    "for (const name of ['undici:request:create', 'undici:client:beforeConnect'])" +
    '  subscribe(name, () => seen.push(name));' +
    "process.on('exit', () => writeFileSync(process.env.UNDICI_REPORT, JSON.stringify(seen)));",
)}`;
const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));

describe('the gateway process never uses undici (fetch)', () => {
  const prefix = uniquePrefix('gateway-undici');
  let dir: string;
  let auth: Upstream;
  let audit: Upstream;
  let otlp: Upstream;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gateway-undici-'));
    auth = await upstream(authContract);
    audit = await upstream(auditContract);
    // Tracing on, so calls carry traceparent: spans are exported to this sink, and dropped.
    otlp = await upstream((_seen, res) => res.writeHead(200).end());
  });
  after(async () => {
    await auth.close();
    await audit.close();
    await otlp.close();
    await cleanupRedisPrefix(REDIS_URL, prefix);
    rmSync(dir, { recursive: true, force: true });
  });

  const runNode = (args: string[], env: Record<string, string>, report: string) =>
    spawn(process.execPath, ['--import', REPORT_PRELOAD, ...args], {
      env: { PATH: process.env.PATH ?? '', UNDICI_REPORT: report, ...env },
      stdio: ['ignore', 'pipe', 'inherit'],
    });

  it('the report sees a fetch (the check can fail)', async () => {
    const report = join(dir, 'control.json');
    const child = runNode(
      ['--input-type=module', '-e', `await fetch('${auth.url}/readyz').then((r) => r.text());`],
      {},
      report,
    );
    const [code] = (await once(child, 'exit')) as [number];
    assert.equal(code, 0);
    assert.ok((JSON.parse(readFileSync(report, 'utf8')) as string[]).length > 0);
  });

  it('serves authenticated requests, relayed auth calls, audit reads and health checks without it', async () => {
    const report = join(dir, 'gateway.json');
    const child = runNode(
      ['--conditions=securevault-source', MAIN],
      {
        PORT: '0',
        MANAGEMENT_PORT: '0',
        REDIS_URL,
        QUEUE_PREFIX: prefix,
        AUTH_URL: auth.url,
        AUDIT_URL: audit.url,
        AUTH_HEALTH_URL: `${auth.url}/readyz`,
        AUDIT_HEALTH_URL: `${audit.url}/readyz`,
        OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url,
        OTEL_BSP_SCHEDULE_DELAY: '100',
      },
      report,
    );
    const exited = once(child, 'exit');
    const port = await new Promise<number>((resolve, reject) => {
      let buf = '';
      child.stdout?.on('data', (d: Buffer) => {
        buf += d.toString();
        for (let nl = buf.indexOf('\n'); nl !== -1; nl = buf.indexOf('\n')) {
          const text = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          if (!text.startsWith('{')) continue;
          const line = JSON.parse(text) as { msg?: string; port?: number };
          if (line.msg === 'ready') resolve(Number(line.port));
        }
      });
      child.once('exit', (code) => reject(new Error(`exited ${code}`)));
    });
    const url = `http://127.0.0.1:${port}`;
    const traceId = '0af7651916cd43dd8448eb211c80319c';
    const traceparent = `00-${traceId}-b7ad6b7169203331-01`;

    const authFrom = auth.requests.length;
    assert.equal((await call(`${url}${EMAIL}`, { headers: { ...asA, traceparent } })).status, 404);
    assert.equal((await call(`${url}/api/audit/events`, { headers: asA })).status, 200);
    const login = await call(`${url}/api/auth/login`, {
      method: 'POST',
      json: { email: 'a@example.com', password: 'pw-123456789' },
    });
    assert.equal(login.status, 200);
    assert.deepEqual(login.headers.getSetCookie(), COOKIES);
    assert.equal((await call(`${url}/api/auth/me`)).status, 200);
    const health = await call(`${url}/api/health/detailed`, { headers: asAdmin });
    assert.equal(health.status, 200, health.text);
    const link = await call(`${url}/api/audit/export`, { headers: asA });
    const download = await call(`${url}${(link.body as { url: string }).url}`);
    assert.equal(download.text.trim().split('\n').length, EXPORT_LINES);

    // The calls carried the trace: the caller's own when it sent one.
    const introspection = auth.requests[authFrom];
    assert.match(introspection?.headers.traceparent as string, new RegExp(`^00-${traceId}-`));
    for (const r of [...auth.requests.slice(authFrom), ...audit.requests]) {
      if (r.url === '/readyz') continue;
      assert.match(String(r.headers.traceparent), /^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/, r.url);
    }

    child.kill('SIGTERM');
    const [code] = (await exited) as [number];
    assert.equal(code, 0);
    assert.deepEqual(JSON.parse(readFileSync(report, 'utf8')), []);
  });
});
