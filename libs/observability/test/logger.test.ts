// The logger writes real pino JSON lines into an in-memory stream that the test reads back.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { createLogger } from '../src/logger.ts';
import { runWithRequestContext } from '../src/context.ts';

function capture() {
  const lines: Array<Record<string, unknown>> = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString().split('\n').filter(Boolean))
        lines.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  return { lines, destination };
}

describe('createLogger', () => {
  it('writes JSON with time, level, service, request id and redacts secrets without mutating', () => {
    const { lines, destination } = capture();
    const logger = createLogger({ service: 'gateway', level: 'debug', destination });
    const payload = {
      user: { id: 'u1', password: 'pw' },
      headers: { authorization: 'Bearer xyzxyzxyz' },
    };
    runWithRequestContext({ requestId: 'req-1' }, () => logger.info(payload, 'hello'));
    logger.debug({ apiKey: 'svk_1234567890abcdef' }, 'outside');
    assert.equal(payload.user.password, 'pw');
    const [first, second] = lines;
    assert.ok(first && second);
    assert.equal(first.service, 'gateway');
    assert.equal(first.level, 'info');
    assert.equal(first.msg, 'hello');
    assert.equal(first.requestId, 'req-1');
    assert.match(String(first.time), /^\d{4}-\d\d-\d\dT/);
    assert.deepEqual(first.user, { id: 'u1', password: '[REDACTED]' });
    assert.deepEqual(first.headers, { authorization: '[REDACTED]' });
    assert.equal(second.apiKey, '[REDACTED]');
    assert.equal(second.requestId, undefined);
  });

  it('serializes errors and respects the level', () => {
    const { lines, destination } = capture();
    const logger = createLogger({ service: 'auth', level: 'warn', destination });
    logger.info('dropped');
    logger.error({ err: new Error('failed for svk_abcdefghijklmnopqr') }, 'oops');
    assert.equal(lines.length, 1);
    const err = lines[0]?.err as Record<string, unknown>;
    assert.match(String(err.message), /svk_\[REDACTED\]/);
  });
});
