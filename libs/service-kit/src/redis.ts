// ioredis clients with metrics and a readiness check; producers fail fast, workers wait.
import { Redis, type RedisOptions } from 'ioredis';
import {
  instrumentRedis,
  type HealthRegistry,
  type Lifecycle,
  type Logger,
  type Metrics,
} from '@securevault/observability';

export interface RedisClientOptions {
  url: string;
  name: string;
  logger: Logger;
  metrics: Metrics;
  /**
   * 'producer': commands fail at once while disconnected (the API answers 503, never hangs);
   * 'worker': BullMQ workers block on Redis and must retry forever (maxRetriesPerRequest null).
   */
  role: 'producer' | 'worker';
}

export function createRedis(options: RedisClientOptions): Redis {
  const base: RedisOptions = {
    connectionName: `securevault-${options.name}`,
    connectTimeout: 5_000,
    retryStrategy: (times) => Math.min(times * 200, 5_000),
  };
  const roleOptions: RedisOptions =
    options.role === 'producer'
      ? { enableOfflineQueue: false, maxRetriesPerRequest: 1 }
      : { maxRetriesPerRequest: null };
  const client = new Redis(options.url, { ...base, ...roleOptions });
  instrumentRedis(client, options.name, options.metrics);
  let lastError = '';
  client.on('error', (err: Error) => {
    // Log each distinct error once per outage instead of on every reconnect attempt.
    if (err.message !== lastError)
      options.logger.warn({ client: options.name, err: err.message }, 'redis error');
    lastError = err.message;
  });
  client.on('ready', () => {
    if (lastError) options.logger.info({ client: options.name }, 'redis reconnected');
    lastError = '';
  });
  return client;
}

export function registerRedisHealth(health: HealthRegistry, name: string, client: Redis): void {
  health.register(`redis:${name}`, async () => {
    if (client.status !== 'ready') throw new Error(`redis ${client.status}`);
    await client.ping();
  });
}

/** Waits for the first connection so start-up fails loudly when Redis is unreachable. */
export async function waitForRedis(client: Redis, timeoutMs = 10_000): Promise<void> {
  if (client.status === 'ready') return;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`redis not ready after ${timeoutMs} ms`));
    }, timeoutMs);
    const onReady = () => {
      cleanup();
      resolve();
    };
    const cleanup = () => {
      clearTimeout(timer);
      client.off('ready', onReady);
    };
    client.on('ready', onReady);
  });
}

export async function closeRedis(client: Redis): Promise<void> {
  if (client.status === 'end') return;
  try {
    await client.quit();
  } catch {
    client.disconnect();
  }
}

/**
 * A service's Redis connection, fully wired: closed on stop (in reverse start order), checked by
 * readiness as `redis:<name>`, and connected before this returns.
 */
export async function connectRedis(
  runtime: { logger: Logger; metrics: Metrics; health: HealthRegistry; lifecycle: Lifecycle },
  options: Pick<RedisClientOptions, 'url' | 'name' | 'role'>,
): Promise<Redis> {
  const client = createRedis({ ...options, logger: runtime.logger, metrics: runtime.metrics });
  runtime.lifecycle.onStop(`redis:${options.name}`, () => closeRedis(client));
  registerRedisHealth(runtime.health, options.name, client);
  await waitForRedis(client);
  return client;
}

/** One pipeline per turn of the event loop, for a client's commands sent through `batched()`. */
export interface CommandBatch {
  /** Queues a command for this turn's pipeline; resolves with its reply, rejects with its error. */
  call(name: string, ...args: Array<string | number | Buffer>): Promise<unknown>;
}

interface Pending {
  name: string;
  args: Array<string | number | Buffer>;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

const batches = new WeakMap<Redis, CommandBatch>();

/**
 * The client's command batch: the commands issued while one turn of the event loop handles its
 * I/O (the requests that arrived together) leave as one pipeline, in one write, when the turn
 * ends (setImmediate). ioredis's own auto-pipelining flushes on process.nextTick, which runs after
 * every socket's callback, so requests from different connections never shared a write. Writes are
 * what a hot path pays for most (docs/performance.md, authenticated request). A lone command goes
 * out as a plain command. Replies and errors are per command, exactly as without the batch; the
 * client's own options (no offline queue for producers) still apply to the pipeline.
 */
export function batched(redis: Redis): CommandBatch {
  let batch = batches.get(redis);
  if (batch) return batch;
  let pending: Pending[] = [];
  const flush = () => {
    const commands = pending;
    pending = [];
    if (commands.length === 1) {
      const [c] = commands as [Pending];
      redis.call(c.name, ...c.args).then(c.resolve, c.reject);
      return;
    }
    const pipeline = redis.pipeline();
    for (const c of commands) pipeline.call(c.name, ...c.args);
    pipeline.exec().then(
      (results) => {
        commands.forEach((c, i) => {
          const [err, value] = results?.[i] ?? [new Error('no reply in the pipeline'), undefined];
          if (err) c.reject(err);
          else c.resolve(value);
        });
      },
      (err: unknown) => {
        for (const c of commands) c.reject(err);
      },
    );
  };
  batch = {
    call(name, ...args) {
      return new Promise((resolve, reject) => {
        if (pending.length === 0) setImmediate(flush);
        pending.push({ name, args, resolve, reject });
      });
    },
  };
  batches.set(redis, batch);
  return batch;
}
