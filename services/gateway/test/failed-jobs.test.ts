// GET /api/admin/emails/failed: emails that failed for good, read from BullMQ's failed set. Real:
// the gateway app, Redis, BullMQ, the email-worker (as a child process) and nodemailer's SMTP
// client. Stand-ins (outside our system): auth (token table) and the SMTP server (the testing
// lib's sink, real SMTP), which refuses bounce.* recipients with a permanent 550.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startSmtpSink, type SmtpSink } from '@securevault/testing';
import {
  asA,
  asAdmin,
  call,
  codeOf,
  startAuthStandin,
  startGateway,
  type Gateway,
  type Standin,
} from './helpers.ts';
import { startEmailWorkerProcess, until, type WorkerProcess } from './delivery-harness.ts';

interface FailedPage {
  items: Array<{
    id: string;
    to: string;
    subject: string;
    failedReason: string;
    attemptsMade: number;
    failedAt: string | null;
  }>;
  total: number;
  nextCursor: string | null;
}

describe('GET /api/admin/emails/failed', () => {
  let auth: Standin;
  let gw: Gateway;
  let sink: SmtpSink;
  let worker: WorkerProcess;
  /** ids of the emails sent, oldest first */
  const ids: string[] = [];

  before(async () => {
    auth = await startAuthStandin();
    sink = await startSmtpSink({
      failRecipients: (address) => (address.startsWith('bounce') ? 550 : undefined),
    });
    gw = await startGateway({ AUTH_URL: auth.url });
    worker = await startEmailWorkerProcess({
      REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
      QUEUE_PREFIX: gw.prefix,
      SMTP_URL: sink.url,
    });
    // Three refused recipients and one delivered email, one after the other so the order is known.
    for (const [to, subject] of [
      ['bounce.one@customer.test', 'First'],
      ['bounce.two@customer.test', 'Second'],
      ['reader@customer.test', 'Delivered'],
      ['bounce.three@customer.test', 'Third'],
    ] as const) {
      const sent = await call(`${gw.url}/api/send-email`, {
        method: 'POST',
        headers: asA,
        json: { to, subject, text: 'hello' },
      });
      assert.equal(sent.status, 202, sent.text);
      const { id } = sent.body as { id: string };
      ids.push(id);
      await until(
        async () => {
          const v = await call(`${gw.url}/api/emails/${id}`, { headers: asA });
          const status = (v.body as { status?: string }).status;
          return status === 'sent' || status === 'failed' || status === 'suppressed'
            ? status
            : undefined;
        },
        15_000,
        `email ${to} to settle`,
      );
    }
  });
  after(async () => {
    await worker?.proc.stop();
    await gw?.close();
    await sink?.close();
    await auth?.close();
  });

  const list = (query = '', headers: Record<string, string> = asAdmin) =>
    call(`${gw.url}/api/admin/emails/failed${query}`, { headers });

  it('lists the failed emails newest first, masked, one page at a time', async () => {
    const first = await list('?limit=2');
    assert.equal(first.status, 200, first.text);
    assert.equal(first.headers.get('cache-control'), 'no-store');
    const page1 = first.body as FailedPage;
    assert.equal(page1.total, 3, 'the delivered email is not listed');
    assert.deepEqual(
      page1.items.map((i) => [i.id, i.to, i.subject]),
      [
        [ids[3], 'b***@customer.test', 'Third'],
        [ids[1], 'b***@customer.test', 'Second'],
      ],
    );
    assert.ok(page1.nextCursor);
    for (const item of page1.items) {
      // The SMTP refusal quotes the recipient: only its masked form is shown.
      assert.match(item.failedReason, /550|rejected/);
      assert.ok(!item.failedReason.includes('bounce.'), item.failedReason);
      assert.ok(item.attemptsMade >= 1);
      assert.ok(item.failedAt && !Number.isNaN(Date.parse(item.failedAt)));
    }
    assert.ok(!first.text.includes('bounce.'), 'no address in clear');

    const second = await list(`?limit=2&cursor=${page1.nextCursor}`);
    assert.equal(second.status, 200);
    const page2 = second.body as FailedPage;
    assert.deepEqual(
      page2.items.map((i) => i.id),
      [ids[0]],
    );
    assert.equal(page2.nextCursor, null);
  });

  it('is for admins only, and refuses a bad query with 400', async () => {
    const member = await list('', asA);
    assert.equal(member.status, 403);
    assert.equal(codeOf(member), 'INSUFFICIENT_SCOPE');
    assert.equal((await list('', {})).status, 401);
    for (const query of [
      '?limit=0',
      '?limit=101',
      '?limit=x',
      '?cursor=abc',
      '?cursor=-1',
      '?x=1',
    ]) {
      const bad = await list(query);
      assert.equal(bad.status, 400, query);
      assert.equal(codeOf(bad), 'VALIDATION_FAILED', query);
    }
    const post = await call(`${gw.url}/api/admin/emails/failed`, {
      method: 'POST',
      headers: asAdmin,
    });
    assert.equal(post.status, 405);
    assert.equal(post.headers.get('allow'), 'GET');
  });
});
