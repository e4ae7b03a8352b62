// AI generation through the gateway and the real ai-worker process: cancel (upstream call included),
// the daily token budget under concurrency, the response cache, time to first token, and a
// provider that never answers. Real: the gateway app, Redis, BullMQ, Redis Streams, the ai-worker
// (services/ai-worker/src/main.ts as a child process) with the openai SDK. Stand-ins (outside our
// system): auth (token table), the OpenAI-compatible model (the testing lib's stand-in, real
// HTTP + SSE), and a TCP relay in front of it that shows when the worker closes the connection.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { Queue, type ConnectionOptions } from 'bullmq';
import { QUEUES, aiKeys } from '@securevault/contracts';
import { startModelStandin, type ModelStandin } from '@securevault/testing';
import {
  USER_A,
  asA,
  asB,
  call,
  codeOf,
  startAuthStandin,
  startGateway,
  type Gateway,
  type Standin,
} from './helpers.ts';
import {
  readSse,
  startAiWorkerProcess,
  until,
  type SseEvent,
  type WorkerProcess,
} from './delivery-harness.ts';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const GATEWAY_ENV = { RATE_LIMIT_AI_PER_MINUTE: '100000', RATE_LIMIT_API_PER_MINUTE: '100000' };

/** Counts connections to the model that are open right now. */
async function startCountingRelay(target: number) {
  let open = 0;
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    open++;
    const upstream = connect(target, '127.0.0.1');
    sockets.add(client).add(upstream);
    client.pipe(upstream).pipe(client);
    let closed = false;
    const end = () => {
      if (!closed) {
        closed = true;
        open--;
      }
      client.destroy();
      upstream.destroy();
    };
    client.on('close', end).on('error', end);
    upstream.on('close', end).on('error', end);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`,
    open: () => open,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

interface GenerationView {
  id: string;
  status: string;
  attempts: number;
  text?: string;
  error?: string;
  usage?: {
    promptTokens: number;
    completionTokens: number;
    totalTokens: number;
    estimated?: boolean;
  };
}

describe('AI delivery through the gateway and the ai-worker', () => {
  let auth: Standin;
  let model: ModelStandin;
  let relay: Awaited<ReturnType<typeof startCountingRelay>>;
  let gw: Gateway;
  let worker: WorkerProcess;

  before(async () => {
    auth = await startAuthStandin();
    // Slow enough that a cancel lands in the middle of a reply.
    model = await startModelStandin({ chunkDelayMs: 60 });
    relay = await startCountingRelay(model.port);
    gw = await startGateway({ AUTH_URL: auth.url, AI_DAILY_TOKEN_BUDGET: '2000', ...GATEWAY_ENV });
    worker = await startAiWorkerProcess({
      REDIS_URL,
      QUEUE_PREFIX: gw.prefix,
      OPENAI_BASE_URL: relay.baseUrl,
      AI_CANCEL_POLL_MS: '50',
      AI_CACHE_TTL_SECONDS: '60',
    });
  });
  after(async () => {
    await worker.proc.stop();
    await gw.close();
    await relay.close();
    await model.close();
    await auth.close();
  });

  const generate = (json: unknown, headers: Record<string, string> = asA) =>
    call(`${gw.url}/api/generate-content`, { method: 'POST', json, headers });
  const view = async (id: string) =>
    (await call(`${gw.url}/api/generations/${id}`, { headers: asA })).body as GenerationView;
  const finished = (id: string) =>
    until(
      async () => {
        const v = await view(id);
        return ['completed', 'failed', 'cancelled'].includes(v.status) ? v : undefined;
      },
      20_000,
      `generation ${id} to finish`,
    );

  it('cancels a running generation: the stream ends CANCELLED, the provider call is aborted, partial tokens count', async () => {
    const r = await generate({ prompt: 'Tell me a long story about vaults', maxTokens: 200 });
    assert.equal(r.status, 202);
    const { id } = r.body as { id: string };
    const res = await fetch(`${gw.url}/api/generations/${id}/stream`, {
      headers: { ...asA, accept: 'text/event-stream' },
    });
    const events: SseEvent[] = [];
    let cancelled = false;
    for await (const event of readSse(res)) {
      events.push(event);
      if (
        event.event === 'chunk' &&
        !cancelled &&
        events.filter((e) => e.event === 'chunk').length >= 3
      ) {
        cancelled = true;
        assert.equal(relay.open() >= 1, true, 'the provider call is open');
        const del = await call(`${gw.url}/api/generations/${id}`, {
          method: 'DELETE',
          headers: asB,
        });
        assert.equal(del.status, 404, 'only the owner cancels');
        const cancel = await call(`${gw.url}/api/generations/${id}`, {
          method: 'DELETE',
          headers: asA,
        });
        assert.equal(cancel.status, 202);
        assert.deepEqual(cancel.body, { id, status: 'cancelling' });
      }
    }
    const last = events.at(-1);
    assert.equal(last?.event, 'error');
    assert.deepEqual(last?.data, { code: 'CANCELLED', message: 'the generation was cancelled' });
    await until(() => (relay.open() === 0 ? true : undefined), 5_000, 'the provider call to close');

    const v = await finished(id);
    assert.equal(v.status, 'cancelled', `ended ${v.status}: ${v.error ?? ''}`);
    assert.equal(v.error, undefined);
    const streamed = events.filter((e) => e.event === 'chunk').length;
    assert.ok(v.usage && v.usage.completionTokens >= 3 && v.usage.completionTokens < 60);
    assert.equal(v.usage?.estimated, true);
    assert.ok(streamed <= v.usage.completionTokens);
    const again = await call(`${gw.url}/api/generations/${id}`, { method: 'DELETE', headers: asA });
    assert.equal(again.status, 409);
  });

  it('reserves the daily token budget atomically: concurrent requests cannot overspend', async () => {
    const before = (await call(`${gw.url}/api/ai/budget`, { headers: asB })).body as {
      limit: number;
      used: number;
      remaining: number;
    };
    assert.deepEqual(before, { limit: 2000, used: 0, remaining: 2000 });
    // Each reserves ceil(9 / 3) + 300 = 303 tokens: six fit into 2000, the rest are refused.
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        generate({ prompt: `Budget ${String(i).padStart(2, '0')}`, maxTokens: 300 }, asB),
      ),
    );
    const accepted = answers.filter((a) => a.status === 202);
    const refused = answers.filter((a) => a.status === 429);
    assert.equal(accepted.length, 6);
    assert.equal(refused.length, 14);
    assert.equal(codeOf(refused[0]!), 'RATE_LIMITED');
    assert.ok(Number(refused[0]!.headers.get('retry-after')) > 0);

    // Settled with what was really used: the remainder comes back for later requests.
    const usages: number[] = [];
    for (const a of accepted) {
      const id = (a.body as { id: string }).id;
      const done = await until(
        async () => {
          const v = (await call(`${gw.url}/api/generations/${id}`, { headers: asB }))
            .body as GenerationView;
          return v.status === 'completed' ? v : undefined;
        },
        30_000,
        'a budgeted generation',
      );
      usages.push(done.usage?.totalTokens ?? -1);
    }
    const after = (await call(`${gw.url}/api/ai/budget`, { headers: asB })).body as {
      used: number;
    };
    assert.equal(
      after.used,
      usages.reduce((x, y) => x + y, 0),
    );
    assert.ok(after.used < 6 * 303);
  });

  it('answers a repeated Idempotency-Key with the first generation, and reserves once', async () => {
    const headers = { ...asA, 'idempotency-key': 'gen-key-1' };
    const body = { prompt: 'Idempotent generation', maxTokens: 10 };
    const [a, b] = await Promise.all([generate(body, headers), generate(body, headers)]);
    assert.equal(a?.status, 202);
    assert.deepEqual(b?.body, a?.body);
    const id = (a?.body as { id: string }).id;
    const jobs = await gw.aiQueue.getJobs(['waiting', 'active', 'completed', 'delayed']);
    assert.equal(
      jobs.filter((j) => (j.data as { prompt: string }).prompt === body.prompt).length,
      1,
    );
    await finished(id);
    const other = await generate({ ...body, maxTokens: 11 }, headers);
    assert.equal(other.status, 409);
  });

  it('serves an identical request from the response cache without calling the provider', async () => {
    // An endpoint for ai.completed, so completions are announced (not contacted: no email-worker).
    const hook = await call(`${gw.url}/api/webhooks`, {
      method: 'POST',
      headers: asA,
      json: { url: 'https://hooks.customer.test/ai', events: ['ai.completed'] },
    });
    assert.equal(hook.status, 201, hook.text);
    const body = { prompt: 'Cache me if you can', maxTokens: 20 };
    const first = await finished(((await generate(body)).body as { id: string }).id);
    assert.equal(first.status, 'completed');
    const calls = model.requests.length;
    const second = await finished(((await generate(body)).body as { id: string }).id);
    assert.equal(second.status, 'completed', `ended ${second.status}: ${second.error ?? ''}`);
    assert.equal(second.text, first.text);
    assert.equal(model.requests.length, calls, 'no provider call for a hit');
    assert.equal(second.usage?.totalTokens, 0);
    const metrics = await (await fetch(`http://127.0.0.1:${worker.managementPort}/metrics`)).text();
    assert.match(metrics, /^cache_requests_total\{cache="ai",result="hit"\} 1$/m);
    // Each completion is announced on the webhook queue for the owner's endpoints (queued only
    // when the owner has some).
    const webhook = new Queue(QUEUES.webhook, {
      connection: gw.redis as ConnectionOptions,
      prefix: gw.prefix,
    });
    try {
      const event = await webhook.getJob(second.id);
      assert.equal((event?.data as { event?: string } | undefined)?.event, 'ai.completed');
      assert.deepEqual((event?.data as { payload?: unknown }).payload, {
        generationId: second.id,
        model: 'securevault-dev-1',
        usage: second.usage,
      });
    } finally {
      await webhook.close();
    }
    assert.match(
      metrics,
      /^ai_time_to_first_token_seconds_count\{model="securevault-dev-1"\} [1-9]\d*$/m,
    );
  });

  it('a queued generation is removed by cancel and its reservation released', async () => {
    const idle = await startGateway({
      AUTH_URL: auth.url,
      AI_DAILY_TOKEN_BUDGET: '1000',
      ...GATEWAY_ENV,
    });
    try {
      // No worker serves this prefix: the job stays queued.
      const r = await call(`${idle.url}/api/generate-content`, {
        method: 'POST',
        headers: asA,
        json: { prompt: 'never runs', maxTokens: 100 },
      });
      assert.equal(r.status, 202);
      const { id } = r.body as { id: string };
      const day = new Date().toISOString().slice(0, 10);
      const key = aiKeys.budget(idle.prefix, USER_A, day);
      assert.equal(await idle.redis.get(key), String(Math.ceil('never runs'.length / 3) + 100));
      const cancel = await call(`${idle.url}/api/generations/${id}`, {
        method: 'DELETE',
        headers: asA,
      });
      assert.deepEqual(cancel.body, { id, status: 'cancelled' });
      assert.equal(await idle.redis.get(key), '0');
      assert.equal(await idle.aiQueue.getJob(id), undefined);
    } finally {
      await idle.close();
    }
  });
});

