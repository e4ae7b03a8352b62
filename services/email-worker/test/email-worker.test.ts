// email-worker end to end. Real: Redis, BullMQ queues and worker, nodemailer's SMTP client, the
// audit queue. Stand-ins (outside our system): the SMTP server (the testing lib's sink speaking
// real SMTP) and, for the shutdown test, a slow TCP relay in front of it.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createServer, connect, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { Queue } from 'bullmq';
import { EmailResult, JOB_NAMES, QUEUES } from '@securevault/contracts';
import { freePort, startSmtpSink, type SmtpSink } from '@securevault/testing';
import {
  auditEvents,
  emailJob,
  sample,
  startHarness,
  waitForState,
  type Harness,
} from './harness.ts';

describe('email-worker with a real SMTP conversation', () => {
  let sink: SmtpSink;
  let h: Harness;

  before(async () => {
    sink = await startSmtpSink({
      failRecipients: (address) => (address.startsWith('bounce') ? 550 : undefined),
    });
    h = await startHarness({ smtpUrl: sink.url, verifySmtp: true });
  });
  after(async () => {
    await h.close();
    await sink.close();
  });

  it('sends one message with a deterministic Message-ID and returns the EmailResult', async () => {
    const job = emailJob({ html: '<p>Hello from SecureVault.</p>' });
    const added = await h.producer.add(job);
    const bullJob = await h.emailQueue.getJob(added);
    assert.ok(bullJob);
    const result: unknown = await bullJob.waitUntilFinished(h.events, 10_000);

    const received = sink.messages.filter((m) => m.to.includes(job.to));
    assert.equal(received.length, 1);
    const [message] = received;
    assert.ok(message);
    assert.equal(message.from, 'SecureVault <no-reply@securevault.test>');
    assert.deepEqual(message.to, [job.to]);
    assert.equal(message.subject, job.subject);
    assert.equal(message.text.trim(), job.text);
    assert.match(message.html, /<p>Hello from SecureVault\.<\/p>/);
    assert.equal(message.messageId, `<${job.id}@securevault.test>`);

    const parsed = EmailResult.parse(result);
    assert.equal(parsed.messageId, `<${job.id}@securevault.test>`);
    assert.deepEqual(parsed.accepted, [job.to]);
    assert.ok(Date.now() - Date.parse(parsed.sentAt) < 10_000);

    assert.equal(sample(await h.metrics.text(), 'emails_sent_total'), 1);
    assert.equal(
      sample(
        await h.metrics.text(),
        'queue_jobs_processed_total{queue="email",outcome="completed"}',
      ),
      1,
    );

    const [event, ...more] = await auditEvents(h.auditQueue, 'email.sent');
    assert.equal(more.length, 0);
    assert.ok(event);
    assert.equal(event.source, 'email-worker');
    assert.deepEqual(event.actor, { type: 'service', id: 'email-worker' });
    assert.equal(event.outcome, 'success');
    assert.equal(event.ownerId, job.ownerId);
    assert.deepEqual(event.target, { type: 'email', id: job.id });
    assert.deepEqual(event.metadata, { messageId: `<${job.id}@securevault.test>`, attempt: 1 });
    assert.equal(event.requestId, `job-${job.id}`);
    assert.ok(!JSON.stringify(event).includes(job.to), 'the audit event carries no address');

    // The owner has no webhook endpoints and email.sent is not an operator event: no job for it.
    const webhook = new Queue(QUEUES.webhook, {
      connection: h.emailQueue.opts.connection,
      prefix: h.prefix,
    });
    try {
      const counts = await webhook.getJobCounts();
      assert.equal(
        Object.values(counts).reduce((a, b) => a + b, 0),
        0,
        `nothing queued for nobody: ${JSON.stringify(counts)}`,
      );
    } finally {
      await webhook.close();
    }

    const logs = h.logs.join('');
    assert.match(logs, new RegExp(job.id));
    assert.ok(!logs.includes(job.to), 'the address is never logged');
    assert.ok(!logs.includes(job.text ?? '-'), 'the body is never logged');
  });

  it('gives up at once on a 550 rejection, without retrying, and audits the failure', async () => {
    const job = emailJob({ to: `bounce.${randomUUID().slice(0, 8)}@customer.test` });
    await h.producer.add(job, { attempts: 4, backoff: { type: 'fixed', delay: 20 } });
    const failed = await waitForState(h.emailQueue, job.id, ['failed']);

    assert.equal(failed.attemptsMade, 1);
    assert.match(failed.failedReason, /550/);
    assert.ok(!failed.failedReason.includes(job.to), 'the failure reason carries no address');
    assert.equal(sink.messages.filter((m) => m.to.includes(job.to)).length, 0);
    const metrics = await h.metrics.text();
    assert.equal(sample(metrics, 'emails_failed_total{kind="permanent"}'), 1);
    assert.equal(sample(metrics, 'emails_failed_total{kind="transient"}'), 0);

    const [event] = await auditEvents(h.auditQueue, 'email.failed');
    assert.ok(event);
    assert.equal(event.outcome, 'failure');
    assert.equal(event.ownerId, job.ownerId);
    assert.deepEqual(event.target, { type: 'email', id: job.id });
    assert.equal(event.metadata.attempt, 1);
    assert.match(String(event.metadata.reason), /550/);
    assert.ok(!JSON.stringify(event).includes(job.to));

    // The refused address is now suppressed: a later send is refused without SMTP, audited as such.
    const again = emailJob({ to: job.to });
    await h.producer.add(again);
    const refused = await waitForState(h.emailQueue, again.id, ['failed']);
    assert.equal(refused.failedReason, 'recipient suppressed');
    const [suppressed] = await auditEvents(h.auditQueue, 'email.suppressed');
    assert.equal(suppressed?.outcome, 'denied');
    assert.deepEqual(suppressed?.target, { type: 'email', id: again.id });
    assert.ok(!JSON.stringify(suppressed).includes(job.to));
    assert.equal(sink.messages.filter((m) => m.to.includes(job.to)).length, 0);
    assert.ok(!h.logs.join('').includes(job.to), 'the address is never logged');
  });

  it('fails a payload that breaks the contract as unrecoverable, sending nothing', async () => {
    const id = randomUUID();
    const before = sink.messages.length;
    await h.emailQueue.add(
      JOB_NAMES.email,
      { id, ownerId: randomUUID(), to: 'not-an-address', subject: '' },
      {
        jobId: id,
        attempts: 3,
        backoff: { type: 'fixed', delay: 20 },
      },
    );
    const failed = await waitForState(h.emailQueue, id, ['failed']);
    assert.equal(failed.attemptsMade, 1);
    assert.equal(failed.failedReason, 'job payload does not match the email contract');
    assert.equal(sink.messages.length, before);
  });

  it('reports ready while Redis answers', async () => {
    const readiness = await h.health.readiness();
    assert.equal(readiness.ready, true);
    assert.deepEqual(Object.keys(readiness.checks).sort(), ['redis:producer', 'redis:worker']);
  });
});

