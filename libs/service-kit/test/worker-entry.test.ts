// The worker entry (@securevault/service-kit/worker) leaves the HTTP server and database packages
// unloaded: a child process records every module its import resolves (node:module's resolve hook,
// which sees require() as well as import) and reports them with the entry's exports.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const PACKAGE_DIR = fileURLToPath(new URL('..', import.meta.url));

/** Packages a queue worker never uses: express and helmet (HTTP), kysely and pg (Postgres). */
const SERVER_PACKAGES: readonly string[] = ['express', 'helmet', 'kysely', 'pg'];

interface Loaded {
  packages: string[];
  exports: string[];
}

/** The packages `entry` loads (by name, deduplicated) and the names it exports. */
async function load(entry: string, conditions: string[]): Promise<Loaded> {
  const script = `
    import { registerHooks } from 'node:module';
    const urls = [];
    registerHooks({
      resolve(specifier, context, next) {
        const result = next(specifier, context);
        urls.push(result.url);
        return result;
      },
    });
    const kit = await import(${JSON.stringify(entry)});
    process.stdout.write(JSON.stringify({ urls, exports: Object.keys(kit) }));
  `;
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [...conditions.map((c) => `--conditions=${c}`), '--input-type=module', '-e', script],
    { cwd: PACKAGE_DIR },
  );
  const { urls, exports } = JSON.parse(stdout) as { urls: string[]; exports: string[] };
  const packages = new Set<string>();
  for (const url of urls) {
    // The last node_modules segment names the package (pnpm nests them under .pnpm/<id>/).
    const match = /.*\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
    if (match?.[1]) packages.add(match[1]);
  }
  return { packages: [...packages].sort(), exports };
}

const serverPackages = (loaded: Loaded) =>
  loaded.packages.filter((p) => SERVER_PACKAGES.includes(p));

for (const [label, conditions] of [
  ['from sources', ['securevault-source']],
  ['compiled (dist/, as the images run)', []],
] as const) {
  void describe(`the worker entry, ${label}`, () => {
    void it('loads neither express, helmet, pg nor kysely; the full entry loads all four', async () => {
      const worker = await load('@securevault/service-kit/worker', [...conditions]);
      assert.deepEqual(serverPackages(worker), []);
      // What the workers use comes through it.
      for (const name of [
        'createRuntime',
        'createWorker',
        'createProducer',
        'connectWorkerService',
        'createEgressPolicy',
        'loadConfig',
        'exitOnStartupError',
      ]) {
        assert.ok(worker.exports.includes(name), `${name} is exported`);
      }
      assert.ok(worker.packages.includes('bullmq') && worker.packages.includes('ioredis'));

      // The check can fail: the full entry, which the gateway, auth and audit import, loads them.
      const full = await load('@securevault/service-kit', [...conditions]);
      assert.deepEqual(serverPackages(full), ['express', 'helmet', 'kysely', 'pg']);
      assert.deepEqual(
        worker.exports.filter((name) => !full.exports.includes(name)),
        [],
        'the full entry exports everything the worker entry does',
      );
    });
  });
}
