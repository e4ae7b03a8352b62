// Slicer: queued synchronous work runs in order, a slice of the event loop at a time. Pure timing
// on the real event loop; nothing is faked.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Slicer } from '../src/batcher.ts';

/** Holds the thread for `ms`, as preparing a large job's events does. */
function busy(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end);
}

void describe('Slicer', () => {
  void it('runs work in the order it was queued and settles each with its own result', async () => {
    const slicer = new Slicer(2);
    const order: number[] = [];
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        slicer.run(() => {
          order.push(i);
          return i % 2 === 0 ? i * 10 : Promise.resolve(i * 10);
        }),
      ),
    );
    assert.deepEqual(
      order,
      Array.from({ length: 20 }, (_, i) => i),
    );
    assert.deepEqual(
      results,
      Array.from({ length: 20 }, (_, i) => i * 10),
    );
  });

  void it('rejects only the work that threw; the rest still runs', async () => {
    const slicer = new Slicer(2);
    const settled = await Promise.allSettled([
      slicer.run(() => 'a'),
      slicer.run(() => {
        throw new TypeError('cannot be serialised');
      }),
      slicer.run(() => 'c'),
    ]);
    assert.deepEqual(
      settled.map((s) => s.status),
      ['fulfilled', 'rejected', 'fulfilled'],
    );
    assert.match(String((settled[1] as PromiseRejectedResult).reason), /cannot be serialised/);
  });

  void it('lets timers and I/O callbacks run between slices of a long queue', async () => {
    const slicer = new Slicer(3);
    let ran = 0;
    let timerAt = -1;
    await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        slicer.run(() => {
          // Due as the work starts: without slicing it would wait for all 30 ms of it.
          if (i === 0) {
            setTimeout(() => {
              timerAt = ran;
            }, 0);
          }
          busy(1);
          ran++;
        }),
      ),
    );
    assert.ok(timerAt > 0 && timerAt < 30, `the timer ran after ${timerAt} of 30 items`);
  });
});
