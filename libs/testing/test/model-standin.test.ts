// Tests for the model stand-in. Real: HTTP, SSE framing, and the `openai` SDK the ai-worker uses
// (when resolvable from services/ai-worker). Stand-in: the model itself (deterministic text).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { startModelStandin, standinReplyWords } from '../src/model-standin.ts';

const auth = { authorization: 'Bearer sk-test', 'content-type': 'application/json' };

interface ChunkJson {
  object: string;
  choices: Array<{ delta: { content?: string; role?: string }; finish_reason: string | null }>;
  usage?: { prompt_tokens: number; completion_tokens: number; total_tokens: number } | null;
}

/** Reads an SSE body incrementally, the way a streaming client does. */
async function readSse(res: Response): Promise<string[]> {
  assert.ok(res.body);
  const decoder = new TextDecoder();
  const events: string[] = [];
  let buffer = '';
  for await (const chunk of res.body) {
    buffer += decoder.decode(chunk as Uint8Array, { stream: true });
    let idx: number;
    while ((idx = buffer.indexOf('\n\n')) !== -1) {
      const event = buffer.slice(0, idx);
      buffer = buffer.slice(idx + 2);
      for (const line of event.split('\n'))
        if (line.startsWith('data: ')) events.push(line.slice(6));
    }
  }
  assert.equal(buffer, '', 'stream ends on an event boundary');
  return events;
}

void test('models list and auth', async (t) => {
  const m = await startModelStandin();
  t.after(() => m.close());
  const res = await fetch(`${m.baseUrl}/models`, { headers: auth });
  assert.equal(res.status, 200);
  const body = (await res.json()) as { object: string; data: Array<{ id: string }> };
  assert.deepEqual(
    body.data.map((d) => d.id),
    ['securevault-dev-1', 'securevault-dev-mini'],
  );

  const noAuth = await fetch(`${m.baseUrl}/models`);
  assert.equal(noAuth.status, 401);
  const err = (await noAuth.json()) as { error: { type: string; code: string } };
  assert.equal(err.error.code, 'invalid_api_key');
  assert.equal(m.requests.length, 2);
  assert.equal(m.requests[0]?.path, '/v1/models');
});

void test('non-streaming completion is deterministic, with usage and max_tokens', async (t) => {
  const m = await startModelStandin();
  t.after(() => m.close());
  const messages = [
    { role: 'system', content: 'be brief' },
    { role: 'user', content: 'Write a haiku about vaults' },
  ];
  const full = await fetch(`${m.baseUrl}/chat/completions`, {
    method: 'POST',
    headers: auth,
    body: JSON.stringify({ model: 'securevault-dev-1', messages }),
  });
  assert.equal(full.status, 200);
  const a = (await full.json()) as {
    object: string;
    choices: Array<{ message: { role: string; content: string }; finish_reason: string }>;
    usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number };
  };
  assert.equal(a.object, 'chat.completion');
  const content = a.choices[0]?.message.content ?? '';
  assert.ok(content.startsWith('SecureVault dev model reply to: Write a haiku about vaults. '));
  assert.equal(a.choices[0]?.finish_reason, 'stop');
  assert.equal(a.usage.prompt_tokens, 2 + 5);
  assert.equal(a.usage.completion_tokens, content.split(/\s+/).length);
  assert.equal(a.usage.total_tokens, a.usage.prompt_tokens + a.usage.completion_tokens);
  assert.deepEqual(m.requests[0]?.body, { model: 'securevault-dev-1', messages });

  const cut = await fetch(`${m.baseUrl}/chat/completions`, {
    method: 'POST',
    headers: auth,
    body: JSON.stringify({ model: 'securevault-dev-mini', messages, max_completion_tokens: 4 }),
  });
  const b = (await cut.json()) as {
    choices: Array<{ message: { content: string }; finish_reason: string }>;
    usage: { completion_tokens: number };
  };
  assert.equal(b.choices[0]?.message.content, 'SecureVault dev model reply');
  assert.equal(b.choices[0]?.finish_reason, 'length');
  assert.equal(b.usage.completion_tokens, 4);
});

void test('streaming sends chunks, finish_reason, usage chunk and [DONE]', async (t) => {
  const m = await startModelStandin({ chunkDelayMs: 1 });
  t.after(() => m.close());
  const res = await fetch(`${m.baseUrl}/chat/completions`, {
    method: 'POST',
    headers: auth,
    body: JSON.stringify({
      model: 'securevault-dev-1',
      messages: [{ role: 'user', content: [{ type: 'text', text: 'stream please' }] }],
      stream: true,
      stream_options: { include_usage: true },
      max_tokens: 10,
    }),
  });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
  const events = await readSse(res);
  assert.equal(events.at(-1), '[DONE]');
  const chunks = events.slice(0, -1).map((e) => JSON.parse(e) as ChunkJson);
  assert.ok(chunks.every((c) => c.object === 'chat.completion.chunk'));
  const usageChunk = chunks.at(-1);
  assert.deepEqual(usageChunk?.choices, []);
  assert.deepEqual(usageChunk?.usage, {
    prompt_tokens: 2,
    completion_tokens: 10,
    total_tokens: 12,
  });
  const text = chunks.flatMap((c) => c.choices.map((ch) => ch.delta.content ?? '')).join('');
  assert.equal(
    text,
    standinReplyWords([{ role: 'user', content: 'stream please' }])
      .slice(0, 10)
      .join(' '),
  );
  assert.equal(chunks.at(-2)?.choices[0]?.finish_reason, 'length');
  assert.ok(chunks.length >= 12, 'one chunk per word plus role and finish chunks');

  // Without include_usage there is no usage chunk.
  const plain = await fetch(`${m.baseUrl}/chat/completions`, {
    method: 'POST',
    headers: auth,
    body: JSON.stringify({
      model: 'securevault-dev-1',
      messages: [{ role: 'user', content: 'hi' }],
      stream: true,
      max_tokens: 3,
    }),
  });
  const plainChunks = (await readSse(plain)).slice(0, -1).map((e) => JSON.parse(e) as ChunkJson);
  assert.ok(plainChunks.every((c) => c.choices.length === 1 && c.usage === undefined));
});

