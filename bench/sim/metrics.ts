/**
 * Figures of a simulated overlay: the shape of the active-view graph (as the HyParView paper
 * measures it) and of broadcasts (reliability, RMR and LDH as the Plumtree paper defines them).
 */
import type { BroadcastRecord, SimNetwork } from './network.js';

export interface Distribution {
  min: number;
  mean: number;
  max: number;
  /** value → how many nodes have it */
  histogram: Record<number, number>;
}

export function distribution(values: readonly number[]): Distribution {
  const histogram: Record<number, number> = {};
  for (const v of values) histogram[v] = (histogram[v] ?? 0) + 1;
  return {
    min: values.length ? Math.min(...values) : 0,
    mean: values.length ? values.reduce((a, b) => a + b, 0) / values.length : 0,
    max: values.length ? Math.max(...values) : 0,
    histogram,
  };
}

/** Nearest-rank percentile of unsorted values. */
export function percentile(values: readonly number[], p: number): number {
  if (!values.length) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export function mean(values: readonly number[]): number {
  return values.length ? values.reduce((a, b) => a + b, 0) / values.length : NaN;
}

export interface OverlayShape {
  live: number;
  activeSize: Distribution;
  passiveSize: Distribution;
  /** How many live nodes name each node in their active view. */
  inDegree: Distribution;
  /** Active-view entries (p → q) whose peer q does not hold p: should be 0 at rest. */
  asymmetric: number;
  /** Entries naming a node that is down. */
  toDown: number;
  /** Connected components of the live nodes over active links; the largest one's size. */
  components: number;
  largestComponent: number;
  isolated: number;
  /** Mean local clustering coefficient (the paper's measure of redundant links). */
  clustering: number;
  /** Mean shortest-path length over active links (BFS from up to 100 sources). */
  averagePath: number;
}

/** Components of the live nodes over active links (either end's entry counts), and nodes without any. */
export function connectivity(net: SimNetwork): { components: number; largest: number; isolated: number } {
  const graph = liveGraph(net);
  const seen = new Set<number>();
  let components = 0;
  let largest = 0;
  for (const start of graph.keys()) {
    if (seen.has(start)) continue;
    components++;
    largest = Math.max(largest, bfs(graph, start, seen).size);
  }
  return { components, largest, isolated: [...graph.values()].filter((s) => s.size === 0).length };
}

function liveGraph(net: SimNetwork): Map<number, Set<number>> {
  const graph = new Map<number, Set<number>>();
  for (const n of net.live()) graph.set(n.index, new Set());
  for (const [p, qs] of graph) {
    for (const peer of net.nodes[p]!.hv.active) {
      const q = net.index(peer);
      if (!graph.has(q)) continue;
      qs.add(q);
      graph.get(q)!.add(p);
    }
  }
  return graph;
}

export function overlayShape(net: SimNetwork): OverlayShape {
  const live = net.live();
  const alive = new Set(live.map((n) => n.index));
  const inDegree = new Map<number, number>(live.map((n) => [n.index, 0]));
  let asymmetric = 0;
  let toDown = 0;
  for (const n of live) {
    const mine = n.hv.active.map((p) => net.index(p));
    for (const q of mine) {
      if (!alive.has(q)) {
        toDown++;
        continue;
      }
      inDegree.set(q, (inDegree.get(q) ?? 0) + 1);
      if (!net.nodes[q]!.hv.isActive(n.id)) asymmetric++;
    }
  }
  // Components over links either end holds (a one-sided entry still carries messages).
  const undirected = liveGraph(net);
  const { components, largest } = connectivity(net);
  let clusteringSum = 0;
  for (const [, qs] of undirected) {
    const nbrs = [...qs];
    if (nbrs.length < 2) continue;
    let links = 0;
    for (let a = 0; a < nbrs.length; a++) for (let b = a + 1; b < nbrs.length; b++) if (undirected.get(nbrs[a]!)!.has(nbrs[b]!)) links++;
    clusteringSum += links / ((nbrs.length * (nbrs.length - 1)) / 2);
  }
  const sources = [...undirected.keys()].slice(0, 100);
  let pathSum = 0;
  let pathCount = 0;
  for (const s of sources) {
    for (const d of bfs(undirected, s, new Set()).values()) {
      if (d > 0) {
        pathSum += d;
        pathCount++;
      }
    }
  }
  return {
    live: live.length,
    activeSize: distribution(live.map((n) => n.hv.active.length)),
    passiveSize: distribution(live.map((n) => n.hv.passive.length)),
    inDegree: distribution([...inDegree.values()]),
    asymmetric,
    toDown,
    components,
    largestComponent: largest,
    isolated: [...undirected.values()].filter((s) => s.size === 0).length,
    clustering: undirected.size ? clusteringSum / undirected.size : 0,
    averagePath: pathCount ? pathSum / pathCount : 0,
  };
}

/** Distances from `start` (marking what it reaches in `seen`). */
function bfs(graph: Map<number, Set<number>>, start: number, seen: Set<number>): Map<number, number> {
  const dist = new Map<number, number>([[start, 0]]);
  seen.add(start);
  const queue = [start];
  for (let head = 0; head < queue.length; head++) {
    const u = queue[head]!;
    for (const v of graph.get(u) ?? []) {
      if (dist.has(v)) continue;
      seen.add(v);
      dist.set(v, dist.get(u)! + 1);
      queue.push(v);
    }
  }
  return dist;
}

export interface BroadcastFigures {
  broadcasts: number;
  /** Mean over broadcasts of (receivers that delivered over the overlay) / (live receivers). */
  reliability: number;
  /** Broadcasts every live receiver delivered. */
  complete: number;
  minReliability: number;
  /** Same, counting what Chatty's catch-up brought too (only when the model runs). */
  eventualReliability: number;
  /** Hops of every delivery over the overlay. */
  hopsP50: number;
  hopsP99: number;
  /** Last delivery hop: the largest hop count of a broadcast (Plumtree paper), mean and max over broadcasts. */
  ldhMean: number;
  ldhMax: number;
  /** Relative message redundancy, m / (n − 1) − 1 with m payload messages and n nodes reached (Plumtree paper). */
  rmrMean: number;
  /** Payload copies sent per reached node (1 + RMR, about). */
  payloadPerNode: number;
  latencyP50: number;
  latencyP99: number;
}

export function broadcastFigures(records: readonly BroadcastRecord[]): BroadcastFigures {
  const reliabilities: number[] = [];
  const eventual: number[] = [];
  const hops: number[] = [];
  const latencies: number[] = [];
  const ldh: number[] = [];
  const rmr: number[] = [];
  const perNode: number[] = [];
  let complete = 0;
  for (const r of records) {
    let tree = 0;
    let all = 0;
    let last = 0;
    for (const [node, d] of r.delivered) {
      if (node === r.source) continue;
      all++;
      if (d.via !== 'tree') continue;
      tree++;
      hops.push(d.hops);
      latencies.push(d.at - r.at);
      last = Math.max(last, d.hops);
    }
    const reliability = r.receivers ? tree / r.receivers : 1;
    reliabilities.push(reliability);
    eventual.push(r.receivers ? all / r.receivers : 1);
    if (tree === r.receivers) complete++;
    ldh.push(last);
    // n counts the source too: n − 1 = the nodes reached other than it.
    if (tree > 0) {
      rmr.push(r.payloadSent / tree - 1);
      perNode.push(r.payloadSent / tree);
    }
  }
  return {
    broadcasts: records.length,
    reliability: mean(reliabilities),
    complete,
    minReliability: reliabilities.length ? Math.min(...reliabilities) : NaN,
    eventualReliability: mean(eventual),
    hopsP50: percentile(hops, 50),
    hopsP99: percentile(hops, 99),
    ldhMean: mean(ldh),
    ldhMax: ldh.length ? Math.max(...ldh) : NaN,
    rmrMean: mean(rmr),
    payloadPerNode: mean(perNode),
    latencyP50: percentile(latencies, 50),
    latencyP99: percentile(latencies, 99),
  };
}
