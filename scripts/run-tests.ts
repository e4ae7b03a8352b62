// Runs every test file with node's test runner under c8 coverage, then prints per-package line
// coverage and one closing summary line. `--e2e` runs only the end-to-end suite.
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, existsSync } from 'node:fs';
import { join, relative } from 'node:path';
import { REPO_ROOT } from './lib/processes.ts';

const e2eOnly = process.argv.includes('--e2e');
const imagesOnly = process.argv.includes('--images');
// The image build test runs on its own (make test-images): inside the full suite on a fresh
// clone, pnpm deploy has been seen to take minutes per service on this shared 2-core machine.
const IMAGE_TEST = 'charts/test/image.slow-test.ts';
const COVERAGE_TARGET = 90;

const patterns = imagesOnly
  ? [IMAGE_TEST]
  : e2eOnly
    ? ['tests/e2e/**/*.test.ts']
    : [
        'libs/*/test/**/*.test.ts',
        'services/*/test/**/*.test.ts',
        'scripts/test/**/*.test.ts',
        'charts/test/**/*.test.ts',
        'tests/e2e/**/*.test.ts',
      ];

mkdirSync(join(REPO_ROOT, 'coverage'), { recursive: true });
const lcovPath = join(REPO_ROOT, 'coverage', 'lcov.info');

const nodeArgs = [
  '--conditions=securevault-source',
  '--test',
  // Two cores: two test files at a time; each isolates its own database, queues and ports.
  `--test-concurrency=${process.env.TEST_CONCURRENCY ?? '2'}`,
  '--test-timeout=180000',
  '--test-reporter=spec',
  ...patterns,
];

// c8 collects V8 coverage from every process (test files and the services they start) and
// merges it properly; node's built-in coverage mis-merges files also loaded by child processes.
const c8 = join(REPO_ROOT, 'node_modules', '.bin', 'c8');
const command = e2eOnly || imagesOnly ? process.execPath : c8;
const args =
  e2eOnly || imagesOnly
    ? nodeArgs
    : [
        '--reporter=lcovonly',
        '--reporter=text-summary',
        '--report-dir=coverage',
        '--temp-directory=coverage/tmp',
        '--clean',
        '--exclude-after-remap=false',
        '--include=libs/*/src/**',
        '--include=services/*/src/**',
        process.execPath,
        ...nodeArgs,
      ];

let passed = 0;
let failed = 0;
let skipped = 0;
const child = spawn(command, args, {
  cwd: REPO_ROOT,
  stdio: ['ignore', 'pipe', 'inherit'],
  env: process.env,
});
let buffer = '';
child.stdout.on('data', (chunk: Buffer) => {
  process.stdout.write(chunk);
  buffer += chunk.toString();
  const lines = buffer.split('\n');
  buffer = lines.pop() ?? '';
  for (const line of lines) count(line);
});

function count(line: string): void {
  const m = /^ℹ (pass|fail|skipped) (\d+)$/.exec(line.trim());
  if (!m) return;
  const n = Number(m[2]);
  if (m[1] === 'pass') passed = n;
  else if (m[1] === 'fail') failed = n;
  else skipped = n;
}

const code: number = await new Promise((resolve) => child.on('close', (c) => resolve(c ?? 1)));
count(buffer);

if (!e2eOnly && !imagesOnly && existsSync(lcovPath)) printCoverage(readFileSync(lcovPath, 'utf8'));

process.stdout.write(
  `\n${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}\n`,
);
process.exit(code !== 0 || failed > 0 ? 1 : 0);

function printCoverage(lcov: string): void {
  const perPackage = new Map<string, { found: number; hit: number }>();
  let file = '';
  for (const line of lcov.split('\n')) {
    if (line.startsWith('SF:')) file = relative(REPO_ROOT, line.slice(3));
    else if (line.startsWith('LF:') || line.startsWith('LH:')) {
      const pkg = file.split('/').slice(0, 2).join('/');
      const entry = perPackage.get(pkg) ?? { found: 0, hit: 0 };
      if (line.startsWith('LF:')) entry.found += Number(line.slice(3));
      else entry.hit += Number(line.slice(3));
      perPackage.set(pkg, entry);
    }
  }
  const rows = [...perPackage.entries()].sort(([a], [b]) => a.localeCompare(b));
  process.stdout.write(
    `\nLine coverage per package (target ${COVERAGE_TARGET} %; lcov in coverage/lcov.info)\n`,
  );
  for (const [pkg, { found, hit }] of rows) {
    const pct = found === 0 ? 100 : (hit / found) * 100;
    const mark = pct >= COVERAGE_TARGET ? 'ok   ' : 'below';
    process.stdout.write(
      `  ${mark} ${pkg.padEnd(28)} ${pct.toFixed(1).padStart(5)} %  (${hit}/${found} lines)\n`,
    );
  }
}
