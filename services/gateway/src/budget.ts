// The per-principal daily AI token budget: reserved atomically before a job is queued, settled by the ai-worker.
import type { Redis } from 'ioredis';
import { SETTLE_BUDGET_LUA, aiKeys } from '@securevault/contracts';
import { AppError, batched } from '@securevault/service-kit';
import { fromRedis } from './jobs.ts';

// Check and reserve in one step, so concurrent requests can never both fit into the same remainder.
const RESERVE = `
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
local want = tonumber(ARGV[1])
if used + want > tonumber(ARGV[2]) then return -1 end
local now = redis.call('INCRBY', KEYS[1], want)
redis.call('EXPIRE', KEYS[1], 172800)
return now
`;

/** A conservative guess before the call: prompt characters / 3 plus every token the reply may use. */
export function estimateTokens(prompt: string, maxTokens: number): number {
  return Math.ceil(prompt.length / 3) + maxTokens;
}

export function utcDay(now = new Date()): string {
  return now.toISOString().slice(0, 10);
}

function secondsToMidnight(now = new Date()): number {
  const next = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1);
  return Math.max(1, Math.ceil((next - now.getTime()) / 1000));
}

export async function reserveTokens(
  redis: Redis,
  prefix: string,
  ownerId: string,
  tokens: number,
  limit: number,
): Promise<{ day: string; reserved: number }> {
  const day = utcDay();
  const result = await fromRedis(redis, () =>
    redis.eval(RESERVE, 1, aiKeys.budget(prefix, ownerId, day), String(tokens), String(limit)),
  );
  if (result === -1) {
    throw new AppError('RATE_LIMITED', 'the daily AI token budget is used up', {
      headers: { 'Retry-After': String(secondsToMidnight()) },
    });
  }
  return { day, reserved: tokens };
}

/** Gives a reservation back (the job never ran), at most once per generation. */
export async function releaseTokens(
  redis: Redis,
  prefix: string,
  ownerId: string,
  generationId: string,
  budget: { day: string; reserved: number },
): Promise<void> {
  await redis.eval(
    SETTLE_BUDGET_LUA,
    2,
    aiKeys.budget(prefix, ownerId, budget.day),
    aiKeys.settled(prefix, generationId),
    String(budget.reserved),
    '0',
  );
}

/** Tokens used and reserved today, for the owner's own view. */
export async function usedToday(redis: Redis, prefix: string, ownerId: string): Promise<number> {
  const key = aiKeys.budget(prefix, ownerId, utcDay());
  const raw = await fromRedis(redis, () => batched(redis).call('get', key));
  return Number(raw ?? '0');
}
