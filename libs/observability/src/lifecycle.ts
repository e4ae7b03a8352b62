// Graceful shutdown: readiness false, drain, then close what was started in reverse order.
import type { Logger } from 'pino';
import type { HealthRegistry } from './health.ts';

export interface LifecycleOptions {
  logger: Logger;
  health: HealthRegistry;
  /** total time allowed for shutdown before the process gives up with exit code 1 */
  graceMs: number;
  /** time to keep serving after readiness turns false, so load balancers notice first */
  drainMs?: number;
  exit?: (code: number) => void;
}

type Closer = () => unknown;

export class Lifecycle {
  readonly #closers: Array<{ name: string; close: Closer }> = [];
  readonly #options: LifecycleOptions;
  #stopping: Promise<number> | undefined;

  constructor(options: LifecycleOptions) {
    this.#options = options;
  }

  /** Registers something just started; it is closed after everything registered later. */
  onStop(name: string, close: Closer): void {
    this.#closers.push({ name, close });
  }

  /** SIGTERM and SIGINT start a shutdown; a second signal does not start another. */
  installSignalHandlers(): void {
    const handler = (signal: NodeJS.Signals) => {
      void this.shutdown(signal).then((code) => (this.#options.exit ?? process.exit)(code));
    };
    process.once('SIGTERM', handler);
    process.once('SIGINT', handler);
  }

  /** Runs the shutdown once and resolves with the exit code (0 when it finished inside the grace period). */
  shutdown(reason: string): Promise<number> {
    this.#stopping ??= this.#run(reason);
    return this.#stopping;
  }

  async #run(reason: string): Promise<number> {
    const { logger, health, graceMs, drainMs = 0 } = this.#options;
    const started = Date.now();
    logger.info({ reason, graceMs }, 'shutdown started');
    health.markShuttingDown();
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), graceMs);
      timer.unref();
    });
    const work = (async () => {
      if (drainMs > 0) await new Promise((r) => setTimeout(r, drainMs));
      let failed = false;
      for (const { name, close } of [...this.#closers].reverse()) {
        try {
          await close();
          logger.debug({ component: name }, 'closed');
        } catch (err) {
          failed = true;
          logger.error({ err, component: name }, 'close failed');
        }
      }
      return failed ? 'failed' : 'done';
    })();
    const outcome = await Promise.race([work, deadline]);
    clearTimeout(timer);
    const ms = Date.now() - started;
    if (outcome === 'timeout') {
      logger.error({ ms }, 'shutdown exceeded the grace period');
      return 1;
    }
    logger.info({ ms, outcome }, 'shutdown complete');
    return outcome === 'done' ? 0 : 1;
  }
}
