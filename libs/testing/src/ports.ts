// Port helpers for tests and `make dev`: pick a free port, wait for an HTTP endpoint to answer.
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';

/**
 * A TCP port that was free on 127.0.0.1 a moment ago. Another process can still take it before
 * you bind, so prefer port 0 where the server under test supports it.
 */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, host, () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export interface WaitForHttpOptions {
  timeoutMs?: number;
  /** Wait for exactly this status (e.g. 200 on /readyz); otherwise any HTTP answer will do. */
  expectStatus?: number;
  intervalMs?: number;
  /** Stops waiting early (e.g. the process being polled has exited). */
  signal?: AbortSignal;
}

/** Polls `url` with GET until it answers (with expectStatus, if given). Resolves with the status. */
export async function waitForHttp(url: string, options: WaitForHttpOptions = {}): Promise<number> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const intervalMs = options.intervalMs ?? 100;
  const deadline = Date.now() + timeoutMs;
  let last = 'no attempt';
  for (;;) {
    options.signal?.throwIfAborted();
    try {
      const attempt = AbortSignal.timeout(Math.max(250, Math.min(2000, deadline - Date.now())));
      const signal = options.signal ? AbortSignal.any([attempt, options.signal]) : attempt;
      const res = await fetch(url, { signal });
      // Drain the body so the connection is released instead of lingering until GC.
      await res.arrayBuffer();
      if (options.expectStatus === undefined || res.status === options.expectStatus)
        return res.status;
      last = `status ${res.status}`;
    } catch (err) {
      options.signal?.throwIfAborted();
      const cause = (err as { cause?: { code?: string } }).cause;
      last = cause?.code ?? (err instanceof Error ? err.message : String(err));
    }
    if (Date.now() >= deadline) {
      throw new Error(
        `waitForHttp: ${url} did not answer${options.expectStatus === undefined ? '' : ` ${options.expectStatus}`} within ${timeoutMs} ms (last: ${last})`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
