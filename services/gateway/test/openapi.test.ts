// GET /api/openapi.json: a valid OpenAPI 3.1 document that covers every route the gateway serves.
// Real: the gateway app on Redis. Stand-in: auth (only introspection is needed here).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Validator } from '@seriousme/openapi-schema-validator';
import { KNOWN_PATHS } from '../src/app.ts';
import { openApiPath } from '../src/openapi.ts';
import {
  call,
  codeOf,
  startAuthStandin,
  startGateway,
  type Gateway,
  type Standin,
} from './helpers.ts';

/** The auth service's public routes, relayed by the gateway (services/auth/src/app.ts ALLOWED). */
const AUTH_PATHS: Array<[string, string[]]> = [
  ['/api/auth/register', ['POST']],
  ['/api/auth/login', ['POST']],
  ['/api/auth/logout', ['POST']],
  ['/api/auth/me', ['GET']],
  ['/api/auth/api-keys', ['GET', 'POST']],
  ['/api/auth/api-keys/:id', ['DELETE']],
  ['/api/auth/users', ['GET']],
  ['/api/auth/users/:id/role', ['PATCH']],
  ['/api/auth/users/:id/status', ['PATCH']],
];

type Doc = {
  [key: string]: unknown;
  openapi: string;
  paths: Record<string, Record<string, { responses: Record<string, unknown> }>>;
};

describe('OpenAPI document', () => {
  let gateway: Gateway;
  let auth: Standin;
  let doc: Doc;

  before(async () => {
    auth = await startAuthStandin();
    gateway = await startGateway({ AUTH_URL: auth.url, AI_MAX_TOKENS_LIMIT: '2048' });
    const answer = await call(`${gateway.url}/api/openapi.json`);
    assert.equal(answer.status, 200);
    assert.match(answer.headers.get('content-type') ?? '', /^application\/json/);
    doc = answer.body as Doc;
  });

  after(async () => {
    await gateway.close();
    await auth.close();
  });

  it('is valid OpenAPI 3.1', async () => {
    const validator = new Validator();
    const result = await validator.validate(doc);
    assert.equal(validator.version, '3.1');
    assert.deepEqual(result, { valid: true });
  });

  it('documents every path and method the gateway routes, and the auth paths', () => {
    for (const [path, methods] of [...KNOWN_PATHS, ...AUTH_PATHS]) {
      const item = doc.paths[openApiPath(path)];
      assert.ok(item, `${path} is not documented`);
      for (const method of methods) {
        assert.ok(item[method.toLowerCase()], `${method} ${path} is not documented`);
      }
    }
  });

  it('documents the error envelope for every error status', () => {
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(item)) {
        for (const [status, response] of Object.entries(op.responses)) {
          if (Number(status) < 400 || status === '503') continue;
          assert.match(
            JSON.stringify(response),
            /#\/components\/responses\/Error\d{3}/,
            `${method} ${path} ${status}`,
          );
        }
        assert.ok(op.responses['400'], `${method} ${path} lacks 400`);
      }
    }
  });

  it('follows the configuration (maxTokens bound) and the route schemas', () => {
    const body = (
      doc.paths['/api/generate-content']!.post as unknown as {
        requestBody: {
          content: Record<string, { schema: { properties: Record<string, unknown> } }>;
        };
      }
    ).requestBody.content['application/json']!.schema;
    assert.deepEqual(body.properties.maxTokens, { type: 'integer', minimum: 1, maximum: 2048 });
  });

  it('has no documented path the gateway does not answer', async () => {
    // Unauthenticated, every documented operation answers something other than "no route".
    for (const [path, item] of Object.entries(doc.paths)) {
      const url = gateway.url + path.replace(/\{[^}]+\}/g, '00000000-0000-4000-8000-000000000000');
      for (const method of Object.keys(item)) {
        const answer = await call(url, { method: method.toUpperCase() });
        const noRoute =
          answer.status === 404 &&
          /^no route for/.test(
            String((answer.body as { error?: { message?: string } })?.error?.message),
          );
        assert.ok(!noRoute, `${method} ${path} is documented but not routed`);
        if (answer.status >= 400) assert.ok(codeOf(answer), `${method} ${path}: ${answer.text}`);
      }
    }
  });
});
