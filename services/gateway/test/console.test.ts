// The gateway serving the web console: a fresh CSP nonce stamped into every HTML answer, immutable
// assets, client routes, and a clear 503 when no build is there; /api is untouched. Real app on
// real Redis; the console is a small build-shaped folder written here (the browser suite in
// apps/console/test drives the real build).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NONCE_PLACEHOLDER, defaultConsoleDir } from '../src/console.ts';
import { call, codeOf, startGateway, type Gateway } from './helpers.ts';

const INDEX = `<!doctype html><html><head>
<meta property="csp-nonce" nonce="${NONCE_PLACEHOLDER}">
<script type="module" crossorigin src="/assets/app-1a2b3c.js" nonce="${NONCE_PLACEHOLDER}"></script>
<link rel="stylesheet" crossorigin href="/assets/app-4d5e6f.css" nonce="${NONCE_PLACEHOLDER}">
</head><body><div id="root"></div></body></html>`;

const HTML = { accept: 'text/html,application/xhtml+xml' };

function nonceOf(csp: string | null): string | undefined {
  return /script-src 'nonce-([^']+)' 'strict-dynamic'/.exec(csp ?? '')?.[1];
}

describe('the web console at /', () => {
  let dir: string;
  let gw: Gateway;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sv-console-'));
    mkdirSync(join(dir, 'assets'));
    writeFileSync(join(dir, 'index.html'), INDEX);
    writeFileSync(join(dir, 'assets', 'app-1a2b3c.js'), 'console.log("app");\n');
    writeFileSync(join(dir, 'favicon.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>');
    gw = await startGateway({ CONSOLE_DIR: dir });
  });
  after(async () => {
    await gw.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers / and client routes with the page, each with its own nonce in header and tags', async () => {
    const seen = new Set<string>();
    for (const path of ['/', '/audit', '/admin/users', '/index.html']) {
      const r = await call(`${gw.url}${path}`, { headers: HTML });
      assert.equal(r.status, 200, path);
      assert.match(r.headers.get('content-type') ?? '', /^text\/html; charset=utf-8/);
      assert.equal(r.headers.get('cache-control'), 'no-store');
      const csp = r.headers.get('content-security-policy');
      const nonce = nonceOf(csp);
      assert.ok(nonce, `${path}: ${csp}`);
      assert.match(
        csp ?? '',
        new RegExp(`style-src 'self' 'nonce-${nonce.replace(/[+/]/g, '\\$&')}'`),
      );
      assert.match(csp ?? '', /default-src 'self'/);
      assert.match(csp ?? '', /object-src 'none'/);
      assert.match(csp ?? '', /base-uri 'none'/);
      assert.ok(!r.text.includes(NONCE_PLACEHOLDER), 'every placeholder replaced');
      assert.equal(r.text.split(`nonce="${nonce}"`).length - 1, 3, 'meta, script and link');
      assert.equal(r.headers.get('x-content-type-options'), 'nosniff');
      seen.add(nonce);
    }
    assert.equal(seen.size, 4, 'a fresh nonce per answer');
  });

  it('serves hashed assets with a year of immutable caching, and a missing one as a JSON 404', async () => {
    const js = await call(`${gw.url}/assets/app-1a2b3c.js`);
    assert.equal(js.status, 200);
    assert.match(js.headers.get('content-type') ?? '', /javascript/);
    assert.equal(js.headers.get('cache-control'), 'public, max-age=31536000, immutable');
    assert.equal(js.text, 'console.log("app");\n');

    const missing = await call(`${gw.url}/assets/app-000000.js`);
    assert.equal(missing.status, 404);
    assert.equal(codeOf(missing), 'NOT_FOUND');
    assert.equal(missing.headers.get('cache-control'), 'no-store');

    const icon = await call(`${gw.url}/favicon.svg`);
    assert.equal(icon.status, 200);
    assert.equal(icon.headers.get('cache-control'), 'public, max-age=86400');
    // A path with an extension that is not a file is a 404, never the page.
    const nope = await call(`${gw.url}/robots.txt`, { headers: HTML });
    assert.equal(nope.status, 404);
    assert.equal(codeOf(nope), 'NOT_FOUND');
  });

  it('leaves /api alone: unknown paths stay JSON 404s with the API CSP, even asking for HTML', async () => {
    for (const path of ['/api', '/api/', '/api/nope', '/api/console']) {
      const r = await call(`${gw.url}${path}`, { headers: HTML });
      assert.equal(r.status, 404, path);
      assert.equal(codeOf(r), 'NOT_FOUND', path);
      assert.equal(
        r.headers.get('content-security-policy'),
        "default-src 'none';frame-ancestors 'none'",
      );
    }
    const health = await call(`${gw.url}/api/health`);
    assert.deepEqual(health.body, { status: 'ok' });
  });

  it('refuses other methods on a page with 405 and Allow', async () => {
    const r = await call(`${gw.url}/audit`, { method: 'POST', json: {} });
    assert.equal(r.status, 405);
    assert.equal(codeOf(r), 'METHOD_NOT_ALLOWED');
    assert.equal(r.headers.get('allow'), 'GET, HEAD');
  });

  it('finds the installed console package by default', () => {
    assert.match(defaultConsoleDir() ?? '', /apps[/\\]console[/\\]dist$/);
  });
});

describe('a gateway without a console build', () => {
  let gw: Gateway;
  let dir: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sv-console-missing-'));
    gw = await startGateway({ CONSOLE_DIR: join(dir, 'nothing-here') });
  });
  after(async () => {
    await gw.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('still serves the API, and answers pages with a clear 503 (HTML for browsers, JSON otherwise)', async () => {
    const health = await call(`${gw.url}/api/health`);
    assert.equal(health.status, 200);

    const page = await call(`${gw.url}/dashboard`, { headers: HTML });
    assert.equal(page.status, 503);
    assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
    assert.match(page.text, /The console is not built/);
    assert.ok(!page.text.includes('<script'), 'nothing to run');
    assert.ok(nonceOf(page.headers.get('content-security-policy')));
    assert.equal(page.headers.get('retry-after'), '60');

    const json = await call(`${gw.url}/`, { headers: { accept: 'application/json' } });
    assert.equal(json.status, 503);
    assert.equal(codeOf(json), 'SERVICE_UNAVAILABLE');
    assert.match(JSON.stringify(json.body), /not built/);

    const asset = await call(`${gw.url}/assets/app.js`);
    assert.equal(asset.status, 404);
  });

  it('treats a page without the nonce placeholder as not built (it could run no script)', async () => {
    const unstamped = mkdtempSync(join(tmpdir(), 'sv-console-plain-'));
    writeFileSync(join(unstamped, 'index.html'), '<!doctype html><script src="/a.js"></script>');
    const other = await startGateway({ CONSOLE_DIR: unstamped });
    try {
      const r = await call(`${other.url}/`, { headers: HTML });
      assert.equal(r.status, 503);
    } finally {
      await other.close();
      rmSync(unstamped, { recursive: true, force: true });
    }
  });
});
