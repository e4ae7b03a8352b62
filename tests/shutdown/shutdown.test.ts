// Shutdown under load: SIGTERM to each of the five services, as real processes, while requests and
// jobs flow. Readiness must go false first (the load, like a load balancer, stops sending when it
// does), every request already accepted must complete (no reset, no 5xx), every job accepted must
// be done after the service comes back (none lost, none twice), and the process must exit 0 (the
// lifecycle exits 1 when the grace period is exceeded).
// Real: the five services, Postgres, Redis, BullMQ. Stand-ins: the SMTP server and the OpenAI API
// (local, speaking the real protocols).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import type { ServiceName } from '../../scripts/lib/service-env.ts';
import { exitCodeOf } from '../../scripts/lib/processes.ts';
import { startPlatform, type Platform } from '../../scripts/lib/platform.ts';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const GRACE_MS = 15_000;
/** Readiness false this long before the servers stop accepting: time for the load to notice. */
const DRAIN_MS = 1_000;

let platform: Platform;
const logs = (): string[] => platform?.logs ?? [];
const gatewayUrl = () => platform.baseUrl;

async function eventually<T>(
  what: string,
  fn: () => Promise<T | undefined>,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await fn();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(
    `timed out waiting for ${what}: ${String(last)}\n${logs().slice(-40).join('\n')}`,
  );
}

interface Json {
  [key: string]: unknown;
}

