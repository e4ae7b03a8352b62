// ai-worker end to end. Real: Redis (queues, streams, the audit queue), BullMQ, the openai SDK over
// HTTP. Stand-in (outside our system): the provider, the testing lib's OpenAI-compatible model server.
import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import {
  AiResult,
  JOB_NAMES,
  RETRY_AFTER_BACKOFF,
  generationStreamKey,
} from '@securevault/contracts';
import {
  freePort,
  startModelStandin,
  standinReplyWords,
  type ModelStandin,
} from '@securevault/testing';
import {
  API_KEY,
  aiJob,
  auditEvents,
  sample,
  startHarness,
  waitForState,
  type Harness,
} from './harness.ts';

describe('ai-worker against an OpenAI-compatible provider', () => {
  let model: ModelStandin;
  let h: Harness;

  before(async () => {
    model = await startModelStandin({ chunkDelayMs: 1 });
    h = await startHarness({ baseUrl: model.baseUrl });
  });
  beforeEach(() => model.setFailures(undefined));
  after(async () => {
    await h.close();
    await model.close();
  });

  it('streams a generation into its Redis Stream and returns the AiResult', async () => {
    const job = aiJob();
    await h.producer.add(job);
    const bullJob = await h.aiQueue.getJob(job.id);
    assert.ok(bullJob);
    const result = AiResult.parse(await bullJob.waitUntilFinished(h.events, 10_000));

    const words = standinReplyWords([{ role: 'user', content: job.prompt }]).slice(
      0,
      job.maxTokens,
    );
    assert.equal(result.text, words.join(' '));
    assert.equal(result.model, 'securevault-dev-1');
    assert.equal(result.finishReason, 'length');
    const promptTokens = job.prompt.split(/\s+/).length;
    assert.deepEqual(result.usage, {
      promptTokens,
      completionTokens: words.length,
      totalTokens: promptTokens + words.length,
    });

    const request = model.requests.at(-1);
    assert.equal(request?.headers.authorization, `Bearer ${API_KEY}`);
    assert.deepEqual(request?.body, {
      model: 'securevault-dev-1',
      messages: [{ role: 'user', content: job.prompt }],
      max_tokens: job.maxTokens,
      stream: true,
      stream_options: { include_usage: true },
    });

    const entries = await h.stream(job.id);
    const chunks = entries.filter((e) => e.fields.type === 'chunk');
    assert.equal(chunks.length, words.length);
    assert.equal(chunks.map((e) => e.fields.text).join(''), result.text);
    const last = entries.at(-1);
    assert.deepEqual(last?.fields, {
      type: 'done',
      finishReason: 'length',
      usage: JSON.stringify(result.usage),
    });
    assert.equal(entries.length, chunks.length + 1);
    const ttl = await h.redis.ttl(generationStreamKey(h.prefix, job.id));
    assert.ok(ttl > 86_000 && ttl <= 86_400, `ttl ${ttl}`);

    const metrics = await h.metrics.text();
    assert.equal(
      sample(metrics, 'ai_generations_total{model="securevault-dev-1",outcome="completed"}'),
      1,
    );
    assert.equal(
      sample(metrics, 'ai_tokens_total{model="securevault-dev-1",kind="prompt"}'),
      promptTokens,
    );
    assert.equal(
      sample(metrics, 'ai_tokens_total{model="securevault-dev-1",kind="completion"}'),
      words.length,
    );

    const [event, ...more] = await auditEvents(h.auditQueue, job.id);
    assert.equal(more.length, 0);
    assert.ok(event);
    assert.equal(event.action, 'ai.completed');
    assert.equal(event.source, 'ai-worker');
    assert.deepEqual(event.actor, { type: 'service', id: 'ai-worker' });
    assert.equal(event.outcome, 'success');
    assert.equal(event.ownerId, job.ownerId);
    assert.deepEqual(event.target, { type: 'generation', id: job.id });
    assert.deepEqual(event.metadata, {
      model: job.model,
      promptTokens,
      completionTokens: words.length,
    });

    const logs = h.logs.join('');
    assert.match(logs, new RegExp(job.id));
    assert.ok(!logs.includes(job.prompt), 'the prompt is never logged');
    assert.ok(!logs.includes(API_KEY), 'the API key is never logged');
  });

  it('refuses a model outside the allowlist without calling the provider', async () => {
    const job = aiJob({ model: 'gpt-unlisted' });
    const before = model.requests.length;
    await h.producer.add(job, { attempts: 3, backoff: { type: 'fixed', delay: 20 } });
    const failed = await waitForState(h.aiQueue, job.id, ['failed']);

    assert.equal(failed.attemptsMade, 1);
    assert.equal(failed.failedReason, 'the model is not available');
    assert.equal(model.requests.length, before);
    const entries = await h.stream(job.id);
    assert.deepEqual(
      entries.map((e) => e.fields),
      [{ type: 'error', code: 'VALIDATION_FAILED', message: 'the model is not available' }],
    );
    const metrics = await h.metrics.text();
    assert.equal(sample(metrics, 'ai_generations_total{model="other",outcome="failed"}'), 1);
    assert.doesNotMatch(metrics, /gpt-unlisted/);
    const [event] = await auditEvents(h.auditQueue, job.id);
    assert.equal(event?.action, 'ai.failed');
    assert.equal(event?.outcome, 'failure');
  });

  it('retries a provider answering 503 and completes, marking the restart with a reset', async () => {
    // Two 503s: the SDK's own single retry meets the second, then BullMQ retries the job.
    model.setFailures({ status: 503, times: 2 });
    const before = model.requests.length;
    const job = aiJob({ maxTokens: 5 });
    await h.producer.add(job, { attempts: 3, backoff: { type: 'fixed', delay: 20 } });
    const done = await waitForState(h.aiQueue, job.id, ['completed', 'failed'], 15_000);

    assert.equal(await done.getState(), 'completed');
    assert.equal(done.attemptsMade, 2);
    assert.equal(model.requests.length - before, 3);
    const result = AiResult.parse(done.returnvalue);
    const entries = await h.stream(job.id);
    assert.equal(entries[0]?.fields.type, 'reset');
    assert.equal(entries.at(-1)?.fields.type, 'done');
    const chunks = entries.filter((e) => e.fields.type === 'chunk').map((e) => e.fields.text);
    assert.equal(chunks.join(''), result.text);
    assert.equal(result.usage.completionTokens, 5);
    const events = await auditEvents(h.auditQueue, job.id, 2, 300);
    assert.deepEqual(
      events.map((e) => e.action),
      ['ai.completed'],
    );
  });

  it('waits for the provider’s Retry-After before the next attempt, then completes', async () => {
    // The SDK's single retry honours the first 429's Retry-After and meets the second; the job's
    // retry-after backoff then puts attempt 2 at least as far out as the provider asked.
    model.setFailures({ status: 429, times: 2, retryAfter: '1' });
    const job = aiJob({ maxTokens: 3 });
    await h.producer.add(job, { attempts: 3, backoff: { ...RETRY_AFTER_BACKOFF, delay: 10 } });
    const retrying = await waitForState(h.aiQueue, job.id, ['delayed', 'completed', 'failed']);
    assert.equal(await retrying.getState(), 'delayed');
    assert.equal(retrying.attemptsMade, 1);
    assert.ok(retrying.delay >= 1_000, `delay ${retrying.delay}`);
    const done = await waitForState(h.aiQueue, job.id, ['completed', 'failed'], 15_000);
    assert.equal(await done.getState(), 'completed');
    assert.equal(done.attemptsMade, 2);
  });

  it('leaves a pause of more than a few seconds to the job’s backoff, holding no worker slot', async () => {
    model.setFailures({ status: 429, times: 1, retryAfter: '10' });
    const before = model.requests.length;
    const job = aiJob();
    await h.producer.add(job, { attempts: 3, backoff: { ...RETRY_AFTER_BACKOFF, delay: 10 } });
    const retrying = await waitForState(h.aiQueue, job.id, ['delayed', 'failed']);
    assert.equal(await retrying.getState(), 'delayed');
    assert.equal(model.requests.length - before, 1, 'the SDK did not sleep and retry in place');
    assert.ok(retrying.delay >= 10_000, `delay ${retrying.delay}`);
    await retrying.remove();
  });

  it('fails at once when the provider asks for a longer pause than allowed', async () => {
    // 120 s is past AI_RETRY_AFTER_MAX_MS (60 s): the generation fails now, visibly, rather than
    // retrying sooner than the provider allows.
    model.setFailures({ status: 429, times: 2, retryAfter: '120' });
    const before = model.requests.length;
    const job = aiJob();
    await h.producer.add(job, { attempts: 3, backoff: { ...RETRY_AFTER_BACKOFF, delay: 10 } });
    const failed = await waitForState(h.aiQueue, job.id, ['failed'], 15_000);
    assert.equal(failed.attemptsMade, 1);
    assert.equal(model.requests.length - before, 1);
    assert.match(failed.failedReason, /429.*asked to wait 120 s, more than the 60 s allowed/);
    const entries = await h.stream(job.id);
    assert.equal(entries.at(-1)?.fields.code, 'RATE_LIMITED');
  });

  it('gives up at once on a 400 from the provider and says so in the stream', async () => {
    model.setFailures({ status: 400, times: 1 });
    const job = aiJob();
    await h.producer.add(job, { attempts: 3, backoff: { type: 'fixed', delay: 20 } });
    const failed = await waitForState(h.aiQueue, job.id, ['failed']);

    assert.equal(failed.attemptsMade, 1);
    assert.equal(failed.failedReason, 'the AI provider rejected the request (400)');
    const entries = await h.stream(job.id);
    assert.deepEqual(entries.at(-1)?.fields, {
      type: 'error',
      code: 'VALIDATION_FAILED',
      message: 'the AI provider rejected the request (400)',
    });
    const [event] = await auditEvents(h.auditQueue, job.id);
    assert.equal(event?.action, 'ai.failed');
    assert.deepEqual(event?.metadata, {
      model: 'securevault-dev-1',
      code: 'VALIDATION_FAILED',
      reason: 'the AI provider rejected the request (400)',
      attempt: 1,
    });
    assert.ok(!h.logs.join('').includes(job.prompt), 'the prompt is never logged');
  });

  it('fails a payload that breaks the contract as unrecoverable', async () => {
    const id = randomUUID();
    const before = model.requests.length;
    await h.aiQueue.add(
      JOB_NAMES.ai,
      { id, ownerId: randomUUID(), prompt: '', model: 'securevault-dev-1' },
      {
        jobId: id,
        attempts: 3,
      },
    );
    const failed = await waitForState(h.aiQueue, id, ['failed']);
    assert.equal(failed.attemptsMade, 1);
    assert.equal(failed.failedReason, 'job payload does not match the ai contract');
    assert.equal(model.requests.length, before);
  });

  it('reports ready while Redis answers', async () => {
    const readiness = await h.health.readiness();
    assert.equal(readiness.ready, true);
    assert.deepEqual(Object.keys(readiness.checks).sort(), ['redis:producer', 'redis:worker']);
  });
});

