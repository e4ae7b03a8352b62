// Idempotency-Key for POSTs that create work: the first answer is stored 24 h and replayed; a different body is 409.
import { createHash } from 'node:crypto';
import type { RequestHandler, Response } from 'express';
import type { Redis } from 'ioredis';
import { AppError } from '@securevault/service-kit';
import { principalOf } from './authn.ts';
import { fromRedis } from './jobs.ts';

const TTL_SECONDS = 24 * 3600;
/** A crashed gateway must not hold a key for a day: the pending marker lapses on its own. */
const PENDING_TTL_SECONDS = 60;
/** A request still in progress under the key: repeats wait for its answer, bounded. */
const PENDING_WAIT_MS = 5_000;
const KEY = /^[\x21-\x7e]{1,255}$/;

interface Stored {
  state: 'pending' | 'done';
  fingerprint: string;
  status?: number;
  location?: string;
  body?: unknown;
}

function fingerprint(method: string, path: string, body: unknown): string {
  return createHash('sha256')
    .update(`${method} ${path}\n${JSON.stringify(body ?? null)}`)
    .digest('hex');
}

/**
 * Must run after authentication: keys are scoped per principal, so one caller cannot read
 * another's answer by guessing a key.
 */
export function idempotency(redis: Redis, prefix: string): RequestHandler {
  return async (req, res, next) => {
    const key = req.get('idempotency-key');
    if (key === undefined) return next();
    try {
      if (!KEY.test(key)) {
        throw new AppError('VALIDATION_FAILED', 'Idempotency-Key must be 1–255 visible characters');
      }
      const principal = principalOf(req);
      const redisKey = `${prefix}:idem:${principal.userId}:${createHash('sha256').update(key).digest('hex')}`;
      const print = fingerprint(req.method, req.path, req.body);
      const pending: Stored = { state: 'pending', fingerprint: print };
      // SET NX decides the one request that does the work; every other one replays its answer.
      const won = await fromRedis(redis, () =>
        redis.set(redisKey, JSON.stringify(pending), 'EX', PENDING_TTL_SECONDS, 'NX'),
      );
      if (won === 'OK') {
        capture(res, redis, redisKey, print);
        return next();
      }
      const deadline = Date.now() + PENDING_WAIT_MS;
      for (;;) {
        const raw = await fromRedis(redis, () => redis.get(redisKey));
        if (raw === null) {
          throw new AppError(
            'CONFLICT',
            'the first request with this Idempotency-Key failed; retry',
          );
        }
        const stored = JSON.parse(raw) as Stored;
        if (stored.fingerprint !== print) {
          throw new AppError(
            'CONFLICT',
            'this Idempotency-Key was used with a different request body',
          );
        }
        if (stored.state === 'done') {
          res.setHeader('Idempotent-Replayed', 'true');
          if (stored.location) res.location(stored.location);
          res.status(stored.status ?? 200).json(stored.body);
          return;
        }
        if (Date.now() > deadline) {
          throw new AppError(
            'CONFLICT',
            'a request with this Idempotency-Key is still in progress',
            {
              headers: { 'Retry-After': '1' },
            },
          );
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    } catch (err) {
      next(err);
    }
  };
}

/** Stores a 2xx answer for replay; anything else frees the key so the client can try again. */
function capture(res: Response, redis: Redis, redisKey: string, print: string): void {
  const json = res.json.bind(res);
  res.json = (body: unknown) => {
    const status = res.statusCode;
    const done: Promise<unknown> =
      status >= 200 && status < 300
        ? redis.set(
            redisKey,
            JSON.stringify({
              state: 'done',
              fingerprint: print,
              status,
              location: res.get('location'),
              body,
            } satisfies Stored),
            'EX',
            TTL_SECONDS,
          )
        : redis.del(redisKey);
    // The answer waits for the store, so a repeat can never see the key freed or half-written.
    done.then(
      () => json(body),
      () => json(body),
    );
    return res;
  };
}
