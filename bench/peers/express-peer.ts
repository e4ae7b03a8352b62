// Peer for the gateway's HTTP rows: express with helmet, a prom-client request histogram and
// express-rate-limit on rate-limit-redis — the plain way to build the same edge, and nothing else.
// Run as its own process: PORT, REDIS_URL, RATE_LIMIT_PREFIX from the environment.
import express from 'express';
import helmet from 'helmet';
import { Histogram, Registry } from 'prom-client';
import { rateLimit } from 'express-rate-limit';
import { RedisStore, type RedisReply } from 'rate-limit-redis';
import { Redis } from 'ioredis';

const port = Number(process.env.PORT ?? '0');
const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
const registry = new Registry();
const duration = new Histogram({
  name: 'http_request_duration_seconds',
  help: 'HTTP request duration',
  labelNames: ['method', 'route', 'status'],
  registers: [registry],
});

const app = express();
app.disable('x-powered-by');
app.use(helmet());
app.use((req, res, next) => {
  const end = duration.startTimer();
  res.on('finish', () => {
    end({
      method: req.method,
      route: (req.route as { path?: string } | undefined)?.path ?? 'unmatched',
      status: res.statusCode,
    });
  });
  next();
});
app.use(
  rateLimit({
    windowMs: 60_000,
    // As high as the benchmark's gateway: the limiter runs on every request and never refuses.
    limit: 1_000_000,
    standardHeaders: 'draft-8',
    legacyHeaders: false,
    store: new RedisStore({
      prefix: process.env.RATE_LIMIT_PREFIX ?? 'bench-peer:rl:',
      sendCommand: (command: string, ...args: string[]) =>
        redis.call(command, ...args) as Promise<RedisReply>,
    }),
  }),
);
app.get('/api/health', (_req, res) => {
  res.set('Cache-Control', 'no-store').json({ status: 'ok' });
});

const server = app.listen(port, '127.0.0.1', () => {
  process.stdout.write(`express peer listening on ${port}\n`);
});
process.once('SIGTERM', () => {
  server.close(() => {
    void redis.quit().finally(() => process.exit(0));
  });
  server.closeAllConnections();
});
