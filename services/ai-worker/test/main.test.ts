// main.ts as a real process: real Redis and BullMQ, the model stand-in; SIGTERM shuts it down cleanly.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { Redis } from 'ioredis';
import { AiJob, QUEUES } from '@securevault/contracts';
import { createProducer } from '@securevault/service-kit';
import {
  cleanupRedisPrefix,
  freePort,
  startModelStandin,
  uniquePrefix,
  waitForHttp,
  type ModelStandin,
} from '@securevault/testing';
import { API_KEY, REDIS_URL, aiJob } from './harness.ts';

describe('ai-worker process', () => {
  let model: ModelStandin;
  let child: ChildProcess;
  let stdout = '';
  let managementPort: number;
  const prefix = uniquePrefix('ai-main');

  before(async () => {
    model = await startModelStandin();
    managementPort = await freePort();
    child = spawn(
      process.execPath,
      ['--conditions=securevault-source', new URL('../src/main.ts', import.meta.url).pathname],
      {
        env: {
          PATH: process.env.PATH ?? '',
          REDIS_URL,
          QUEUE_PREFIX: prefix,
          MANAGEMENT_PORT: String(managementPort),
          OPENAI_BASE_URL: model.baseUrl,
          OPENAI_API_KEY: API_KEY,
        },
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    await waitForHttp(`http://127.0.0.1:${managementPort}/readyz`, {
      expectStatus: 200,
      timeoutMs: 10_000,
    });
  });
  after(async () => {
    if (child.exitCode === null) child.kill('SIGKILL');
    await model.close();
    await cleanupRedisPrefix(REDIS_URL, prefix);
  });

  it('is ready, completes a generation, exports its metrics and exits 0 on SIGTERM', async () => {
    assert.match(stdout, /"msg":"ready"/);
    const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
    const producer = createProducer({ queue: QUEUES.ai, schema: AiJob, connection: redis, prefix });
    try {
      await new Promise((r) => (redis.status === 'ready' ? r(undefined) : redis.once('ready', r)));
      const job = aiJob({ model: 'securevault-dev-mini' });
      await producer.add(job);
      const deadline = Date.now() + 10_000;
      let state = '';
      while (state !== 'completed' && Date.now() < deadline) {
        state = (await (await producer.queue.getJob(job.id))?.getState()) ?? '';
        await new Promise((r) => setTimeout(r, 25));
      }
      assert.equal(state, 'completed');

      const metrics = await (await fetch(`http://127.0.0.1:${managementPort}/metrics`)).text();
      assert.match(
        metrics,
        /^ai_generations_total\{model="securevault-dev-mini",outcome="completed"\} 1$/m,
      );
      assert.match(metrics, /^queue_jobs\{queue="ai",state="completed"\} 1$/m);
      assert.ok(!stdout.includes(job.prompt), 'the prompt is never logged');
      assert.ok(!stdout.includes(API_KEY), 'the API key is never logged');
    } finally {
      await producer.close();
      await redis.quit();
    }

    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
    assert.match(stdout, /"msg":"shutdown complete"/);
  });
});
