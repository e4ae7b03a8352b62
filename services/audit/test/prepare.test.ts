// The chain's fast path (per-event work before the lock, one statement under it) against the
// definition it replaces: hashStored(rowToStored(row), prev) over the row as appendLocked built it.
// Pure functions on generated events, then real Postgres (a fresh database) for the append.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { AuditEvent } from '@securevault/contracts';
import { canonicalize } from '../src/canonical.ts';
import {
  GENESIS_HASH,
  copyText,
  hashPrepared,
  hashStored,
  prepareEvent,
  verifyChain,
  type ChainedRow,
} from '../src/chain.ts';
import { asJsonb, eventToRow, rowToStored, storedCanonicalParts } from '../src/db/events.ts';
import { maskEvent } from '../src/mask.ts';
import { storeBatch } from '../src/processor.ts';
import {
  logger,
  migratedDatabase,
  sampleEvent,
  testMetrics,
  type MigratedDatabase,
} from './helpers.ts';

/** RFC 8785 as canonical.ts wrote it before it was tuned: entries, filter, sort, map, join. */
function referenceCanonicalize(value: unknown): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError('canonical JSON has no NaN or Infinity');
      return JSON.stringify(value);
    case 'string':
      if (!value.isWellFormed()) throw new TypeError('canonical JSON strings must be well formed');
      return JSON.stringify(value);
    case 'object': {
      if (Array.isArray(value)) return `[${value.map((v) => referenceCanonicalize(v)).join(',')}]`;
      const entries = Object.entries(value as Record<string, unknown>).filter(
        ([, v]) => v !== undefined,
      );
      entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      return `{${entries.map(([k, v]) => `${referenceCanonicalize(k)}:${referenceCanonicalize(v)}`).join(',')}}`;
    }
    default:
      throw new TypeError(`canonical JSON cannot carry a ${typeof value}`);
  }
}

/** The stored row exactly as eventToRow and appendLocked built it before the fast path. */
function referenceRow(event: AuditEvent, seq: string): Omit<ChainedRow, 'prev_hash' | 'hash'> {
  return {
    id: event.id,
    seq,
    time: new Date(new Date(event.time).getTime()),
    received_at: new Date(),
    source: event.source,
    actor_type: event.actor.type,
    actor_id: event.actor.id ?? null,
    api_key_id: event.actor.apiKeyId ?? null,
    ip: event.actor.ip ?? null,
    user_agent: event.actor.userAgent ?? null,
    action: event.action,
    target_type: event.target?.type ?? null,
    target_id: event.target?.id ?? null,
    outcome: event.outcome,
    owner_id: event.ownerId ?? null,
    request_id: event.requestId ?? null,
    trace_id: event.traceId ?? null,
    metadata: JSON.parse(JSON.stringify(event.metadata)) as Record<string, unknown>,
  };
}

