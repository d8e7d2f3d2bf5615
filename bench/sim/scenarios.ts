/**
 * The simulation's experiments, shared by `run.ts` (1,000 nodes, the table) and the unit test
 * (100 nodes): build an overlay, broadcast over it, crash part of it and watch it heal.
 */
import { sample } from '../../src/peer/overlay/random.js';
import { broadcastFigures, connectivity, overlayShape, type BroadcastFigures, type OverlayShape } from './metrics.js';
import { SimNetwork, type BroadcastRecord, type SimConfig } from './network.js';

export interface BuildOptions {
  nodes: number;
  /** One join every this many ms, each through a random node already in. */
  joinGapMs: number;
  /** Then this long for shuffles to run. */
  settleMs: number;
}

export const BUILD_DEFAULTS: BuildOptions = { nodes: 1000, joinGapMs: 10, settleMs: 30_000 };

export interface Built {
  net: SimNetwork;
  afterJoins: OverlayShape;
  settled: OverlayShape;
  /** HyParView messages per node per second once joined (shuffles, mostly). */
  membershipPerNodePerSecond: number;
}

/** Scenario (a): sequential joins through random contacts, then shuffles. */
export function buildOverlay(config: Partial<SimConfig>, opts: BuildOptions = BUILD_DEFAULTS): Built {
  const net = new SimNetwork(config);
  net.addNodes(opts.nodes);
  net.join(0);
  for (let i = 1; i < opts.nodes; i++) {
    net.at(i * opts.joinGapMs, () => {
      const contacts = net.live();
      net.join(i, contacts[Math.floor(net.random() * contacts.length)]!.index);
    });
  }
  net.runUntil(opts.nodes * opts.joinGapMs);
  const afterJoins = overlayShape(net);
  const membership = () => [...net.sent].reduce((sum, [kind, count]) => (kind.startsWith('hv.') ? sum + count : sum), 0);
  const before = membership();
  net.runFor(opts.settleMs);
  const membershipPerNodePerSecond = (membership() - before) / opts.nodes / (opts.settleMs / 1000);
  return { net, afterJoins, settled: overlayShape(net), membershipPerNodePerSecond };
}

/** `count` broadcasts from random live nodes, `gapMs` apart; returns once they had `drainMs` to finish. */
export function broadcasts(net: SimNetwork, count: number, gapMs: number, prefix: string, drainMs = 2000): BroadcastRecord[] {
  const records: BroadcastRecord[] = [];
  for (let k = 0; k < count; k++) {
    const live = net.live();
    records.push(net.broadcast(live[Math.floor(net.random() * live.length)]!.index, `${prefix}${k}`));
    net.runFor(gapMs);
  }
  net.runFor(drainMs);
  return records;
}

export interface SteadyResult {
  /** The first broadcast floods the new overlay (every link eager). */
  first: BroadcastFigures;
  /** After `warmup` broadcasts: the tree has settled. */
  settled: BroadcastFigures;
  /** Messages per node per broadcast over the settled phase, by type. */
  messagesPerNodePerBroadcast: Record<string, number>;
}

/** Scenario (b): broadcasts from random nodes over a settled overlay. */
export function steadyBroadcasts(net: SimNetwork, count: number, warmup: number, gapMs: number): SteadyResult {
  const first = broadcasts(net, 1, gapMs, 'first');
  broadcasts(net, warmup - 1, gapMs, 'warm');
  const before = new Map(net.sent);
  const settled = broadcasts(net, count, gapMs, 'steady', 0);
  const perNode: Record<string, number> = {};
  for (const [kind, total] of net.sent) {
    if (!kind.startsWith('pt.')) continue;
    perNode[kind.slice(3)] = (total - (before.get(kind) ?? 0)) / count / net.live().length;
  }
  net.runFor(2000);
  return { first: broadcastFigures(first), settled: broadcastFigures(settled), messagesPerNodePerBroadcast: perNode };
}

export interface FailureOptions {
  fraction: number;
  /** Broadcasts right after the crash, `gapMs` apart, the first at the crash itself. */
  afterCount: number;
  gapMs: number;
  /** How long the overlay gets to heal before the next broadcasts. */
  healMs: number;
  healedCount: number;
  warmup: number;
  /**
   * After the crash, may a stranded node rejoin through discovery (mDNS), and does Chatty's
   * catch-up run? Off: HyParView and Plumtree alone, as in the papers. Joining always may (a
   * JOIN lost on the way is retried through discovery: the papers' JOIN travels over TCP).
   */
  hostHelp: boolean;
}

export const FAILURE_DEFAULTS: Omit<FailureOptions, 'fraction'> = {
  afterCount: 10,
  gapMs: 100,
  healMs: 30_000,
  healedCount: 20,
  warmup: 20,
  hostHelp: false,
};

export interface FailureResult {
  fraction: number;
  killed: number;
  live: number;
  /** The broadcast sent at the instant of the crash. */
  firstAfter: BroadcastFigures;
  /** The `afterCount` broadcasts right after it. */
  rightAfter: BroadcastFigures;
  healed: BroadcastFigures;
  /** One second after the crash, and after healing. */
  shapeAfter: OverlayShape;
  shapeHealed: OverlayShape;
  /** Crash → the live overlay is one component without isolated nodes (ms), or null if never within `healMs`. */
  connectedAfterMs: number | null;
  rejoins: number;
}

/** Scenario (c): crash a fraction of the nodes at once, broadcast at once and after healing. */
export function failureExperiment(config: Partial<SimConfig>, build: BuildOptions, opts: FailureOptions): FailureResult {
  const { net } = buildOverlay({ ...config, discovery: true, catchUp: false }, build);
  broadcasts(net, opts.warmup, opts.gapMs, 'warm');
  net.config.discovery = opts.hostHelp;
  net.config.catchUp = opts.hostHelp;
  const victims = sample(
    net.random,
    net.live().map((n) => n.index),
    Math.round(opts.fraction * build.nodes),
  );
  const rejoinsBefore = net.rejoins;
  const crashAt = net.now;
  net.kill(victims);
  let connectedAt: number | null = null;
  for (let t = 0; t <= opts.healMs; t += 250) {
    net.at(crashAt + t, () => {
      if (connectedAt !== null) return;
      const c = connectivity(net);
      if (c.components === 1 && c.isolated === 0) connectedAt = net.now - crashAt;
    });
  }
  const after = broadcasts(net, opts.afterCount, opts.gapMs, 'after', 0);
  net.runUntil(crashAt + 1000);
  const shapeAfter = overlayShape(net);
  net.runUntil(crashAt + opts.healMs);
  const healed = broadcasts(net, opts.healedCount, opts.gapMs, 'healed');
  return {
    fraction: opts.fraction,
    killed: victims.length,
    live: net.live().length,
    firstAfter: broadcastFigures(after.slice(0, 1)),
    rightAfter: broadcastFigures(after),
    healed: broadcastFigures(healed),
    shapeAfter,
    shapeHealed: overlayShape(net),
    connectedAfterMs: connectedAt,
    rejoins: net.rejoins - rejoinsBefore,
  };
}
