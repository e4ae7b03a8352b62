// `make backup` / `make restore` for real: scripts/backup.sh dumps a fresh Postgres database, the
// database is dropped and recreated, scripts/restore.sh brings the rows back. Real: Postgres,
// pg_dump, pg_restore and psql from the machine; nothing is a stand-in.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createTestDatabase, type TestDatabase } from '@securevault/testing';

const ROOT = resolve(import.meta.dirname, '../..');
const BACKUP = join(ROOT, 'scripts/backup.sh');
const RESTORE = join(ROOT, 'scripts/restore.sh');
// A password in the URL: trust authentication ignores it, and no output may ever show it.
const PASSWORD = 'n0t-in-logs%40secret';

let db: TestDatabase;
let dir: string;
let url: string;

function run(script: string, args: string[], env: Record<string, string>) {
  const r = spawnSync('bash', [script, ...args], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', ...env },
  });
  const output = r.stdout + r.stderr;
  assert.ok(!output.includes('n0t-in-logs'), `no password in output: ${output}`);
  return { code: r.status, output };
}

function psql(database: string, sql: string): string {
  const base = new URL(db.url);
  const r = spawnSync(
    'psql',
    [
      '-X',
      '-qAt',
      '-v',
      'ON_ERROR_STOP=1',
      '-h',
      base.hostname,
      '-p',
      base.port || '5432',
      '-U',
      decodeURIComponent(base.username) || 'postgres',
      '-d',
      database,
      '-c',
      sql,
    ],
    { encoding: 'utf8' },
  );
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim();
}

before(async () => {
  db = await createTestDatabase();
  dir = mkdtempSync(join(tmpdir(), 'sv-backups-'));
  const u = new URL(db.url);
  u.password = PASSWORD;
  u.searchParams.set('sslmode', 'disable');
  url = u.toString();
  psql(
    db.name,
    `CREATE SCHEMA auth; CREATE TABLE auth.users (id int PRIMARY KEY, email text NOT NULL);
     INSERT INTO auth.users VALUES (1, 'ada@example.test'), (2, 'grace@example.test');
     CREATE SCHEMA audit; CREATE TABLE audit.events (seq bigserial PRIMARY KEY, action text);
     INSERT INTO audit.events (action) VALUES ('user.login'), ('user.logout'), ('key.created');`,
  );
});

after(async () => {
  await db.drop();
  rmSync(dir, { recursive: true, force: true });
});

