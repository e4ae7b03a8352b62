// SESSION_SECRET rotation without a restart: sessions and API keys hashed with the previous secret
// keep working and are re-keyed on first use. Real: the auth app on a fresh Postgres database and
// real Redis; the secret source is the same shape main.ts builds from a SecretFile.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SECRET, registerAndLogin, startHarness, type Harness } from './helpers.ts';

void describe('SESSION_SECRET rotation', () => {
  let h: Harness;
  const secrets: { current: string; previous?: string | undefined } = { current: SECRET };

  before(async () => {
    h = await startHarness({ secrets: () => secrets });
  });
  after(async () => {
    await h.close();
  });

  void it('accepts credentials made with the previous secret, re-keys them, then the old secret can go', async () => {
    const { token } = await registerAndLogin(h, 'rot@example.com');
    const created = await h.request('POST', '/api/auth/api-keys', {
      token,
      body: { name: 'k', scopes: ['email:send'] },
    });
    const key = (created.body as { key: string }).key;

    secrets.current = 'rotated-secret-0123456789abcdef-0123456789';
    secrets.previous = undefined;
    assert.equal(
      (await h.request('GET', '/api/auth/me', { token })).status,
      401,
      'without the previous secret the old hashes do not match',
    );

    secrets.previous = SECRET;
    assert.equal((await h.request('GET', '/api/auth/me', { token })).status, 200, 'session');
    assert.equal((await h.request('GET', '/api/auth/me', { bearer: key })).status, 200, 'API key');

    secrets.previous = undefined;
    assert.equal(
      (await h.request('GET', '/api/auth/me', { token })).status,
      200,
      're-keyed session',
    );
    assert.equal(
      (await h.request('GET', '/api/auth/me', { bearer: key })).status,
      200,
      're-keyed key',
    );
  });
});
