// The shared HTTP base driven over real HTTP: error shapes, request ids, body rules.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { z } from 'zod';
import { Metrics, createLogger } from '@securevault/observability';
import {
  AppError,
  createBaseApp,
  finishApp,
  listen,
  route,
  validate,
  type HttpServer,
} from '../src/index.ts';

const logger = createLogger({ service: 'gateway', level: 'silent' });
let server: HttpServer;
let base: string;
const metrics = new Metrics('gateway', { defaultMetrics: false });

before(async () => {
  const app = createBaseApp({ logger, metrics, bodyLimit: '1kb' });
  app.post(
    '/items/:id',
    route(async (req, res) => {
      const body = validate(z.object({ name: z.string().min(1) }).strict(), req.body, 'item');
      await Promise.resolve();
      res.status(201).json({ id: req.params.id, ...body, requestId: req.id });
    }),
  );
  app.get('/boom', () => {
    throw new Error('secret internals at /srv/app.ts:12');
  });
  app.get('/conflict', () => {
    throw new AppError('CONFLICT', 'already there', { headers: { 'Retry-After': '3' } });
  });
  app.get('/zod', () => {
    z.object({ a: z.string() }).parse({});
  });
  app.get('/unavailable', () => {
    throw new AppError('SERVICE_UNAVAILABLE', 'later');
  });
  finishApp(app, logger);
  server = await listen(app, 0, '127.0.0.1');
  base = `http://127.0.0.1:${server.port}`;
});
after(() => server.close());

async function call(path: string, init: RequestInit = {}) {
  const res = await fetch(base + path, init);
  const text = await res.text();
  assert.ok(!text.includes('stack') && !text.includes('.ts:'), `no internals in ${text}`);
  return {
    res,
    body: JSON.parse(text) as {
      error?: { code: string; requestId?: string; details?: unknown[] };
    } & Record<string, unknown>,
  };
}

describe('createBaseApp', () => {
  it('handles a valid request, echoing a sane incoming request id', async () => {
    const { res, body } = await call('/items/7', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': 'abc-123' },
      body: JSON.stringify({ name: 'n' }),
    });
    assert.equal(res.status, 201);
    assert.deepEqual(body, { id: '7', name: 'n', requestId: 'abc-123' });
    assert.equal(res.headers.get('x-request-id'), 'abc-123');
    assert.equal(res.headers.get('x-powered-by'), null);
    assert.ok(res.headers.get('content-security-policy'), 'helmet headers are set');
  });

  it('replaces an unsafe incoming request id', async () => {
    const { res } = await call('/items/7', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': 'bad id\n' },
      body: '{"name":"n"}',
    });
    assert.match(res.headers.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/);
  });

  const cases: Array<[string, RequestInit, number, string]> = [
    [
      '/items/1',
      { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"name":' },
      400,
      'MALFORMED_JSON',
    ],
    [
      '/items/1',
      { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"name":""}' },
      400,
      'VALIDATION_FAILED',
    ],
    [
      '/items/1',
      {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"name":"a","x":1}',
      },
      400,
      'VALIDATION_FAILED',
    ],
    [
      '/items/1',
      { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'name=a' },
      415,
      'UNSUPPORTED_MEDIA_TYPE',
    ],
    [
      '/items/1',
      {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'x'.repeat(5000) }),
      },
      413,
      'PAYLOAD_TOO_LARGE',
    ],
    ['/nowhere', {}, 404, 'NOT_FOUND'],
    ['/boom', {}, 500, 'INTERNAL'],
    ['/conflict', {}, 409, 'CONFLICT'],
    ['/zod', {}, 400, 'VALIDATION_FAILED'],
    ['/unavailable', {}, 503, 'SERVICE_UNAVAILABLE'],
  ];
  for (const [path, init, status, code] of cases) {
    it(`answers ${status} ${code} for ${init.method ?? 'GET'} ${path} ${typeof init.body === 'string' ? init.body.slice(0, 20) : ''}`, async () => {
      const { res, body } = await call(path, init);
      assert.equal(res.status, status);
      assert.equal(body.error?.code, code);
      assert.equal(body.error?.requestId, res.headers.get('x-request-id'));
      if (code === 'CONFLICT') assert.equal(res.headers.get('retry-after'), '3');
      if (code === 'VALIDATION_FAILED') assert.ok(Array.isArray(body.error?.details));
    });
  }

  it('records route templates in the RED histogram', async () => {
    assert.match(await metrics.text(), /route="\/items\/:id",status="201"/);
  });
});