describe('backup and restore', () => {
  let dump = '';

  test('backup.sh writes a timestamped custom-format dump, owner-readable, with a checksum', () => {
    const r = run(BACKUP, [], { DATABASE_URL: url, BACKUP_DIR: dir });
    assert.equal(r.code, 0, r.output);
    const dumps = readdirSync(dir).filter((f) => f.endsWith('.dump'));
    assert.equal(dumps.length, 1);
    assert.match(dumps[0]!, /^securevault-\d{8}T\d{6}Z\.dump$/);
    dump = join(dir, dumps[0]!);
    assert.equal(statSync(dump).mode & 0o077, 0, 'not readable by group or others');
    assert.equal(readFileSync(dump).subarray(0, 5).toString(), 'PGDMP', 'custom format');
    assert.match(
      readFileSync(`${dump}.sha256`, 'utf8'),
      new RegExp(`^[0-9a-f]{64}  ${dumps[0]}\\n$`),
    );
    assert.match(r.output, new RegExp(`backing up 127\\.0\\.0\\.1:\\d+/${db.name}`));
  });

  test('restore.sh refuses without CONFIRM=yes and leaves the database alone', () => {
    psql(db.name, `INSERT INTO auth.users VALUES (3, 'later@example.test')`);
    const r = run(RESTORE, [dump], { DATABASE_URL: url });
    assert.equal(r.code, 1);
    assert.match(r.output, /CONFIRM=yes/);
    assert.equal(psql(db.name, 'SELECT count(*) FROM auth.users'), '3');
  });

  test('after the database is dropped and recreated, restore.sh brings the rows back', () => {
    psql('postgres', `DROP DATABASE "${db.name}" WITH (FORCE)`);
    psql('postgres', `CREATE DATABASE "${db.name}"`);
    assert.equal(psql(db.name, `SELECT count(*) FROM pg_namespace WHERE nspname = 'auth'`), '0');
    const r = run(RESTORE, [dump], { DATABASE_URL: url, CONFIRM: 'yes' });
    assert.equal(r.code, 0, r.output);
    assert.equal(
      psql(db.name, "SELECT string_agg(email, ',' ORDER BY id) FROM auth.users"),
      'ada@example.test,grace@example.test',
    );
    assert.equal(
      psql(db.name, "SELECT string_agg(action, ',' ORDER BY seq) FROM audit.events"),
      'user.login,user.logout,key.created',
    );
    // The sequence came back too: the next event continues after the restored ones.
    assert.equal(
      psql(db.name, `INSERT INTO audit.events (action) VALUES ('x') RETURNING seq`),
      '4',
    );
  });

  test('DATABASE_URL_FILE works like DATABASE_URL (the chart mounts secrets as files)', () => {
    const file = join(dir, 'database-url');
    writeFileSync(file, `${url}\n`, { mode: 0o600 });
    const sub = mkdtempSync(join(dir, 'file-'));
    const r = run(BACKUP, [], { DATABASE_URL_FILE: file, BACKUP_DIR: sub });
    assert.equal(r.code, 0, r.output);
    assert.equal(readdirSync(sub).filter((f) => f.endsWith('.dump')).length, 1);
  });

  test('make backup and make restore run the scripts (DATABASE_URL_FILE wins over the dev default)', () => {
    const file = join(dir, 'make-database-url');
    writeFileSync(file, `${url}\n`, { mode: 0o600 });
    const sub = mkdtempSync(join(dir, 'make-'));
    // Without DATABASE_URL: the file is the only source of the URL.
    const { DATABASE_URL: _unused, ...parent } = process.env;
    const env = { ...parent, DATABASE_URL_FILE: file, BACKUP_DIR: sub };
    const backup = spawnSync('make', ['--no-print-directory', 'backup'], {
      cwd: ROOT,
      encoding: 'utf8',
      env,
    });
    assert.equal(backup.status, 0, backup.stdout + backup.stderr);
    assert.match(backup.stdout, new RegExp(`backing up 127\\.0\\.0\\.1:\\d+/${db.name}`));
    const made = readdirSync(sub).filter((f) => f.endsWith('.dump'));
    assert.equal(made.length, 1);
    // Written after the dump: the restore must take the table back to the dump's two rows.
    psql(db.name, `INSERT INTO auth.users VALUES (9, 'after-dump@example.test')`);
    const restore = spawnSync(
      'make',
      ['--no-print-directory', 'restore', `FILE=${join(sub, made[0]!)}`, 'CONFIRM=yes'],
      { cwd: ROOT, encoding: 'utf8', env },
    );
    assert.equal(restore.status, 0, restore.stdout + restore.stderr);
    assert.equal(psql(db.name, 'SELECT count(*) FROM auth.users'), '2');
  });

  test('a backup of an unreachable database fails and keeps no file', () => {
    const sub = mkdtempSync(join(dir, 'fail-'));
    const r = run(BACKUP, [], {
      DATABASE_URL: `postgres://postgres:${PASSWORD}@127.0.0.1:1/nowhere`,
      BACKUP_DIR: sub,
    });
    assert.notEqual(r.code, 0);
    assert.deepEqual(readdirSync(sub), []);
  });

  test('misuse is refused with a message: no URL, a bad URL, a missing file, a corrupted dump', () => {
    assert.match(run(BACKUP, [], { BACKUP_DIR: dir }).output, /set DATABASE_URL/);
    assert.match(
      run(BACKUP, [], { DATABASE_URL: 'mysql://x@y/z', BACKUP_DIR: dir }).output,
      /not a postgres:\/\//,
    );
    const missing = run(RESTORE, [join(dir, 'nope.dump')], { DATABASE_URL: url, CONFIRM: 'yes' });
    assert.equal(missing.code, 1);
    assert.match(missing.output, /no readable backup/);
    const bad = join(dir, 'securevault-corrupt.dump');
    writeFileSync(bad, readFileSync(dump).subarray(0, 200));
    writeFileSync(
      `${bad}.sha256`,
      readFileSync(`${dump}.sha256`, 'utf8').replace(/  .*/, '  securevault-corrupt.dump'),
    );
    const corrupt = run(RESTORE, [bad], { DATABASE_URL: url, CONFIRM: 'yes' });
    assert.equal(corrupt.code, 1);
    assert.match(corrupt.output, /does not match its checksum/);
  });
});
