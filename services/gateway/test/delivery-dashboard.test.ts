// The queue dashboard (Bull Board) in the gateway. Real: the app, Redis, BullMQ queues, the
// dashboard library. Stand-in: auth (token table).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
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
import { DASHBOARD_CSP } from '../src/routes/queue-dashboard.ts';

describe('queue dashboard', () => {
  let auth: Standin;
  let gw: Gateway;

  before(async () => {
    auth = await startAuthStandin();
    gw = await startGateway({ AUTH_URL: auth.url });
  });
  after(async () => {
    await gw.close();
    await auth.close();
  });

  it('is refused without authentication and to members', async () => {
    const anonymous = await call(`${gw.url}/api/admin/queues`);
    assert.equal(anonymous.status, 401);
    assert.equal(codeOf(anonymous), 'UNAUTHENTICATED');
    const member = await call(`${gw.url}/api/admin/queues/api/queues`, { headers: asA });
    assert.equal(member.status, 403);
    assert.equal(codeOf(member), 'INSUFFICIENT_SCOPE');
  });

  it('serves the UI to admins under its own CSP, with its scripts from the same origin', async () => {
    const page = await call(`${gw.url}/api/admin/queues`, { headers: asAdmin });
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type') ?? '', /text\/html/);
    assert.equal(page.headers.get('content-security-policy'), DASHBOARD_CSP);
    assert.match(page.text, /<base href="\/api\/admin\/queues\/"/);
    const script = /src="(static\/js\/main\.[^"]+\.js)"/.exec(page.text)?.[1];
    assert.ok(script, 'the page loads its own bundle');
    const js = await call(`${gw.url}/api/admin/queues/${script}`, { headers: asAdmin });
    assert.equal(js.status, 200);
    assert.match(js.headers.get('content-type') ?? '', /javascript/);
  });

  it('lists every queue with its job counts', async () => {
    const sent = await call(`${gw.url}/api/send-email`, {
      method: 'POST',
      headers: asA,
      json: { to: 'board@customer.test', subject: 'Board', text: 'x' },
    });
    assert.equal(sent.status, 202);
    const r = await call(`${gw.url}/api/admin/queues/api/queues`, { headers: asAdmin });
    assert.equal(r.status, 200);
    const queues = (r.body as { queues: Array<{ name: string; counts: Record<string, number> }> })
      .queues;
    assert.deepEqual(queues.map((q) => q.name).sort(), ['ai', 'audit', 'email', 'webhook']);
    assert.equal(queues.find((q) => q.name === 'email')?.counts.waiting, 1);
  });
});
