// Configuration parsing and file-mounted secrets; real files in a temp folder, nothing faked.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, utimesSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import {
  ConfigError,
  SecretFile,
  commonEnv,
  csv,
  loadConfig,
  port,
  postgresUrl,
} from '../src/config.ts';

const shape = {
  ...commonEnv,
  PORT: port(8080),
  DATABASE_URL: postgresUrl(),
  SESSION_SECRET: z.string().min(32),
  ADMIN_EMAILS: csv(),
  MODE: z.enum(['a', 'b']).default('a'),
};

describe('loadConfig', () => {
  it('parses, applies defaults and freezes', () => {
    const config = loadConfig(shape, {
      DATABASE_URL: 'postgres://u@h/db',
      SESSION_SECRET: 'x'.repeat(32),
      ADMIN_EMAILS: 'a@x.io, b@x.io,',
      PORT: '9000',
    });
    assert.equal(config.PORT, 9000);
    assert.equal(config.MANAGEMENT_PORT, 9464);
    assert.equal(config.QUEUE_PREFIX, 'sv');
    assert.deepEqual(config.ADMIN_EMAILS, ['a@x.io', 'b@x.io']);
    assert.ok(Object.isFrozen(config));
    assert.ok(Object.isFrozen(config.ADMIN_EMAILS));
    assert.throws(() => {
      (config as { PORT: number }).PORT = 1;
    });
  });

  it('reads <NAME>_FILE and strips one trailing newline', () => {
    const dir = mkdtempSync(join(tmpdir(), 'svcfg-'));
    try {
      writeFileSync(join(dir, 'secret'), 's'.repeat(40) + '\n');
      const config = loadConfig(shape, {
        DATABASE_URL: 'postgres://u@h/db',
        SESSION_SECRET_FILE: join(dir, 'secret'),
      });
      assert.equal(config.SESSION_SECRET, 's'.repeat(40));
    } finally {
      rmSync(dir, { recursive: true });
    }
  });

  it('names every bad variable and never its value', () => {
    const secret = 'tooshort-secret-value';
    try {
      loadConfig(shape, {
        SESSION_SECRET: secret,
        PORT: 'eighty',
        MODE: 'zzz-unlisted',
        REDIS_URL: 'http://not-redis',
        LOG_LEVEL: 'loud',
      });
      assert.fail('expected a ConfigError');
    } catch (err) {
      assert.ok(err instanceof ConfigError);
      assert.deepEqual(
        new Set(err.variables),
        new Set(['SESSION_SECRET', 'PORT', 'MODE', 'REDIS_URL', 'LOG_LEVEL', 'DATABASE_URL']),
      );
      for (const value of [secret, 'eighty', 'zzz-unlisted', 'not-redis', 'loud']) {
        assert.ok(!err.message.includes(value), `value ${value} leaked`);
      }
      assert.match(err.message, /DATABASE_URL: is required/);
      assert.match(err.message, /MODE: must be one of a, b/);
    }
  });

  it('refuses a variable given twice and an unreadable file', () => {
    assert.throws(
      () =>
        loadConfig(shape, {
          DATABASE_URL: 'postgres://h/d',
          SESSION_SECRET: 'x'.repeat(32),
          SESSION_SECRET_FILE: '/x',
        }),
      /SESSION_SECRET: set both/,
    );
    assert.throws(
      () =>
        loadConfig(shape, {
          DATABASE_URL: 'postgres://h/d',
          SESSION_SECRET_FILE: '/nonexistent/secret',
        }),
      /SESSION_SECRET_FILE: file cannot be read/,
    );
  });
});

describe('SecretFile', () => {
  it('caches for the TTL, re-reads after it, and keeps the last value when the file vanishes', () => {
    const dir = mkdtempSync(join(tmpdir(), 'svsecret-'));
    const path = join(dir, 'key');
    try {
      writeFileSync(path, 'one\n');
      const secret = new SecretFile(path, 1000);
      assert.equal(secret.get(0), 'one');
      writeFileSync(path, 'two');
      utimesSync(path, new Date(), new Date(Date.now() + 5000));
      assert.equal(secret.get(500), 'one', 'inside the TTL the cached value is served');
      assert.equal(secret.get(2000), 'two', 'after the TTL a changed file is read again');
      rmSync(path);
      assert.equal(secret.get(5000), 'two', 'stale fallback');
      assert.throws(() => new SecretFile(join(dir, 'missing')).get(), /secret file cannot be read/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
