/**
 * The overlay's only source of randomness, injected so a run is a function of its seed: the
 * simulation and the tests replay exactly, and the node passes `Math.random`.
 */
export type Random = () => number;

/**
 * A small seeded generator (a 32-bit splitmix-style mixer over a Weyl sequence): good enough to
 * pick peers uniformly, not for anything secret.
 */
export function seededRandom(seed: number): Random {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x9e3779b9) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    z ^= z >>> 16;
    return (z >>> 0) / 0x1_0000_0000;
  };
}

/** One element chosen uniformly, or undefined for an empty list. */
export function pick<T>(random: Random, items: readonly T[]): T | undefined {
  return items.length ? items[Math.floor(random() * items.length)] : undefined;
}

/** Up to `k` distinct elements chosen uniformly (a partial Fisher–Yates shuffle of a copy). */
export function sample<T>(random: Random, items: readonly T[], k: number): T[] {
  const copy = [...items];
  const n = Math.min(k, copy.length);
  for (let i = 0; i < n; i++) {
    const j = i + Math.floor(random() * (copy.length - i));
    [copy[i], copy[j]] = [copy[j]!, copy[i]!];
  }
  return copy.slice(0, n);
}
