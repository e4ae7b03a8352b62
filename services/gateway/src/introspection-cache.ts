// A short-lived cache of auth's introspection answers, emptied by revocations pushed over Redis pub/sub.
import { createHash } from 'node:crypto';
import { Redis } from 'ioredis';
import { RevocationEvent, revocationChannel, type Principal } from '@securevault/contracts';
import type { Logger, Metrics } from '@securevault/observability';

export interface IntrospectionCache {
  get(credential: string): Principal | undefined;
  set(credential: string, principal: Principal): void;
  /** true only while the revocation subscription is live: otherwise nothing is cached */
  readonly live: boolean;
  close(): Promise<void>;
}

export interface IntrospectionCacheOptions {
  redisUrl: string;
  prefix: string;
  ttlMs: number;
  maxEntries?: number;
  logger: Logger;
  metrics: Metrics;
  now?: () => number;
}

interface Entry {
  principal: Principal;
  expiresAt: number;
}

/** Cache keys are hashes: the gateway's memory never holds the credentials themselves. */
const keyOf = (credential: string) => createHash('sha256').update(credential).digest('base64url');

/**
 * Safe by construction: an entry lives at most `ttlMs` and never past the credential's own
 * expiry; a revocation (logout, disable, role change, key revoked) removes it on every replica as
 * soon as auth publishes it; and while the subscription is down the cache is empty and unused, so
 * a revocation missed during an outage cannot leave a session alive.
 */
export async function createIntrospectionCache(
  options: IntrospectionCacheOptions,
): Promise<IntrospectionCache> {
  const now = options.now ?? Date.now;
  const max = options.maxEntries ?? 10_000;
  const entries = new Map<string, Entry>();
  const requests = options.metrics.get('cache_requests_total');
  const channel = revocationChannel(options.prefix);
  let live = false;

  const subscriber = new Redis(options.redisUrl, {
    // A subscriber must not queue commands while disconnected, and must reconnect forever.
    enableOfflineQueue: true,
    maxRetriesPerRequest: null,
    lazyConnect: true,
  });
  const goDark = () => {
    if (live) options.logger.warn('revocation subscription lost: introspection cache off');
    live = false;
    entries.clear();
  };
  subscriber.on('error', (err: unknown) => {
    options.logger.debug({ err }, 'revocation subscriber error');
    goDark();
  });
  subscriber.on('close', goDark);
  subscriber.on('end', goDark);
  subscriber.on('ready', () => {
    // ioredis resubscribes by itself; subscribing again is harmless and tells us when it is done.
    subscriber.subscribe(channel).then(
      () => {
        entries.clear();
        live = true;
      },
      (err: unknown) => {
        // Not subscribed means not caching; reconnecting retries the subscription.
        options.logger.warn({ err }, 'revocation subscribe failed; reconnecting');
        subscriber.disconnect(true);
      },
    );
  });
  subscriber.on('message', (_channel: string, message: string) => {
    let event: RevocationEvent;
    try {
      event = RevocationEvent.parse(JSON.parse(message));
    } catch {
      // Unparseable: we cannot know what was revoked, so forget everything.
      entries.clear();
      return;
    }
    for (const [key, entry] of entries) {
      const p = entry.principal;
      if (
        (event.kind === 'session' && p.sessionId === event.sessionId) ||
        (event.kind === 'user' && p.userId === event.userId) ||
        (event.kind === 'apikey' && p.apiKeyId === event.apiKeyId)
      ) {
        entries.delete(key);
      }
    }
  });
  await subscriber.connect().catch((err: unknown) => {
    options.logger.warn({ err }, 'revocation subscriber cannot connect yet: cache off');
  });

  return {
    get live() {
      return live;
    },
    get(credential) {
      if (!live) return undefined;
      const key = keyOf(credential);
      const entry = entries.get(key);
      if (entry && entry.expiresAt > now()) {
        requests.inc({ cache: 'introspection', result: 'hit' });
        return entry.principal;
      }
      if (entry) entries.delete(key);
      requests.inc({ cache: 'introspection', result: 'miss' });
      return undefined;
    },
    set(credential, principal) {
      if (!live || options.ttlMs <= 0) return;
      const credentialExpiry = principal.expiresAt ? Date.parse(principal.expiresAt) : Infinity;
      const expiresAt = Math.min(now() + options.ttlMs, credentialExpiry);
      if (expiresAt <= now()) return;
      // Bounded memory: the oldest entry goes first (Map keeps insertion order).
      if (entries.size >= max) {
        const oldest = entries.keys().next();
        if (!oldest.done) entries.delete(oldest.value);
      }
      entries.set(keyOf(credential), { principal, expiresAt });
    },
    async close() {
      live = false;
      entries.clear();
      subscriber.disconnect();
      await Promise.resolve();
    },
  };
}
