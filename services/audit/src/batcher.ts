// Groups concurrent queue jobs into one database write while each job still waits for its own outcome.

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