describe('a provider that never answers', () => {
  it('fails each attempt at the configured timeout and retries as configured', async () => {
    const auth = await startAuthStandin();
    const silent = await startModelStandin({ responseDelayMs: 5_000 });
    const gw = await startGateway({ AUTH_URL: auth.url, AI_ATTEMPTS: '2', ...GATEWAY_ENV });
    const worker = await startAiWorkerProcess({
      REDIS_URL,
      QUEUE_PREFIX: gw.prefix,
      OPENAI_BASE_URL: silent.baseUrl,
      AI_TIMEOUT_MS: '300',
      OPENAI_MAX_RETRIES: '0',
    });
    try {
      const r = await call(`${gw.url}/api/generate-content`, {
        method: 'POST',
        headers: asA,
        json: { prompt: 'hello?' },
      });
      const { id } = r.body as { id: string };
      const v = await until(
        async () => {
          const g = (await call(`${gw.url}/api/generations/${id}`, { headers: asA }))
            .body as GenerationView;
          return g.status === 'failed' ? g : undefined;
        },
        20_000,
        'the generation to fail',
      );
      assert.equal(v.attempts, 2);
      assert.equal(v.error, 'the AI provider did not answer in time');
      assert.equal(silent.requests.filter((q) => q.path.endsWith('/chat/completions')).length, 2);
    } finally {
      await worker.proc.stop();
      await gw.close();
      await silent.close().catch(() => undefined);
      await auth.close();
    }
  });
});
