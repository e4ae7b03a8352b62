// Waiting on BullMQ jobs in tests, typed structurally so this lib needs no bullmq dependency.

interface JobSource<J> {
  getJobState(id: string): Promise<string>;
  getJob(id: string): Promise<J | undefined>;
}

/**
 * Polls until the job reaches one of `states` and returns it (failed jobs do not reject the way
 * waitUntilFinished does). Bounded: throws naming the state it was left in.
 */
export async function waitForJobState<J>(
  queue: JobSource<J>,
  id: string,
  states: readonly string[],
  timeoutMs = 10_000,
): Promise<J> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    // State first, then the job: a job read before its state could predate that state.
    const state = await queue.getJobState(id);
    const job = states.includes(state) ? await queue.getJob(id) : undefined;
    if (job) return job;
    if (Date.now() > deadline)
      throw new Error(`job ${id} is ${state}, not ${states.join('|')} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
