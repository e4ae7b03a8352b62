// The internal query API over real HTTP against a real, fresh Postgres database; nothing is faked.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { StoredAuditEvent, type AuditEvent } from '@securevault/contracts';
import { createDatabase, listen, type HttpServer } from '@securevault/service-kit';
import { freePort } from '@securevault/testing';
import { createApp, isStoreUnavailable } from '../src/app.ts';
import type { Database } from '../src/db/database.ts';
import { escapeLike } from '../src/db/events.ts';
import { recordEvent } from '../src/processor.ts';
import {
  logger,
  migratedDatabase,
  sampleEvent,
  testMetrics,
  type MigratedDatabase,
} from './helpers.ts';

interface Page {
  items: StoredAuditEvent[];
  nextCursor: string | null;
}
interface ErrorReply {
  error: { code: string; message: string; requestId?: string; details?: Array<{ path: string }> };
}

void describe('GET /internal/events', () => {
  let mdb: MigratedDatabase;
  let server: HttpServer;
  let base: string;
  const alice = randomUUID();
  const bob = randomUUID();
  const events: AuditEvent[] = [];

  const get = async <T>(path: string, headers: Record<string, string> = {}) => {
    const res = await fetch(`${base}${path}`, { headers });
    return { res, body: (await res.json()) as T };
  };

  before(async () => {
    mdb = await migratedDatabase();
    const metrics = testMetrics();
    server = await listen(createApp({ db: mdb.database.db, logger, metrics }), 0, '127.0.0.1');
    base = `http://127.0.0.1:${server.port}`;
    const actions = [
      ['auth.login.failed', alice],
      ['auth.login.succeeded', alice],
      ['email.sent', alice],
      ['security.rate_limited', bob],
      ['security.ratexlimited', bob],
      ['auth.logout', bob],
      ['ai.completed', null],
    ] as const;
    for (const [action, ownerId] of actions) {
      const event = sampleEvent({
        action,
        ownerId,
        outcome: action.endsWith('failed') ? 'failure' : 'success',
        target: action === 'email.sent' ? { type: 'email', id: randomUUID() } : undefined,
        requestId: `req-${action}`,
        metadata: { action, email: 'someone@example.com' },
      });
      events.push(event);
      await recordEvent({ pool: mdb.database.pool, logger, metrics }, event);
    }
  });
  after(async () => {
    await server.close();
    await mdb.close();
  });

  void it('answers every owner’s events newest first in the contract’s shape', async () => {
    const { res, body } = await get<Page>('/internal/events', { 'x-request-id': 'relay-1' });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('x-request-id'), 'relay-1');
    assert.equal(body.nextCursor, null);
    assert.deepEqual(
      body.items.map((e) => e.id),
      events.map((e) => e.id).reverse(),
    );
    const seqs = body.items.map((e) => BigInt(e.seq));
    assert.deepEqual(
      seqs,
      [...seqs].sort((a, b) => (a < b ? 1 : -1)),
    );
    for (const item of body.items) StoredAuditEvent.parse(item);
    const sent = body.items.find((e) => e.action === 'email.sent');
    assert.ok(sent?.target);
    assert.equal(sent.metadata.email, 's***@example.com');
    const login = body.items.find((e) => e.action === 'auth.login.failed');
    const original = events[0];
    assert.ok(login && original);
    assert.equal('target' in login, false);
    assert.equal(login.time, original.time);
    assert.deepEqual(login.actor, original.actor);
    assert.equal(login.outcome, 'failure');
    assert.equal(login.requestId, 'req-auth.login.failed');
    assert.equal(body.items.find((e) => e.action === 'ai.completed')?.ownerId, null);
  });

  void it('filters by owner', async () => {
    const { body } = await get<Page>(`/internal/events?ownerId=${bob}`);
    assert.deepEqual(
      body.items.map((e) => e.action),
      ['auth.logout', 'security.ratexlimited', 'security.rate_limited'],
    );
    assert.ok(body.items.every((e) => e.ownerId === bob));
  });

  void it('filters by action prefix, with LIKE wildcards taken literally', async () => {
    const auth = await get<Page>('/internal/events?action=auth.');
    assert.deepEqual(
      auth.body.items.map((e) => e.action),
      ['auth.logout', 'auth.login.succeeded', 'auth.login.failed'],
    );
    const both = await get<Page>(`/internal/events?action=auth.login&ownerId=${alice}`);
    assert.equal(both.body.items.length, 2);
    const underscore = await get<Page>('/internal/events?action=security.rate_');
    assert.deepEqual(
      underscore.body.items.map((e) => e.action),
      ['security.rate_limited'],
    );
    const percent = await get<Page>('/internal/events?action=%25');
    assert.deepEqual(percent.body.items, []);
    assert.equal(escapeLike('a\\b%c_d'), 'a\\\\b\\%c\\_d');
  });

  void it('pages by cursor over more than one page without gaps or repeats', async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const query: string = cursor ? `&cursor=${cursor}` : '';
      const { res, body } = await get<Page>(`/internal/events?limit=3${query}`);
      assert.equal(res.status, 200);
      assert.ok(body.items.length <= 3);
      seen.push(...body.items.map((e) => e.id));
      if (body.nextCursor !== null) assert.equal(body.nextCursor, body.items.at(-1)?.seq);
      cursor = body.nextCursor;
      pages++;
    } while (cursor !== null && pages < 10);
    assert.equal(pages, 3);
    assert.deepEqual(seen, events.map((e) => e.id).reverse());
  });

  void it('ends with nextCursor null when the last page is exactly full', async () => {
    const { body } = await get<Page>(`/internal/events?ownerId=${alice}&limit=3`);
    assert.equal(body.items.length, 3);
    assert.equal(body.nextCursor, null);
  });

  for (const [query, path] of [
    ['limit=0', 'limit'],
    ['limit=201', 'limit'],
    ['limit=ten', 'limit'],
    ['limit=1&limit=2', 'limit'],
    ['ownerId=not-a-uuid', 'ownerId'],
    ['cursor=abc', 'cursor'],
    ['cursor=0', 'cursor'],
    ['cursor=-5', 'cursor'],
    ['cursor=9223372036854775808', 'cursor'],
    [`action=${'a'.repeat(101)}`, 'action'],
  ] as const) {
    void it(`refuses ?${query.slice(0, 30)} with 400 VALIDATION_FAILED`, async () => {
      const { res, body } = await get<ErrorReply>(`/internal/events?${query}`, {
        'x-request-id': 'bad-query',
      });
      assert.equal(res.status, 400);
      assert.equal(body.error.code, 'VALIDATION_FAILED');
      assert.equal(body.error.requestId, 'bad-query');
      assert.ok(body.error.details?.some((d) => d.path === path));
    });
  }

  void it('answers one event by id', async () => {
    const event = events[2];
    assert.ok(event);
    const { res, body } = await get<StoredAuditEvent>(`/internal/events/${event.id}`);
    assert.equal(res.status, 200);
    assert.equal(body.id, event.id);
    assert.equal(body.action, 'email.sent');
    StoredAuditEvent.parse(body);
    const own = await get<StoredAuditEvent>(`/internal/events/${event.id}?ownerId=${alice}`);
    assert.equal(own.res.status, 200);
  });

  void it('answers 404 for an unknown id or another owner’s event, 400 for a malformed one', async () => {
    const unknown = await get<ErrorReply>(`/internal/events/${randomUUID()}`);
    assert.equal(unknown.res.status, 404);
    assert.equal(unknown.body.error.code, 'NOT_FOUND');
    const other = await get<ErrorReply>(`/internal/events/${events[0]?.id}?ownerId=${bob}`);
    assert.equal(other.res.status, 404);
    const malformed = await get<ErrorReply>('/internal/events/123');
    assert.equal(malformed.res.status, 400);
    assert.equal(malformed.body.error.code, 'VALIDATION_FAILED');
    const badOwner = await get<ErrorReply>(`/internal/events/${randomUUID()}?ownerId=x`);
    assert.equal(badOwner.res.status, 400);
  });

  void it('answers 404 for unknown routes and 415 for non-JSON bodies', async () => {
    const missing = await get<ErrorReply>('/internal/nothing');
    assert.equal(missing.res.status, 404);
    assert.equal(missing.body.error.code, 'NOT_FOUND');
    const res = await fetch(`${base}/internal/events`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: 'x',
    });
    assert.equal(res.status, 415);
  });
});

