// Spawning, stopping and log-formatting service processes, shared by `make dev` and the e2e tests.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { constants } from 'node:os';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { styleText } from 'node:util';
import type { ServiceName } from './service-env.ts';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

export type OutputStream = 'stdout' | 'stderr';

export interface SpawnOptions {
  /** Called for every output line; without it, lines go to this process's stdout/stderr unchanged. */
  onLine?: (line: string, stream: OutputStream) => void;
  /** Script to run instead of services/<name>/src/main.ts (absolute or relative to the repo root). */
  entry?: string;
  cwd?: string;
  /**
   * Run compiled JavaScript, as the images do: spawnService starts services/<name>/dist/main.js
   * from the service's folder, and `--conditions=securevault-source` is not passed, so the
   * workspace libs resolve to their dist/ too (their packages' "default" export). Needs
   * `make build` first; a missing dist/ fails here, an outdated one is not detected.
   */
  compiled?: boolean;
  /** Extra node flags; `--conditions=securevault-source` is passed unless `compiled` is set. */
  nodeArgs?: string[];
  /** How long stop() waits after SIGTERM before SIGKILL (default 15 s). */
  stopTimeoutMs?: number;
}

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface ServiceProcess {
  name: string;
  child: ChildProcess;
  /** Settles when the process has exited and its output has been fully read. */
  exited: Promise<ExitInfo>;
  /** True once stop() was called, so exit handlers can tell a shutdown from a crash. */
  readonly stopping: boolean;
  /** SIGTERM, then SIGKILL after the timeout. Resolves with the exit code (128 + signal number when killed by a signal). */
  stop(timeoutMs?: number): Promise<number>;
}

// Children run in their own process group (detached), so a terminal Ctrl-C reaches only the
// orchestrator, which then stops each child once, in order. In exchange we must never leave them
// behind: if this process exits for any reason, kill whatever is still running.
const live = new Set<ChildProcess>();
let exitHookInstalled = false;
function trackChild(child: ChildProcess): void {
  live.add(child);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on('exit', () => {
      for (const c of live) c.kill('SIGKILL');
    });
  }
}

export function exitCodeOf(info: ExitInfo): number {
  if (info.code !== null) return info.code;
  const signo = info.signal === null ? undefined : constants.signals[info.signal];
  return 128 + (signo ?? 0);
}

export function serviceEntry(service: ServiceName): string {
  return join(REPO_ROOT, 'services', service, 'src', 'main.ts');
}

/** What the image runs: `node dist/main.js` in the service's package (the image's /app). */
export function compiledServiceEntry(service: ServiceName): string {
  return join(REPO_ROOT, 'services', service, 'dist', 'main.js');
}

/**
 * Runs a TypeScript file with node (source conditions), or with `compiled` a built JavaScript
 * file without them, line-buffering its output.
 */
export function spawnNodeScript(
  name: string,
  script: string,
  env: Record<string, string>,
  options: SpawnOptions = {},
): ServiceProcess {
  const path = script.startsWith('/') ? script : join(REPO_ROOT, script);
  if (options.compiled && !existsSync(path)) {
    throw new Error(`${path} does not exist: run \`make build\` first`);
  }
  const child = spawn(
    process.execPath,
    [
      ...(options.compiled ? [] : ['--conditions=securevault-source']),
      ...(options.nodeArgs ?? []),
      path,
    ],
    {
      cwd: options.cwd ?? REPO_ROOT,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    },
  );
  trackChild(child);
  const onLine =
    options.onLine ??
    ((line: string, stream: OutputStream) => {
      (stream === 'stdout' ? process.stdout : process.stderr).write(`${line}\n`);
    });
  const readers: Promise<void>[] = [];
  for (const stream of ['stdout', 'stderr'] as const) {
    const input = child[stream];
    if (!input) continue;
    const rl = createInterface({ input, crlfDelay: Infinity });
    rl.on('line', (line) => onLine(line, stream));
    readers.push(new Promise((resolve) => rl.once('close', resolve)));
  }
  const exited = new Promise<ExitInfo>((resolve) => {
    // 'close' (not 'exit') fires after stdio ends, so no log line arrives after we report the exit.
    child.once('close', (code, signal) => {
      live.delete(child);
      void Promise.all(readers).then(() => resolve({ code, signal }));
    });
    child.once('error', (err) => {
      live.delete(child);
      onLine(`failed to start: ${err.message}`, 'stderr');
      resolve({ code: 127, signal: null });
    });
  });
  let stopping = false;
  return {
    name,
    child,
    exited,
    get stopping() {
      return stopping;
    },
    async stop(timeoutMs = options.stopTimeoutMs ?? 15_000) {
      stopping = true;
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        let timer: NodeJS.Timeout | undefined;
        const timedOut = new Promise<'timeout'>((resolve) => {
          timer = setTimeout(() => resolve('timeout'), timeoutMs);
        });
        const first = await Promise.race([exited, timedOut]);
        clearTimeout(timer);
        if (first === 'timeout') {
          onLine(`did not exit within ${timeoutMs} ms of SIGTERM; sending SIGKILL`, 'stderr');
          child.kill('SIGKILL');
        }
      }
      return exitCodeOf(await exited);
    },
  };
}

