// End to end: the five services run as real processes (the environment the chart gives them) against
// real Postgres, Redis and BullMQ; only the SMTP server and the OpenAI API are local stand-ins that
// speak the real protocols. With BASE_URL set it drives a deployed platform instead (smoke test).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { metricsFor } from '@securevault/observability';
import type { SmtpSink } from '@securevault/testing';
import { SERVICES, type ServiceName } from '../../scripts/lib/service-env.ts';
import type { ServiceProcess } from '../../scripts/lib/processes.ts';
import { startPlatform, type Platform } from '../../scripts/lib/platform.ts';

const REMOTE = process.env.BASE_URL;
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const local = !REMOTE;

let base = REMOTE?.replace(/\/$/, '') ?? '';
let platform: Platform | undefined;
let smtp: SmtpSink | undefined;
// The platform's own: a test that stops the services removes them from `processes`.
let processes = new Map<ServiceName, ServiceProcess>();
let managementPorts = {} as Record<ServiceName, number>;
let logs: string[] = [];

// A stand-in OpenTelemetry collector: receives OTLP/HTTP JSON and keeps (service, traceId, span name).
interface ReceivedSpan {
  service: string;
  traceId: string;
  name: string;
}
const spans: ReceivedSpan[] = [];
let collector: http.Server | undefined;

