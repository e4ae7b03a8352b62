// The email-worker's durable delivery state in Redis (AOF): send records, status history, suppression.
import type { Redis } from 'ioredis';
import { deliveryKeys, type EmailHistoryEntry, type EmailResult } from '@securevault/contracts';

/** Kept as long as a failed job: long enough to inspect and replay, then gone. */
const RECORD_TTL_SECONDS = 30 * 24 * 3600;

export type ClaimOutcome =
  | { kind: 'claimed' }
  | { kind: 'sent'; result: EmailResult }
  /** a previous attempt began the SMTP conversation and never recorded its end */
  | { kind: 'unknown'; since: string };

// Atomic so two pickups of one job (a stalled lock, a crash and a restart) cannot both send.
const CLAIM = `
local state = redis.call('HGET', KEYS[1], 'state')
if state == 'sent' then return {'sent', redis.call('HGET', KEYS[1], 'result')} end
if state == 'sending' and (ARGV[5] == '' or redis.call('HGET', KEYS[1], 'attempt') ~= ARGV[5]) then
  return {'unknown', redis.call('HGET', KEYS[1], 'at')}
end
redis.call('HSET', KEYS[1], 'state', 'sending', 'at', ARGV[1], 'messageId', ARGV[2], 'attempt', ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[4])
return {'claimed', ''}
`;

export interface DeliveryStore {
  /**
   * Marks the message as being sent, unless an earlier attempt sent it or may have.
   * `retakeFrom`: an earlier attempt known to have failed before its SMTP conversation began;
   * its "sending" record is taken over instead of being reported as unknown.
   */
  claim(
    emailId: string,
    messageId: string,
    attempt: number,
    retakeFrom?: number,
  ): Promise<ClaimOutcome>;
  /** The server answered 250: never send this id again. */
  markSent(emailId: string, result: EmailResult): Promise<void>;
  /** The conversation failed with a definite answer: a later attempt may send. */
  release(emailId: string): Promise<void>;
  markSuppressed(emailId: string): Promise<void>;
  history(emailId: string, entry: Omit<EmailHistoryEntry, 'at'>): Promise<void>;
  isSuppressed(address: string): Promise<boolean>;
  suppress(address: string, reason: string): Promise<void>;
}

export function createDeliveryStore(redis: Redis, prefix: string): DeliveryStore {
  const record = (id: string) => deliveryKeys.sendRecord(prefix, id);
  const ttl = String(RECORD_TTL_SECONDS);
  return {
    async claim(emailId, messageId, attempt, retakeFrom) {
      const [kind, value] = (await redis.eval(
        CLAIM,
        1,
        record(emailId),
        new Date().toISOString(),
        messageId,
        String(attempt),
        ttl,
        retakeFrom === undefined ? '' : String(retakeFrom),
      )) as [string, string | null];
      if (kind === 'sent') return { kind, result: JSON.parse(value ?? '{}') as EmailResult };
      if (kind === 'unknown') return { kind, since: value ?? '' };
      return { kind: 'claimed' };
    },
    async markSent(emailId, result) {
      await redis
        .multi()
        .hset(
          record(emailId),
          'state',
          'sent',
          'at',
          result.sentAt,
          'result',
          JSON.stringify(result),
        )
        .expire(record(emailId), RECORD_TTL_SECONDS)
        .exec();
    },
    async release(emailId) {
      await redis.hset(record(emailId), 'state', 'failed', 'at', new Date().toISOString());
    },
    async markSuppressed(emailId) {
      await redis
        .multi()
        .hset(record(emailId), 'state', 'suppressed', 'at', new Date().toISOString())
        .expire(record(emailId), RECORD_TTL_SECONDS)
        .exec();
    },
    async history(emailId, entry) {
      const key = deliveryKeys.history(prefix, emailId);
      await redis
        .multi()
        .rpush(key, JSON.stringify({ ...entry, at: new Date().toISOString() }))
        .ltrim(key, -100, -1)
        .expire(key, RECORD_TTL_SECONDS)
        .exec();
    },
    async isSuppressed(address) {
      return (await redis.hexists(deliveryKeys.suppressed(prefix), address.toLowerCase())) === 1;
    },
    async suppress(address, reason) {
      await redis.hset(
        deliveryKeys.suppressed(prefix),
        address.toLowerCase(),
        JSON.stringify({ reason, source: 'smtp', at: new Date().toISOString() }),
      );
    },
  };
}
