// Configuration and error classification: real loadConfig and real openai SDK error classes; main.ts as a process.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { ConfigError } from '@securevault/service-kit';
import { loadAiWorkerConfig } from '../src/config.ts';
import { classify, retryAfterMs } from '../src/processor.ts';

const KEY = 'sk-live-do-not-echo-me-0123456789';

function configError(env: Record<string, string>): ConfigError {
  try {
    loadAiWorkerConfig(env);
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return err;
  }
  assert.fail('expected a ConfigError');
}

describe('ai-worker config', () => {
  it('applies the defaults', () => {
    const config = loadAiWorkerConfig({ OPENAI_API_KEY: KEY });
    assert.equal(config.OPENAI_BASE_URL, 'https://api.openai.com/v1');
    assert.equal(config.AI_DEFAULT_MODEL, 'securevault-dev-1');
    assert.deepEqual(config.AI_MODELS, ['securevault-dev-1', 'securevault-dev-mini']);
    assert.equal(config.AI_TIMEOUT_MS, 30_000);
    assert.equal(config.OPENAI_MAX_RETRIES, 1);
    assert.equal(config.AI_CONCURRENCY, 5);
    assert.equal(config.AI_STREAM_TTL_SECONDS, 86_400);
    assert.ok(Object.isFrozen(config));
  });

  it('names a missing OPENAI_API_KEY', () => {
    const err = configError({});
    assert.deepEqual(err.variables, ['OPENAI_API_KEY']);
    assert.match(err.message, /OPENAI_API_KEY: is required/);
  });

  it('never echoes a value', () => {
    const err = configError({
      OPENAI_API_KEY: KEY,
      OPENAI_BASE_URL: `ftp://${KEY}@provider.internal`,
    });
    assert.deepEqual(err.variables, ['OPENAI_BASE_URL']);
    assert.ok(!err.message.includes(KEY));
  });

  it('reads the key from OPENAI_API_KEY_FILE and parses the model list', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ai-worker-'));
    writeFileSync(join(dir, 'key'), `${KEY}\n`);
    const config = loadAiWorkerConfig({
      OPENAI_API_KEY_FILE: join(dir, 'key'),
      AI_MODELS: ' gpt-4o-mini , gpt-4o ,',
      AI_DEFAULT_MODEL: 'gpt-4o-mini',
    });
    assert.equal(config.OPENAI_API_KEY, KEY);
    assert.deepEqual(config.AI_MODELS, ['gpt-4o-mini', 'gpt-4o']);
  });

  it('requires the default model to be allowed', () => {
    const err = configError({ OPENAI_API_KEY: KEY, AI_MODELS: 'a,b', AI_DEFAULT_MODEL: 'c' });
    assert.deepEqual(err.variables, ['AI_DEFAULT_MODEL']);
  });
});

describe('provider error classification', () => {
  const headers = new Headers();
  const cases: Array<[string, unknown, string, boolean]> = [
    [
      '429',
      OpenAI.APIError.generate(429, { message: 'slow down' }, undefined, headers),
      'RATE_LIMITED',
      true,
    ],
    [
      '500',
      OpenAI.APIError.generate(500, { message: 'boom' }, undefined, headers),
      'BAD_GATEWAY',
      true,
    ],
    [
      '401',
      OpenAI.APIError.generate(401, { message: 'bad key' }, undefined, headers),
      'BAD_GATEWAY',
      false,
    ],
    [
      '422',
      OpenAI.APIError.generate(422, { message: 'no' }, undefined, headers),
      'VALIDATION_FAILED',
      false,
    ],
    ['timeout', new OpenAI.APIConnectionTimeoutError(), 'GATEWAY_TIMEOUT', true],
    ['connection', new OpenAI.APIConnectionError({ message: 'refused' }), 'BAD_GATEWAY', true],
    ['anything else', new Error('redis went away'), 'INTERNAL', true],
  ];
  for (const [name, err, code, retryable] of cases) {
    it(`${name} → ${code}, ${retryable ? 'retried' : 'unrecoverable'}`, () => {
      const classified = classify(err);
      assert.equal(classified.code, code);
      assert.equal(classified.retryable, retryable);
      assert.ok(!classified.message.includes('bad key'), 'never the provider text');
    });
  }
});

describe('retryAfterMs', () => {
  const h = (values: Record<string, string>) => new Headers(values);
  const now = Date.parse('2026-11-21T10:00:00Z');
  it('reads retry-after-ms, Retry-After seconds and HTTP dates', () => {
    assert.equal(retryAfterMs(h({ 'retry-after-ms': '1500', 'retry-after': '9' }), now), 1500);
    assert.equal(retryAfterMs(h({ 'retry-after': '2' }), now), 2000);
    assert.equal(retryAfterMs(h({ 'retry-after': '0.5' }), now), 500);
    assert.equal(retryAfterMs(h({ 'retry-after': 'Sat, 21 Nov 2026 10:00:30 GMT' }), now), 30_000);
    assert.equal(retryAfterMs(h({ 'retry-after': 'Sat, 21 Nov 2026 09:00:00 GMT' }), now), 0);
  });
  it('is undefined when absent or unreadable', () => {
    assert.equal(retryAfterMs(undefined), undefined);
    assert.equal(retryAfterMs(h({})), undefined);
    assert.equal(retryAfterMs(h({ 'retry-after': 'later' })), undefined);
    assert.equal(retryAfterMs(h({ 'retry-after-ms': '-1' })), undefined);
  });
  it('travels on the classified 429 and 5xx', () => {
    const err = OpenAI.APIError.generate(
      429,
      { message: 'slow down' },
      undefined,
      h({ 'retry-after': '3' }),
    );
    assert.equal(classify(err).retryAfterMs, 3000);
  });
});

describe('ai-worker main.ts', () => {
  it('exits 1 naming the variable when OPENAI_API_KEY is missing', async () => {
    const child = spawn(
      process.execPath,
      ['--conditions=securevault-source', new URL('../src/main.ts', import.meta.url).pathname],
      {
        env: { PATH: process.env.PATH ?? '', MANAGEMENT_PORT: '0' },
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    assert.equal(code, 1);
    assert.match(stderr, /OPENAI_API_KEY: is required/);
  });
});