async function api(
  path: string,
  init: { method?: string; headers?: Record<string, string>; json?: unknown } = {},
  base = gatewayUrl(),
): Promise<{ status: number; body: Json }> {
  const res = await fetch(base + path, {
    method: init.method ?? 'GET',
    headers: {
      ...(init.json !== undefined ? { 'content-type': 'application/json' } : {}),
      ...init.headers,
    },
    ...(init.json !== undefined ? { body: JSON.stringify(init.json) } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as Json) : {} };
}

// ---- load that behaves like a load balancer ---------------------------------------------------

interface LoadResult {
  sent: number;
  statuses: Map<number, number>;
  /** transport failures of requests that were sent: resets, hang-ups, refusals */
  errors: string[];
  /** answers of 5xx */
  serverErrors: string[];
}

/**
 * Runs `request` from `concurrency` loops until told to stop. `request` returns the status; a
 * thrown error is a transport failure.
 */
/** Every load started, so a failed phase cannot leave its loops running after the suite. */
const loads: Array<() => Promise<LoadResult>> = [];

function runLoad(concurrency: number, request: (i: number) => Promise<number>) {
  const result: LoadResult = { sent: 0, statuses: new Map(), errors: [], serverErrors: [] };
  let stopped = false;
  const loops = Array.from({ length: concurrency }, async () => {
    while (!stopped) {
      const i = result.sent++;
      try {
        const status = await request(i);
        result.statuses.set(status, (result.statuses.get(status) ?? 0) + 1);
        if (status >= 500) result.serverErrors.push(`request ${i}: ${status}`);
      } catch (err) {
        const cause = (err as { cause?: { code?: string; message?: string } }).cause;
        result.errors.push(
          `request ${i}: ${cause?.code ?? ''} ${cause?.message ?? (err as Error).message}`,
        );
      }
    }
  });
  const stop = async () => {
    stopped = true;
    await Promise.all(loops);
    return result;
  };
  loads.push(stop);
  return { result, stop };
}

/** Polls /readyz; resolves when it answers anything but 200 (the process still up to say so). */
function watchReadiness(service: ServiceName): { notReady: Promise<number>; cancel: () => void } {
  let cancelled = false;
  const notReady = (async () => {
    while (!cancelled) {
      try {
        const res = await fetch(`http://127.0.0.1:${platform.managementPorts[service]}/readyz`);
        await res.arrayBuffer();
        if (res.status !== 200) return res.status;
      } catch {
        // Refused: the process is gone without ever saying it was not ready.
        return 0;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    return -1;
  })();
  return { notReady, cancel: () => (cancelled = true) };
}

/**
 * SIGTERM while `load` runs: the load stops sending once readiness is false; then the process
 * must exit 0. Returns the load's result.
 */
async function terminateUnderLoad(
  service: ServiceName,
  load: ReturnType<typeof runLoad>,
  minimumSent = 100,
): Promise<LoadResult> {
  const proc = platform.processes.get(service)!;
  await eventually(`${minimumSent} requests`, () =>
    Promise.resolve(load.result.sent >= minimumSent ? true : undefined),
  );
  const readiness = watchReadiness(service);
  proc.child.kill('SIGTERM');
  const status = await readiness.notReady;
  const result = await load.stop();
  let timer: NodeJS.Timeout | undefined;
  const exit = await Promise.race([
    proc.exited,
    new Promise<'hung'>((resolve) => {
      timer = setTimeout(() => resolve('hung'), GRACE_MS + 10_000);
    }),
  ]);
  clearTimeout(timer);
  if (exit === 'hung') {
    proc.child.kill('SIGKILL');
    assert.fail(`${service} did not exit after SIGTERM\n${logs().slice(-40).join('\n')}`);
  }
  assert.equal(status, 503, `${service}: readiness must go false (503) before the process exits`);
  assert.equal(
    exitCodeOf(exit),
    0,
    `${service} exit code (1 = grace period exceeded)\n${logs()
      .filter((l) => l.startsWith(`[${service}]`))
      .slice(-30)
      .join('\n')}`,
  );
  assert.deepEqual(result.errors.slice(0, 10), [], `${service}: transport failures under shutdown`);
  assert.deepEqual(result.serverErrors.slice(0, 10), [], `${service}: 5xx under shutdown`);
  return result;
}

// ---- the platform -----------------------------------------------------------------------------

const password = `shutdown ${randomBytes(4).toString('hex')} battery staple`;
let apiKey = '';
const bearer = () => ({ authorization: `Bearer ${apiKey}` });
/** Every email the gateway accepted (202), by id → subject. */
const acceptedEmails = new Map<string, string>();
const acceptedGenerations = new Set<string>();

async function sendEmail(tag: string): Promise<number> {
  const subject = `shutdown ${tag} ${randomUUID()}`;
  const res = await fetch(`${gatewayUrl()}/api/send-email`, {
    method: 'POST',
    headers: { ...bearer(), 'content-type': 'application/json' },
    body: JSON.stringify({ to: 'recipient@example.org', subject, text: 'under load' }),
  });
  const body = (await res.json()) as { id?: string };
  if (res.status === 202 && body.id) acceptedEmails.set(body.id, subject);
  return res.status;
}

async function generate(): Promise<number> {
  const res = await fetch(`${gatewayUrl()}/api/generate-content`, {
    method: 'POST',
    headers: { ...bearer(), 'content-type': 'application/json' },
    body: JSON.stringify({ prompt: 'Write about graceful shutdown', maxTokens: 48 }),
  });
  const body = (await res.json()) as { id?: string };
  if (res.status === 202 && body.id) acceptedGenerations.add(body.id);
  return res.status;
}

describe('shutdown under load', { timeout: 600_000 }, () => {
  before(async () => {
    platform = await startPlatform({
      label: 'shutdown',
      redisUrl: REDIS_URL,
      // One secret for every start of auth: sessions and keys must survive its restart.
      sessionSecret: randomBytes(32).toString('hex'),
      openaiApiKey: 'sk-shutdown-standin',
      modelChunkDelayMs: 15,
      logLevel: 'warn',
      readyTimeoutMs: 30_000,
      extra: {
        SHUTDOWN_GRACE_MS: String(GRACE_MS),
        SHUTDOWN_DRAIN_MS: String(DRAIN_MS),
        OTEL_SDK_DISABLED: 'true',
        RATE_LIMIT_API_PER_MINUTE: '1000000',
        RATE_LIMIT_EMAIL_PER_MINUTE: '1000000',
        RATE_LIMIT_AI_PER_MINUTE: '1000000',
      },
    });

    const email = `shutdown-${randomUUID().slice(0, 8)}@example.com`;
    assert.equal(
      (await api('/api/auth/register', { method: 'POST', json: { email, password } })).status,
      201,
    );
    const login = await fetch(`${gatewayUrl()}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email, password }),
    });
    assert.equal(login.status, 200);
    const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0]!;
    const key = await api('/api/auth/api-keys', {
      method: 'POST',
      headers: { cookie },
      json: { name: 'shutdown', scopes: ['email:send', 'ai:generate', 'audit:read'] },
    });
    assert.equal(key.status, 201, JSON.stringify(key.body));
    apiKey = key.body.key as string;
  });

  after(async () => {
    await Promise.all(loads.map((stop) => stop()));
    const codes = (await platform?.stop(GRACE_MS + 5_000)) ?? [];
    const bad = codes.filter(([, c]) => c !== 0);
    if (bad.length)
      process.stderr.write(`exit codes ${JSON.stringify(bad)}\n${logs().slice(-60).join('\n')}\n`);
  });

  it('auth: requests in flight complete, then it exits 0', async () => {
    const base = `http://127.0.0.1:${platform.ports.auth}`;
    const load = runLoad(8, async () => {
      const res = await fetch(`${base}/api/auth/me`, { headers: bearer() });
      await res.arrayBuffer();
      return res.status;
    });
    const result = await terminateUnderLoad('auth', load);
    assert.ok((result.statuses.get(200) ?? 0) > 0);
    platform.start('auth');
    await platform.ready('auth');
  });

  it('audit: queries complete and no audit event is lost', async () => {
    const base = `http://127.0.0.1:${platform.ports.audit}`;
    const queries = runLoad(6, async () => {
      const res = await fetch(`${base}/internal/events?limit=5`);
      await res.arrayBuffer();
      return res.status;
    });
    // Every accepted email is an `email.queued` event on the audit queue.
    const events = runLoad(4, (i) => sendEmail(`audit-${i}`));
    await terminateUnderLoad('audit', queries);
    await new Promise((r) => setTimeout(r, 300));
    const produced = await events.stop();
    assert.deepEqual([...produced.errors, ...produced.serverErrors], []);
    platform.start('audit');
    await platform.ready('audit');
    const ids = [...acceptedEmails.keys()];
    await eventually(
      'every email.queued event stored',
      async () => {
        const seen = new Set<string>();
        let cursor: string | null = null;
        do {
          const page = await api(
            `/api/audit/events?action=email.queued&limit=200${cursor ? `&cursor=${cursor}` : ''}`,
            { headers: bearer() },
          );
          if (page.status !== 200) return undefined;
          for (const item of page.body.items as Array<{ target?: { id?: string } }>)
            if (item.target?.id) seen.add(item.target.id);
          cursor = page.body.nextCursor as string | null;
        } while (cursor);
        return ids.every((id) => seen.has(id)) ? true : undefined;
      },
      60_000,
    );
  });

  it('email-worker: sends what it started, leaves the rest queued, loses nothing, sends nothing twice', async () => {
    const before = acceptedEmails.size;
    const load = runLoad(4, (i) => sendEmail(`email-${i}`));
    await eventually('the worker sending', () =>
      Promise.resolve(platform.smtp.messages.length > 0 ? true : undefined),
    );
    await terminateUnderLoad('email-worker', load, 40);
    platform.start('email-worker');
    await platform.ready('email-worker');
    assert.ok(acceptedEmails.size > before);
    const subjects = [...acceptedEmails.values()];
    await eventually(
      'every accepted email delivered',
      () => {
        const received = new Set(platform.smtp.messages.map((m) => m.subject));
        return Promise.resolve(subjects.every((s) => received.has(s)) ? true : undefined);
      },
      120_000,
    );
    const counts = new Map<string, number>();
    for (const m of platform.smtp.messages) counts.set(m.subject, (counts.get(m.subject) ?? 0) + 1);
    const twice = [...counts.entries()].filter(([, n]) => n > 1);
    assert.deepEqual(twice, [], 'no email is sent twice');
  });

  it('ai-worker: finishes the generations it started and loses none', async () => {
    const load = runLoad(3, () => generate());
    await eventually(
      'a generation running',
      async () => {
        for (const id of acceptedGenerations) {
          const r = await api(`/api/generations/${id}`, { headers: bearer() });
          if (r.body.status === 'running') return true;
        }
        return undefined;
      },
      30_000,
    );
    await terminateUnderLoad('ai-worker', load, 5);
    platform.start('ai-worker');
    await platform.ready('ai-worker');
    for (const id of acceptedGenerations) {
      const done = await eventually(
        `generation ${id}`,
        async () => {
          const r = await api(`/api/generations/${id}`, { headers: bearer() });
          return r.body.status === 'completed' || r.body.status === 'failed' ? r.body : undefined;
        },
        120_000,
      );
      assert.equal(done.status, 'completed', JSON.stringify(done));
    }
  });

  it('gateway: requests in flight complete, accepted emails are all delivered, then it exits 0', async () => {
    const before = new Set(acceptedEmails.keys());
    const load = runLoad(8, async (i) => {
      if (i % 4 === 0) return sendEmail(`gateway-${i}`);
      const res = await fetch(`${gatewayUrl()}/api/${i % 2 ? 'health' : 'auth/me'}`, {
        headers: bearer(),
      });
      await res.arrayBuffer();
      return res.status;
    });
    await terminateUnderLoad('gateway', load);
    platform.start('gateway');
    await platform.ready('gateway');
    const fresh = [...acceptedEmails.entries()].filter(([id]) => !before.has(id));
    assert.ok(fresh.length > 0);
    await eventually(
      'the emails accepted during the shutdown delivered',
      () => {
        const received = new Set(platform.smtp.messages.map((m) => m.subject));
        return Promise.resolve(fresh.every(([, s]) => received.has(s)) ? true : undefined);
      },
      60_000,
    );
  });
});
