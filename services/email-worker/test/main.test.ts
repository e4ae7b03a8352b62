// main.ts as a real process: real Redis and BullMQ, the SMTP sink stand-in; SIGTERM shuts it down cleanly.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { Redis } from 'ioredis';
import { EmailJob, QUEUES } from '@securevault/contracts';
import { createProducer } from '@securevault/service-kit';
import {
  cleanupRedisPrefix,
  freePort,
  startSmtpSink,
  uniquePrefix,
  waitForHttp,
  type SmtpSink,
} from '@securevault/testing';
import { FROM, REDIS_URL, emailJob } from './harness.ts';

describe('email-worker process', () => {
  let sink: SmtpSink;
  let child: ChildProcess;
  let stdout = '';
  let managementPort: number;
  const prefix = uniquePrefix('email-main');

  before(async () => {
    sink = await startSmtpSink();
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
          SMTP_URL: sink.url,
          SMTP_FROM: FROM,
          LOG_LEVEL: 'info',
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
    await sink.close();
    await cleanupRedisPrefix(REDIS_URL, prefix);
  });

  it('is ready, sends a queued email, exports its metrics and exits 0 on SIGTERM', async () => {
    assert.match(stdout, /"msg":"ready"/);
    const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
    const producer = createProducer({
      queue: QUEUES.email,
      schema: EmailJob,
      connection: redis,
      prefix,
    });
    try {
      await new Promise((r) => (redis.status === 'ready' ? r(undefined) : redis.once('ready', r)));
      const job = emailJob();
      await producer.add(job);
      const message = await sink.waitFor((m) => m.to.includes(job.to), 10_000);
      assert.equal(message.messageId, `<${job.id}@securevault.test>`);

      // The counter moves after the send record is written, a moment after the sink has the mail.
      let metrics = '';
      for (let i = 0; i < 100 && !/^emails_sent_total 1$/m.test(metrics); i++) {
        if (i > 0) await new Promise((r) => setTimeout(r, 50));
        metrics = await (await fetch(`http://127.0.0.1:${managementPort}/metrics`)).text();
      }
      assert.match(metrics, /^emails_sent_total 1$/m);
      assert.match(metrics, /^queue_jobs\{queue="email",state="waiting"\} 0$/m);
      assert.ok(!stdout.includes(job.to), 'the address is never logged');
      assert.ok(!stdout.includes('hunter2'), 'no secret is logged');
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
