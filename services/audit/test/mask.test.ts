// Unit tests of maskEvent / maskValue: pure functions, nothing real or faked involved.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { AuditEvent } from '@securevault/contracts';
import {
  MAX_ARRAY,
  MAX_DEPTH,
  MAX_STRING,
  TRUNCATED,
  escapeControls,
  isSecretKey,
  maskEvent,
  maskString,
  maskStringFully,
  maskValue,
} from '../src/mask.ts';
import { sampleEvent } from './helpers.ts';

void describe('maskString', () => {
  void it('masks email addresses to first character and domain', () => {
    assert.equal(maskString('john.doe@example.com'), 'j***@example.com');
    assert.equal(
      maskString('from a@b.io to Mary+tag@mail.example.org.'),
      'from a***@b.io to M***@mail.example.org.',
    );
  });

  void it('masks phone numbers keeping the last two digits', () => {
    assert.equal(maskString('call +33 6 12 34 56 78 now'), 'call +** * ** ** ** 78 now');
    assert.equal(maskString('(555) 123-4567'), '(***) ***-**67');
    assert.equal(maskString('06.12.34.56.78'), '**.**.**.**.78');
    assert.equal(maskString('0612345678'), '********78');
  });

  void it('masks card numbers that pass Luhn keeping the last four digits', () => {
    assert.equal(maskString('card 4111 1111 1111 1111'), 'card **** **** **** 1111');
    assert.equal(maskString('5500-0000-0000-0004'), '****-****-****-0004');
    assert.equal(maskString('378282246310005'), '***********0005');
    // 16 digits failing Luhn is not a card (and too long for a phone): left alone.
    assert.equal(maskString('4111111111111112'), '4111111111111112');
  });

  void it('masks national identifiers', () => {
    assert.equal(maskString('ssn 123-45-6789'), 'ssn ***-**-6789');
    assert.equal(maskString('1 85 05 78 006 084 36'), '* ** ** ** *** *** 36');
    assert.equal(maskString('1850578006084'), '***********84');
  });

  void it('leaves ids, dates, times, IPs, versions and short numbers readable', () => {
    for (const value of [
      '123e4567-e89b-12d3-a456-426614174000',
      '00000000-0000-4000-8000-000000000001',
      '2026-11-21T06:15:00.000Z',
      '2026-11-21 06:15:00',
      '192.168.100.200:8080',
      'v1.2.3',
      '4bf92f3577b34da6a3ce929d0e0e4736',
      'order 12345',
      'HTTP/1.1 503',
    ]) {
      assert.equal(maskString(value), value);
    }
  });

  void it('redacts credentials written inside text', () => {
    assert.equal(
      maskString('Authorization: Bearer abc.def.ghi'),
      'Authorization: Bearer [REDACTED]',
    );
    assert.equal(
      maskString('https://x.io/cb?code=abcd&token=zzz&page=2'),
      'https://x.io/cb?code=[REDACTED]&token=[REDACTED]&page=2',
    );
  });

  void it('escapes CR, LF and other control characters so no line can be forged', () => {
    const forged = 'ok\r\n{"level":"info","msg":"admin logged in"}\u2028x\u0000';
    const masked = maskString(forged);
    assert.doesNotMatch(masked, /[\r\n\u2028\u0000]/);
    assert.equal(masked, 'ok\\r\\n{"level":"info","msg":"admin logged in"}\\u2028x\\u0000');
    assert.equal(escapeControls('tab\tkept'), 'tab\tkept');
  });

  void it('truncates very long strings', () => {
    const masked = maskString('x'.repeat(MAX_STRING + 10));
    assert.equal(masked.length, MAX_STRING);
    assert.ok(masked.endsWith(TRUNCATED));
    assert.equal(maskString(masked), masked);
    // A cut through an emoji's surrogate pair must not leave half of it behind.
    const cut = maskString('x'.repeat(MAX_STRING - TRUNCATED.length - 1) + '😀'.repeat(5));
    assert.equal(cut.isWellFormed(), true);
  });

  void it('gives what every rule gives when it skips them (plain text and UUIDs)', () => {
    // Strings from pieces each rule reacts to, mixed with plain words: the shortcuts must never
    // keep a string the rules would change.
    const piece = fc.oneof(
      fc.constantFrom(
        ' ',
        'Bearer ',
        'basic ',
        'TOKEN ',
        'abcd.efgh',
        '@',
        'a@b.io',
        '?key=',
        '&code=',
        '=',
        '\n',
        '\r',
        '\t',
        '\u0000',
        '\u007f',
        '\u0085',
        '\u2028',
        '\ud800',
        '\udc00',
        '😀',
        '4111 1111 1111 1111',
        '+33 6 12 34 56 78',
        '123-45-6789',
        '٣',
        'é',
        '-',
        '.',
        '/',
      ),
      fc.string({ maxLength: 12 }),
      fc.uuid().map((u) => (u.length % 2 === 0 ? u.toUpperCase() : u)),
    );
    const text = fc.oneof(
      fc.array(piece, { maxLength: 8 }).map((parts) => parts.join('')),
      fc.uuid(),
      fc.string({ unit: 'binary', maxLength: 40 }),
      fc.constantFrom('x'.repeat(MAX_STRING), 'y'.repeat(MAX_STRING + 1)),
    );
    fc.assert(
      fc.property(text, (value) => {
        assert.equal(maskString(value), maskStringFully(value));
        // escapeControls returns most strings untouched: as the four passes would leave them.
        assert.equal(
          escapeControls(value),
          value
            .toWellFormed()
            .replace(/\r/g, '\\r')
            .replace(/\n/g, '\\n')
            .replace(
              /[\u0000-\u0008\u000b-\u001f\u007f\u0085\u2028\u2029]/g,
              (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
            ),
        );
      }),
      { numRuns: 3000, seed: 4242 },
    );
  });
});

void describe('isSecretKey', () => {
  void it('recognises credential names in any spelling', () => {
    for (const key of [
      'password',
      'newPassword',
      'PASSWD',
      'pwd',
      'token',
      'accessToken',
      'refresh_token',
      'secret',
      'clientSecret',
      'apiKey',
      'api_key',
      'x-api-key',
      'privateKey',
      'private_key',
      'cookie',
      'set-cookie',
      'Authorization',
      'sessionId',
      'key',
      'credentials',
      'signature',
    ]) {
      assert.equal(isSecretKey(key, 'value'), true, key);
    }
  });

  void it('keeps ids, usage counts and descriptions of credentials', () => {
    assert.equal(isSecretKey('apiKeyId', 'c0ffee00-0000-4000-8000-000000000000'), false);
    assert.equal(isSecretKey('promptTokens', 12), false);
    assert.equal(isSecretKey('maxTokens', 256), false);
    assert.equal(isSecretKey('tokenUsage', { totalTokens: 3 }), false);
    assert.equal(isSecretKey('keyPrefix', 'sv_ab12'), false);
    assert.equal(isSecretKey('tokenType', 'Bearer'), false);
    assert.equal(isSecretKey('email', 'a@b.io'), false);
    // A list of tokens is still tokens; an object under an id-like name is not an id.
    assert.equal(isSecretKey('tokens', ['t1']), true);
    assert.equal(isSecretKey('tokenIds', { raw: 'x' }), true);
  });
});

void describe('maskValue', () => {
  void it('removes secret-named keys at any depth, including arrays', () => {
    const input = {
      password: 'hunter2',
      nested: { deeper: { apiKey: 'sv_live_abc', keep: 1 }, list: [{ token: 't' }, { ok: true }] },
    };
    assert.deepEqual(maskValue(input), {
      nested: { deeper: { keep: 1 }, list: [{}, { ok: true }] },
    });
  });

  void it('masks strings inside arrays and keys', () => {
    assert.deepEqual(maskValue(['bob@example.com', 7, null, false]), [
      'b***@example.com',
      7,
      null,
      false,
    ]);
    assert.deepEqual(maskValue({ 'bob@example.com': 'x' }), { 'b***@example.com': 'x' });
  });

  void it('masks card numbers sent as JSON numbers but not ordinary numbers', () => {
    assert.deepEqual(maskValue({ cc: 4111111111111111, ms: 1732170000000, n: -1, f: 1.5 }), {
      cc: '************1111',
      ms: 1732170000000,
      n: -1,
      f: 1.5,
    });
  });

  void it('cuts structures deeper than the limit and very long arrays', () => {
    let deep: unknown = 'leaf';
    for (let i = 0; i < MAX_DEPTH + 5; i++) deep = { d: deep };
    let node = maskValue(deep) as Record<string, unknown>;
    let depth = 0;
    while (typeof node.d === 'object') {
      node = node.d as Record<string, unknown>;
      depth++;
    }
    assert.equal(node.d, TRUNCATED);
    assert.equal(depth, MAX_DEPTH - 1);
    const long = maskValue(Array.from({ length: MAX_ARRAY + 3 }, (_, i) => i)) as unknown[];
    assert.equal(long.length, MAX_ARRAY + 1);
    assert.equal(long.at(-1), TRUNCATED);
  });

  void it('drops values JSON cannot hold and keeps __proto__ as a plain field', () => {
    const input = JSON.parse('{"__proto__":{"polluted":true},"ok":1}') as Record<string, unknown>;
    const masked = maskValue({ ...input, fn: () => 1, big: 1n }) as Record<string, unknown>;
    assert.equal(Object.getPrototypeOf(masked), Object.prototype);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    assert.deepEqual(Object.keys(masked), ['__proto__', 'ok']);
    assert.deepEqual(maskValue([() => 1]), [null]);
  });
});

void describe('maskEvent', () => {
  void it('masks metadata, user agent, actor id and an email target, keeping the IP and ids', () => {
    const event = sampleEvent({
      actor: {
        type: 'anonymous',
        id: 'mallory@evil.example',
        ip: '198.51.100.4\r\n',
        userAgent: 'curl/8\r\nX-Forged: 1',
        apiKeyId: 'c0ffee00-0000-4000-8000-000000000000',
      },
      target: { type: 'user', id: 'alice@example.com' },
      requestId: 'req\n1',
      traceId: 'abc',
      metadata: {
        email: 'alice@example.com',
        password: 'hunter2',
        phone: '+1 415 555 0132',
        attempts: 3,
      },
    });
    const masked = maskEvent(event);
    assert.deepEqual(masked.actor, {
      type: 'anonymous',
      id: 'm***@evil.example',
      ip: '198.51.100.4\\r\\n',
      userAgent: 'curl/8\\r\\nX-Forged: 1',
      apiKeyId: 'c0ffee00-0000-4000-8000-000000000000',
    });
    assert.deepEqual(masked.target, { type: 'user', id: 'a***@example.com' });
    assert.equal(masked.requestId, 'req\\n1');
    assert.equal(masked.traceId, 'abc');
    assert.deepEqual(masked.metadata, {
      email: 'a***@example.com',
      phone: '+* *** *** **32',
      attempts: 3,
    });
    assert.equal(masked.id, event.id);
    assert.equal(masked.ownerId, event.ownerId);
    // Still a valid event for the contract.
    AuditEvent.parse(masked);
  });

  void it('keeps a UUID target and a null actor id untouched', () => {
    const event = sampleEvent({
      actor: { type: 'anonymous', id: null },
      target: { type: 'apikey', id: '123e4567-e89b-12d3-a456-426614174000' },
    });
    const masked = maskEvent(event);
    assert.deepEqual(masked.actor, { type: 'anonymous', id: null });
    assert.deepEqual(masked.target, event.target);
    assert.equal('requestId' in masked, false);
  });

  void it('does not mutate its input', () => {
    const event = sampleEvent({
      actor: { type: 'user', id: 'x@y.io', userAgent: 'a\nb' },
      target: { type: 'user', id: 'x@y.io' },
      metadata: { secret: 's', list: ['x@y.io', { token: 't' }], nested: { phone: '0612345678' } },
    });
    const before = structuredClone(event);
    Object.freeze(event.metadata);
    maskEvent(event);
    assert.deepEqual(event, before);
  });
});

void describe('maskEvent properties', () => {
  const SECRET_KEYS = [
    'password',
    'apiKey',
    'api_key',
    'privateKey',
    'token',
    'accessToken',
    'refresh_token',
    'clientSecret',
    'cookie',
    'Authorization',
    'PASSWORD',
    'x-api-key',
  ];
  const email = fc
    .tuple(
      fc.stringMatching(/^[a-z][a-z0-9._+-]{0,15}$/),
      fc.stringMatching(/^[a-z0-9-]{1,12}$/),
      fc.constantFrom('com', 'io', 'example', 'fr'),
    )
    .map(([local, domain, tld]) => `${local}@${domain}.${tld}`);

  // Random JSON trees with emails spliced into strings and secrets under secret-named keys.
  const tree = fc.letrec<{ node: unknown }>((tie) => ({
    node: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      fc.string(),
      fc.integer(),
      fc.boolean(),
      fc.constant(null),
      fc.tuple(fc.string(), email, fc.string()).map(([a, e, b]) => `${a} ${e} ${b}`),
      fc.array(tie('node'), { maxLength: 4 }),
      fc.dictionary(fc.string({ maxLength: 8 }), tie('node'), { maxKeys: 4 }),
    ),
  })).node;

  void it('never leaks an injected email or a secret value, at any depth', () => {
    fc.assert(
      fc.property(
        fc.dictionary(fc.string({ maxLength: 8 }), tree, { maxKeys: 5 }),
        fc.array(fc.tuple(fc.constantFrom(...SECRET_KEYS), fc.nat()), { maxLength: 4 }),
        fc.array(email, { minLength: 1, maxLength: 3 }),
        fc.nat(),
        (metadata, secretPaths, emails, salt) => {
          const secrets: string[] = [];
          const doc: Record<string, unknown> = structuredClone(metadata);
          // Plant each secret somewhere: the top level or inside a nested object.
          secretPaths.forEach(([key, n], i) => {
            const value = `S3CRET-${salt}-${i}-zq`;
            secrets.push(value);
            const holder = n % 2 === 0 ? doc : { inner: {} as Record<string, unknown> };
            if (holder === doc) doc[key] = value;
            else {
              (holder.inner as Record<string, unknown>)[key] = { deep: value };
              doc[`wrap${i}`] = [holder];
            }
          });
          emails.forEach((e, i) => (doc[`contact${i}`] = `reach me at ${e}\nplease`));
          const masked = maskEvent(sampleEvent({ metadata: doc }));
          const text = JSON.stringify(masked);
          for (const s of secrets) assert.ok(!text.includes(s), 'secret leaked');
          for (const e of emails) assert.ok(!text.includes(e), 'email leaked');
          for (const value of collectStrings(masked.metadata)) {
            assert.doesNotMatch(value, /[\r\n]/);
            for (const e of emails) assert.ok(!value.includes(e));
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  void it('is idempotent and keeps the contract', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string({ maxLength: 8 }), tree, { maxKeys: 5 }), (metadata) => {
        const once = maskEvent(sampleEvent({ metadata }));
        AuditEvent.parse(once);
        assert.deepEqual(maskEvent(once).metadata, once.metadata);
      }),
      { numRuns: 200 },
    );
  });
});

function collectStrings(value: unknown, out: string[] = []): string[] {
  if (typeof value === 'string') out.push(value);
  else if (Array.isArray(value)) for (const v of value) collectStrings(v, out);
  else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      out.push(k);
      collectStrings(v, out);
    }
  }
  return out;
}
