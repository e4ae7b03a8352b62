// The benchmark runs the services compiled, as the images do: spawnService's `compiled` option
// starts services/<name>/dist/main.js without the source condition, so the workspace libs resolve
// to their dist/ (their packages' "default" export) instead of src/. No timing here.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  REPO_ROOT,
  compiledServiceEntry,
  serviceEntry,
  spawnNodeScript,
  spawnService,
} from '../../scripts/lib/processes.ts';

const dir = mkdtempSync(join(tmpdir(), 'sv-compiled-'));
after(() => rmSync(dir, { recursive: true, force: true }));

// Prints the flags node got and where a service's import of @securevault/contracts resolves.
const probe = join(dir, 'probe.mjs');
writeFileSync(
  probe,
  `import { createRequire } from 'node:module';
const require = createRequire(process.env.FROM);
process.stdout.write(JSON.stringify({ execArgv: process.execArgv, contracts: require.resolve('@securevault/contracts') }));
`,
);
const gatewayPackage = join(REPO_ROOT, 'services', 'gateway', 'package.json');
const contractsBuilt = existsSync(join(REPO_ROOT, 'libs', 'contracts', 'dist', 'index.js'));

async function run(compiled: boolean): Promise<{ execArgv: string[]; contracts: string }> {
  const lines: string[] = [];
  const proc = spawnNodeScript(
    'probe',
    probe,
    { PATH: process.env.PATH ?? '', FROM: gatewayPackage },
    { compiled, onLine: (line) => lines.push(line) },
  );
  const { code } = await proc.exited;
  assert.equal(code, 0, lines.join('\n'));
  return JSON.parse(lines.join('')) as { execArgv: string[]; contracts: string };
}

describe('compiled services', () => {
  it('the entry is dist/main.js of the service, as the image runs it', () => {
    assert.equal(compiledServiceEntry('auth'), join(REPO_ROOT, 'services/auth/dist/main.js'));
    assert.equal(serviceEntry('auth'), join(REPO_ROOT, 'services/auth/src/main.ts'));
  });

  it(
    'without the source condition the workspace libs resolve to dist/, with it to src/',
    { skip: contractsBuilt ? false : 'libs/contracts is not built (make build)' },
    async () => {
      const compiled = await run(true);
      assert.ok(!compiled.execArgv.includes('--conditions=securevault-source'));
      assert.equal(compiled.contracts, join(REPO_ROOT, 'libs/contracts/dist/index.js'));
      const source = await run(false);
      assert.ok(source.execArgv.includes('--conditions=securevault-source'));
      assert.equal(source.contracts, join(REPO_ROOT, 'libs/contracts/src/index.ts'));
    },
  );

  it('a missing build fails at spawn and says how to make one', () => {
    assert.throws(
      () => spawnService('auth', {}, { compiled: true, entry: join(dir, 'dist', 'main.js') }),
      /make build/,
    );
  });
});
