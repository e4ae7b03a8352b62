// Security headers, CORS allowlist, the CSRF Origin check and the HTML CSP nonce, through the real
// gateway app on real Redis. Stand-in: auth (the helpers' token table).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { htmlCsp } from '@securevault/service-kit';
import { loadGatewayConfig } from '../src/config.ts';
import {
  asA,
  asAdmin,
  call,
  codeOf,
  startAuthStandin,
  startGateway,
  type Gateway,
  type Standin,
} from './helpers.ts';

const APP_ORIGIN = 'https://console.example.com';

describe('security headers, CORS and CSRF', () => {
  let auth: Standin;
  let gw: Gateway;

  before(async () => {
    auth = await startAuthStandin();
    gw = await startGateway({ AUTH_URL: auth.url, CORS_ORIGINS: APP_ORIGIN });
  });
  after(async () => {
    await gw.close();
    await auth.close();
  });

  it('JSON answers carry the API CSP, no-store, nosniff, Referrer-Policy and HSTS, and no X-Powered-By', async () => {
    for (const path of ['/api/health', '/api/nope', '/api/emails/x']) {
      const r = await call(`${gw.url}${path}`);
      assert.equal(
        r.headers.get('content-security-policy'),
        "default-src 'none';frame-ancestors 'none'",
        path,
      );
      assert.equal(r.headers.get('cache-control'), 'no-store', path);
      assert.equal(r.headers.get('x-content-type-options'), 'nosniff');
      assert.equal(r.headers.get('referrer-policy'), 'no-referrer');
      const hsts = r.headers.get('strict-transport-security') ?? '';
      assert.ok(Number(/max-age=(\d+)/.exec(hsts)?.[1]) >= 31_536_000, hsts);
      assert.match(hsts, /includeSubDomains/);
      assert.equal(r.headers.get('x-powered-by'), null);
    }
  });

  it('answers a preflight from an allowlisted origin, and refuses one from elsewhere', async () => {
    const ok = await call(`${gw.url}/api/send-email`, {
      method: 'OPTIONS',
      headers: { origin: APP_ORIGIN, 'access-control-request-method': 'POST' },
    });
    assert.equal(ok.status, 204);
    assert.equal(ok.headers.get('access-control-allow-origin'), APP_ORIGIN);
    assert.equal(ok.headers.get('access-control-allow-credentials'), 'true');
    assert.match(ok.headers.get('access-control-allow-methods') ?? '', /POST/);

    const evil = await call(`${gw.url}/api/send-email`, {
      method: 'OPTIONS',
      headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' },
    });
    assert.equal(evil.status, 403);
    assert.equal(evil.headers.get('access-control-allow-origin'), null);

    const simple = await call(`${gw.url}/api/health`, {
      headers: { origin: 'https://evil.example' },
    });
    assert.equal(simple.status, 200);
    assert.equal(simple.headers.get('access-control-allow-origin'), null);
    assert.match(simple.headers.get('vary') ?? '', /Origin/);
  });

  it('refuses a cookie-authenticated state change from a foreign origin (CSRF), and no job is queued', async () => {
    const json = { to: 'r@example.com', subject: 's', text: 't' };
    const before = await gw.emailQueue.count();
    const forged = await call(`${gw.url}/api/send-email`, {
      method: 'POST',
      json,
      headers: { ...asA, origin: 'https://evil.example' },
    });
    assert.equal(forged.status, 403);
    assert.equal(codeOf(forged), 'FORBIDDEN');
    const crossSite = await call(`${gw.url}/api/send-email`, {
      method: 'POST',
      json,
      headers: { ...asA, 'sec-fetch-site': 'cross-site' },
    });
    assert.equal(crossSite.status, 403);
    const opaque = await call(`${gw.url}/api/send-email`, {
      method: 'POST',
      json,
      headers: { ...asA, origin: 'null' },
    });
    assert.equal(opaque.status, 403, 'a sandboxed or opaque origin is not ours');
    assert.equal(await gw.emailQueue.count(), before);

    const fromConsole = await call(`${gw.url}/api/send-email`, {
      method: 'POST',
      json,
      headers: { ...asA, origin: APP_ORIGIN },
    });
    assert.equal(fromConsole.status, 202);
    const sameOrigin = await call(`${gw.url}/api/send-email`, {
      method: 'POST',
      json,
      headers: { ...asA, origin: gw.url },
    });
    assert.equal(sameOrigin.status, 202);
    // A bearer key is never attached by a browser on its own: no CSRF risk, no Origin rule.
    const withKey = await call(`${gw.url}/api/send-email`, {
      method: 'POST',
      json,
      headers: { ...asAdmin, origin: 'https://evil.example' },
    });
    assert.equal(withKey.status, 202);
  });
});

describe('HTML CSP helper', () => {
  it('gives each response a fresh nonce and a strict policy', () => {
    const a = htmlCsp();
    const b = htmlCsp();
    assert.notEqual(a.nonce, b.nonce);
    assert.ok(Buffer.from(a.nonce, 'base64').length >= 16, 'at least 128 bits');
    assert.match(
      a.header,
      new RegExp(`script-src 'nonce-${a.nonce.replace(/[+/]/g, '\\$&')}' 'strict-dynamic'`),
    );
    assert.match(a.header, /object-src 'none'/);
    assert.match(a.header, /base-uri 'none'/);
    assert.doesNotMatch(a.header, /unsafe-inline|unsafe-eval/);
  });
});

describe('HSTS configuration', () => {
  it('follows HSTS_MAX_AGE_SECONDS and HSTS_INCLUDE_SUBDOMAINS, and refuses less than a year', async () => {
    const auth = await startAuthStandin();
    const gw = await startGateway({
      AUTH_URL: auth.url,
      HSTS_MAX_AGE_SECONDS: '63072000',
      HSTS_INCLUDE_SUBDOMAINS: 'false',
    });
    try {
      const r = await call(`${gw.url}/api/health`);
      assert.equal(r.headers.get('strict-transport-security'), 'max-age=63072000');
    } finally {
      await gw.close();
      await auth.close();
    }
    assert.throws(
      () => loadGatewayConfig({ HSTS_MAX_AGE_SECONDS: '86400' }),
      /HSTS_MAX_AGE_SECONDS: must be at least 31536000/,
    );
  });
});
