import { getHeapStatistics } from 'node:v8';
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/peer/log.js';
import { MemoryReclaimer } from '../../src/peer/memory.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** A reclaimer for a small heap: 8 MB of growth and a catch-up of 100 events count. */
const reclaimerWith = (quietMs: number) => new MemoryReclaimer(silentLogger, { growthMb: 8, catchUpEvents: 100, quietMs });
/** How many collections have run after waiting `ms` more. */
async function collectionsAfter(reclaimer: MemoryReclaimer, ms: number): Promise<number> {
  await sleep(ms);
  return reclaimer.counts.collections;
}
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
    const reclaimer = reclaimerWith(60_000);
    burst();
    const grown = heapMb();
    reclaimer.caughtUp(100);
    expect(reclaimer.counts.collections).toBe(1);
    expect(heapMb()).toBeLessThan(grown / 2);
    // the heap has not grown since: the next catch-up leaves it alone
    reclaimer.caughtUp(5000);
    expect(reclaimer.counts.collections).toBe(1);
    reclaimer.close();
  });

  it('collects once more when quiet after a catch-up, for what was still in use at its end', async () => {
    const reclaimer = reclaimerWith(100);
    burst();
    reclaimer.caughtUp(100);
    expect(reclaimer.counts.collections).toBe(1);
    expect(await collectionsAfter(reclaimer, 350)).toBe(2);
    expect(await collectionsAfter(reclaimer, 300)).toBe(2);
    reclaimer.close();
  });

  it('leaves a catch-up of a few events alone, however much the heap grew', () => {
    const reclaimer = reclaimerWith(60_000);
    burst();
    reclaimer.caughtUp(99);
    expect(reclaimer.counts.collections).toBe(0);
    reclaimer.close();
  });

  it('collects after a busy spell once nothing was delivered for the quiet time, and not again while idle', async () => {
    const reclaimer = reclaimerWith(100);
    burst();
    for (let i = 0; i < 8; i++) {
      reclaimer.delivered();
      await sleep(30);
    }
    expect(reclaimer.counts.collections).toBe(0);
    expect(await collectionsAfter(reclaimer, 300)).toBe(1);
    expect(await collectionsAfter(reclaimer, 300)).toBe(1);
    reclaimer.close();
  });
});
