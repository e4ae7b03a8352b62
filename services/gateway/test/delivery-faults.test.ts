// Delivery under faults. Real: the gateway app, Redis (the shared one, and a private redis-server
// for the restart test), BullMQ, the email-worker as a child process (SIGKILL, SIGTERM), nodemailer.
// Stand-ins (outside our system): auth (token table), the SMTP server (the testing lib's sink, real
// SMTP), a TCP relay that holds back the reply to DATA, and a TCP server that never greets.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startSmtpSink, type SmtpSink } from '@securevault/testing';
import {
  asA,
  call,
  startAuthStandin,
  startGateway,
  type Gateway,
  type Standin,
} from './helpers.ts';
import {
  killHard,
  startDataHoldingRelay,
  startEmailWorkerProcess,
  startPrivateRedis,
  startSilentServer,
  until,
  type WorkerProcess,
} from './delivery-harness.ts';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const GATEWAY_ENV = {
  RATE_LIMIT_EMAIL_PER_MINUTE: '100000',
  RATE_LIMIT_API_PER_MINUTE: '100000',
};

interface EmailView {
  status: string;
  attempts: number;
  error?: string;
  history: Array<{ status: string; attempt?: number; reason?: string }>;
}

describe('email delivery under faults', () => {
  let auth: Standin;
  let sink: SmtpSink;

  before(async () => {
    auth = await startAuthStandin();
    sink = await startSmtpSink();
  });
  after(async () => {
    await sink.close();
    await auth.close();
  });

  async function sendVia(gw: Gateway, to: string): Promise<string> {
    const r = await call(`${gw.url}/api/send-email`, {
      method: 'POST',
      headers: asA,
      json: { to, subject: 'Fault test', text: 'x' },
    });
    assert.equal(r.status, 202, r.text);
    return (r.body as { id: string }).id;
  }
  const view = async (gw: Gateway, id: string) =>
    (await call(`${gw.url}/api/emails/${id}`, { headers: asA })).body as EmailView;

  it('SIGKILL in the middle of a send: after a restart the job completes and one message exists', async () => {
    const relay = await startDataHoldingRelay(sink.port);
    const gw = await startGateway({ AUTH_URL: auth.url, ...GATEWAY_ENV });
    const env = {
      REDIS_URL,
      QUEUE_PREFIX: gw.prefix,
      SMTP_URL: relay.url,
      EMAIL_LOCK_DURATION_MS: '2000',
    };
    let worker: WorkerProcess | undefined = await startEmailWorkerProcess(env);
    try {
      const to = 'sigkill.user@customer.test';
      const id = await sendVia(gw, to);
      // The server has the whole message; the worker waits for "250" when it dies.
      await relay.held();
      await sink.waitFor((m) => m.to.includes(to), 5_000);
      await killHard(worker);
      assert.equal((await view(gw, id)).status, 'sending');
      relay.release();

      worker = await startEmailWorkerProcess(env);
      const done = await until(
        async () => {
          const v = await view(gw, id);
          return v.status === 'sent' ? v : undefined;
        },
        45_000,
        'the stalled job to complete after the restart',
      );
      assert.deepEqual(
        done.history.map((h) => h.status),
        ['queued', 'sending', 'sent'],
      );
      assert.match(done.history[2]?.reason ?? '', /unconfirmed/);
      const messages = sink.messages.filter((m) => m.messageId === `<${id}@securevault.test>`);
      assert.equal(messages.length, 1, 'exactly one message for this id');

      // A job that was merely retried (no crash) after a confirmed send is not sent again either.
      const second = await sendVia(gw, 'after.kill@customer.test');
      await until(
        async () => ((await view(gw, second)).status === 'sent' ? true : undefined),
        10_000,
        'a normal send after the restart',
      );
      const job = await gw.emailQueue.getJob(second);
      assert.ok(job);
      await job.retry('completed');
      await until(
        async () => ((await gw.emailQueue.getJobState(second)) === 'completed' ? true : undefined),
        10_000,
        'the re-run to finish',
      );
      assert.equal(
        sink.messages.filter((m) => m.messageId === `<${second}@securevault.test>`).length,
        1,
      );
      assert.match(worker.logs.join('\n'), /email already sent; not sending again/);
    } finally {
      await worker.proc.stop();
      await relay.close();
      await gw.close();
    }
  });

  it('SIGTERM during a send: the job finishes, no new job is taken, exit 0, nothing stalls', async () => {
    const relay = await startDataHoldingRelay(sink.port);
    const gw = await startGateway({ AUTH_URL: auth.url, ...GATEWAY_ENV });
    const worker = await startEmailWorkerProcess({
      REDIS_URL,
      QUEUE_PREFIX: gw.prefix,
      SMTP_URL: relay.url,
      EMAIL_CONCURRENCY: '1',
      SHUTDOWN_GRACE_MS: '10000',
    });
    try {
      const first = await sendVia(gw, 'sigterm.first@customer.test');
      await relay.held();
      const exit = worker.proc.stop(15_000);
      // Queued after SIGTERM: the closing worker must leave it for another replica.
      await until(
        () => (worker.logs.some((l) => l.includes('SIGTERM')) ? true : undefined),
        5_000,
        'the worker to log the signal',
      );
      const second = await sendVia(gw, 'sigterm.second@customer.test');
      await new Promise((r) => setTimeout(r, 300));
      relay.release();
      assert.equal(await exit, 0);
      assert.equal(await gw.emailQueue.getJobState(first), 'completed');
      assert.equal(await gw.emailQueue.getJobState(second), 'waiting');
      const job = await gw.emailQueue.getJob(first);
      assert.equal(job?.stalledCounter ?? 0, 0, 'the job never stalled');
      assert.equal(
        sink.messages.filter((m) => m.messageId === `<${first}@securevault.test>`).length,
        1,
      );
      assert.match(worker.logs.join('\n'), /shutdown complete/);
    } finally {
      await relay.close();
      await gw.close();
    }
  });

  it('an SMTP server that never greets fails the attempt at the timeout, then retries as configured', async () => {
    const silent = await startSilentServer();
    const gw = await startGateway({ AUTH_URL: auth.url, EMAIL_ATTEMPTS: '2', ...GATEWAY_ENV });
    const worker = await startEmailWorkerProcess({
      REDIS_URL,
      QUEUE_PREFIX: gw.prefix,
      SMTP_URL: silent.url,
      SMTP_TIMEOUT_MS: '300',
    });
    try {
      const id = await sendVia(gw, 'silent.user@customer.test');
      const v = await until(
        async () => {
          const current = await view(gw, id);
          return current.status === 'failed' ? current : undefined;
        },
        30_000,
        'the email to fail after its attempts',
      ).catch(async (err: unknown) => {
        // Say where it stood, so a failure under load can be told from a real hang.
        const current = await view(gw, id);
        throw new Error(
          `${String(err)}; status ${current.status}, history ${JSON.stringify(current.history)}, worker log tail ${worker.logs.slice(-5).join(' | ')}`,
        );
      });
      assert.equal(v.attempts, 2);
      assert.deepEqual(
        v.history.map((h) => [h.status, h.attempt]),
        [
          ['queued', undefined],
          ['sending', 1],
          ['retrying', 1],
          ['sending', 2],
          ['failed', 2],
        ],
      );
      assert.match(v.history[2]?.reason ?? '', /timeout/i);
      assert.ok(silent.connections() >= 2, 'each attempt connected');
    } finally {
      await worker.proc.stop();
      await silent.close();
      await gw.close();
    }
  });

  it('Redis restarted while jobs flow: every acknowledged email is delivered once', async () => {
    const redis = await startPrivateRedis();
    const gw = await startGateway({ AUTH_URL: auth.url, REDIS_URL: redis.url, ...GATEWAY_ENV });
    const worker = await startEmailWorkerProcess({
      REDIS_URL: redis.url,
      QUEUE_PREFIX: gw.prefix,
      SMTP_URL: sink.url,
      // A job moved to active just as the connection dropped has no live worker behind it: the
      // stall check gives it back after one lock period (production 30 s, here 2 s).
      EMAIL_LOCK_DURATION_MS: '2000',
    });
    const acknowledged: string[] = [];
    let refused = 0;
    try {
      await until(() => (gw.redis.status === 'ready' ? true : undefined), 5_000, 'redis');
      const flow = async (n: number) => {
        for (let i = 0; i < n; i++) {
          const r = await call(`${gw.url}/api/send-email`, {
            method: 'POST',
            headers: asA,
            json: { to: `flow.${i}@customer.test`, subject: 'Flow', text: 'x' },
          });
          if (r.status === 202) acknowledged.push((r.body as { id: string }).id);
          else {
            assert.equal(r.status, 503, r.text);
            refused++;
          }
          await new Promise((res) => setTimeout(res, 20));
        }
      };
      const flowing = flow(80);
      await until(() => (acknowledged.length >= 15 ? true : undefined), 10_000, 'some flow');
      await redis.stop();
      await new Promise((r) => setTimeout(r, 500));
      await redis.start();
      await flowing;
      await until(() => (gw.redis.status === 'ready' ? true : undefined), 10_000, 'reconnect');
      await flow(5);

      assert.ok(refused > 0, 'requests during the outage were refused, not acknowledged');
      await until(
        () =>
          acknowledged.every((id) =>
            sink.messages.some((m) => m.messageId === `<${id}@securevault.test>`),
          )
            ? true
            : undefined,
        30_000,
        'every acknowledged email to arrive',
      ).catch(async (err: unknown) => {
        // Say where each missing email stands, so a lost job can be told from a slow one.
        const missing = acknowledged.filter(
          (id) => !sink.messages.some((m) => m.messageId === `<${id}@securevault.test>`),
        );
        const states = await Promise.all(
          missing.map(async (id) => {
            const job = await gw.emailQueue.getJob(id);
            return `${id}: ${await gw.emailQueue.getJobState(id)} attempts ${job?.attemptsMade} ${job?.failedReason ?? ''}`;
          }),
        );
        throw new Error(
          `${String(err)}; missing ${states.join('; ')}; worker log tail ${worker.logs.slice(-8).join(' | ')}`,
        );
      });
      for (const id of acknowledged) {
        assert.equal(
          sink.messages.filter((m) => m.messageId === `<${id}@securevault.test>`).length,
          1,
          `one message for ${id}`,
        );
      }
    } finally {
      await worker.proc.stop();
      await gw.close();
      await redis.close();
    }
  });
});
