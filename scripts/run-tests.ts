// Runs every test file with node's test runner under c8 coverage, then prints per-package line
// coverage and one closing summary line. `--e2e` runs only the end-to-end suite.
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, existsSync } from 'node:fs';
import { join, relative } from 'node:path';
import { REPO_ROOT } from './lib/processes.ts';

const e2eOnly = process.argv.includes('--e2e');
const imagesOnly = process.argv.includes('--images');
// The image build test (charts/test/image.slow-test.ts) runs as its own phase before the rest
// (below), and alone with `make test-images`.
const IMAGE_TEST = 'charts/test/image.slow-test.ts';
const COVERAGE_TARGET = 90;

const patterns = imagesOnly
  ? [IMAGE_TEST]
  : e2eOnly
    ? ['tests/e2e/**/*.test.ts']
    : [
        'libs/*/test/**/*.test.ts',
        'services/*/test/**/*.test.ts',
        'apps/*/test/**/*.test.ts',
        'scripts/test/**/*.test.ts',
        'charts/test/**/*.test.ts',
        'bench/test/**/*.test.ts',
        'tests/e2e/**/*.test.ts',
        'tests/shutdown/**/*.test.ts',
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

interface Counts {
  passed: number;
  failed: number;
  skipped: number;
  code: number;
}

/** Runs one node test run, echoing its output, and reads the runner's own pass/fail/skip lines. */
async function runPhase(command: string, phaseArgs: string[]): Promise<Counts> {
  const counts: Counts = { passed: 0, failed: 0, skipped: 0, code: 0 };
  const child = spawn(command, phaseArgs, {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
    env: process.env,
  });
  let buffer = '';
  const count = (line: string): void => {
    const m = /^ℹ (pass|fail|skipped) (\d+)$/.exec(line.trim());
    if (!m) return;
    const n = Number(m[2]);
    if (m[1] === 'pass') counts.passed = n;
    else if (m[1] === 'fail') counts.failed = n;
    else counts.skipped = n;
  };
  child.stdout.on('data', (chunk: Buffer) => {
    process.stdout.write(chunk);
    buffer += chunk.toString();
    const lines = buffer.split('\n');
    buffer = lines.pop() ?? '';
    for (const line of lines) count(line);
  });
  counts.code = await new Promise((resolve) => child.on('close', (c) => resolve(c ?? 1)));
  count(buffer);
  return counts;
}

const total: Counts = { passed: 0, failed: 0, skipped: 0, code: 0 };
const add = (c: Counts) => {
  total.passed += c.passed;
  total.failed += c.failed;
  total.skipped += c.skipped;
  if (c.code !== 0) total.code = c.code;
};

if (!e2eOnly && !imagesOnly) {
  // The images' contents first, on their own: each build compiles with tsc and copies a production
  // tree, CPU-heavy work that would only slow the timing-sensitive fault tests beside it.
  process.stdout.write(`Image contents (${IMAGE_TEST})\n`);
  add(
    await runPhase(process.execPath, [
      '--conditions=securevault-source',
      '--test',
      '--test-timeout=900000',
      '--test-reporter=spec',
      IMAGE_TEST,
    ]),
  );
}
add(await runPhase(command, args));

if (!e2eOnly && !imagesOnly && existsSync(lcovPath)) printCoverage(readFileSync(lcovPath, 'utf8'));

process.stdout.write(
  `\n${total.passed} passed, ${total.failed} failed${total.skipped ? `, ${total.skipped} skipped` : ''}\n`,
);
process.exit(total.code !== 0 || total.failed > 0 ? 1 : 0);

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
