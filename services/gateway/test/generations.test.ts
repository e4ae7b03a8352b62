// AI generation: queueing, results, and SSE relayed from the Redis Stream. Real: the app, Redis,
// BullMQ, Redis Streams, and a BullMQ Worker standing in for the ai-worker's processing (it writes
// the stream entries the ai-worker contract describes). Stand-in: auth (token table).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import {
  AiJob,
  AuditJob,
  QUEUES,
  auditEventsOf,
  generationStreamKey,
} from '@securevault/contracts';
import {
  USER_A,
  asA,
  asB,
  call,
  codeOf,
  startAuthStandin,
  startGateway,
  testRedis,
  type Gateway,
  type Standin,
} from './helpers.ts';

interface SseMessage {
  id?: string;
  event?: string;
  data?: unknown;
  comment?: string;
}

interface SseClient {
  status: number;
  headers: Headers;
  /** the next message (events and comments), or undefined when the stream ended */
  next(timeoutMs?: number): Promise<SseMessage | undefined>;
  /** every remaining event until the server ends the stream (comments skipped) */
  rest(timeoutMs?: number): Promise<SseMessage[]>;
  close(): void;
}

async function openSse(url: string, init: RequestInit = {}): Promise<SseClient> {
  const controller = new AbortController();
  const headers = new Headers(init.headers);
  headers.set('accept', 'text/event-stream');
  const res = await fetch(url, { ...init, headers, signal: controller.signal });
  const reader: ReadableStreamDefaultReader<Uint8Array> | undefined = res.body?.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  const queue: SseMessage[] = [];
  let ended = false;
  const pull = async (): Promise<void> => {
    if (!reader) {
      ended = true;
      return;
    }
    const { done, value } = await reader.read();
    if (done) {
      ended = true;
      return;
    }
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.indexOf('\n\n')) !== -1) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      const msg: SseMessage = {};
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) msg.comment = line.slice(1).trim();
        else if (line.startsWith('id: ')) msg.id = line.slice(4);
        else if (line.startsWith('event: ')) msg.event = line.slice(7);
        else if (line.startsWith('data: ')) msg.data = JSON.parse(line.slice(6)) as unknown;
      }
      queue.push(msg);
    }
  };
  const next = async (timeoutMs = 5000): Promise<SseMessage | undefined> => {
    const deadline = Date.now() + timeoutMs;
    while (queue.length === 0 && !ended) {
      if (Date.now() > deadline) throw new Error('no SSE message in time');
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        pull(),
        new Promise((r) => (timer = setTimeout(r, Math.max(1, deadline - Date.now())))),
      ]);
      clearTimeout(timer);
    }
    return queue.shift();
  };
  return {
    status: res.status,
    headers: res.headers,
    next,
    async rest(timeoutMs = 5000) {
      const out: SseMessage[] = [];
      for (;;) {
        const m = await next(timeoutMs);
        if (!m) return out;
        if (m.event) out.push(m);
      }
    },
    close: () => controller.abort(),
  };
}

