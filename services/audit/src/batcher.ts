// Groups concurrent queue jobs into one database write while each job still waits for its own
// outcome; slices the work done for each job as it arrives.

/** A per-item failure inside an otherwise successful flush: only that item's add() rejects. */
export class ItemError {
  readonly error: unknown;
  constructor(error: unknown) {
    this.error = error;
  }
}

interface Pending<T, R> {
  item: T;
  resolve: (result: R) => void;
  reject: (err: unknown) => void;
}

/**
 * Items added while a flush runs wait for the next one; at most one flush runs at a time, so a
 * process appends its batches in order. Each add() settles only when its batch is committed (or
 * failed): a queue job is acknowledged only after its event is durably stored.
 */
export class Batcher<T, R> {
  readonly #flush: (items: T[]) => Promise<Array<R | ItemError>>;
  readonly #maxSize: number;
  readonly #lingerMs: number;
  #pending: Pending<T, R>[] = [];
  #running = false;
  #timer: NodeJS.Timeout | undefined;

  constructor(
    flush: (items: T[]) => Promise<Array<R | ItemError>>,
    options: { maxSize: number; lingerMs: number },
  ) {
    this.#flush = flush;
    this.#maxSize = options.maxSize;
    this.#lingerMs = options.lingerMs;
  }

  add(item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.#pending.push({ item, resolve, reject });
      this.#schedule();
    });
  }

  #schedule(): void {
    if (this.#running) return;
    if (this.#pending.length >= this.#maxSize) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
      void this.#run();
    } else if (this.#timer === undefined) {
      // A short linger lets the jobs BullMQ hands out together land in one transaction.
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        void this.#run();
      }, this.#lingerMs);
    }
  }

  async #run(): Promise<void> {
    if (this.#running || this.#pending.length === 0) return;
    this.#running = true;
    const batch = this.#pending.splice(0, this.#maxSize);
    try {
      const results = await this.#flush(batch.map((p) => p.item));
      batch.forEach((p, i) => {
        const result = results[i];
        if (result instanceof ItemError) p.reject(result.error);
        else p.resolve(result as R);
      });
    } catch (err) {
      for (const p of batch) p.reject(err);
    } finally {
      this.#running = false;
      if (this.#pending.length > 0) this.#schedule();
    }
  }
}

/**
 * Runs queued synchronous work in order, a slice of the event loop at a time: at most `sliceMs` of
 * it, then the rest after I/O callbacks have run (setImmediate). A burst of work queued at once
 * then cannot delay the answers a running flush is waiting for by more than one slice.
 */
export class Slicer {
  readonly #sliceMs: number;
  #queue: Array<() => void> = [];
  #scheduled = false;

  constructor(sliceMs: number) {
    this.#sliceMs = sliceMs;
  }

  /** Runs `work` in a coming slice; settles as it returns or throws (or as the promise it returns). */
  run<R>(work: () => R | PromiseLike<R>): Promise<R> {
    return new Promise<R>((resolve) => {
      // Called from an async function: a throw rejects this promise instead of ending the slice.
      this.#queue.push(() => resolve(settle(work)));
      if (!this.#scheduled) {
        this.#scheduled = true;
        setImmediate(this.#drain);
      }
    });
  }

  readonly #drain = (): void => {
    const deadline = performance.now() + this.#sliceMs;
    let done = 0;
    while (done < this.#queue.length) {
      this.#queue[done++]?.();
      if (performance.now() >= deadline) break;
    }
    this.#queue.splice(0, done);
    if (this.#queue.length > 0) setImmediate(this.#drain);
    else this.#scheduled = false;
  };
}

async function settle<R>(work: () => R | PromiseLike<R>): Promise<R> {
  return work();
}
