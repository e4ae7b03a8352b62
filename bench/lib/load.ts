// HTTP load from autocannon: saturation throughput, and latency percentiles at a fixed request rate.
import autocannon from 'autocannon';
import { percentile } from './stats.ts';

export interface Target {
  url: string;
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: string;
}

export interface Throughput {
  /** successful (2xx) responses per second */
  rps: number;
  ok: number;
  non2xx: number;
  errors: number;
}

export interface Latency {
  p50: number;
  p95: number;
  p99: number;
  /** successful responses per second actually achieved */
  rps: number;
  non2xx: number;
  errors: number;
}

function run(
  options: autocannon.Options,
  onResponse?: (status: number, ms: number) => boolean | void,
): Promise<autocannon.Result> {
  return new Promise((resolve, reject) => {
    const instance = autocannon(options, (err: unknown, result) => {
      if (err) reject(err instanceof Error ? err : new Error('autocannon failed'));
      else resolve(result);
    });
    if (onResponse) {
      // A handler answering true stops the run: autocannon otherwise ends on its next
      // one-second tick, which would pad a short burst by up to a second.
      instance.on('response', (_client, statusCode: number, _bytes: number, ms: number) => {
        if (onResponse(statusCode, ms) === true) instance.stop();
      });
    }
  });
}

function base(target: Target): autocannon.Options {
  return {
    url: target.url,
    method: target.method ?? 'GET',
    headers: target.headers ?? {},
    ...(target.body !== undefined ? { body: target.body } : {}),
    timeout: 10,
  };
}

/** As many requests as `connections` keep-alive connections can push for `seconds`. */
export async function saturate(
  target: Target,
  options: { seconds: number; connections: number },
): Promise<Throughput> {
  const result = await run({
    ...base(target),
    connections: options.connections,
    duration: options.seconds,
  });
  const ok = result['2xx'];
  return {
    rps: ok / result.duration,
    ok,
    non2xx: result.non2xx,
    errors: result.errors,
  };
}

/**
 * Requests at a fixed overall rate; percentiles of every response's own time (ms) as autocannon
 * measures it from write to last byte. Failed responses count too: a fast 429 is not a fast answer,
 * so callers check non2xx.
 */
export async function fixedRate(
  target: Target,
  options: { seconds: number; rate: number; connections?: number },
): Promise<Latency> {
  const times: number[] = [];
  const rate = Math.max(1, Math.round(options.rate));
  const result = await run(
    {
      ...base(target),
      // Enough connections that a slow response never holds back the schedule of the others.
      connections: Math.min(rate, options.connections ?? 16),
      overallRate: rate,
      duration: options.seconds,
    },
    (_status, ms) => {
      times.push(ms);
    },
  );
  return {
    p50: percentile(times, 50),
    p95: percentile(times, 95),
    p99: percentile(times, 99),
    rps: result['2xx'] / result.duration,
    non2xx: result.non2xx,
    errors: result.errors,
  };
}

/** A fixed number of requests as fast as `connections` allow; resolves with the wall time taken. */
export async function burst(
  target: Target,
  options: { amount: number; connections: number },
): Promise<{ ok: number; non2xx: number; errors: number; seconds: number }> {
  const started = performance.now();
  let answered = 0;
  let finished = 0;
  const result = await run(
    {
      ...base(target),
      connections: Math.min(options.connections, options.amount),
      amount: options.amount,
    },
    () => {
      answered++;
      if (answered < options.amount) return false;
      finished = performance.now();
      return true;
    },
  );
  return {
    ok: result['2xx'],
    non2xx: result.non2xx,
    errors: result.errors,
    // Until the last answer, measured here: autocannon's own duration is in whole seconds.
    seconds: ((finished || performance.now()) - started) / 1000,
  };
}