void test('errors: unknown model 404, bad JSON 400, injected failures with Retry-After', async (t) => {
  const m = await startModelStandin({ failures: { status: 429, times: 2, retryAfter: '1' } });
  t.after(() => m.close());
  const post = (body: string): Promise<Response> =>
    fetch(`${m.baseUrl}/chat/completions`, { method: 'POST', headers: auth, body });
  const ok = JSON.stringify({
    model: 'securevault-dev-1',
    messages: [{ role: 'user', content: 'x' }],
  });

  for (let i = 0; i < 2; i++) {
    const r = await post(ok);
    assert.equal(r.status, 429);
    assert.equal(r.headers.get('retry-after'), '1');
    assert.equal(
      ((await r.json()) as { error: { message: string } }).error.message.length > 0,
      true,
    );
  }
  assert.equal((await post(ok)).status, 200);

  const unknown = await post(
    JSON.stringify({ model: 'gpt-nope', messages: [{ role: 'user', content: 'x' }] }),
  );
  assert.equal(unknown.status, 404);
  assert.deepEqual(
    ((await unknown.json()) as { error: { type: string; code: string } }).error.code,
    'model_not_found',
  );

  const bad = await post('{not json');
  assert.equal(bad.status, 400);
  const badBody = (await bad.json()) as { error: { type: string } };
  assert.equal(badBody.error.type, 'invalid_request_error');

  m.setFailures({ status: 503, times: 1 });
  assert.equal((await post(ok)).status, 503);
  assert.equal((await post(ok)).status, 200);
});

// The ai-worker's SDK, borrowed from its node_modules: proves wire compatibility with the real client.
type OpenAICtor = new (opts: { apiKey: string; baseURL: string; maxRetries?: number }) => {
  models: { list(): Promise<{ data: Array<{ id: string }> }> };
  chat: {
    completions: {
      create(body: Record<string, unknown>): Promise<unknown>;
    };
  };
};

async function loadOpenAI(): Promise<OpenAICtor | undefined> {
  const aiWorkerPkg = fileURLToPath(
    new URL('../../../services/ai-worker/package.json', import.meta.url),
  );
  if (!existsSync(aiWorkerPkg)) return undefined;
  try {
    const resolved = createRequire(aiWorkerPkg).resolve('openai');
    const mod = (await import(pathToFileURL(resolved).href)) as { default: OpenAICtor };
    return mod.default;
  } catch {
    return undefined;
  }
}

void test('the openai SDK works against the stand-in (retries, streaming, usage)', async (t) => {
  const OpenAI = await loadOpenAI();
  if (!OpenAI) {
    t.skip('openai SDK not resolvable from services/ai-worker');
    return;
  }
  const m = await startModelStandin({ failures: { status: 429, times: 1, retryAfter: '0' } });
  t.after(() => m.close());
  const client = new OpenAI({ apiKey: 'sk-dev', baseURL: m.baseUrl, maxRetries: 2 });

  const models = await client.models.list();
  assert.ok(models.data.some((d) => d.id === 'securevault-dev-mini'));
  assert.equal(m.requests.length, 2, 'one 429 then a retried success');

  const completion = (await client.chat.completions.create({
    model: 'securevault-dev-1',
    messages: [{ role: 'user', content: 'hello sdk' }],
    max_tokens: 6,
  })) as {
    choices: Array<{ message: { content: string }; finish_reason: string }>;
    usage: { completion_tokens: number };
  };
  assert.equal(completion.choices[0]?.message.content, 'SecureVault dev model reply to: hello');
  assert.equal(completion.choices[0]?.finish_reason, 'length');
  assert.equal(completion.usage.completion_tokens, 6);

  const stream = (await client.chat.completions.create({
    model: 'securevault-dev-mini',
    messages: [{ role: 'user', content: 'hello stream' }],
    stream: true,
    stream_options: { include_usage: true },
  })) as AsyncIterable<ChunkJson>;
  let text = '';
  let usage: ChunkJson['usage'];
  for await (const chunk of stream) {
    text += chunk.choices[0]?.delta.content ?? '';
    if (chunk.usage) usage = chunk.usage;
  }
  assert.equal(text, standinReplyWords([{ role: 'user', content: 'hello stream' }]).join(' '));
  assert.equal(usage?.completion_tokens, text.split(' ').length);

  await assert.rejects(
    client.chat.completions.create({ model: 'nope', messages: [{ role: 'user', content: 'x' }] }),
    (err: { status?: number; code?: string }) =>
      err.status === 404 && err.code === 'model_not_found',
  );
});
