// The metric catalog and per-service registries, checked through prom-client's real exposition.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import express from 'express';
import { CATALOG, SERVICES, metricsFor, PROCESS_METRICS } from '../src/catalog.ts';
import { Metrics } from '../src/metrics.ts';
import { httpMetricsMiddleware, routeTemplate } from '../src/http-metrics.ts';

describe('metric catalog', () => {
  it('gives every service its metrics and the architecture names', () => {
    for (const name of [
      'http_request_duration_seconds',
      'emails_sent_total',
      'emails_failed_total',
      'ai_generations_total',
      'ai_tokens_total',
      'queue_jobs',
      'audit_events_total',
      'security_alerts_total',
      'rate_limit_blocked_total',
      'cache_requests_total',
    ]) {
      assert.ok(name in CATALOG, name);
    }
    for (const service of SERVICES) assert.ok(metricsFor(service).length > 0, service);
    assert.ok(metricsFor('email-worker').includes('emails_sent_total'));
    assert.ok(!metricsFor('gateway').includes('emails_sent_total'));
  });

  it('registers exactly the catalog metrics of a service plus process metrics', async () => {
    const metrics = new Metrics('email-worker');
    const text = await metrics.text();
    for (const name of metricsFor('email-worker'))
      assert.match(text, new RegExp(`# TYPE ${name} `), name);
    assert.doesNotMatch(text, /# TYPE http_request_duration_seconds /);
    for (const name of PROCESS_METRICS) assert.match(text, new RegExp(`# TYPE ${name} `), name);
    metrics.get('emails_sent_total').inc();
    assert.match(await metrics.text(), /^emails_sent_total 1$/m);
  });

  it('refuses a metric that is not in the service catalog', () => {
    const metrics = new Metrics('auth', { defaultMetrics: false });
    assert.throws(() => metrics.get('emails_sent_total'), /not in the catalog for service auth/);
    assert.equal(metrics.has('emails_sent_total'), false);
  });
});

describe('httpMetricsMiddleware', () => {
  it('labels requests with the route template, never the raw path', async () => {
    const metrics = new Metrics('gateway', { defaultMetrics: false });
    const app = express();
    app.use(httpMetricsMiddleware(metrics));
    const router = express.Router();
    router.get('/emails/:id', (_req, res) => void res.status(200).json({}));
    app.use('/api', router);
    const server = app.listen(0);
    await new Promise((r) => server.once('listening', r));
    const port = (server.address() as { port: number }).port;
    await (await fetch(`http://127.0.0.1:${port}/api/emails/123`)).text();
    await (await fetch(`http://127.0.0.1:${port}/api/emails/456`)).text();
    await (await fetch(`http://127.0.0.1:${port}/nope/789`)).text();
    server.close();
    const text = await metrics.text();
    assert.match(
      text,
      /http_request_duration_seconds_count\{method="GET",route="\/api\/emails\/:id",status="200"\} 2/,
    );
    assert.match(
      text,
      /http_request_duration_seconds_count\{method="GET",route="unmatched",status="404"\} 1/,
    );
    // The raw paths' ids never become labels (bare digits may appear in a duration's sum).
    assert.doesNotMatch(text, /\/(123|456|789)\b/);
  });

  it('routeTemplate falls back to unmatched', () => {
    assert.equal(routeTemplate({ baseUrl: '' } as express.Request), 'unmatched');
  });
});
