// Feature flags, sticky A/B buckets and redirects at the edge, from a JSON file on disk re-read
// without a restart. Real: the gateway app on real Redis, the file. Stand-in: auth (it echoes the
// headers the gateway forwards, which is how services see the variant).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { call, startAuthStandin, startGateway, type Gateway, type Standin } from './helpers.ts';

const dir = mkdtempSync(join(tmpdir(), 'sv-edge-'));
const file = join(dir, 'edge.json');

function writeEdge(config: unknown): void {
  writeFileSync(file, JSON.stringify(config));
}

const echoed = (body: unknown) => (body as { headers: Record<string, string | undefined> }).headers;

describe('edge features', () => {
  let auth: Standin;
  let gw: Gateway;

  before(async () => {
    writeEdge({
      flags: { newConsole: true, betaAi: false },
      experiments: { onboarding: { variants: { control: 50, guided: 50 } } },
      redirects: [{ from: '/api/v0/send-email', to: '/api/send-email', status: 308 }],
    });
    auth = await startAuthStandin();
    gw = await startGateway({
      AUTH_URL: auth.url,
      EDGE_CONFIG_PATH: file,
      EDGE_CONFIG_TTL_MS: '50',
    });
  });
  after(async () => {
    await gw.close();
    await auth.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('redirects configured paths to local paths, keeping the query', async () => {
    const r = await call(`${gw.url}/api/v0/send-email?x=1`, { redirect: 'manual' });
    assert.equal(r.status, 308);
    assert.equal(r.headers.get('location'), '/api/send-email?x=1');
  });

  it('gives a sticky A/B cookie and passes the variant and flags to services as headers', async () => {
    const first = await call(`${gw.url}/api/auth/echo`);
    const setCookie = first.headers.get('set-cookie') ?? '';
    assert.match(setCookie, /^sv_ab=[0-9a-f-]{36}; Path=\/; Secure; HttpOnly; SameSite=Lax/);
    const cookie = setCookie.split(';')[0] ?? '';
    const variant = echoed(first.body)['x-securevault-variants'];
    assert.match(variant ?? '', /^onboarding=(control|guided)$/);
    assert.equal(echoed(first.body)['x-securevault-flags'], 'newConsole');

    for (let i = 0; i < 5; i++) {
      const again = await call(`${gw.url}/api/auth/echo`, { headers: { cookie } });
      assert.equal(echoed(again.body)['x-securevault-variants'], variant, 'sticky');
      assert.equal(again.headers.get('set-cookie'), null, 'no new cookie once bucketed');
    }
  });

  it('ignores variant and flag headers sent by the client', async () => {
    const r = await call(`${gw.url}/api/auth/echo`, {
      headers: { 'x-securevault-flags': 'admin', 'x-securevault-variants': 'onboarding=evil' },
    });
    assert.equal(echoed(r.body)['x-securevault-flags'], 'newConsole');
    assert.doesNotMatch(echoed(r.body)['x-securevault-variants'] ?? '', /evil/);
  });

  it('splits clients across variants by weight', async () => {
    const seen = new Set<string>();
    for (let i = 0; i < 40 && seen.size < 2; i++) {
      const r = await call(`${gw.url}/api/auth/echo`);
      seen.add(echoed(r.body)['x-securevault-variants'] ?? '');
    }
    assert.deepEqual([...seen].sort(), ['onboarding=control', 'onboarding=guided']);
  });

  it('reloads the file without a restart, and keeps the last good config when it breaks', async () => {
    writeEdge({
      flags: { betaAi: true },
      redirects: [{ from: '/api/old-health', to: '/api/health', status: 301 }],
    });
    let moved = 0;
    for (let i = 0; i < 40 && moved !== 301; i++) {
      await new Promise((r) => setTimeout(r, 60));
      moved = (await call(`${gw.url}/api/old-health`, { redirect: 'manual' })).status;
    }
    assert.equal(moved, 301, 'the new redirect is live');
    const r = await call(`${gw.url}/api/auth/echo`);
    assert.equal(echoed(r.body)['x-securevault-flags'], 'betaAi');
    assert.equal(r.headers.get('set-cookie'), null, 'no experiments, no A/B cookie');

    writeFileSync(file, '{ not json');
    await new Promise((r2) => setTimeout(r2, 150));
    assert.equal((await call(`${gw.url}/api/old-health`, { redirect: 'manual' })).status, 301);
    writeEdge({ redirects: [{ from: '/api/x', to: '//evil.example/', status: 302 }] });
    await new Promise((r2) => setTimeout(r2, 150));
    assert.equal(
      (await call(`${gw.url}/api/old-health`, { redirect: 'manual' })).status,
      301,
      'an off-site redirect target is refused; the last good config stays',
    );
  });
});
