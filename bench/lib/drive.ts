// Runs `total` async tasks with at most `inFlight` at a time: the same driver for ours and the peers.
export async function pool(
  total: number,
  inFlight: number,
  task: (index: number) => Promise<unknown>,
): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.min(inFlight, total) }, async () => {
    while (next < total) {
      const index = next++;
      await task(index);
    }
  });
  await Promise.all(lanes);
}

/** Resolves once `count()` reaches `target`, polling; rejects after `timeoutMs`. */
export async function until(
  what: string,
  count: () => number | Promise<number>,
  target: number,
  timeoutMs: number,
  intervalMs = 5,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const n = await count();
    if (n >= target) return;
    if (performance.now() > deadline)
      throw new Error(`timed out waiting for ${what}: ${n} of ${target}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
