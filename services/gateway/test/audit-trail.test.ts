// Verify, alerts, filtered events and the signed export download, relayed to audit. Real: the app,
// Redis and the audit queue. Stand-ins: auth (token table) and an audit service speaking the
// internal contracts (/internal/verify, /internal/alerts, /internal/export, /internal/events).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { AuditJob, auditEventsOf } from '@securevault/contracts';
import { signLink, verifyLink } from '../src/routes/audit-export.ts';
import {
  ADMIN,
  USER_A,
  USER_B,
  asA,
  asAdmin,
  call,
  codeOf,
  startAuthStandin,
  startGateway,
  type Gateway,
  type Standin,
} from './helpers.ts';

const EXPORT_ROWS = 20_000;

interface AuditStandin {
  url: string;
  queries: URL[];
  close(): Promise<void>;
}

/** The audit service's internal API as the contracts define it, recording each query. */
async function startAudit(): Promise<AuditStandin> {
  const queries: URL[] = [];
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    queries.push(url);
    const json = (status: number, body: unknown) =>
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    if (url.pathname === '/internal/verify') {
      if (url.searchParams.get('fromSeq') === '999') {
        return json(400, { error: { code: 'VALIDATION_FAILED', message: 'query is invalid' } });
      }
      return json(200, {
        valid: false,
        checked: 12,
        firstBrokenSeq: '12',
        reason: 'hash_mismatch',
        head: { seq: '11', hash: 'a'.repeat(64) },
        anchor: { seq: '0', hash: '0'.repeat(64), kind: 'genesis' },
      });
    }
    if (url.pathname === '/internal/alerts') {
      const ownerId = url.searchParams.get('ownerId');
      return json(200, {
        items: [
          {
            id: randomUUID(),
            time: new Date().toISOString(),
            rule: 'failed_logins',
            subject: '198.51.100.1',
            ownerId,
            eventSeq: '42',
            details: { count: 10 },
          },
        ],
        nextCursor: null,
      });
    }
    if (url.pathname === '/internal/events') return json(200, { items: [], nextCursor: null });
    if (url.pathname === '/internal/export') {
      if (url.searchParams.get('format') === 'csv') {
        res.writeHead(200, { 'content-type': 'text/csv' }).end('seq,id\r\n1,x\r\n');
        return;
      }
      // Many rows written as the socket drains, like the real service's paged stream.
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      let i = 0;
      const pump = () => {
        while (i < EXPORT_ROWS) {
          i++;
          if (
            !res.write(
              `${JSON.stringify({ seq: String(i), owner: url.searchParams.get('ownerId') })}\n`,
            )
          ) {
            res.once('drain', pump);
            return;
          }
        }
        res.end();
      };
      pump();
      return;
    }
    json(404, { error: { code: 'NOT_FOUND', message: 'no' } });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    queries,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

describe('audit trail through the gateway', () => {
  let auth: Standin;
  let audit: AuditStandin;
  let gw: Gateway;
  const KEY = 'k'.repeat(40);

  before(async () => {
    auth = await startAuthStandin();
    audit = await startAudit();
    gw = await startGateway({
      AUTH_URL: auth.url,
      AUDIT_URL: audit.url,
      AUTH_TIMEOUT_MS: '2000',
      AUDIT_EXPORT_SIGNING_KEY: KEY,
    });
  });
  after(async () => {
    await gw.close();
    await auth.close();
    await audit.close();
  });

  const last = () => audit.queries.at(-1) ?? new URL('http://x/');

  it('GET /api/audit/verify: admins get the chain report; members are refused', async () => {
    const r = await call(`${gw.url}/api/audit/verify?fromSeq=5&toSeq=20`, { headers: asAdmin });
    assert.equal(r.status, 200);
    assert.deepEqual(
      [(r.body as { valid: boolean }).valid, (r.body as { firstBrokenSeq: string }).firstBrokenSeq],
      [false, '12'],
    );
    assert.equal(r.headers.get('cache-control'), 'no-store');
    assert.equal(last().pathname, '/internal/verify');
    assert.equal(last().searchParams.get('fromSeq'), '5');
    assert.equal(last().searchParams.get('toSeq'), '20');
    const member = await call(`${gw.url}/api/audit/verify`, { headers: asA });
    assert.equal(member.status, 403);
    assert.equal(codeOf(member), 'FORBIDDEN');
    assert.equal((await call(`${gw.url}/api/audit/verify`)).status, 401);
    const bad = await call(`${gw.url}/api/audit/verify?fromSeq=-1`, { headers: asAdmin });
    assert.equal(codeOf(bad), 'VALIDATION_FAILED');
    const refused = await call(`${gw.url}/api/audit/verify?fromSeq=999`, { headers: asAdmin });
    assert.equal(refused.status, 400);
    const post = await call(`${gw.url}/api/audit/verify`, { method: 'POST', headers: asAdmin });
    assert.equal(post.status, 405);
  });

  it('GET /api/audit/alerts: members see their own, admins anyone’s', async () => {
    const mine = await call(`${gw.url}/api/audit/alerts`, { headers: asA });
    assert.equal(mine.status, 200);
    assert.equal(last().searchParams.get('ownerId'), USER_A);
    const other = await call(`${gw.url}/api/audit/alerts?ownerId=${USER_B}`, { headers: asA });
    assert.equal(other.status, 403);
    const all = await call(`${gw.url}/api/audit/alerts?rule=failed_logins&limit=5`, {
      headers: asAdmin,
    });
    assert.equal(all.status, 200);
    assert.equal(last().searchParams.get('ownerId'), null);
    assert.equal(last().searchParams.get('rule'), 'failed_logins');
    assert.equal((all.body as { items: unknown[] }).items.length, 1);
    const b = await call(`${gw.url}/api/audit/alerts?ownerId=${USER_B}`, { headers: asAdmin });
    assert.equal((b.body as { items: Array<{ ownerId: string }> }).items[0]?.ownerId, USER_B);
  });

  it('GET /api/audit/events passes actor, target, outcome and time filters through', async () => {
    const from = '2026-11-01T00:00:00Z';
    const r = await call(
      `${gw.url}/api/audit/events?actorId=u1&targetType=email&targetId=e1&outcome=failure&from=${from}&to=2026-11-02T00:00:00Z`,
      { headers: asA },
    );
    assert.equal(r.status, 200);
    const q = last().searchParams;
    assert.deepEqual(
      ['actorId', 'targetType', 'targetId', 'outcome', 'from', 'ownerId'].map((k) => q.get(k)),
      ['u1', 'email', 'e1', 'failure', from, USER_A],
    );
    const bad = await call(`${gw.url}/api/audit/events?outcome=maybe`, { headers: asA });
    assert.equal(codeOf(bad), 'VALIDATION_FAILED');
  });

  it('GET /api/audit/export gives a signed 5-minute link that streams an attachment and is audited', async () => {
    const r = await call(`${gw.url}/api/audit/export?action=auth.`, { headers: asA });
    assert.equal(r.status, 200);
    const link = r.body as { url: string; expiresAt: string; format: string };
    assert.equal(link.format, 'ndjson');
    const ttl = Date.parse(link.expiresAt) - Date.now();
    assert.ok(ttl > 290_000 && ttl <= 300_000, String(ttl));
    assert.match(link.url, /^\/api\/audit\/export\/download\?token=[\w-]+\.[\w-]+$/);

    // No cookie or key: the link alone downloads (what a browser does).
    const res = await fetch(`${gw.url}${link.url}`);
    assert.equal(res.status, 200);
    assert.match(
      res.headers.get('content-disposition') ?? '',
      /^attachment; filename="securevault-audit-\d{8}T\d{6}\.ndjson"$/,
    );
    assert.match(res.headers.get('content-type') ?? '', /application\/x-ndjson/);
    assert.equal(res.headers.get('cache-control'), 'no-store');
    // Read as a stream, line by line, to the end.
    let lines = 0;
    let tail = '';
    const decoder = new TextDecoder();
    for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
      const text = tail + decoder.decode(chunk, { stream: true });
      const parts = text.split('\n');
      tail = parts.pop() ?? '';
      for (const p of parts) {
        assert.equal((JSON.parse(p) as { owner: string }).owner, USER_A);
        lines++;
      }
    }
    assert.equal(lines, EXPORT_ROWS);
    const q = last().searchParams;
    assert.equal(last().pathname, '/internal/export');
    assert.deepEqual(
      [q.get('ownerId'), q.get('action'), q.get('format')],
      [USER_A, 'auth.', 'ndjson'],
    );

    // The export itself is an audit event on the real queue.
    const jobs = await gw.auditQueue.getJobs(['waiting', 'delayed', 'active', 'completed']);
    const exported = jobs
      .flatMap((j) => auditEventsOf(AuditJob.parse(j.data)))
      .find((e) => e.action === 'audit.exported');
    assert.ok(exported, 'audit.exported emitted');
    assert.equal(exported.actor.id, USER_A);
    assert.equal(exported.ownerId, USER_A);
    assert.equal(exported.metadata.format, 'ndjson');
  });

  it('admins export everyone as CSV; members cannot widen their scope', async () => {
    const r = await call(`${gw.url}/api/audit/export?format=csv`, { headers: asAdmin });
    const res = await fetch(`${gw.url}${(r.body as { url: string }).url}`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-disposition') ?? '', /\.csv"$/);
    assert.equal(await res.text(), 'seq,id\r\n1,x\r\n');
    assert.equal(last().searchParams.get('ownerId'), null);
    const wide = await call(`${gw.url}/api/audit/export?ownerId=${ADMIN}`, { headers: asA });
    assert.equal(wide.status, 403);
    assert.equal(
      (await call(`${gw.url}/api/audit/export?format=xml`, { headers: asA })).status,
      400,
    );
    assert.equal((await call(`${gw.url}/api/audit/export`)).status, 401);
  });

  it('with ?redirect=true sends a browser straight to the signed link (303)', async () => {
    const res = await fetch(`${gw.url}/api/audit/export?format=csv&redirect=true`, {
      headers: asA,
      redirect: 'manual',
    });
    assert.equal(res.status, 303);
    const location = res.headers.get('location') ?? '';
    assert.match(location, /^\/api\/audit\/export\/download\?token=/);
    const file = await fetch(`${gw.url}${location}`);
    assert.equal(file.status, 200);
    assert.match(file.headers.get('content-disposition') ?? '', /\.csv"$/);
    assert.equal(last().searchParams.get('ownerId'), USER_A);
    const bad = await call(`${gw.url}/api/audit/export?redirect=yes`, { headers: asA });
    assert.equal(codeOf(bad), 'VALIDATION_FAILED');
  });

  it('refuses a tampered, forged, malformed or expired link with 403', async () => {
    const r = await call(`${gw.url}/api/audit/export`, { headers: asA });
    const token =
      new URL((r.body as { url: string }).url, 'http://x').searchParams.get('token') ?? '';
    const [payload, mac] = token.split('.');
    const claims = JSON.parse(Buffer.from(payload ?? '', 'base64url').toString()) as Parameters<
      typeof signLink
    >[1];
    // Widen the owner without re-signing.
    const widened = Buffer.from(JSON.stringify({ ...claims, o: null })).toString('base64url');
    const key = Buffer.from(KEY);
    const expired = signLink(key, { ...claims, exp: Math.floor(Date.now() / 1000) - 1 });
    const forged = signLink(Buffer.from('x'.repeat(40)), claims);
    const before = audit.queries.length;
    for (const t of [
      `${widened}.${mac}`,
      expired,
      forged,
      `${payload}.`,
      'not-a-token-at-all',
      `${token}.x`,
    ]) {
      const res = await call(`${gw.url}/api/audit/export/download?token=${encodeURIComponent(t)}`);
      assert.equal(res.status, 403, t);
      assert.equal(codeOf(res), 'FORBIDDEN');
    }
    assert.equal((await call(`${gw.url}/api/audit/export/download`)).status, 400);
    // Nothing reached the audit service.
    assert.equal(audit.queries.length, before);
    assert.ok(verifyLink(key, token, Math.floor(Date.now() / 1000)));
    assert.equal(verifyLink(key, token, claims.exp), undefined);
  });
});

describe('audit export with the audit service down', () => {
  it('answers 503 and emits no audit.exported', async () => {
    const auth = await startAuthStandin();
    const gw = await startGateway({
      AUTH_URL: auth.url,
      AUDIT_URL: 'http://127.0.0.1:1',
      AUTH_TIMEOUT_MS: '300',
    });
    try {
      const r = await call(`${gw.url}/api/audit/export`, { headers: asA });
      const res = await call(`${gw.url}${(r.body as { url: string }).url}`);
      assert.equal(res.status, 503);
      assert.equal(codeOf(res), 'SERVICE_UNAVAILABLE');
      const jobs = await gw.auditQueue.getJobs(['waiting', 'delayed', 'active', 'completed']);
      assert.equal(
        jobs
          .flatMap((j) => auditEventsOf(AuditJob.parse(j.data)))
          .filter((e) => e.action === 'audit.exported').length,
        0,
      );
      assert.equal((await call(`${gw.url}/api/audit/verify`, { headers: asAdmin })).status, 503);
    } finally {
      await gw.close();
      await auth.close();
    }
  });
});
