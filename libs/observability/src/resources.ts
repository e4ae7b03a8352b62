// Metrics and health checks for the Postgres pool and Redis clients a service holds.
import type { Metrics } from './metrics.ts';

/** The parts of a pg.Pool we read; structural so this library does not depend on pg. */
export interface PoolLike {
  totalCount: number;
  idleCount: number;
  waitingCount: number;
  on(event: 'error', listener: (err: Error) => void): unknown;
}

export function instrumentPgPool(pool: PoolLike, metrics: Metrics): void {
  const gauge = metrics.get('db_pool_connections');
  const errors = metrics.get('db_pool_errors_total');
  pool.on('error', () => errors.inc());
  // prom-client calls collect() on scrape; read the pool then, not on a timer.
  (gauge as unknown as { collect: () => void }).collect = () => {
    gauge.set({ state: 'total' }, pool.totalCount);
    gauge.set({ state: 'idle' }, pool.idleCount);
    gauge.set({ state: 'in_use' }, pool.totalCount - pool.idleCount);
    gauge.set({ state: 'waiting' }, pool.waitingCount);
  };
}

/** The parts of an ioredis client we read. */
export interface RedisLike {
  status: string;
  on(event: 'error', listener: (err: Error) => void): unknown;
}

const redisClients = new WeakMap<Metrics, Map<string, RedisLike>>();

export function instrumentRedis(client: RedisLike, name: string, metrics: Metrics): void {
  let clients = redisClients.get(metrics);
  if (!clients) {
    const map = new Map<string, RedisLike>();
    redisClients.set(metrics, map);
    clients = map;
    const up = metrics.get('redis_connection_up');
    const waiting = metrics.get('redis_commands_waiting');
    (up as unknown as { collect: () => void }).collect = () => {
      for (const [n, c] of map) up.set({ client: n }, c.status === 'ready' ? 1 : 0);
    };
    (waiting as unknown as { collect: () => void }).collect = () => {
      for (const [n, c] of map) {
        const queue = (c as unknown as { offlineQueue?: { length: number } }).offlineQueue;
        waiting.set({ client: n }, queue?.length ?? 0);
      }
    };
  }
  clients.set(name, client);
  const errors = metrics.get('redis_errors_total');
  client.on('error', () => errors.inc({ client: name }));
}
