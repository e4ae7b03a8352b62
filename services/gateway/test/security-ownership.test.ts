// Ownership at the gateway: a member reaches only their own emails, generations and audit events;
// another member's ids answer 404 (existence not confirmed), an admin sees them. Real: the gateway
// app, Redis and BullMQ queues. Stand-ins: auth (token table) and audit (records the query).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  USER_A,
  USER_B,
  asA,
  asAdmin,
  asB,
  call,
  codeOf,
  startAuditStandin,
  startAuthStandin,
  startGateway,
  type Gateway,
  type Standin,
} from './helpers.ts';

describe('ownership of emails, generations and audit events', () => {
  let auth: Standin;
  let audit: Standin;
  let gw: Gateway;
  let emailId = '';
  let generationId = '';

  before(async () => {
    auth = await startAuthStandin();
    audit = await startAuditStandin();
    gw = await startGateway({ AUTH_URL: auth.url, AUDIT_URL: audit.url });
    const email = await call(`${gw.url}/api/send-email`, {
      method: 'POST',
      headers: asA,
      json: { to: 'r@example.com', subject: 's', text: 't' },
    });
    emailId = (email.body as { id: string }).id;
    const gen = await call(`${gw.url}/api/generate-content`, {
      method: 'POST',
      headers: asA,
      json: { prompt: 'p' },
    });
    generationId = (gen.body as { id: string }).id;
  });
  after(async () => {
    await gw.close();
    await audit.close();
    await auth.close();
  });

  it("answers 404 to another member for each of A's resources, 200 to A and to an admin", async () => {
    for (const path of [
      `/api/emails/${emailId}`,
      `/api/generations/${generationId}`,
      `/api/generations/${generationId}/stream`,
    ]) {
      const other = await call(`${gw.url}${path}`, { headers: asB });
      assert.equal(other.status, 404, path);
      assert.equal(codeOf(other), 'NOT_FOUND', path);
      assert.ok(!other.text.includes(USER_A), 'the owner is not revealed');
    }
    assert.equal((await call(`${gw.url}/api/emails/${emailId}`, { headers: asA })).status, 200);
    assert.equal(
      (await call(`${gw.url}/api/generations/${generationId}`, { headers: asA })).status,
      200,
    );
    assert.equal((await call(`${gw.url}/api/emails/${emailId}`, { headers: asAdmin })).status, 200);
  });

  it("never lets a member query another member's audit events", async () => {
    const asked = audit.requests.length;
    const r = await call(`${gw.url}/api/audit/events?ownerId=${USER_A}`, { headers: asB });
    assert.equal(r.status, 403);
    assert.equal(codeOf(r), 'FORBIDDEN');
    assert.equal(audit.requests.length, asked, 'the audit service was not even asked');
    const own = await call(`${gw.url}/api/audit/events`, { headers: asB });
    assert.equal(own.status, 200);
    const q = new URL(audit.requests.at(-1)?.url ?? '/', 'http://x').searchParams;
    assert.equal(q.get('ownerId'), USER_B, 'without a filter the caller still only sees their own');
  });
});
