// Resident memory of a process from /proc/<pid>/status (VmRSS), sampled through the run.
import { readFileSync } from 'node:fs';

/**
 * How long a process must have been left alone before its RSS counts as idle. V8 shrinks an idle
 * heap (young generation back to its minimum, empty old-space pages released) with a
 * memory-reducing full GC that its memory reducer forces ~100 s after the last full GC when the
 * allocation rate never looks low enough to do it sooner (its watchdog, checked every 8 s); the
 * services' RSS stays flat from 2 s to ~100 s of quiet, then drops (docs/performance.md, row 11).
 */
export const IDLE_QUIET_MS = 120_000;

/** VmRSS in MB (MiB), or undefined when the process is gone or /proc is not there. */
export function residentMb(pid: number): number | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status)?.[1];
    return kb === undefined ? undefined : Number(kb) / 1024;
  } catch {
    return undefined;
  }
}

/** Keeps the highest RSS seen per name while `loaded` is on; sampled every `intervalMs`. */
export class MemorySampler {
  readonly peak = new Map<string, number>();
  loaded = false;
  readonly #timer: NodeJS.Timeout;
  readonly #pids: () => Map<string, number>;

  constructor(pids: () => Map<string, number>, intervalMs = 100) {
    this.#pids = pids;
    this.#timer = setInterval(() => this.sample(), intervalMs);
    this.#timer.unref();
  }

  sample(): void {
    if (!this.loaded) return;
    for (const [name, pid] of this.#pids()) {
      const mb = residentMb(pid);
      if (mb !== undefined && mb > (this.peak.get(name) ?? 0)) this.peak.set(name, mb);
    }
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}