/** A small deterministic generator (mulberry32), so a failure names a reproducible seed. */
function random(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(items: readonly T[]): T => items[int(items.length)] as T;
  // Quotes, backslashes, controls, line separators, accents, combining marks, RTL, CJK, emoji.
  const pieces = [
    'a',
    'Z',
    '0',
    ' ',
    '"',
    '\\',
    '/',
    '\n',
    '\t',
    '\u0000',
    '\u001f',
    '\u007f',
    '\u2028',
    'é',
    'e\u0301',
    'ß',
    '\u05e9\u05dc\u05d5\u05dd',
    '漢字',
    '😀',
    '👩‍💻',
    '\ufeff',
    '€',
  ];
  const text = (max: number) => Array.from({ length: int(max + 1) }, () => pick(pieces)).join('');
  const keys = ['a', 'b', 'A', '1', '10', '2', '', 'seq', '__proto__', 'é', '😀', 'z'];
  const numbers = [0, -0, 1, -1, 0.1, 1e21, 1e-7, 5e-324, 2 ** 53, 333333333.3333333, -42.5];
  const json = (depth: number): unknown => {
    switch (int(depth > 0 ? 7 : 4)) {
      case 0:
        return null;
      case 1:
        return int(2) === 0;
      case 2:
        return pick(numbers);
      case 3:
        return text(6);
      case 4:
        return Array.from({ length: int(4) }, () => json(depth - 1));
      default: {
        const out: Record<string, unknown> = {};
        for (let i = int(5); i > 0; i--) {
          // defineProperty: `__proto__` as a plain key, as JSON.parse makes it.
          Object.defineProperty(out, pick([...keys, text(3)]), {
            value: int(6) === 0 ? undefined : json(depth - 1),
            enumerable: true,
            writable: true,
            configurable: true,
          });
        }
        return out;
      }
    }
  };
  const maybe = <T>(value: () => T): T | undefined => (int(2) === 0 ? value() : undefined);
  const event = (): AuditEvent => {
    const ms = int(1000);
    const draft = {
      id: randomUUID(),
      // Microseconds on some: stored and hashed at millisecond precision.
      time: `2026-0${1 + int(9)}-1${int(10)}T0${int(10)}:1${int(10)}:2${int(10)}.${String(ms).padStart(3, '0')}${int(2) === 0 ? '456' : ''}Z`,
      source: pick(['gateway', 'auth', 'email-worker', 'ai-worker', 'audit'] as const),
      actor: {
        type: pick(['user', 'service', 'anonymous'] as const),
        id: int(3) === 0 ? null : text(8),
        apiKeyId: maybe(() => randomUUID()),
        ip: maybe(() => pick(['203.0.113.7', '2001:db8::1', text(4)])),
        userAgent: maybe(() => text(12)),
      },
      action: pick(['auth.login.succeeded', 'email.sent', 'ai.completed', 'audit.exported']),
      target: maybe(() => ({ type: `t${text(3)}`, id: text(8) })),
      outcome: pick(['success', 'failure', 'denied'] as const),
      ownerId: int(3) === 0 ? null : randomUUID(),
      requestId: maybe(() => text(8)),
      traceId: maybe(() => randomUUID().replaceAll('-', '')),
      metadata: json(3) as Record<string, unknown>,
    };
    if (typeof draft.metadata !== 'object' || draft.metadata === null) draft.metadata = {};
    if (Array.isArray(draft.metadata)) draft.metadata = { list: draft.metadata };
    // The contract drops the optional fields left undefined, as the queue's JSON would.
    return AuditEvent.parse(JSON.parse(JSON.stringify(draft)));
  };
  return { int, json, event, text };
}

/** COPY text fields back to values: the inverse of copyText, as Postgres reads them. */
function decodeCopyFields(line: string): Array<string | null> {
  return line
    .split('\t')
    .map((field) =>
      field === '\\N'
        ? null
        : field.replace(/\\(.)/g, (_, c: string) =>
            c === 'n' ? '\n' : c === 'r' ? '\r' : c === 't' ? '\t' : c,
          ),
    );
}

/** JSON values as they reach the hash (parsed from JSON, so no undefined and no holes). */
const jsonOnly = (value: unknown): unknown => JSON.parse(JSON.stringify(value ?? null));

void describe('canonicalize (tuned) against the reference', () => {
  void it('writes byte-identical canonical JSON for generated values', () => {
    const gen = random(8785);
    for (let i = 0; i < 2000; i++) {
      const value = jsonOnly(gen.json(4));
      assert.equal(canonicalize(value), referenceCanonicalize(value), `value ${i}`);
    }
  });

  void it('refuses an array hole instead of writing invalid JSON', () => {
    assert.throws(() => canonicalize([1, , 2]), /undefined/);
    assert.throws(() => canonicalize({ a: [undefined] }), /undefined/);
  });
});