describe('email-worker when the SMTP server is down', () => {
  let h: Harness;
  before(async () => {
    const closedPort = await freePort();
    h = await startHarness({ smtpUrl: `smtp://127.0.0.1:${closedPort}`, verifySmtp: true });
  });
  after(() => h.close());

  it('retries a refused connection with backoff and audits only the final failure', async () => {
    const job = emailJob();
    await h.producer.add(job, { attempts: 2, backoff: { type: 'fixed', delay: 50 } });
    const failed = await waitForState(h.emailQueue, job.id, ['failed']);

    assert.equal(failed.attemptsMade, 2);
    assert.match(failed.failedReason, /ECONNREFUSED|connect/i);
    const metrics = await h.metrics.text();
    assert.equal(sample(metrics, 'emails_failed_total{kind="transient"}'), 2);
    assert.equal(sample(metrics, 'queue_jobs_processed_total{queue="email",outcome="retried"}'), 1);
    assert.equal(sample(metrics, 'queue_jobs_processed_total{queue="email",outcome="failed"}'), 1);

    const events = await auditEvents(h.auditQueue, 'email.failed', 2, 500);
    assert.equal(events.length, 1, 'only the last attempt is audited');
    assert.equal(events[0]?.metadata.attempt, 2);
    assert.match(h.logs.join(''), /smtp server not reachable at start-up/);
  });
});

/** A TCP relay that holds each server reply for `delayMs`: a slow SMTP server, seen from the worker. */
async function startSlowRelay(target: number, delayMs: number) {
  const sockets = new Set<Socket>();
  let connections = 0;
  const server: Server = createServer((client) => {
    connections += 1;
    const upstream = connect(target, '127.0.0.1');
    sockets.add(client).add(upstream);
    let chain = Promise.resolve();
    upstream.on('data', (chunk: Buffer) => {
      chain = chain
        .then(() => new Promise((r) => setTimeout(r, delayMs)))
        .then(() => void (client.writable && client.write(chunk)));
    });
    client.on('data', (chunk: Buffer) => upstream.write(chunk));
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('close', end).on('error', end);
    upstream.on('close', end).on('error', end);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    connections: () => connections,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

describe('email-worker graceful shutdown', () => {
  it('lets an in-flight send finish before closing', async () => {
    const sink = await startSmtpSink();
    const relay = await startSlowRelay(sink.port, 120);
    const h = await startHarness({ smtpUrl: `smtp://127.0.0.1:${relay.port}` });
    try {
      const job = emailJob();
      await h.producer.add(job);
      await waitForState(h.emailQueue, job.id, ['active']);
      while (relay.connections() === 0) await new Promise((r) => setTimeout(r, 5));
      assert.equal(sink.messages.length, 0, 'the send is still in flight');

      const code = await h.stopWorker();
      assert.equal(code, 0);
      assert.equal(sink.messages.length, 1, 'the send finished before the worker closed');
      assert.equal(sink.messages[0]?.messageId, `<${job.id}@securevault.test>`);
      const done = await waitForState(h.emailQueue, job.id, ['completed', 'failed'], 2_000);
      assert.equal(await done.getState(), 'completed');
      assert.equal((await h.health.readiness()).ready, false);
    } finally {
      await h.close();
      await relay.close();
      await sink.close();
    }
  });
});
