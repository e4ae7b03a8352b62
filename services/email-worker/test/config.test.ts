// Configuration: real loadConfig over plain env objects; the last test starts main.ts as a real process.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '@securevault/service-kit';
import { domainOf, withoutAddresses } from '../src/address.ts';
import { loadEmailWorkerConfig } from '../src/config.ts';

const base = {
  SMTP_URL: 'smtp://mailer:hunter2pass@mail.internal:587',
  SMTP_FROM: 'SecureVault <no-reply@example.com>',
};

function configError(env: Record<string, string>): ConfigError {
  try {
    loadEmailWorkerConfig(env);
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return err;
  }
  assert.fail('expected a ConfigError');
}

describe('email-worker config', () => {
  it('applies the defaults', () => {
    const config = loadEmailWorkerConfig(base);
    assert.equal(config.EMAIL_CONCURRENCY, 50);
    assert.equal(config.SMTP_POOL_MAX_CONNECTIONS, 10);
    assert.equal(config.SMTP_TIMEOUT_MS, 30_000);
    assert.equal(config.QUEUE_PREFIX, 'sv');
    assert.ok(Object.isFrozen(config));
  });

  it('names a missing SMTP_URL and SMTP_FROM', () => {
    const err = configError({});
    assert.deepEqual(err.variables.sort(), ['SMTP_FROM', 'SMTP_URL']);
    assert.match(err.message, /SMTP_URL: is required/);
  });

  it('never echoes a bad value, even one holding a password', () => {
    const err = configError({ ...base, SMTP_URL: 'http://mailer:hunter2pass@mail.internal' });
    assert.deepEqual(err.variables, ['SMTP_URL']);
    assert.ok(!err.message.includes('hunter2pass'));
    assert.ok(!err.message.includes('mail.internal'));
  });

  it('refuses a From without a domain', () => {
    const err = configError({ ...base, SMTP_FROM: 'SecureVault' });
    assert.deepEqual(err.variables, ['SMTP_FROM']);
  });

  it('reads SMTP_URL from SMTP_URL_FILE', () => {
    const dir = mkdtempSync(join(tmpdir(), 'email-worker-'));
    writeFileSync(join(dir, 'smtp-url'), 'smtps://mailer:s3cret@mail.internal:465\n');
    const config = loadEmailWorkerConfig({
      SMTP_FROM: base.SMTP_FROM,
      SMTP_URL_FILE: join(dir, 'smtp-url'),
    });
    assert.equal(config.SMTP_URL, 'smtps://mailer:s3cret@mail.internal:465');
  });
});

describe('address helpers', () => {
  it('finds the domain of a From value', () => {
    assert.equal(domainOf('SecureVault <No-Reply@Example.COM>'), 'example.com');
    assert.equal(domainOf('no-reply@mail.example.org'), 'mail.example.org');
    assert.equal(domainOf('no address here'), undefined);
  });

  it('removes addresses from SMTP replies', () => {
    assert.equal(
      withoutAddresses(
        "Can't send mail - all recipients were rejected: 550 <bob@example.com> unknown",
      ),
      "Can't send mail - all recipients were rejected: 550 <[address]> unknown",
    );
  });

  it('finds the addresses the defining regex finds, in linear time', () => {
    const reference = (text: string) =>
      text.replace(/[^\s<>()[\]",;:@]+@[^\s<>()[\]",;:@]+/g, '[address]');
    const piece = fc.oneof(
      fc.constantFrom('@', '@@', ' ', '<', '>', ',', ';', ':', '"', '[', ']', '\t', '\u00a0', 'é'),
      fc.stringMatching(/^[a-z0-9.+-]{1,8}@[a-z0-9.-]{1,8}$/),
      fc.string({ maxLength: 5 }),
    );
    fc.assert(
      fc.property(
        fc.array(piece, { maxLength: 12 }).map((p) => p.join('')),
        (text) => {
          assert.equal(withoutAddresses(text), reference(text));
        },
      ),
      { numRuns: 3000, seed: 77 },
    );
    // The regex is quadratic on these: hours at 1 MB. Not timed; a quadratic version would not
    // finish within the test timeout.
    const long = 'x'.repeat(1 << 20);
    assert.equal(withoutAddresses(long), long);
    assert.equal(withoutAddresses(`${long}@host`), '[address]');
  });
});

describe('email-worker main.ts', () => {
  it('exits 1 naming the variable when SMTP_URL is missing', async () => {
    const { code, stderr } = await run({ SMTP_FROM: base.SMTP_FROM });
    assert.equal(code, 1);
    assert.match(stderr, /SMTP_URL: is required/);
  });
});

async function run(env: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(
    process.execPath,
    ['--conditions=securevault-source', new URL('../src/main.ts', import.meta.url).pathname],
    {
      env: { PATH: process.env.PATH ?? '', MANAGEMENT_PORT: '0', ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  return { code, stderr };
}