describe('ai-worker when the provider is slow or gone', () => {
  it('times out a stream that stalls and reports GATEWAY_TIMEOUT on the last attempt', async () => {
    const model = await startModelStandin({ chunkDelayMs: 600 });
    const h = await startHarness({ baseUrl: model.baseUrl, env: { AI_TIMEOUT_MS: '150' } });
    try {
      const job = aiJob();
      await h.producer.add(job, { attempts: 1 });
      const failed = await waitForState(h.aiQueue, job.id, ['failed']);
      assert.equal(failed.failedReason, 'the AI provider did not answer in time');
      const entries = await h.stream(job.id);
      assert.deepEqual(entries.at(-1)?.fields, {
        type: 'error',
        code: 'GATEWAY_TIMEOUT',
        message: 'the AI provider did not answer in time',
      });
    } finally {
      await h.close();
      await model.close();
    }
  });

  it('retries when the provider cannot be reached', async () => {
    const closed = await freePort();
    const h = await startHarness({
      baseUrl: `http://127.0.0.1:${closed}/v1`,
      env: { OPENAI_MAX_RETRIES: '0' },
    });
    try {
      const job = aiJob();
      await h.producer.add(job, { attempts: 2, backoff: { type: 'fixed', delay: 20 } });
      const failed = await waitForState(h.aiQueue, job.id, ['failed']);
      assert.equal(failed.attemptsMade, 2);
      assert.equal(failed.failedReason, 'the AI provider could not be reached');
      const entries = await h.stream(job.id);
      assert.deepEqual(
        entries.map((e) => e.fields.type),
        ['reset', 'error'],
      );
      assert.equal(entries[1]?.fields.code, 'BAD_GATEWAY');
      const events = await auditEvents(h.auditQueue, job.id, 2, 300);
      assert.equal(events.length, 1, 'only the last attempt is audited');
      assert.equal(events[0]?.metadata.attempt, 2);
    } finally {
      await h.close();
    }
  });
});
