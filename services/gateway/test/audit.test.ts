// GET /api/audit/events relayed to audit. Real: the app and Redis. Stand-ins: auth (token table)
// and audit (GET /internal/events per the contract, recording each query).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import {
  USER_A,
  asA,
  asAdmin,
  call,
  codeOf,
  startAuditStandin,
  startAuthStandin,
  startGateway,
  type Gateway,
  type Standin,
} from './helpers.ts';

describe('audit events', () => {
  let auth: Standin;
  let audit: Standin;
  let gw: Gateway;

  before(async () => {
    auth = await startAuthStandin();
    audit = await startAuditStandin();
    gw = await startGateway({ AUTH_URL: auth.url, AUDIT_URL: audit.url, AUTH_TIMEOUT_MS: '300' });
  });
  after(async () => {
    await gw.close();
    await auth.close();
    await audit.close();
  });

  const lastQuery = () => new URL(audit.requests.at(-1)?.url ?? '/', 'http://x').searchParams;

  it('a member always reads their own events, with filters passed through', async () => {
    const r = await call(`${gw.url}/api/audit/events?action=email.queued&limit=10`, {
      headers: { ...asA, 'x-request-id': 'rid-audit' },
    });
    assert.equal(r.status, 200);
    const body = r.body as {
      items: Array<{ ownerId: string; seq: string }>;
      nextCursor: string | null;
    };
    assert.equal(body.items[0]?.ownerId, USER_A);
    assert.equal(body.items[0]?.seq, '7');
    assert.equal(body.nextCursor, 'c7');
    const q = lastQuery();
    assert.equal(q.get('ownerId'), USER_A);
    assert.equal(q.get('action'), 'email.queued');
    assert.equal(q.get('limit'), '10');
    assert.equal(audit.requests.at(-1)?.headers['x-request-id'], 'rid-audit');
    const own = await call(`${gw.url}/api/audit/events?ownerId=${USER_A}&cursor=c7`, {
      headers: asA,
    });
    assert.equal(own.status, 200);
    assert.equal((own.body as { nextCursor: null }).nextCursor, null);
  });

  it("a member asking for someone else's events gets 403 FORBIDDEN without reaching audit", async () => {
    const before = audit.requests.length;
    const r = await call(`${gw.url}/api/audit/events?ownerId=${randomUUID()}`, { headers: asA });
    assert.equal(r.status, 403);
    assert.equal(codeOf(r), 'FORBIDDEN');
    assert.equal(audit.requests.length, before);
  });

  it('an admin reads everyone or any owner', async () => {
    const all = await call(`${gw.url}/api/audit/events`, { headers: asAdmin });
    assert.equal(all.status, 200);
    assert.equal(lastQuery().get('ownerId'), null);
    const someone = randomUUID();
    await call(`${gw.url}/api/audit/events?ownerId=${someone}`, { headers: asAdmin });
    assert.equal(lastQuery().get('ownerId'), someone);
  });

  it('bad queries are 400 here or relayed from audit with our request id', async () => {
    for (const qs of [
      'limit=0',
      'limit=201',
      'limit=abc',
      'ownerId=nope',
      'unknown=1',
      'action=a&action=b',
      `cursor=${'c'.repeat(65)}`,
    ]) {
      const r = await call(`${gw.url}/api/audit/events?${qs}`, { headers: asAdmin });
      assert.equal(r.status, 400, qs);
      assert.equal(codeOf(r), 'VALIDATION_FAILED');
    }
    const relayed = await call(`${gw.url}/api/audit/events?cursor=unknown`, {
      headers: { ...asA, 'x-request-id': 'rid-bad' },
    });
    assert.equal(relayed.status, 400);
    assert.equal(codeOf(relayed), 'VALIDATION_FAILED');
    assert.equal((relayed.body as { error: { requestId: string } }).error.requestId, 'rid-bad');
  });

  it('503 when audit is slow or failing, 502 when its answer is garbled', async () => {
    for (const [mode, status] of [
      ['hang', 503],
      ['error', 503],
      ['garbage', 502],
    ] as const) {
      audit.mode = mode;
      const r = await call(`${gw.url}/api/audit/events`, { headers: asA });
      assert.equal(r.status, status, mode);
    }
    audit.mode = 'ok';
  });
});
