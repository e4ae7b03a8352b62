// The console's error wording, Retry-After reading and SSE parsing, without a browser.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { friendlyMessage, retryAfterSeconds, sseParser } from '../src/api.ts';
import { everyDay } from '../src/days.ts';

describe('errors in words', () => {
  it('says when to retry after a 429, from Retry-After or the RateLimit header', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    assert.equal(retryAfterSeconds(new Headers({ 'retry-after': '42' }), now), 42);
    assert.equal(
      retryAfterSeconds(new Headers({ 'retry-after': 'Thu, 01 Jan 2026 00:00:30 GMT' }), now),
      30,
    );
    assert.equal(retryAfterSeconds(new Headers({ ratelimit: '"api";r=0;t=17' }), now), 17);
    assert.equal(
      retryAfterSeconds(new Headers({ ratelimit: 'limit=60, remaining=0, reset=9' })),
      9,
    );
    assert.equal(retryAfterSeconds(new Headers()), undefined);
    assert.equal(
      friendlyMessage(429, 'RATE_LIMITED', 'too many', [], 12),
      'Too many requests, try again in 12 s.',
    );
    assert.equal(
      friendlyMessage(429, 'RATE_LIMITED', undefined),
      'Too many requests, try again in a moment.',
    );
  });

  it('tells an expired session from a wrong password, and never shows JSON', () => {
    assert.equal(
      friendlyMessage(401, 'UNAUTHENTICATED', 'sign in first'),
      'Your session has expired, sign in again.',
    );
    assert.equal(
      friendlyMessage(401, 'INVALID_CREDENTIALS', 'the email or password is incorrect'),
      'The email or password is incorrect.',
    );
    assert.equal(
      friendlyMessage(403, 'INSUFFICIENT_SCOPE', 'needs scope email:send'),
      "You don't have permission to do this.",
    );
    assert.equal(
      friendlyMessage(400, 'VALIDATION_FAILED', 'email is invalid', [
        { path: 'to', message: 'Invalid email address' },
      ]),
      'Please check the form: to Invalid email address.',
    );
    assert.equal(
      friendlyMessage(503, 'SERVICE_UNAVAILABLE', 'redis down'),
      'SecureVault is temporarily unavailable, try again in a moment.',
    );
    assert.equal(
      friendlyMessage(409, 'CONFLICT', 'the email is not failed (completed)'),
      'The email is not failed (completed).',
    );
  });
});

describe('Server-Sent Events parsing', () => {
  it('yields events as their blocks complete, across chunk boundaries, skipping heartbeats', () => {
    const parser = sseParser();
    assert.deepEqual(parser.push(': ping\n\nid: 1-0\nevent: chu'), []);
    assert.deepEqual(
      parser.push('nk\ndata: {"text":"Hel"}\n\nevent: chunk\r\ndata: {"text":"lo"}\r\n\r\n'),
      [
        { event: 'chunk', data: '{"text":"Hel"}', id: '1-0' },
        { event: 'chunk', data: '{"text":"lo"}' },
      ],
    );
    assert.deepEqual(parser.push('event: done\ndata: {}\n'), []);
    assert.deepEqual(parser.push('\n'), [{ event: 'done', data: '{}' }]);
  });
});

describe('dashboard days', () => {
  it('fills the days the report has no row for with zeros, up to today', () => {
    const zero = {
      emailsSent: 0,
      emailsFailed: 0,
      generations: 0,
      promptTokens: 0,
      completionTokens: 0,
    };
    const days = everyDay(
      '2026-03-01',
      [{ ...zero, day: '2026-03-02', emailsSent: 3 }],
      new Date('2026-03-04T12:00:00Z'),
    );
    assert.deepEqual(
      days.map((d) => [d.day, d.emailsSent]),
      [
        ['2026-03-01', 0],
        ['2026-03-02', 3],
        ['2026-03-03', 0],
        ['2026-03-04', 0],
      ],
    );
  });
});
