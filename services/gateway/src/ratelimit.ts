// Rate limits and login brute-force defence on Redis: express-rate-limit policies and growing login blocks.
import { createHash } from 'node:crypto';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { ipKeyGenerator, rateLimit } from 'express-rate-limit';
import { RedisStore, type RedisReply } from 'rate-limit-redis';
import type { Redis } from 'ioredis';
import type { Logger, Metrics } from '@securevault/observability';
import { AppError, batched, type AuditEmitter } from '@securevault/service-kit';
import type { GatewayConfig } from './config.ts';

export type RateLimitConfig = Pick<
  GatewayConfig,
  | 'QUEUE_PREFIX'
  | 'RATE_LIMIT_LOGIN_MAX'
  | 'RATE_LIMIT_LOGIN_WINDOW_SECONDS'
  | 'RATE_LIMIT_LOGIN_BLOCK_SECONDS'
  | 'RATE_LIMIT_ACCOUNT_FAILURES_PER_HOUR'
  | 'RATE_LIMIT_API_PER_MINUTE'
  | 'RATE_LIMIT_EMAIL_PER_MINUTE'
  | 'RATE_LIMIT_AI_PER_MINUTE'
  | 'RATE_LIMIT_TIMEOUT_MS'
  | 'RATE_LIMIT_IPV6_SUBNET'
>;

export type Policy = 'login' | 'login_account' | 'anonymous' | 'api' | 'email' | 'ai';

export interface RateLimitDeps {
  config: RateLimitConfig;
  redis: Redis;
  logger: Logger;
  metrics: Metrics;
  audit: Pick<AuditEmitter, 'emit'>;
}

export interface RateLimits {
  /** POST /api/auth/login: blocks, per IP+account and per account limits; fails closed */
  login: RequestHandler[];
  /** everything under /api/auth without a principal: per IP */
  anonymous: RequestHandler;
  /** after authentication: per principal, plus the email/AI policy for those routes */
  authenticated: RequestHandler;
}

const MAX_BLOCK_SECONDS = 24 * 3600;
const STRIKE_MEMORY_SECONDS = 24 * 3600;
const KNOWN_GOOD_SECONDS = 30 * 24 * 3600;

/** A limiter's Redis command never holds a request longer than `ms`. */
function bounded<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error('rate limiter Redis timed out')), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * rate-limit-redis loads its Lua script once at start-up and keeps the (rejected) promise when
 * Redis was down then; reloading it after any failure lets limiting resume when Redis returns.
 */
class ResilientRedisStore extends RedisStore {
  override async init(options: Parameters<RedisStore['init']>[0]): Promise<void> {
    try {
      await super.init(options);
    } catch {
      // Loaded again on the first increment that fails.
    }
  }

  override async increment(key: string) {
    try {
      return await super.increment(key);
    } catch (err) {
      // Typically the script never loaded (Redis was not up at start): load it, then retry once.
      this.incrementScriptSha = this.loadIncrementScript();
      try {
        await this.incrementScriptSha;
      } catch {
        throw err;
      }
      return super.increment(key);
    }
  }
}

/** The client's bucket: its IPv4 address or its IPv6 /56 (one customer's allocation). */
export function clientBucket(req: Request, ipv6Subnet: number): string {
  return ipKeyGenerator(req.ip ?? 'unknown', ipv6Subnet);
}

/** The account a login names, hashed: Redis keys carry no email addresses. */
function accountKey(req: Request): string | undefined {
  const email = (req.body as { email?: unknown } | undefined)?.email;
  if (typeof email !== 'string' || email.trim() === '') return undefined;
  return createHash('sha256').update(email.trim().toLowerCase()).digest('base64url').slice(0, 32);
}

function principalKey(req: Request, ipv6Subnet: number): string {
  const p = req.principal;
  if (!p) return `ip:${clientBucket(req, ipv6Subnet)}`;
  return p.apiKeyId ? `key:${p.apiKeyId}` : `user:${p.userId}`;
}