/**
 * Starts `node --conditions=securevault-source services/<service>/src/main.ts`, or with `compiled`
 * `node dist/main.js` in services/<service>/ (what the image runs).
 */
export function spawnService(
  service: ServiceName,
  env: Record<string, string>,
  options: SpawnOptions = {},
): ServiceProcess {
  if (options.compiled) {
    return spawnNodeScript(service, options.entry ?? compiledServiceEntry(service), env, {
      ...options,
      cwd: options.cwd ?? join(REPO_ROOT, 'services', service),
    });
  }
  return spawnNodeScript(service, options.entry ?? serviceEntry(service), env, options);
}

/** Runs a script to completion (e.g. a migration) and resolves with its exit code. */
export async function runNodeScript(
  name: string,
  script: string,
  env: Record<string, string>,
  options: SpawnOptions = {},
): Promise<number> {
  return exitCodeOf(await spawnNodeScript(name, script, env, options).exited);
}

// ---- Readable pino output -------------------------------------------------------------------

const LEVELS: Record<number, string> = {
  10: 'TRACE',
  20: 'DEBUG',
  30: 'INFO',
  40: 'WARN',
  50: 'ERROR',
  60: 'FATAL',
};
const LEVEL_STYLE: Record<string, Parameters<typeof styleText>[0]> = {
  TRACE: 'gray',
  DEBUG: 'gray',
  INFO: 'green',
  WARN: 'yellow',
  ERROR: 'red',
  FATAL: ['red', 'bold'],
};
// Fields worth a glance, in this order; others follow until the line has MAX_FIELDS.
const PREFERRED = [
  'reqId',
  'requestId',
  'method',
  'url',
  'route',
  'statusCode',
  'responseTime',
  'durationMs',
  'queue',
  'jobId',
  'traceId',
];
const SKIPPED = new Set([
  'level',
  'time',
  'msg',
  'pid',
  'hostname',
  'v',
  'service',
  'name',
  'err',
  'error',
  'spanId',
  'trace_flags',
]);
const MAX_FIELDS = 6;

function shortValue(value: unknown): string | undefined {
  if (value === null || ['string', 'number', 'boolean'].includes(typeof value)) {
    const text = typeof value === 'string' ? value : String(value);
    const clipped = text.length > 80 ? `${text.slice(0, 77)}...` : text;
    return /[\s"=]/.test(clipped) ? JSON.stringify(clipped) : clipped;
  }
  return undefined;
}

function clock(time: unknown): string {
  const date = typeof time === 'number' || typeof time === 'string' ? new Date(time) : new Date();
  return (Number.isNaN(date.getTime()) ? new Date() : date).toISOString().slice(11, 23);
}

/**
 * Turns one pino JSON line into `HH:MM:SS.mmm LEVEL msg key=value ...` (plus an error's stack on
 * following lines). Anything that is not a pino object is returned unchanged.
 */
export function formatLogLine(line: string): string {
  if (!line.startsWith('{')) return line;
  let entry: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(line);
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return line;
    entry = parsed as Record<string, unknown>;
  } catch {
    return line;
  }
  if (!('level' in entry) || !('msg' in entry || 'time' in entry)) return line;
  const level =
    typeof entry.level === 'number'
      ? (LEVELS[entry.level] ?? String(entry.level))
      : String(entry.level).toUpperCase();
  const fields: string[] = [];
  const keys = [
    ...PREFERRED.filter((k) => k in entry),
    ...Object.keys(entry).filter((k) => !PREFERRED.includes(k)),
  ];
  for (const key of keys) {
    if (fields.length >= MAX_FIELDS || SKIPPED.has(key)) continue;
    const value = shortValue(entry[key]);
    if (value !== undefined) fields.push(`${styleText('dim', `${key}=`)}${value}`);
  }
  const err = (entry.err ?? entry.error) as { message?: unknown; stack?: unknown } | undefined;
  let tail = '';
  if (err && typeof err === 'object') {
    if (typeof err.message === 'string') fields.push(`err=${JSON.stringify(err.message)}`);
    if (typeof err.stack === 'string') tail = `\n${err.stack.split('\n').slice(1).join('\n')}`;
  }
  const msg = typeof entry.msg === 'string' ? entry.msg : '';
  return `${styleText('dim', clock(entry.time))} ${styleText(LEVEL_STYLE[level] ?? 'white', level.padEnd(5))} ${msg}${
    fields.length > 0 ? ` ${fields.join(' ')}` : ''
  }${tail}`;
}
