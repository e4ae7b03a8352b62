// The email-worker's durable delivery state in Redis (AOF): send records, status history, suppression.
import type { Redis } from 'ioredis';
import { deliveryKeys, type EmailHistoryEntry, type EmailResult } from '@securevault/contracts';

/** Kept as long as a failed job: long enough to inspect and replay, then gone. */
const RECORD_TTL_SECONDS = 30 * 24 * 3600;

export type ClaimOutcome =
  | { kind: 'claimed' }
  | { kind: 'sent'; result: EmailResult }
  /** a previous attempt began the SMTP conversation and never recorded its end */
  | { kind: 'unknown'; since: string }
  /** the recipient is on the suppression list (checked only when the claim names it) */
  | { kind: 'suppressed' };

// Atomic so two pickups of one job (a stalled lock, a crash and a restart) cannot both send.
// With a recipient (ARGV[6]) it also refuses a suppressed one first and, on a claim, appends the
// "sending" entry (ARGV[7]) to the history (KEYS[2]): one round trip before the SMTP conversation.
const CLAIM = `
if ARGV[6] ~= '' and redis.call('HEXISTS', KEYS[3], ARGV[6]) == 1 then return {'suppressed', ''} end
local state = redis.call('HGET', KEYS[1], 'state')
if state == 'sent' then return {'sent', redis.call('HGET', KEYS[1], 'result')} end
if state == 'sending' and (ARGV[5] == '' or redis.call('HGET', KEYS[1], 'attempt') ~= ARGV[5]) then
  return {'unknown', redis.call('HGET', KEYS[1], 'at')}
end
redis.call('HSET', KEYS[1], 'state', 'sending', 'at', ARGV[1], 'messageId', ARGV[2], 'attempt', ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[4])
if ARGV[7] ~= '' then
  redis.call('RPUSH', KEYS[2], ARGV[7])
  redis.call('LTRIM', KEYS[2], -100, -1)
  redis.call('EXPIRE', KEYS[2], ARGV[4])
end
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
    /** checks suppression first and records the "sending" history entry with the claim */
    recipient?: string,
  ): Promise<ClaimOutcome>;
  /** The server answered 250: never send this id again (and the history entry, in one go). */
  markSent(
    emailId: string,
    result: EmailResult,
    entry?: Omit<EmailHistoryEntry, 'at'>,
  ): Promise<void>;
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
    async claim(emailId, messageId, attempt, retakeFrom, recipient) {
      const at = new Date().toISOString();
      const [kind, value] = (await redis.eval(
        CLAIM,
        3,
        record(emailId),
        deliveryKeys.history(prefix, emailId),
        deliveryKeys.suppressed(prefix),
        at,
        messageId,
        String(attempt),
        ttl,
        retakeFrom === undefined ? '' : String(retakeFrom),
        recipient === undefined ? '' : recipient.toLowerCase(),
        recipient === undefined ? '' : JSON.stringify({ status: 'sending', attempt, at }),
      )) as [string, string | null];
      if (kind === 'sent') return { kind, result: JSON.parse(value ?? '{}') as EmailResult };
      if (kind === 'unknown') return { kind, since: value ?? '' };
      if (kind === 'suppressed') return { kind };
      return { kind: 'claimed' };
    },
    async markSent(emailId, result, entry) {
      const multi = redis
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
        .expire(record(emailId), RECORD_TTL_SECONDS);
      if (entry) {
        const key = deliveryKeys.history(prefix, emailId);
        multi
          .rpush(key, JSON.stringify({ ...entry, at: new Date().toISOString() }))
          .ltrim(key, -100, -1)
          .expire(key, RECORD_TTL_SECONDS);
      }
      await multi.exec();
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