export function createRateLimits(deps: RateLimitDeps): RateLimits {
  const { config, redis, logger, metrics, audit } = deps;
  const prefix = `${config.QUEUE_PREFIX}:rl`;
  const subnet = config.RATE_LIMIT_IPV6_SUBNET;
  const timeoutMs = config.RATE_LIMIT_TIMEOUT_MS;
  const blocked = metrics.get('rate_limit_blocked_total');
  const command = <T>(p: Promise<T>) => bounded(p, timeoutMs);

  /** What every block does: count it, audit it, answer 429 (Retry-After is already set). */
  async function refuse(policy: Policy, req: Request, res: Response, next: NextFunction) {
    blocked.inc({ policy });
    const ua = req.get('user-agent');
    const actor = req.principal
      ? {
          type: 'user' as const,
          id: req.principal.userId,
          ...(req.principal.apiKeyId ? { apiKeyId: req.principal.apiKeyId } : {}),
        }
      : { type: 'anonymous' as const, id: null };
    req.log.warn({ policy, userId: req.principal?.userId }, 'rate limited');
    await audit.emit({
      actor: {
        ...actor,
        ...(req.ip ? { ip: req.ip.slice(0, 64) } : {}),
        ...(ua ? { userAgent: ua.slice(0, 512) } : {}),
      },
      action: 'security.rate_limited',
      outcome: 'denied',
      ownerId: req.principal?.userId ?? null,
      metadata: { policy, method: req.method, route: req.path.slice(0, 100) },
    });
    const retryAfter = res.getHeader('Retry-After');
    next(
      new AppError('RATE_LIMITED', 'too many requests, try again later', {
        ...(retryAfter !== undefined ? { headers: { 'Retry-After': String(retryAfter) } } : {}),
      }),
    );
  }

  const storeUnavailable = () =>
    new AppError('SERVICE_UNAVAILABLE', 'rate limiting is unavailable, try again later', {
      headers: { 'Retry-After': '5' },
    });

  function limiter(
    policy: Policy,
    options: {
      limit: number;
      windowSeconds: number;
      key: (req: Request) => string;
      /** true: let traffic through when Redis fails; false: 503 */
      failOpen: boolean;
      skipSuccessfulRequests?: boolean;
      skip?: (req: Request) => boolean;
    },
  ): RequestHandler {
    const handler = rateLimit({
      windowMs: options.windowSeconds * 1000,
      limit: options.limit,
      standardHeaders: 'draft-8',
      legacyHeaders: false,
      identifier: policy,
      store: new ResilientRedisStore({
        prefix: `${prefix}:${policy}:`,
        sendCommand: (name: string, ...args: string[]) =>
          // Batched: the limits of the requests that arrived together leave in one write.
          command(batched(redis).call(name, ...args) as Promise<RedisReply>),
      }),
      keyGenerator: options.key,
      // trust proxy is set on purpose from TRUST_PROXY; an untrusted X-Forwarded-For is ignored.
      validate: { xForwardedForHeader: false },
      passOnStoreError: options.failOpen,
      skipSuccessfulRequests: options.skipSuccessfulRequests ?? false,
      ...(options.skip ? { skip: options.skip } : {}),
      logger: {
        error: (err: unknown) =>
          logger.warn({ err, policy }, 'rate limiter store failed; request allowed'),
        warn: (err: unknown) => logger.warn({ err, policy }, 'rate limiter warning'),
      },
      handler: (req, res, next) => {
        refuse(policy, req, res, next).catch(next);
      },
    });
    // A store failure the limiter does not pass on becomes a 503, never a 500 or a hang.
    return (req, res, next) => {
      // express-rate-limit catches its own rejections and hands them to this callback.
      void handler(req, res, (err?: unknown) => {
        if (err === undefined) next();
        else next(err instanceof AppError ? err : storeUnavailable());
      });
    };
  }

  const perMinute = (limit: number) => ({ limit, windowSeconds: 60 });

  const anonymous = limiter('anonymous', {
    ...perMinute(config.RATE_LIMIT_API_PER_MINUTE),
    key: (req) => `ip:${clientBucket(req, subnet)}`,
    failOpen: true,
  });
  const api = limiter('api', {
    ...perMinute(config.RATE_LIMIT_API_PER_MINUTE),
    key: (req) => principalKey(req, subnet),
    failOpen: true,
  });
  const email = limiter('email', {
    ...perMinute(config.RATE_LIMIT_EMAIL_PER_MINUTE),
    key: (req) => principalKey(req, subnet),
    failOpen: true,
  });
  const ai = limiter('ai', {
    ...perMinute(config.RATE_LIMIT_AI_PER_MINUTE),
    key: (req) => principalKey(req, subnet),
    failOpen: true,
  });

  const pairOf = (req: Request) =>
    `${clientBucket(req, subnet)}|${accountKey(req) ?? 'no-account'}`;
  const blockKey = (pair: string) => `${prefix}:login-block:${pair}`;
  const strikeKey = (pair: string) => `${prefix}:login-strikes:${pair}`;
  const goodKey = (account: string) => `${prefix}:login-good:${account}`;

  // Step 1: a pair under a temporary block is refused before anything else; Redis down → 503.
  const loginGuard: RequestHandler = (req, res, next) => {
    const pair = pairOf(req);
    const account = accountKey(req);
    const bucket = clientBucket(req, subnet);
    command(
      Promise.all([
        redis.pttl(blockKey(pair)),
        account ? redis.sismember(goodKey(account), bucket) : Promise.resolve(0),
      ]),
    ).then(
      ([blockMs, good]) => {
        res.locals.loginKnownGood = good === 1;
        if (blockMs > 0) {
          res.setHeader('Retry-After', String(Math.ceil(blockMs / 1000)));
          refuse('login', req, res, next).catch(next);
          return;
        }
        // An address the account signed in from before is remembered: the per-account cap spares it.
        if (account) {
          res.once('finish', () => {
            if (res.statusCode !== 200) return;
            redis
              .multi()
              .sadd(goodKey(account), bucket)
              .expire(goodKey(account), KNOWN_GOOD_SECONDS)
              .del(strikeKey(pair))
              .exec()
              .catch((err: unknown) => logger.warn({ err }, 'could not remember a good login'));
          });
        }
        next();
      },
      () => next(storeUnavailable()),
    );
  };

  // Step 2: 5 failures per pair per window, then a block that doubles with each strike in 24 h.
  const loginPair = limiter('login', {
    limit: config.RATE_LIMIT_LOGIN_MAX,
    windowSeconds: config.RATE_LIMIT_LOGIN_WINDOW_SECONDS,
    key: pairOf,
    failOpen: false,
    skipSuccessfulRequests: true,
  });

  const loginPairWithBlock: RequestHandler = (req, res, next) => {
    loginPair(req, res, (err?: unknown) => {
      if (!(err instanceof AppError) || err.code !== 'RATE_LIMITED') {
        next(err);
        return;
      }
      const pair = pairOf(req);
      command(
        redis.multi().incr(strikeKey(pair)).expire(strikeKey(pair), STRIKE_MEMORY_SECONDS).exec(),
      )
        .then(async (results) => {
          const strikes = Number(results?.[0]?.[1] ?? 1);
          const seconds = Math.min(
            config.RATE_LIMIT_LOGIN_BLOCK_SECONDS * 2 ** Math.max(0, strikes - 1),
            MAX_BLOCK_SECONDS,
          );
          await command(redis.set(blockKey(pair), '1', 'EX', seconds));
          res.setHeader('Retry-After', String(seconds));
          next(
            new AppError('RATE_LIMITED', 'too many failed sign-ins, try again later', {
              headers: { 'Retry-After': String(seconds) },
            }),
          );
        })
        .catch(() => next(storeUnavailable()));
    });
  };

  // Step 3: however many addresses attack it, one account takes at most N failures an hour.
  const loginAccount = limiter('login_account', {
    limit: config.RATE_LIMIT_ACCOUNT_FAILURES_PER_HOUR,
    windowSeconds: 3600,
    key: (req) => `account:${accountKey(req) ?? 'none'}`,
    failOpen: false,
    skipSuccessfulRequests: true,
    skip: (req) => accountKey(req) === undefined || req.res?.locals.loginKnownGood === true,
  });

  return {
    login: [loginGuard, loginPairWithBlock, loginAccount],
    anonymous,
    authenticated: (req, res, next) => {
      api(req, res, (err?: unknown) => {
        if (err !== undefined) {
          next(err);
          return;
        }
        if (req.method === 'POST' && req.path === '/api/send-email') email(req, res, next);
        else if (req.method === 'POST' && req.path === '/api/generate-content') ai(req, res, next);
        else next();
      });
    },
  };
}
