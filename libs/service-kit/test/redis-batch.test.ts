// batched(): the commands of one event-loop turn leave in one write, against real Redis.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import { Metrics, createLogger } from '@securevault/observability';
import { cleanupRedisPrefix, uniquePrefix } from '@securevault/testing';
import { batched, closeRedis, createRedis, waitForRedis } from '../src/index.ts';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const logger = createLogger({ service: 'gateway', level: 'silent' });
const metrics = new Metrics('gateway', { defaultMetrics: false });
const prefix = uniquePrefix('kit-batch');
let redis: Redis;
let writes = 0;

before(async () => {
  redis = createRedis({ url: REDIS_URL, name: 'producer', logger, metrics, role: 'producer' });
  await waitForRedis(redis);
  // Counts what reaches the socket: one write per command, or one per pipeline.
  const stream = (redis as unknown as { stream: { write: (...a: unknown[]) => boolean } }).stream;
  const write = stream.write.bind(stream);
  stream.write = (...args: unknown[]) => {
    writes++;
    return write(...args);
  };
});

after(async () => {
  await closeRedis(redis);
  await cleanupRedisPrefix(REDIS_URL, prefix);
});

describe('batched', () => {
  it('sends the commands of one turn in one write, each with its own reply or error', async () => {
    await redis.set(`${prefix}:text`, 'not a number');
    writes = 0;
    const batch = batched(redis);
    assert.equal(batched(redis), batch, 'one batch per client');
    const calls = [
      ...Array.from({ length: 20 }, (_, i) => batch.call('incrby', `${prefix}:n`, i + 1)),
      batch.call('incr', `${prefix}:text`),
      batch.call('get', `${prefix}:missing`),
    ];
    const settled = await Promise.allSettled(calls);
    assert.equal(writes, 1);
    // INCRBY replies in order: the running total after each.
    const totals = settled.slice(0, 20).map((s) => (s.status === 'fulfilled' ? s.value : s));
    assert.deepEqual(
      totals,
      Array.from({ length: 20 }, (_, i) => ((i + 1) * (i + 2)) / 2),
    );
    assert.equal(settled[20]?.status, 'rejected');
    assert.match(String(settled[20].reason), /not an integer/);
    assert.deepEqual(settled[21], { status: 'fulfilled', value: null });
  });

  it('sends a lone command as itself, and commands of later turns in writes of their own', async () => {
    writes = 0;
    const batch = batched(redis);
    assert.equal(await batch.call('set', `${prefix}:a`, '1'), 'OK');
    assert.equal(writes, 1);
    assert.equal(await batch.call('get', `${prefix}:a`), '1');
    assert.equal(writes, 2);
    // Commands queued from different turns (an I/O callback each) do not wait for one another.
    const first = batch.call('get', `${prefix}:a`);
    await new Promise((r) => setImmediate(r));
    const second = batch.call('get', `${prefix}:a`);
    assert.deepEqual(await Promise.all([first, second]), ['1', '1']);
    assert.equal(writes, 4);
  });

  it('rejects every command of the turn while the client is down (no offline queue)', async () => {
    const down = createRedis({
      url: 'redis://127.0.0.1:1',
      name: 'producer',
      logger,
      metrics,
      role: 'producer',
    });
    try {
      const batch = batched(down);
      const settled = await Promise.allSettled([batch.call('get', 'a'), batch.call('get', 'b')]);
      assert.deepEqual(
        settled.map((s) => s.status),
        ['rejected', 'rejected'],
      );
      await assert.rejects(batch.call('get', 'c'));
    } finally {
      down.disconnect();
    }
  });
});