void describe('asJsonb', () => {
  // What can reach it from a service's own events, besides JSON: each changes in the round trip.
  const odd = (): unknown[] => [
    -0,
    Number.NaN,
    Number.POSITIVE_INFINITY,
    undefined,
    new Date(0),
    () => 1,
    { toJSON: () => 'replaced' },
    Object.assign(Object.create(null) as object, { bare: 1 }),
    new Map([['k', 'v']]),
    [1, , 3],
    Object.assign(Object.create({ inherited: 1 }) as object, { own: 2 }),
  ];
  /** The value with some of its leaves replaced by `odd` ones (none when `rate` is 0). */
  const sprinkle = (value: unknown, gen: ReturnType<typeof random>, rate: number): unknown => {
    if (rate > 0 && gen.int(rate) === 0) {
      const choices = odd();
      return choices[gen.int(choices.length)];
    }
    if (Array.isArray(value)) return value.map((v) => sprinkle(v, gen, rate));
    if (typeof value === 'object' && value !== null) {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(value)) {
        Object.defineProperty(out, k, {
          value: sprinkle(v, gen, rate),
          enumerable: true,
          writable: true,
          configurable: true,
        });
      }
      return out;
    }
    return value;
  };

  void it('gives what the JSON round trip gives, key order included', () => {
    const gen = random(2111);
    let kept = 0;
    for (let i = 0; i < 3000; i++) {
      const value = { root: sprinkle(gen.json(4), gen, [0, 4, 12][i % 3] as number) };
      const roundTrip = JSON.parse(JSON.stringify(value)) as Record<string, unknown>;
      const stored = asJsonb(value);
      assert.deepEqual(stored, roundTrip, `value ${i}`);
      assert.equal(JSON.stringify(stored), JSON.stringify(roundTrip), `value ${i}`);
      if (stored === value) kept++;
    }
    // The shortcut is taken (plain JSON, most of the values without odd leaves) and not always.
    assert.ok(kept > 500 && kept < 2900, `${kept} of 3000 returned as they were`);
  });

  void it('returns plain JSON as it is and copies anything else', () => {
    const plain = { a: [1, 'x', null, { b: false }], c: -1.5 };
    assert.equal(asJsonb(plain), plain);
    for (const value of odd()) {
      const holder = { value };
      assert.notEqual(asJsonb(holder), holder);
      assert.deepEqual(asJsonb(holder), JSON.parse(JSON.stringify(holder)));
    }
  });
});

void describe('storedCanonicalParts', () => {
  void it('is canonicalize(rowToStored(row)) split around the seq, for any seq', () => {
    const gen = random(3);
    for (let i = 0; i < 500; i++) {
      const row = eventToRow(maskEvent(gen.event()));
      const { before, after } = storedCanonicalParts(row);
      for (const seq of ['1', '10', '9223372036854775807']) {
        assert.equal(
          before + canonicalize(seq) + after,
          canonicalize(rowToStored({ ...row, seq })),
        );
      }
    }
  });
});

void describe('copyText', () => {
  void it("escapes what COPY's text format reads specially, and writes null as \\N", () => {
    assert.equal(copyText(null), '\\N');
    assert.equal(copyText('plain ünïcödé 😀'), 'plain ünïcödé 😀');
    assert.equal(copyText('a\\b\tc\nd\re'), 'a\\\\b\\tc\\nd\\re');
    // The two characters backslash and N are text, not null.
    assert.equal(copyText('\\N'), '\\\\N');
    assert.equal(decodeCopyFields(`${copyText('x\ty')}\t${copyText(null)}`).length, 2);
  });
});

void describe('prepareEvent and hashPrepared', () => {
  void it('hash exactly as hashStored(rowToStored(row), prev) did, for varied masked events', () => {
    const gen = random(20261121);
    const seqs = ['1', '9', '10', '99', '100', '4294967296', '9223372036854775807'];
    let prev = GENESIS_HASH;
    for (let i = 0; i < 1500; i++) {
      const event = maskEvent(gen.event());
      const seq = seqs[i % seqs.length] as string;
      const prepared = prepareEvent(event);
      const expected = hashStored(rowToStored(referenceRow(event, seq)), prev);
      assert.equal(
        hashPrepared(prepared, seq, prev),
        expected,
        `event ${i}: ${JSON.stringify(event)}`,
      );
      // The row the fast path stores is the one the reference hashed.
      const { seq: _seq, received_at: _at, ...reference } = referenceRow(event, seq);
      assert.deepEqual(prepared.row, reference);
      // The COPY fields decode to the same row (metadata as canonical JSON, which jsonb parses
      // to the same value as JSON.stringify's text; the database test below reads it back).
      assert.deepEqual(decodeCopyFields(prepared.copyFields), [
        reference.id,
        reference.time.toISOString(),
        reference.source,
        reference.actor_type,
        reference.actor_id,
        reference.api_key_id,
        reference.ip,
        reference.user_agent,
        reference.action,
        reference.target_type,
        reference.target_id,
        reference.outcome,
        reference.owner_id,
        reference.request_id,
        reference.trace_id,
        canonicalize(reference.metadata),
      ]);
      prev = expected;
    }
  });

  void it('covers the optional fields absent, present and null', () => {
    const bare = sampleEvent({
      actor: { type: 'anonymous', id: null },
      ownerId: null,
      metadata: {},
    });
    const full = sampleEvent({
      actor: {
        type: 'user',
        id: 'u-1',
        apiKeyId: randomUUID(),
        ip: '198.51.100.4',
        userAgent: 'agent/2 (ünïcödé 😀)',
      },
      target: { type: 'email', id: '' },
      requestId: 'req-1',
      traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
      metadata: { nested: { list: [1, 'two', { three: 3 }], empty: {} }, '\u2028': '\u0000' },
    });
    for (const event of [bare, full]) {
      const seq = '12345';
      const prev = createHash('sha256').update(event.id).digest('hex');
      assert.equal(
        hashPrepared(prepareEvent(event), seq, prev),
        hashStored(rowToStored(referenceRow(event, seq)), prev),
      );
    }
    // seq sits between requestId and source in RFC 8785 order; with no requestId, after ownerId.
    assert.match(prepareEvent(full).canonical.before, /"requestId":"req-1","seq":$/);
    assert.match(prepareEvent(bare).canonical.before, /"ownerId":null,"seq":$/);
    assert.match(prepareEvent(bare).canonical.after, /^,"source":/);
  });
});

