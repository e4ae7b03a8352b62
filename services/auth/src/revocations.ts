// Announces revoked credentials on Redis pub/sub so every gateway replica drops its cache at once.
import type { Redis } from 'ioredis';
import { revocationChannel, type RevocationEvent } from '@securevault/contracts';
import type { Logger } from '@securevault/observability';

export interface Revocations {
  /** Never throws: the database change already happened; a lost announcement is logged. */
  publish(event: RevocationEvent): Promise<void>;
}

export function createRevocations(options: {
  redis: Pick<Redis, 'publish'>;
  prefix: string;
  logger: Pick<Logger, 'warn'>;
}): Revocations {
  const channel = revocationChannel(options.prefix);
  return {
    async publish(event) {
      try {
        await options.redis.publish(channel, JSON.stringify(event));
      } catch (err) {
        // Gateways whose subscription is down drop their whole cache and stop caching (see
        // services/gateway/src/introspection-cache.ts), so a lost message cannot keep a session alive
        // unless Redis failed for auth alone; the cache TTL bounds that case.
        options.logger.warn({ err, kind: event.kind }, 'revocation could not be announced');
      }
    },
  };
}