async function startCollector(): Promise<string> {
  collector = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      try {
        const doc = JSON.parse(body) as {
          resourceSpans?: Array<{
            resource?: { attributes?: Array<{ key: string; value: { stringValue?: string } }> };
            scopeSpans?: Array<{ spans?: Array<{ traceId: string; name: string }> }>;
          }>;
        };
        for (const rs of doc.resourceSpans ?? []) {
          const service =
            rs.resource?.attributes?.find((a) => a.key === 'service.name')?.value.stringValue ?? '';
          for (const ss of rs.scopeSpans ?? [])
            for (const span of ss.spans ?? [])
              spans.push({ service, traceId: span.traceId, name: span.name });
        }
      } catch {
        // not JSON: ignore
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => collector!.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(collector.address() as AddressInfo).port}`;
}

const E2E_ADMIN = `e2e-admin-${randomUUID().slice(0, 8)}@example.com`;
// Every secret the run hands to a service; the last test checks none reached a log line.
const E2E_SESSION_SECRET = randomBytes(32).toString('hex');
const E2E_OPENAI_KEY = 'sk-e2e-standin';

async function startLocalPlatform(): Promise<void> {
  const collectorUrl = await startCollector();
  platform = await startPlatform({
    label: 'e2e',
    redisUrl: REDIS_URL,
    sessionSecret: E2E_SESSION_SECRET,
    openaiApiKey: E2E_OPENAI_KEY,
    modelChunkDelayMs: 1,
    nodeEnv: 'production',
    logLevel: 'info',
    extra: {
      OTEL_TRACES_EXPORTER: 'otlp',
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_EXPORTER_OTLP_ENDPOINT: collectorUrl,
      OTEL_BSP_SCHEDULE_DELAY: '100',
      // Read by auth only: who registers with this address is an admin (audit verify below).
      ADMIN_EMAILS: E2E_ADMIN,
    },
  });
  ({ smtp, processes, managementPorts, logs } = platform);
  base = platform.baseUrl;
}

before(async () => {
  if (local) await startLocalPlatform();
});

after(async () => {
  const codes = (await platform?.stop()) ?? [];
  collector?.close();
  if (codes.some(([, c]) => c !== 0)) {
    process.stderr.write(
      `service exit codes ${codes.map(([, c]) => c).join(',')}\n${logs.slice(-80).join('\n')}\n`,
    );
  }
});

interface Json {
  [k: string]: unknown;
}

async function api(
  path: string,
  init: RequestInit & { json?: unknown } = {},
): Promise<{ status: number; body: Json; headers: Headers }> {
  const headers = new Headers(init.headers);
  let body = init.body;
  if (init.json !== undefined) {
    headers.set('content-type', 'application/json');
    body = JSON.stringify(init.json);
  }
  const res = await fetch(base + path, { ...init, headers, body });
  const text = await res.text();
  assert.ok(!/"stack"|at [\w.]+ \(/.test(text), `no stack trace in ${path}: ${text.slice(0, 200)}`);
  let parsed: Json = {};
  if (text) {
    try {
      parsed = JSON.parse(text) as Json;
    } catch {
      parsed = { raw: text };
    }
  }
  return { status: res.status, body: parsed, headers: res.headers };
}

async function eventually<T>(
  what: string,
  fn: () => Promise<T | undefined>,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(
    `timed out waiting for ${what}${last instanceof Error ? `: ${last.message}` : ''}\n${logs.slice(-40).join('\n')}`,
  );
}

describe('SecureVault end to end', () => {
  const email = `e2e-${randomUUID().slice(0, 8)}@example.com`;
  const password = `correct horse ${randomBytes(4).toString('hex')} battery`;
  let cookie = '';
  let apiKey = '';
  let userId = '';
  let emailId = '';
  let generationId = '';
  const bearer = () => ({ authorization: `Bearer ${apiKey}` });

  it('answers the public health check', async () => {
    const { status, body } = await api('/api/health');
    assert.equal(status, 200);
    assert.equal(body.status, 'ok');
  });

  it('registers and logs in with a __Host- session cookie', async () => {
    const reg = await api('/api/auth/register', { method: 'POST', json: { email, password } });
    assert.equal(reg.status, 201, JSON.stringify(reg.body));
    userId = (reg.body.user as Json).id as string;
    assert.match(userId, /^[0-9a-f-]{36}$/);
    const login = await api('/api/auth/login', { method: 'POST', json: { email, password } });
    assert.equal(login.status, 200);
    const setCookie = login.headers.getSetCookie().find((c) => c.startsWith('__Host-sv_session='));
    assert.ok(setCookie, 'session cookie set');
    for (const attr of ['Secure', 'HttpOnly', 'SameSite=Strict', 'Path=/'])
      assert.ok(setCookie.includes(attr), attr);
    cookie = setCookie.split(';')[0] ?? '';
    const me = await api('/api/auth/me', { headers: { cookie } });
    assert.equal(me.status, 200);
    assert.equal((me.body.user as Json).email, email);
  });

  it('creates an API key shown once', async () => {
    const created = await api('/api/auth/api-keys', {
      method: 'POST',
      headers: { cookie },
      json: { name: 'e2e', scopes: ['email:send', 'ai:generate', 'audit:read'] },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    apiKey = created.body.key as string;
    assert.match(apiKey, /^svk_/);
    const list = await api('/api/auth/api-keys', { headers: { cookie } });
    assert.equal(list.status, 200);
    assert.ok(!JSON.stringify(list.body).includes(apiKey), 'the key is never shown again');
  });

  it('sends an email with the key: exactly one message arrives and the status becomes sent', async () => {
    const subject = `Welcome ${randomUUID().slice(0, 6)}`;
    const sent = await api('/api/send-email', {
      method: 'POST',
      headers: bearer(),
      json: { to: 'recipient@example.org', subject, text: 'Hello from the end-to-end test.' },
    });
    assert.equal(sent.status, 202, JSON.stringify(sent.body));
    assert.equal(sent.body.status, 'queued');
    emailId = sent.body.id as string;
    if (smtp) {
      const message = await smtp.waitFor((m) => m.subject === subject, 20_000);
      assert.deepEqual(message.to, ['recipient@example.org']);
      assert.match(message.from, /no-reply@securevault\.test/);
      assert.equal(message.text?.trim(), 'Hello from the end-to-end test.');
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(
        smtp.messages.filter((m) => m.subject === subject).length,
        1,
        'exactly one message',
      );
    }
    const status = await eventually('email sent', async () => {
      const r = await api(`/api/emails/${emailId}`, { headers: bearer() });
      return r.body.status === 'sent' ? r.body : undefined;
    });
    assert.equal(status.id, emailId);
    assert.equal(status.attempts, 1);
  });

  it(
    'traces the email from the gateway through the queue to the worker in one trace',
    { skip: !local && 'remote platform' },
    async () => {
      const consumer = await eventually('the worker span', () =>
        Promise.resolve(
          spans.find((sp) => sp.service === 'email-worker' && sp.name === 'email process'),
        ),
      );
      const sameTrace = spans.filter((sp) => sp.traceId === consumer.traceId);
      assert.ok(
        sameTrace.some((sp) => sp.service === 'gateway' && sp.name === 'POST /api/send-email'),
        `gateway span in the same trace: ${JSON.stringify(sameTrace)}`,
      );
    },
  );

  it('generates content: text and token usage come back', async () => {
    const prompt = 'Write a haiku about audit trails';
    const started = await api('/api/generate-content', {
      method: 'POST',
      headers: bearer(),
      json: { prompt, maxTokens: 64 },
    });
    assert.equal(started.status, 202, JSON.stringify(started.body));
    generationId = started.body.id as string;
    const result = await eventually('generation completed', async () => {
      const r = await api(`/api/generations/${generationId}`, { headers: bearer() });
      return r.body.status === 'completed' ? r.body : undefined;
    });
    const text = result.text as string;
    assert.ok(text.startsWith(`SecureVault dev model reply to: ${prompt}`), text);
    const usage = result.usage as {
      promptTokens: number;
      completionTokens: number;
      totalTokens: number;
    };
    assert.equal(usage.completionTokens, text.trim().split(/\s+/).length);
    assert.equal(usage.promptTokens, prompt.split(/\s+/).length);
    assert.equal(usage.totalTokens, usage.promptTokens + usage.completionTokens);
  });

  it('streams a generation as Server-Sent Events', async () => {
    const res = await fetch(`${base}/api/generate-content`, {
      method: 'POST',
      headers: { ...bearer(), 'content-type': 'application/json', accept: 'text/event-stream' },
      body: JSON.stringify({ prompt: 'stream please', maxTokens: 20 }),
    });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /text\/event-stream/);
    assert.equal(res.headers.get('x-accel-buffering'), 'no');
    const raw = await res.text();
    const events = raw.split('\n\n').filter((b) => b.includes('event:'));
    const chunks = events.filter((e) => e.includes('event: chunk'));
    assert.ok(chunks.length >= 2, raw.slice(0, 500));
    assert.ok(events.at(-1)?.includes('event: done'), 'ends with done');
    assert.ok(
      chunks.every((c) => /^id: \d+-\d+$/m.test(c)),
      'each event carries its stream id',
    );
  });

  it('lists the audit events of each step, with PII masked', async () => {
    const wanted = [
      'auth.register',
      'auth.login.succeeded',
      'apikey.created',
      'email.queued',
      'email.sent',
      'ai.requested',
      'ai.completed',
    ];
    const items = await eventually('audit events', async () => {
      const r = await api('/api/audit/events?limit=100', { headers: bearer() });
      assert.equal(r.status, 200);
      const list = r.body.items as Json[];
      const actions = new Set(list.map((e) => e.action as string));
      return wanted.every((a) => actions.has(a)) ? list : undefined;
    });
    assert.ok(
      items.every((e) => e.ownerId === userId),
      'a member sees only their own events',
    );
    const text = JSON.stringify(items);
    assert.ok(!text.includes(email), 'the user address is masked');
    assert.ok(!text.includes('recipient@example.org'), 'the recipient address is masked');
    assert.ok(!text.includes(apiKey) && !text.includes(password), 'no secrets');
  });

  it('keeps users apart and refuses bad input with 4xx codes', async () => {
    const other = `e2e-other-${randomUUID().slice(0, 8)}@example.com`;
    assert.equal(
      (await api('/api/auth/register', { method: 'POST', json: { email: other, password } }))
        .status,
      201,
    );
    const login = await api('/api/auth/login', {
      method: 'POST',
      json: { email: other, password },
    });
    const otherCookie = login.headers.getSetCookie()[0]?.split(';')[0] ?? '';
    assert.equal(
      (await api(`/api/emails/${emailId}`, { headers: { cookie: otherCookie } })).status,
      404,
    );
    assert.equal(
      (await api(`/api/generations/${generationId}`, { headers: { cookie: otherCookie } })).status,
      404,
    );

    const cases: Array<[string, RequestInit & { json?: unknown }, number, string]> = [
      [
        '/api/send-email',
        { method: 'POST', json: { to: 'x@example.com', subject: 's', text: 't' } },
        401,
        'UNAUTHENTICATED',
      ],
      [
        '/api/send-email',
        { method: 'POST', headers: bearer(), json: { to: 'nope', subject: 's', text: 't' } },
        400,
        'VALIDATION_FAILED',
      ],
      [
        '/api/send-email',
        {
          method: 'POST',
          headers: { ...bearer(), 'content-type': 'application/json' },
          body: '{"to":',
        },
        400,
        'MALFORMED_JSON',
      ],
      [
        '/api/send-email',
        { method: 'POST', headers: { ...bearer(), 'content-type': 'text/plain' }, body: 'hi' },
        415,
        'UNSUPPORTED_MEDIA_TYPE',
      ],
      [
        '/api/generate-content',
        { method: 'POST', headers: bearer(), json: { prompt: '' } },
        400,
        'VALIDATION_FAILED',
      ],
      [
        '/api/generate-content',
        { method: 'POST', headers: bearer(), json: { prompt: 'x', model: 'gpt-unknown' } },
        400,
        'VALIDATION_FAILED',
      ],
      ['/api/emails/not-a-uuid', { headers: bearer() }, 400, 'VALIDATION_FAILED'],
      [
        '/api/auth/login',
        { method: 'POST', json: { email, password: 'wrong password!' } },
        401,
        'INVALID_CREDENTIALS',
      ],
      [
        '/api/auth/register',
        { method: 'POST', json: { email: 'bad', password: 'short' } },
        400,
        'VALIDATION_FAILED',
      ],
      [
        '/api/auth/api-keys',
        {
          method: 'POST',
          headers: { cookie: otherCookie },
          json: { name: 'k', scopes: ['admin'] },
        },
        403,
        'INSUFFICIENT_SCOPE',
      ],
      ['/api/audit/events?limit=100000', { headers: bearer() }, 400, 'VALIDATION_FAILED'],
      ['/api/nothing-here', {}, 404, 'NOT_FOUND'],
    ];
    for (const [path, init, status, code] of cases) {
      const r = await api(path, init);
      assert.equal(r.status, status, `${path} ${JSON.stringify(r.body)}`);
      assert.equal((r.body.error as Json | undefined)?.code, code, path);
    }
  });

  it(
    'verifies the audit hash chain after the run, and exports it through a signed link',
    { skip: !local && 'remote platform' },
    async () => {
      const admin = { email: E2E_ADMIN, password };
      assert.equal((await api('/api/auth/register', { method: 'POST', json: admin })).status, 201);
      const login = await api('/api/auth/login', { method: 'POST', json: admin });
      const adminCookie = login.headers.getSetCookie()[0]?.split(';')[0] ?? '';
      // Wait for the events of the whole run (the admin's login included) to be chained.
      const verified = await eventually('audit chain', async () => {
        const r = await api('/api/audit/verify', { headers: { cookie: adminCookie } });
        assert.equal(r.status, 200, JSON.stringify(r.body));
        const events = await api('/api/audit/events?limit=200', {
          headers: { cookie: adminCookie },
        });
        const actions = (events.body.items as Json[]).map((e) => e.action);
        return actions.includes('auth.login.succeeded') &&
          (r.body.checked as number) >= actions.length
          ? r.body
          : undefined;
      });
      assert.equal(verified.valid, true, JSON.stringify(verified));
      assert.equal(verified.firstBrokenSeq, null);
      assert.ok((verified.checked as number) >= 10);
      const link = await api('/api/audit/export?format=ndjson', { headers: bearer() });
      assert.equal(link.status, 200);
      const download = await fetch(base + (link.body.url as string));
      assert.equal(download.status, 200);
      assert.match(download.headers.get('content-disposition') ?? '', /^attachment; filename=/);
      const lines = (await download.text()).trimEnd().split('\n');
      assert.ok(lines.length >= 7);
      assert.ok(lines.every((l) => (JSON.parse(l) as Json).ownerId === userId));
    },
  );

  it(
    'exports each service catalog metrics and reports ready',
    { skip: !local && 'remote platform' },
    async () => {
      for (const service of SERVICES) {
        const port = managementPorts[service];
        assert.equal((await fetch(`http://127.0.0.1:${port}/readyz`)).status, 200, service);
        const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
        for (const name of metricsFor(service))
          assert.match(text, new RegExp(`^# TYPE ${name} `, 'm'), `${service} exports ${name}`);
        assert.match(text, /^process_resident_memory_bytes /m);
      }
      const worker = await (
        await fetch(`http://127.0.0.1:${managementPorts['email-worker']}/metrics`)
      ).text();
      assert.match(worker, /^emails_sent_total [1-9]/m);
      const ai = await (
        await fetch(`http://127.0.0.1:${managementPorts['ai-worker']}/metrics`)
      ).text();
      assert.match(ai, /^ai_tokens_total\{.*kind="completion".*\} [1-9]/m);
    },
  );

  it('security at the edge: headers, logout revoking a cached session at once, login brute force', async () => {
    const health = await api('/api/health');
    assert.equal(
      health.headers.get('content-security-policy'),
      "default-src 'none';frame-ancestors 'none'",
    );
    assert.match(health.headers.get('strict-transport-security') ?? '', /includeSubDomains/);

    // A second session, used twice (the gateway caches its introspection), then logged out.
    const login = await api('/api/auth/login', { method: 'POST', json: { email, password } });
    assert.equal(login.status, 200);
    const second = login.headers.getSetCookie()[0]?.split(';')[0] ?? '';
    const read = () => api(`/api/emails/${emailId}`, { headers: { cookie: second } });
    assert.equal((await read()).status, 200);
    assert.equal((await read()).status, 200);
    const out = await api('/api/auth/logout', { method: 'POST', headers: { cookie: second } });
    assert.equal(out.status, 204);
    // Pushed over Redis pub/sub: well before the 30 s cache TTL.
    await eventually(
      'the logged-out session to be refused',
      async () => ((await read()).status === 401 ? true : undefined),
      2_000,
    );

    // Failed sign-ins for one account from one address: the sixth is refused with Retry-After.
    const target = `brute-${randomUUID().slice(0, 8)}@example.com`;
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) {
      const r = await api('/api/auth/login', {
        method: 'POST',
        json: { email: target, password: 'not the password' },
      });
      statuses.push(r.status);
      if (r.status === 429) assert.ok(Number(r.headers.get('retry-after')) > 0);
    }
    assert.deepEqual(statuses, [401, 401, 401, 401, 401, 429]);
  });

  it(
    'shuts every service down gracefully with exit code 0',
    { skip: !local && 'remote platform' },
    async () => {
      const codes = await Promise.all(
        SERVICES.map(async (s) => [s, await processes.get(s)!.stop(15_000)] as const),
      );
      processes.clear();
      for (const [service, code] of codes)
        assert.equal(code, 0, `${service} exit code\n${logs.slice(-30).join('\n')}`);
    },
  );

  it(
    'never writes a secret it used to any service log (whole run)',
    { skip: !local && 'remote platform' },
    () => {
      const sessionToken = cookie.slice(cookie.indexOf('=') + 1);
      const secrets = { E2E_SESSION_SECRET, E2E_OPENAI_KEY, password, apiKey, sessionToken };
      // At least every service's start and stop lines (the level is info: no per-request lines).
      assert.ok(logs.length >= 2 * SERVICES.length, `only ${logs.length} log lines to search`);
      for (const [name, value] of Object.entries(secrets)) {
        assert.ok(value.length >= 8, `${name} was used in the run`);
        const leaked = logs.find((line) => line.includes(value));
        assert.equal(leaked, undefined, `${name} appears in a log line`);
      }
    },
  );
});
