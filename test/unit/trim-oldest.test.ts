import { describe, expect, it } from 'vitest';
import { trimOldest } from '../../src/peer/trim-oldest.js';

describe('trimOldest', () => {
  it('lets a map grow an eighth past its bound, then drops the oldest entries back to it', () => {
    const map = new Map<number, number>();
    for (let i = 0; i < 1000; i++) {
      map.set(i, i);
      trimOldest(map, 80);
      expect(map.size).toBeLessThanOrEqual(90);
    }
    expect(map.size).toBeGreaterThanOrEqual(80);
    // what is left is the newest, still in insertion order
    const keys = [...map.keys()];
    expect(keys.at(-1)).toBe(999);
    expect(keys).toEqual(Array.from({ length: keys.length }, (_, i) => 1000 - keys.length + i));
  });

  it('keeps a map within its bound untouched', () => {
    const map = new Map([
      ['a', 1],
      ['b', 2],
    ]);
    trimOldest(map, 2);
    expect([...map.keys()]).toEqual(['a', 'b']);
  });
});