async function waitUntil(pred: () => Promise<boolean> | boolean, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await pred())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('generations', () => {
  let auth: Standin;
  let gw: Gateway;
  let writer: Redis;

  before(async () => {
    auth = await startAuthStandin();
    gw = await startGateway({ AUTH_URL: auth.url, SSE_BLOCK_MS: '300', SSE_HEARTBEAT_MS: '150' });
    writer = testRedis();
  });
  after(async () => {
    await gw.close();
    await auth.close();
    writer.disconnect();
  });

  const generate = (json: unknown, headers: Record<string, string> = asA) =>
    call(`${gw.url}/api/generate-content`, { method: 'POST', json, headers });
  const newGeneration = async () =>
    ((await generate({ prompt: 'Write a haiku' })).body as { id: string }).id;
  const key = (id: string) => generationStreamKey(gw.prefix, id);
  const sseClients = async () =>
    ((await writer.call('CLIENT', 'LIST')) as string)
      .split('\n')
      .filter((l) => l.includes('name=securevault-gateway-sse')).length;

  it('queues an AiJob with the default model and maxTokens; 202 + Location; audit ai.requested', async () => {
    const r = await generate({ prompt: 'Write a haiku' }, { ...asA, 'x-request-id': 'rid-ai-1' });
    assert.equal(r.status, 202);
    const { id, status } = r.body as { id: string; status: string };
    assert.equal(status, 'queued');
    assert.equal(r.headers.get('location'), `/api/generations/${id}`);
    const job = await gw.aiQueue.getJob(id);
    assert.ok(job);
    assert.equal(job.name, 'generate');
    const data = AiJob.parse(job.data);
    assert.deepEqual(
      {
        id: data.id,
        ownerId: data.ownerId,
        prompt: data.prompt,
        model: data.model,
        maxTokens: data.maxTokens,
        requestId: data.requestId,
      },
      {
        id,
        ownerId: USER_A,
        prompt: 'Write a haiku',
        model: 'securevault-dev-1',
        maxTokens: 512,
        requestId: 'rid-ai-1',
      },
    );
    const events = (await gw.auditQueue.getJobs(['waiting'])).flatMap((j) =>
      auditEventsOf(AuditJob.parse(j.data)),
    );
    const event = events.find(
      (e) => e.action === 'ai.requested' && (e.target as { id: string }).id === id,
    );
    assert.ok(event);
    assert.equal(event.ownerId, USER_A);
    assert.deepEqual(event.target, { type: 'generation', id });

    const chosen = await generate({ prompt: 'p', model: 'securevault-dev-mini', maxTokens: 4096 });
    const job2 = await gw.aiQueue.getJob((chosen.body as { id: string }).id);
    assert.equal((job2?.data as { model: string }).model, 'securevault-dev-mini');
    assert.equal((job2?.data as { maxTokens: number }).maxTokens, 4096);
  });

  it('rejects bad bodies: prompt, model allowlist, maxTokens, unknown fields', async () => {
    const count = await gw.aiQueue.count();
    for (const body of [
      {},
      { prompt: '' },
      { prompt: 'x'.repeat(32_001) },
      { prompt: 5 },
      { prompt: 'p', maxTokens: 0 },
      { prompt: 'p', maxTokens: 4097 },
      { prompt: 'p', maxTokens: 1.5 },
      { prompt: 'p', maxTokens: '10' },
      { prompt: 'p', temperature: 0.2 },
    ]) {
      const r = await generate(body);
      assert.equal(r.status, 400, JSON.stringify(body).slice(0, 60));
      assert.equal(codeOf(r), 'VALIDATION_FAILED');
    }
    const model = await generate({ prompt: 'p', model: 'gpt-4o' });
    assert.equal(model.status, 400);
    const details = (model.body as { error: { details: Array<{ path: string; message: string }> } })
      .error.details;
    assert.equal(details[0]?.path, 'model');
    assert.match(details[0]?.message ?? '', /^MODEL_NOT_ALLOWED/);
    assert.equal(await gw.aiQueue.count(), count);
  });

  it('GET /api/generations/:id: queued, completed with text and usage, failed with reason; ownership', async () => {
    await gw.aiQueue.obliterate({ force: true });
    const good = await newGeneration();
    const bad = await newGeneration();
    const view = async (id: string) =>
      (await call(`${gw.url}/api/generations/${id}`, { headers: asA })).body as Record<
        string,
        unknown
      >;
    const queued = await view(good);
    assert.equal(queued.status, 'queued');
    assert.equal(queued.model, 'securevault-dev-1');
    assert.equal(queued.attempts, 0);
    assert.equal((await call(`${gw.url}/api/generations/${good}`, { headers: asB })).status, 404);
    assert.equal((await call(`${gw.url}/api/generations/nope`, { headers: asA })).status, 400);
    assert.equal(
      (await call(`${gw.url}/api/generations/${good}/stream`, { headers: asB })).status,
      404,
    );
    assert.equal(
      (await call(`${gw.url}/api/generations/nope/stream`, { headers: asA })).status,
      400,
    );

    const workerConn = testRedis();
    const worker = new Worker(
      QUEUES.ai,
      (job: Job) => {
        if (job.id === bad)
          return Promise.reject(new UnrecoverableError('provider refused the prompt'));
        return Promise.resolve({
          text: 'An old silent pond',
          model: 'securevault-dev-1',
          finishReason: 'stop',
          usage: { promptTokens: 4, completionTokens: 5, totalTokens: 9 },
          completedAt: new Date().toISOString(),
        });
      },
      { connection: workerConn, prefix: gw.prefix },
    );
    try {
      await waitUntil(
        async () =>
          (await view(good)).status === 'completed' && (await view(bad)).status === 'failed',
      );
      const done = await view(good);
      assert.equal(done.text, 'An old silent pond');
      assert.deepEqual(done.usage, { promptTokens: 4, completionTokens: 5, totalTokens: 9 });
      assert.equal(done.finishReason, 'stop');
      assert.ok(Date.parse(done.completedAt as string) > 0);
      const failed = await view(bad);
      assert.equal(failed.error, 'provider refused the prompt');
      assert.equal(failed.text, undefined);

      // The stream expired (or never existed): the SSE endpoint answers from the job itself.
      const finished = await openSse(`${gw.url}/api/generations/${good}/stream`, { headers: asA });
      assert.deepEqual(
        (await finished.rest()).map((m) => [m.event, m.data]),
        [
          ['chunk', { text: 'An old silent pond' }],
          [
            'done',
            {
              finishReason: 'stop',
              usage: { promptTokens: 4, completionTokens: 5, totalTokens: 9 },
            },
          ],
        ],
      );
      const failedStream = await openSse(`${gw.url}/api/generations/${bad}/stream`, {
        headers: asA,
      });
      const events = await failedStream.rest();
      assert.deepEqual(
        events.map((m) => m.event),
        ['error'],
      );
      assert.equal((events[0]?.data as { code: string }).code, 'GENERATION_FAILED');
    } finally {
      await worker.close();
      workerConn.disconnect();
    }
  });

  it('relays the stream as SSE in order with ids and the right headers, then ends after done', async () => {
    const id = await newGeneration();
    const c1 = await writer.xadd(key(id), '*', 'type', 'chunk', 'text', 'Hel');
    const sse = await openSse(`${gw.url}/api/generations/${id}/stream`, { headers: asA });
    assert.equal(sse.status, 200);
    assert.match(sse.headers.get('content-type') ?? '', /^text\/event-stream/);
    assert.equal(sse.headers.get('cache-control'), 'no-cache, no-transform');
    assert.equal(sse.headers.get('x-accel-buffering'), 'no');
    assert.equal(sse.headers.get('connection'), 'keep-alive');
    const first = await sse.next();
    assert.deepEqual(first, { id: c1, event: 'chunk', data: { text: 'Hel' } });
    const reset = await writer.xadd(key(id), '*', 'type', 'reset');
    const c2 = await writer.xadd(key(id), '*', 'type', 'chunk', 'text', 'lo\n"world"');
    await writer.xadd(key(id), '*', 'type', 'mystery');
    const done = await writer.xadd(
      key(id),
      '*',
      'type',
      'done',
      'finishReason',
      'stop',
      'usage',
      '{"promptTokens":1,"completionTokens":2,"totalTokens":3}',
    );
    await writer.xadd(key(id), '*', 'type', 'chunk', 'text', 'after done');
    const rest = await sse.rest();
    assert.deepEqual(rest, [
      { id: reset, event: 'reset', data: {} },
      { id: c2, event: 'chunk', data: { text: 'lo\n"world"' } },
      {
        id: done,
        event: 'done',
        data: {
          finishReason: 'stop',
          usage: { promptTokens: 1, completionTokens: 2, totalTokens: 3 },
        },
      },
    ]);
    await waitUntil(() => gw.streams.size === 0);
  });

  it('resumes from Last-Event-ID, skipping what the client already has; error ends the stream', async () => {
    const id = await newGeneration();
    const a = await writer.xadd(key(id), '*', 'type', 'chunk', 'text', 'A');
    const b = await writer.xadd(key(id), '*', 'type', 'chunk', 'text', 'B');
    const err = await writer.xadd(
      key(id),
      '*',
      'type',
      'error',
      'code',
      'PROVIDER_TIMEOUT',
      'message',
      'the model did not answer',
    );
    const sse = await openSse(`${gw.url}/api/generations/${id}/stream`, {
      headers: { ...asA, 'last-event-id': String(a) },
    });
    assert.deepEqual(await sse.rest(), [
      { id: b, event: 'chunk', data: { text: 'B' } },
      {
        id: err,
        event: 'error',
        data: { code: 'PROVIDER_TIMEOUT', message: 'the model did not answer' },
      },
    ]);
    const bad = await call(`${gw.url}/api/generations/${id}/stream`, {
      headers: { ...asA, 'last-event-id': 'abc' },
    });
    assert.equal(bad.status, 400);
    assert.equal(codeOf(bad), 'VALIDATION_FAILED');
  });

  it('sends heartbeats while waiting and releases the Redis reader when the client disconnects', async () => {
    const id = await newGeneration();
    const baseline = await sseClients();
    const sse = await openSse(`${gw.url}/api/generations/${id}/stream`, { headers: asA });
    const ping = await sse.next(2000);
    assert.deepEqual(ping, { comment: 'ping' });
    assert.equal(gw.streams.size, 1);
    assert.equal(await sseClients(), baseline + 1);
    sse.close();
    await waitUntil(async () => gw.streams.size === 0 && (await sseClients()) === baseline);
  });

  it('HEAD on a stream answers its headers at once and holds no Redis reader', async () => {
    const id = await newGeneration();
    const baseline = await sseClients();
    const res = await fetch(`${gw.url}/api/generations/${id}/stream`, {
      method: 'HEAD',
      headers: asA,
    });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
    assert.equal(res.body, null);
    assert.equal(gw.streams.size, 0);
    assert.equal(await sseClients(), baseline);
  });

  it('POST with Accept: text/event-stream queues and streams the generation in the same response', async () => {
    const workerConn = testRedis();
    const worker = new Worker(
      QUEUES.ai,
      async (job: Job) => {
        const k = key(job.id ?? '');
        for (const word of ['An ', 'old ', 'pond'])
          await writer.xadd(k, '*', 'type', 'chunk', 'text', word);
        const usage = { promptTokens: 3, completionTokens: 3, totalTokens: 6 };
        await writer.xadd(
          k,
          '*',
          'type',
          'done',
          'finishReason',
          'stop',
          'usage',
          JSON.stringify(usage),
        );
        return {
          text: 'An old pond',
          model: 'securevault-dev-1',
          finishReason: 'stop',
          usage,
          completedAt: new Date().toISOString(),
        };
      },
      { connection: workerConn, prefix: gw.prefix },
    );
    try {
      const sse = await openSse(`${gw.url}/api/generate-content`, {
        method: 'POST',
        headers: { ...asA, 'content-type': 'application/json' },
        body: JSON.stringify({ prompt: 'Write a haiku' }),
      });
      assert.equal(sse.status, 200);
      const location = sse.headers.get('location') ?? '';
      const id = location.split('/').pop() ?? '';
      assert.match(location, /^\/api\/generations\/[0-9a-f-]{36}$/);
      const events = await sse.rest();
      assert.deepEqual(events[0], { event: 'queued', data: { id, status: 'queued' } });
      assert.deepEqual(
        events.slice(1).map((e) => [e.event, e.data]),
        [
          ['chunk', { text: 'An ' }],
          ['chunk', { text: 'old ' }],
          ['chunk', { text: 'pond' }],
          [
            'done',
            {
              finishReason: 'stop',
              usage: { promptTokens: 3, completionTokens: 3, totalTokens: 6 },
            },
          ],
        ],
      );
      assert.ok(events.slice(1).every((e) => /^\d+-\d+$/.test(e.id ?? '')));
      const job = await gw.aiQueue.getJob(id);
      assert.equal((job?.data as { ownerId: string }).ownerId, USER_A);
    } finally {
      await worker.close();
      workerConn.disconnect();
    }
  });

  it('shutdown ends open streams and refuses new ones; POST then falls back to 202', async () => {
    const own = await startGateway({ AUTH_URL: auth.url, SSE_BLOCK_MS: '5000' });
    try {
      const id = (
        (
          await call(`${own.url}/api/generate-content`, {
            method: 'POST',
            json: { prompt: 'p' },
            headers: asA,
          })
        ).body as { id: string }
      ).id;
      const sse = await openSse(`${own.url}/api/generations/${id}/stream`, { headers: asA });
      await waitUntil(() => own.streams.size === 1);
      const started = Date.now();
      await own.streams.closeAll();
      assert.deepEqual(await sse.rest(), []);
      assert.ok(Date.now() - started < 1000, 'ended without waiting for XREAD BLOCK');
      const refused = await call(`${own.url}/api/generations/${id}/stream`, { headers: asA });
      assert.equal(refused.status, 503);
      assert.equal(codeOf(refused), 'SERVICE_UNAVAILABLE');
      const post = await call(`${own.url}/api/generate-content`, {
        method: 'POST',
        json: { prompt: 'p' },
        headers: { ...asA, accept: 'text/event-stream' },
      });
      assert.equal(post.status, 202);
      assert.match(post.headers.get('location') ?? '', /^\/api\/generations\//);
    } finally {
      await own.close();
    }
  });
});
