// The management server on port 9464: /healthz, /readyz and /metrics, never exposed publicly.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { HealthRegistry } from './health.ts';
import type { Metrics } from './metrics.ts';
import { redactString } from './redact.ts';

export interface ManagementServer {
  port: number;
  close(): Promise<void>;
}

export async function startManagementServer(options: {
  port: number;
  host?: string;
  health: HealthRegistry;
  metrics: Metrics;
}): Promise<ManagementServer> {
  const { health, metrics } = options;
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      send(
        res,
        405,
        'application/json',
        JSON.stringify({ error: { code: 'METHOD_NOT_ALLOWED', message: 'GET only' } }),
      );
      return;
    }
    if (path === '/healthz') {
      send(res, 200, 'application/json', JSON.stringify({ status: 'ok' }));
    } else if (path === '/readyz') {
      health.readiness().then(
        (r) => {
          const checks = Object.fromEntries(
            Object.entries(r.checks).map(([k, v]) => [
              k,
              v.error ? { ...v, error: redactString(v.error) } : v,
            ]),
          );
          send(res, r.ready ? 200 : 503, 'application/json', JSON.stringify({ ...r, checks }));
        },
        () => send(res, 503, 'application/json', JSON.stringify({ ready: false })),
      );
    } else if (path === '/metrics') {
      metrics.text().then(
        (text) => send(res, 200, metrics.registry.contentType, text),
        () => send(res, 500, 'text/plain', 'metrics collection failed\n'),
      );
    } else {
      send(
        res,
        404,
        'application/json',
        JSON.stringify({ error: { code: 'NOT_FOUND', message: 'not found' } }),
      );
    }
  });
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? '0.0.0.0', () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      }),
  };
}

function send(res: http.ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
  res.end(body);
}
