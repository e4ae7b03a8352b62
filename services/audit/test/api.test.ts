// The internal verify, export, stats and filtered-events endpoints over real HTTP on a real, fresh
// Postgres database; nothing is faked.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { sql } from 'kysely';
import {
  ChainVerification,
  StatsReport,
  type StoredAuditEvent,
  type AuditEvent,
} from '@securevault/contracts';
import { listen, type HttpServer } from '@securevault/service-kit';
import { createApp } from '../src/app.ts';
import { canonicalize } from '../src/canonical.ts';
import { GENESIS_HASH } from '../src/chain.ts';
import { createHash } from 'node:crypto';
import { CSV_COLUMNS, csvField } from '../src/export.ts';
import { refreshStats } from '../src/maintenance.ts';
import { storeBatch } from '../src/processor.ts';
import {
  logger,
  migratedDatabase,
  sampleEvent,
  testMetrics,
  type MigratedDatabase,
} from './helpers.ts';

const VERIFY = fileURLToPath(new URL('../src/verify-export.ts', import.meta.url));

function runVerifier(input: string, args: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--conditions=securevault-source', VERIFY, ...args], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('close', (code) => resolve({ code, out }));
    child.stdin.end(input);
  });
}

void describe('internal API: verify, export, stats, filters', () => {
  let mdb: MigratedDatabase;
  let server: HttpServer;
  let base: string;
  const metrics = testMetrics();
  const alice = randomUUID();
  const bob = randomUUID();
  const events: AuditEvent[] = [];

  before(async () => {
    mdb = await migratedDatabase();
    server = await listen(createApp({ db: mdb.database.db, logger, metrics }), 0, '127.0.0.1');
    base = `http://127.0.0.1:${server.port}`;
    const today = new Date();
    const yesterday = new Date(today.getTime() - 86_400_000);
    events.push(
      sampleEvent({ action: 'email.sent', ownerId: alice, time: yesterday.toISOString() }),
      sampleEvent({ action: 'email.sent', ownerId: alice }),
      sampleEvent({ action: 'email.failed', outcome: 'failure', ownerId: alice }),
      sampleEvent({
        action: 'ai.completed',
        ownerId: alice,
        metadata: { promptTokens: 10, completionTokens: 32, model: 'm' },
      }),
      sampleEvent({
        action: 'ai.completed',
        ownerId: bob,
        metadata: { promptTokens: 5, completionTokens: 7 },
        target: { type: 'generation', id: 'g-1' },
      }),
      sampleEvent({
        action: 'auth.login.failed',
        outcome: 'failure',
        ownerId: bob,
        actor: { type: 'user', id: 'bob-actor', ip: '203.0.113.1' },
        metadata: { note: '=HYPERLINK("http://x")', multi: 'a,b "c"' },
      }),
    );
    await storeBatch({ pool: mdb.database.pool, logger, metrics }, events);
  });
  after(async () => {
    await server.close();
    await mdb.close();
  });

  void it('verifies the chain, a range, and reports tampering', async () => {
    const res = await fetch(`${base}/internal/verify`);
    assert.equal(res.status, 200);
    const body = ChainVerification.parse(await res.json());
    assert.equal(body.valid, true);
    assert.equal(body.checked, events.length);
    const ranged = ChainVerification.parse(
      await (await fetch(`${base}/internal/verify?fromSeq=2&toSeq=3`)).json(),
    );
    assert.deepEqual([ranged.valid, ranged.checked, ranged.anchor.kind], [true, 2, 'previous_row']);
    assert.equal((await fetch(`${base}/internal/verify?fromSeq=abc`)).status, 400);

    await sql`update audit.events set outcome = 'success' where seq = 3`.execute(mdb.database.db);
    const broken = ChainVerification.parse(await (await fetch(`${base}/internal/verify`)).json());
    assert.deepEqual(
      [broken.valid, broken.firstBrokenSeq, broken.reason],
      [false, '3', 'hash_mismatch'],
    );
    await sql`update audit.events set outcome = 'failure' where seq = 3`.execute(mdb.database.db);
  });

  void it('filters events by actor, target, outcome and time range', async () => {
    const list = async (qs: string) => {
      const res = await fetch(`${base}/internal/events?${qs}`);
      assert.equal(res.status, 200, qs);
      return ((await res.json()) as { items: StoredAuditEvent[] }).items.map((i) => i.id);
    };
    assert.deepEqual(await list('actorId=bob-actor'), [events[5]?.id]);
    assert.deepEqual(await list('targetType=generation&targetId=g-1'), [events[4]?.id]);
    assert.deepEqual(await list(`outcome=failure&ownerId=${alice}`), [events[2]?.id]);
    const from = new Date(Date.now() - 3_600_000).toISOString();
    assert.equal((await list(`from=${from}&ownerId=${alice}`)).length, 3);
    assert.deepEqual(await list(`to=${from}`), [events[0]?.id]);
    assert.equal((await fetch(`${base}/internal/events?outcome=maybe`)).status, 400);
    assert.equal((await fetch(`${base}/internal/events?from=yesterday`)).status, 400);
  });

  void it('exports NDJSON that an outside verifier can re-hash, oldest first', async () => {
    const res = await fetch(`${base}/internal/export`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /application\/x-ndjson/);
    const lines = (await res.text()).trimEnd().split('\n');
    assert.equal(lines.length, events.length);
    // The external verification docs/audit.md describes: drop the hashes, canonicalise, chain.
    let prev = GENESIS_HASH;
    for (const line of lines) {
      const { prevHash, hash, ...event } = JSON.parse(line) as Record<string, unknown>;
      assert.equal(prevHash, prev);
      const recomputed = createHash('sha256')
        .update(canonicalize(event) + prev)
        .digest('hex');
      assert.equal(recomputed, hash);
      prev = hash as string;
    }
    const mine = await (await fetch(`${base}/internal/export?ownerId=${bob}&action=ai.`)).text();
    assert.equal(mine.trimEnd().split('\n').length, 1);
    assert.equal((await fetch(`${base}/internal/export?format=xml`)).status, 400);
  });

  void it('verifies an export offline with the verify-export CLI, and catches an edited line', async () => {
    const text = await (await fetch(`${base}/internal/export`)).text();
    const ok = await runVerifier(text, ['--prev', 'genesis']);
    assert.equal(ok.code, 0, ok.out);
    const result = JSON.parse(ok.out) as { valid: boolean; checked: number; lastHash: string };
    assert.equal(result.valid, true);
    assert.equal(result.checked, events.length);
    const head = ChainVerification.parse(
      await (await fetch(`${base}/internal/verify`)).json(),
    ).head;
    assert.equal(result.lastHash, head?.hash);

    const lines = text.trimEnd().split('\n');
    lines[2] = (lines[2] ?? '').replace('"outcome":"failure"', '"outcome":"success"');
    const edited = await runVerifier(lines.join('\n'), []);
    assert.equal(edited.code, 1);
    assert.match(edited.out, /"seq":"3","reason":"hash_mismatch"/);
    const dropped = await runVerifier([lines[0], lines[1], lines[3]].join('\n'), []);
    assert.match(dropped.out, /"seq":"4","reason":"prev_hash_mismatch"/);
    assert.match((await runVerifier('nope', [])).out, /not JSON/);
  });

  void it('exports CSV with a header, quoting, and formulas neutralised', async () => {
    const res = await fetch(`${base}/internal/export?format=csv&actorId=bob-actor`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /text\/csv/);
    const text = await res.text();
    const [header, row, end] = text.split('\r\n');
    assert.equal(header, CSV_COLUMNS.join(','));
    assert.equal(end, '');
    assert.ok(row?.startsWith(`6,${events[5]?.id},`));
    assert.ok(
      row?.includes('"{""note"":""=HYPERLINK(\\""http://x\\"")"",""multi"":""a,b \\""c\\""""}"'),
      row,
    );
    assert.equal(csvField('=1+1'), "'=1+1");
    assert.equal(csvField('-2'), "'-2");
    assert.equal(csvField('@x,y'), `"'@x,y"`);
    assert.equal(csvField('a"b'), '"a""b"');
    assert.equal(csvField(null), '');
  });

  void it('answers stats from the materialized view after a refresh, with its freshness', async () => {
    const stale = StatsReport.parse(await (await fetch(`${base}/internal/stats`)).json());
    assert.equal(stale.totals.emailsSent, 0);
    const at = await refreshStats(mdb.database.db, { logger, metrics });
    const all = StatsReport.parse(await (await fetch(`${base}/internal/stats?days=7`)).json());
    assert.equal(all.refreshedAt, at.toISOString());
    assert.deepEqual(all.totals, {
      emailsSent: 2,
      emailsFailed: 1,
      generations: 2,
      promptTokens: 15,
      completionTokens: 39,
    });
    assert.equal(all.days.length, 2);
    assert.equal(all.days[0]?.emailsSent, 1);
    const users = Object.fromEntries((all.users ?? []).map((u) => [u.ownerId ?? 'none', u]));
    assert.equal(users[alice]?.generations, 1);
    assert.equal(users[bob]?.promptTokens, 5);
    const mine = StatsReport.parse(
      await (await fetch(`${base}/internal/stats?ownerId=${bob}`)).json(),
    );
    assert.equal(mine.users, undefined);
    assert.deepEqual(mine.totals, {
      emailsSent: 0,
      emailsFailed: 0,
      generations: 1,
      promptTokens: 5,
      completionTokens: 7,
    });
    const today = StatsReport.parse(await (await fetch(`${base}/internal/stats?days=1`)).json());
    assert.equal(today.totals.emailsSent, 1);
    assert.equal((await fetch(`${base}/internal/stats?days=0`)).status, 400);
    const refreshed = await metrics.get('audit_stats_refresh_total').get();
    assert.equal(refreshed.values.find((v) => v.labels.outcome === 'success')?.value, 1);
  });

  void it('streams an export over many pages in order, to a slow reader', async () => {
    const many = Array.from({ length: 2500 }, (_, i) =>
      sampleEvent({ action: 'apikey.created', metadata: { i, pad: 'x'.repeat(400) } }),
    );
    for (let i = 0; i < many.length; i += 500) {
      await storeBatch({ pool: mdb.database.pool, logger, metrics }, many.slice(i, i + 500));
    }
    const res = await fetch(`${base}/internal/export?action=apikey.`);
    assert.equal(res.status, 200);
    let seen = 0;
    let tail = '';
    let lastSeq = 0;
    const decoder = new TextDecoder();
    for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
      // Read slowly so the server has to wait for the socket to drain.
      await new Promise((r) => setImmediate(r));
      const parts = (tail + decoder.decode(chunk, { stream: true })).split('\n');
      tail = parts.pop() ?? '';
      for (const line of parts) {
        const e = JSON.parse(line) as { seq: string; metadata: { i: number } };
        assert.ok(Number(e.seq) > lastSeq, 'oldest first, no repeats');
        lastSeq = Number(e.seq);
        assert.equal(e.metadata.i, seen);
        seen++;
      }
    }
    assert.equal(seen, many.length);
  });
});