void describe('GET /internal/events with Postgres unreachable', () => {
  void it('answers 503 SERVICE_UNAVAILABLE with Retry-After', async () => {
    const port = await freePort();
    const database = createDatabase<Database>({
      url: `postgres://postgres@127.0.0.1:${port}/audit`,
      logger,
      applicationName: 'audit-test',
    });
    const server = await listen(
      createApp({ db: database.db, logger, metrics: testMetrics() }),
      0,
      '127.0.0.1',
    );
    try {
      for (const path of ['/internal/events', `/internal/events/${randomUUID()}`]) {
        const res = await fetch(`http://127.0.0.1:${server.port}${path}`);
        assert.equal(res.status, 503);
        assert.equal(res.headers.get('retry-after'), '5');
        const body = (await res.json()) as ErrorReply;
        assert.equal(body.error.code, 'SERVICE_UNAVAILABLE');
        assert.doesNotMatch(JSON.stringify(body), /ECONNREFUSED|127\.0\.0\.1/);
      }
    } finally {
      await server.close();
      await database.close();
    }
  });

  void it('tells connection failures from other errors', () => {
    assert.equal(isStoreUnavailable({ code: '08006' }), true);
    assert.equal(isStoreUnavailable({ code: '57P01' }), true);
    assert.equal(isStoreUnavailable(new Error('timeout exceeded when trying to connect')), true);
    assert.equal(isStoreUnavailable({ code: '42P01' }), false);
    assert.equal(isStoreUnavailable(new Error('boom')), false);
    assert.equal(isStoreUnavailable(null), false);
  });
});
