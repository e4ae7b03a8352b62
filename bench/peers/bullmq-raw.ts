// Peer for jobs/s: a raw BullMQ Queue and Worker with a no-op handler, nothing around them.
import { randomUUID } from 'node:crypto';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { pool, until } from '../lib/drive.ts';

export interface JobsRun {
  redisUrl: string;
  prefix: string;
  jobs: number;
  /** worker concurrency, the same on both sides */
  concurrency: number;
  /** producer calls in flight */
  inFlight: number;
  payload: (index: number) => Record<string, unknown> & { id: string };
}

/** Seconds from the first add to the last completion, with the worker consuming meanwhile. */
export async function rawBullmqJobs(run: JobsRun): Promise<number> {
  const producerConn = new Redis(run.redisUrl);
  const workerConn = new Redis(run.redisUrl, { maxRetriesPerRequest: null });
  const name = `raw-${randomUUID().slice(0, 8)}`;
  const queue = new Queue(name, { connection: producerConn, prefix: run.prefix });
  let completed = 0;
  const worker = new Worker(name, async () => {}, {
    connection: workerConn,
    prefix: run.prefix,
    concurrency: run.concurrency,
  });
  worker.on('completed', () => completed++);
  await worker.waitUntilReady();
  try {
    const started = performance.now();
    await pool(run.jobs, run.inFlight, async (i) => {
      const data = run.payload(i);
      await queue.add('job', data, { jobId: data.id });
    });
    await until('raw BullMQ completions', () => completed, run.jobs, 120_000);
    return (performance.now() - started) / 1000;
  } finally {
    await worker.close();
    await queue.obliterate({ force: true });
    await queue.close();
    producerConn.disconnect();
    workerConn.disconnect();
  }
}
