// Redis isolation for tests: a unique key/queue prefix per test and a SCAN-based cleanup of it.
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';

/** A prefix like `svtest-email-3f9a1c2b`; give it to BullMQ as `prefix` and to key builders. */
export function uniquePrefix(label: string): string {
  const safe =
    label
      .toLowerCase()
      .replace(/[^a-z0-9-]+/g, '-')
      .replace(/^-+|-+$/g, '') || 'test';
  return `svtest-${safe}-${randomBytes(4).toString('hex')}`;
}

function escapeGlob(value: string): string {
  // SCAN MATCH is a glob: a literal *, ?, [ or \ in the prefix must not widen the match.
  return value.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
}

/**
 * Deletes every key starting with `prefix`. Uses SCAN (never KEYS, which blocks Redis) and
 * UNLINK in batches. Returns how many keys were removed.
 */
export async function cleanupRedisPrefix(redisUrl: string, prefix: string): Promise<number> {
  if (prefix === '')
    throw new Error('cleanupRedisPrefix: refusing an empty prefix (it would match every key)');
  const redis = new Redis(redisUrl, {
    lazyConnect: true,
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
  });
  await redis.connect();
  try {
    const pattern = `${escapeGlob(prefix)}*`;
    let cursor = '0';
    let removed = 0;
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 500);
      cursor = next;
      if (keys.length > 0) removed += await redis.unlink(...keys);
    } while (cursor !== '0');
    return removed;
  } finally {
    redis.disconnect();
  }
}
