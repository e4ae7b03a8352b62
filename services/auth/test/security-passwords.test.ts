// Breached/common passwords are refused at registration. Real: the auth app on a fresh Postgres
// database and real Redis (the harness); the shipped list in data/common-passwords.txt.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isCommonPassword } from '../src/common-passwords.ts';
import { startHarness, type Harness } from './helpers.ts';

void describe('common passwords', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness();
  });
  after(async () => {
    await h.close();
  });

  void it('refuses a listed password whatever its case, naming the field and not the value', async () => {
    for (const password of ['password123', 'PassWord123', 'iloveyou', 'qwertyuiop']) {
      const r = await h.request('POST', '/api/auth/register', {
        body: { email: 'c@example.com', password },
      });
      assert.equal(r.status, 400, password);
      assert.equal(r.error().code, 'VALIDATION_FAILED');
      const detail = r.error().details?.[0];
      assert.equal(detail?.path, 'password');
      assert.match(detail?.message ?? '', /too common/);
      assert.ok(!JSON.stringify(r.body).includes(password), 'the password is not echoed');
    }
    const ok = await h.request('POST', '/api/auth/register', {
      body: { email: 'c@example.com', password: 'violet-otter-tuesday-42' },
    });
    assert.equal(ok.status, 201);
  });

  void it('ships a list of thousands of entries, each at least 8 characters', () => {
    assert.equal(isCommonPassword('12345678'), true);
    assert.equal(isCommonPassword('  Baseball '), true);
    assert.equal(isCommonPassword('violet-otter-tuesday-42'), false);
  });
});
