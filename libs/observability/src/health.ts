// Health registry: liveness is the process itself; readiness checks each dependency with a timeout.

export type HealthCheck = () => unknown;

interface Entry {
  check: HealthCheck;
  timeoutMs: number;
}

export interface CheckResult {
  ok: boolean;
  durationMs: number;
  error?: string;
}

export interface Readiness {
  ready: boolean;
  shuttingDown: boolean;
  checks: Record<string, CheckResult>;
}

export class HealthRegistry {
  readonly #checks = new Map<string, Entry>();
  #shuttingDown = false;

  /** Registers a readiness check; names must be unique (a duplicate is a wiring bug). */
  register(name: string, check: HealthCheck, options: { timeoutMs?: number } = {}): void {
    if (this.#checks.has(name)) throw new Error(`health check ${name} registered twice`);
    this.#checks.set(name, { check, timeoutMs: options.timeoutMs ?? 2000 });
  }

  /** From now on readiness is false, so the load balancer stops sending traffic. */
  markShuttingDown(): void {
    this.#shuttingDown = true;
  }

  get shuttingDown(): boolean {
    return this.#shuttingDown;
  }

  async readiness(): Promise<Readiness> {
    const entries = [...this.#checks.entries()];
    const results = await Promise.all(entries.map(([, e]) => runCheck(e)));
    const checks: Record<string, CheckResult> = {};
    entries.forEach(([name], i) => (checks[name] = results[i] as CheckResult));
    const ready = !this.#shuttingDown && results.every((r) => r.ok);
    return { ready, shuttingDown: this.#shuttingDown, checks };
  }
}

async function runCheck(entry: Entry): Promise<CheckResult> {
  const start = performance.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      Promise.resolve().then(entry.check),
      new Promise((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`timed out after ${entry.timeoutMs} ms`)),
          entry.timeoutMs,
        );
      }),
    ]);
    return { ok: true, durationMs: Math.round(performance.now() - start) };
  } catch (err) {
    // Only the error's message: connection errors can carry hosts but never credentials here.
    const message = err instanceof Error ? err.message : String(err);
    return { ok: false, durationMs: Math.round(performance.now() - start), error: message };
  } finally {
    clearTimeout(timer);
  }
}
