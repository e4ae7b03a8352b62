// Tests for the Redis helpers. Real: the Redis server at REDIS_URL (default
// redis://127.0.0.1:6379). Stand-in: none.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { cleanupRedisPrefix, uniquePrefix } from '../src/redis.ts';

const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

void test('uniquePrefix is distinct and safe', () => {
  const a = uniquePrefix('email');
  assert.match(a, /^svtest-email-[0-9a-f]{8}$/);
  assert.notEqual(a, uniquePrefix('email'));
  assert.match(uniquePrefix('AI Worker*?'), /^svtest-ai-worker-[0-9a-f]{8}$/);
});

void test('cleanupRedisPrefix removes only keys under the prefix, across many SCAN pages', async (t) => {
  const redis = new Redis(redisUrl);
  t.after(() => redis.disconnect());
  const prefix = uniquePrefix('cleanup');
  const other = uniquePrefix('keep');
  // 1,200 keys force several SCAN iterations (COUNT 500).
  const pipeline = redis.pipeline();
  for (let i = 0; i < 1200; i++) pipeline.set(`${prefix}:k:${i}`, '1');
  pipeline.lpush(`${prefix}:email:wait`, 'job');
  pipeline.set(`${other}:k`, '1');
  await pipeline.exec();

  const removed = await cleanupRedisPrefix(redisUrl, prefix);
  assert.equal(removed, 1201);
  assert.equal(await redis.exists(`${prefix}:k:0`, `${prefix}:email:wait`), 0);
  assert.equal(await redis.exists(`${other}:k`), 1);
  assert.equal(await cleanupRedisPrefix(redisUrl, other), 1);
  await assert.rejects(cleanupRedisPrefix(redisUrl, ''), /empty prefix/);
});

void test('glob characters in a prefix are literal', async (t) => {
  const redis = new Redis(redisUrl);
  t.after(() => redis.disconnect());
  const base = uniquePrefix('glob');
  await redis.set(`${base}-a`, '1');
  await redis.set(`${base}*x`, '1');
  assert.equal(await cleanupRedisPrefix(redisUrl, `${base}*`), 1);
  assert.equal(await redis.exists(`${base}-a`), 1);
  await cleanupRedisPrefix(redisUrl, base);
});
