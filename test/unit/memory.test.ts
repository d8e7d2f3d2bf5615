import { getHeapStatistics } from 'node:v8';
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/peer/log.js';
import { MemoryReclaimer } from '../../src/peer/memory.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const heapMb = () => getHeapStatistics().total_heap_size / 2 ** 20;

/** What a burst leaves behind: a heap grown for objects that are garbage now. */
function burst(): void {
  let kept: { text: string; n: number }[][] = [];
  for (let round = 0; round < 40; round++) {
    kept.push(Array.from({ length: 20_000 }, (_, n) => ({ text: `event ${round}:${n} ${'x'.repeat(40)}`, n })));
    if (kept.length > 8) kept.shift();
  }
  kept = [];
}

describe('MemoryReclaimer', () => {
  it('gives the heap back as soon as a large catch-up is over', () => {
    const reclaimer = new MemoryReclaimer(silentLogger, { minEvents: 100, quietMs: 60_000 });
    burst();
    const grown = heapMb();
    for (let i = 0; i < 100; i++) reclaimer.delivered();
    reclaimer.caughtUp();
    expect(reclaimer.counts.collections).toBe(1);
    expect(heapMb()).toBeLessThan(grown / 2);
    reclaimer.close();
  });

  it('leaves a catch-up of a few events alone', () => {
    const reclaimer = new MemoryReclaimer(silentLogger, { minEvents: 100, quietMs: 60_000 });
    for (let i = 0; i < 99; i++) reclaimer.delivered();
    reclaimer.caughtUp();
    expect(reclaimer.counts.collections).toBe(0);
    reclaimer.close();
  });

  it('collects after live traffic once nothing was delivered for the quiet time, not before', async () => {
    const reclaimer = new MemoryReclaimer(silentLogger, { minEvents: 5, quietMs: 150 });
    for (let i = 0; i < 5; i++) reclaimer.delivered();
    await sleep(100);
    reclaimer.delivered(); // still busy: the quiet time starts again
    await sleep(100);
    expect(reclaimer.counts.collections).toBe(0);
    await sleep(150);
    expect(reclaimer.counts.collections).toBe(1);
    // below the threshold again: no timer, no collection
    reclaimer.delivered();
    await sleep(250);
    expect(reclaimer.counts.collections).toBe(1);
    reclaimer.close();
  });

  it('collects once after a start-up has been quiet', async () => {
    const reclaimer = new MemoryReclaimer(silentLogger, { minEvents: 1000, quietMs: 50 });
    reclaimer.started();
    await sleep(200);
    expect(reclaimer.counts.collections).toBe(1);
    reclaimer.close();
  });
});
