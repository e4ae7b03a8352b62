// Unit and property tests of secret redaction; everything here is pure, nothing is faked.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { REDACTED, isSecretKey, redact, redactString } from '../src/redact.ts';

describe('redact', () => {
  it('replaces secret-named fields at any depth and keeps the rest', () => {
    const input = {
      user: {
        id: 'u1',
        password: 'hunter22',
        profile: { apiKey: 'k', api_key: 'k2', 'x-api-key': 'k3' },
      },
      headers: { authorization: 'Bearer abc', cookie: 'a=b', 'set-cookie': ['c'] },
      list: [{ sessionToken: 't' }, { refresh_token: 'r' }, { clientSecret: 's' }],
      usage: { totalTokens: 12, promptTokens: 3 },
      note: 'plain',
    };
    const out = redact(input);
    assert.equal(out.user.password, REDACTED);
    assert.equal(out.user.profile.apiKey, REDACTED);
    assert.equal(out.user.profile.api_key, REDACTED);
    assert.equal(out.user.profile['x-api-key'], REDACTED);
    assert.equal(out.headers.authorization, REDACTED);
    assert.equal(out.headers.cookie, REDACTED);
    assert.equal(out.headers['set-cookie'], REDACTED);
    assert.equal(out.list[0]?.sessionToken, REDACTED);
    assert.equal(out.list[1]?.refresh_token, REDACTED);
    assert.equal(out.list[2]?.clientSecret, REDACTED);
    // token counts are not tokens
    assert.deepEqual(out.usage, { totalTokens: 12, promptTokens: 3 });
    assert.equal(out.note, 'plain');
  });

  it('does not mutate its input', () => {
    const input = { a: { password: 'p' }, b: ['svk_abcdefghijklmnop'] };
    const copy = structuredClone(input);
    redact(input);
    assert.deepEqual(input, copy);
  });

  it('masks secrets inside free text', () => {
    assert.equal(redactString('key svk_ABCDEFGHIJKLMNOP123 used'), `key svk_${REDACTED} used`);
    assert.equal(
      redactString('Authorization: Bearer abcdefghijk'),
      `Authorization: Bearer ${REDACTED}`,
    );
    assert.equal(redactString('smtp://user:pa55word@mail:587'), `smtp://user:${REDACTED}@mail:587`);
    assert.equal(redactString('nothing here'), 'nothing here');
  });

  it('redacts URL credentials whatever the scheme, in linear time on long runs', () => {
    assert.equal(
      redactString('redis://:hunter2@cache:6379 and postgres://app:pw@db/x'),
      `redis://:${REDACTED}@cache:6379 and postgres://app:${REDACTED}@db/x`,
    );
    assert.equal(redactString('x-y://u:p@h'), `x-y://u:${REDACTED}@h`);
    assert.equal(redactString('https://example.com/a:b@c'), 'https://example.com/a:b@c');
    // A scheme-first pattern retried every position of these: 90 ms at 16 KB, hours at 1 MB.
    // Not timed; a quadratic version would not finish within the test timeout.
    const n = 1 << 20;
    for (const long of ['a-'.repeat(n / 2) + '://', 'a-'.repeat(n / 2), '://a:'.repeat(n / 5)]) {
      assert.equal(redactString(long), long);
    }
  });

  it('handles cycles, errors, dates, buffers and deep nesting', () => {
    const a: Record<string, unknown> = { name: 'a' };
    a.self = a;
    const err = Object.assign(new Error('boom svk_0123456789abcdef'), { token: 't' });
    const date = new Date(0);
    const buf = Buffer.from('x');
    let deep: Record<string, unknown> = { v: 1 };
    for (let i = 0; i < 20; i++) deep = { d: deep };
    const out = redact({ a, err, date, buf, deep }) as Record<string, unknown>;
    assert.equal((out.a as Record<string, unknown>).self, '[Circular]');
    const e = out.err as Record<string, unknown>;
    assert.equal(e.message, `boom svk_${REDACTED}`);
    assert.equal(e.token, REDACTED);
    assert.equal(e.type, 'Error');
    assert.equal(out.date, date);
    assert.equal(out.buf, buf);
    assert.match(JSON.stringify(out.deep), /\[Truncated\]/);
  });

  it('recognises key spellings', () => {
    for (const k of [
      'password',
      'PASSWORD',
      'newPassword',
      'db_password',
      'Authorization',
      'accessToken',
      'SESSION_SECRET',
      'privateKey',
      'passphrase',
    ]) {
      assert.ok(isSecretKey(k), k);
    }
    for (const k of ['email', 'tokens', 'totalTokens', 'keyPrefix', 'id', 'monkey']) {
      assert.ok(!isSecretKey(k), k);
    }
  });

  it('never lets a secret value through, whatever the shape (property)', () => {
    const secretKey = fc.constantFrom(
      'password',
      'apiKey',
      'token',
      'cookie',
      'authorization',
      'client_secret',
    );
    const secretValue = fc.string({ minLength: 6 }).map((s) => `S3CRET-${s}`);
    const tree = fc.letrec((tie) => ({
      node: fc.oneof(
        { depthSize: 'small' },
        fc.string(),
        fc.integer(),
        fc.array(tie('node'), { maxLength: 3 }),
        fc.dictionary(
          fc.string({ maxLength: 6 }).filter((k) => !isSecretKey(k)),
          tie('node'),
          { maxKeys: 3 },
        ),
      ),
    })).node;
    fc.assert(
      fc.property(
        tree,
        secretKey,
        secretValue,
        fc.array(fc.string({ maxLength: 4 }), { maxLength: 4 }),
        (base, key, value, path) => {
          const root: Record<string, unknown> = { base };
          let cursor = root;
          for (const p of path) {
            const next: Record<string, unknown> = {};
            cursor[`n${p}`] = next;
            cursor = next;
          }
          cursor[key] = value;
          const before = JSON.stringify(root);
          const out = JSON.stringify(redact(root));
          assert.equal(JSON.stringify(root), before, 'input mutated');
          assert.ok(!out.includes(JSON.stringify(value)), 'secret leaked');
        },
      ),
      { numRuns: 300 },
    );
  });
});