void describe('appending prepared events (real Postgres)', () => {
  let mdb: MigratedDatabase;
  before(async () => {
    mdb = await migratedDatabase();
  });
  after(async () => {
    await mdb.close();
  });

  void it('stores generated events in order, past seq 9 → 10, re-hashing to the same chain', async () => {
    const deps = { pool: mdb.database.pool, logger, metrics: testMetrics() };
    const gen = random(77);
    // Events Postgres accepts: jsonb has no \u0000.
    const events: AuditEvent[] = [];
    while (events.length < 60) {
      const event = gen.event();
      if (!JSON.stringify(maskEvent(event)).includes('\\u0000')) events.push(event);
    }
    const { rows: first } = await storeBatch(deps, events.slice(0, 25));
    const { rows: second } = await storeBatch(deps, events.slice(25));
    assert.deepEqual(
      [...first, ...second].map((r) => r.id),
      events.map((e) => e.id),
    );
    const stored = await mdb.chainRows();
    assert.deepEqual(
      stored.map((r) => r.id),
      events.map((e) => e.id),
    );
    // seq order is chain order, across batches, and received_at grows with seq.
    let prev = GENESIS_HASH;
    for (const [i, row] of stored.entries()) {
      assert.equal(row.seq, String(i + 1));
      assert.equal(row.prev_hash, prev);
      assert.equal(row.hash, hashStored(rowToStored(row), prev));
      assert.equal(row.hash, [...first, ...second][i]?.hash);
      if (i > 0) assert.ok(row.received_at >= (stored[i - 1] as ChainedRow).received_at);
      prev = row.hash;
    }
    const result = await verifyChain(mdb.database.db);
    assert.equal(result.valid, true);
    assert.equal(result.checked, 60);
  });

  void it('skips redelivered ids and repeats within a batch, whatever their case', async () => {
    const deps = { pool: mdb.database.pool, logger, metrics: testMetrics() };
    const [a, b, c, d] = [sampleEvent(), sampleEvent(), sampleEvent(), sampleEvent()];
    assert.ok(a && b && c && d);
    const head = (await mdb.chainRows()).at(-1);
    assert.ok(head);
    await storeBatch(deps, [a, b]);
    const { rows: written } = await storeBatch(deps, [
      c,
      { ...a, metadata: { changed: true } },
      d,
      { ...c, action: 'auth.logout' },
      { ...b, id: b.id.toUpperCase() },
    ]);
    assert.deepEqual(
      written.map((r) => [r.id, r.action]),
      [
        [c.id, c.action],
        [d.id, d.action],
      ],
    );
    const all = await mdb.chainRows();
    assert.deepEqual(
      all.slice(-4).map((r) => [r.id, BigInt(r.seq) - BigInt(head.seq)]),
      [
        [a.id, 1n],
        [b.id, 2n],
        [c.id, 3n],
        [d.id, 4n],
      ],
    );
    // Everything redelivered: nothing written, no seq spent.
    assert.deepEqual((await storeBatch(deps, [b, a, d])).rows, []);
    const { rows: next } = await storeBatch(deps, [sampleEvent()]);
    assert.equal(BigInt(next[0]?.seq ?? '0') - BigInt(head.seq), 5n);
    assert.equal((await verifyChain(mdb.database.db)).valid, true);
  });
});
