/**
 * A discrete-event simulated LAN that runs the real overlay modules (src/peer/overlay: HyParView
 * and Plumtree) on many nodes in one process, on a simulated clock, reproducibly from a seed.
 *
 * The network:
 * - every message takes a latency drawn uniformly from `latencyMs` and arrives in order per
 *   (sender, receiver) pair, as on one TCP connection;
 * - a message is lost with probability `loss` (harsher than TCP, which never loses a frame on a
 *   live connection: it exercises the repair paths, IHAVE → GRAFT above all);
 * - messages to a node that is down are lost.
 *
 * The links, as the node's host will keep them (see hyparview.ts): one link per pair, held by
 * each end that asked for it (`connect`), closed by either end's `disconnect`, by a crash, or
 * after `claimGraceMs` when one end never claimed it; each end that held it is told
 * (`linkFailed`) after one latency (the close travels the link), or, for a silent crash
 * (`failureDetection: 'silent'`: power cut, cable pulled), when the keep-alive gives up. A
 * `connect` to a node that is down fails after a round trip (refused) or `connectTimeoutMs` (silent).
 *
 * Optional host behaviour, off the modules:
 * - `discovery`: a node with an empty passive view and room in its active view (alone, or the
 *   seed of an island) joins again through a random live node (what mDNS gives on a LAN), at
 *   most once per shuffle period;
 * - `catchUp`: Chatty's version-vector catch-up: on each new neighbour, and with one random
 *   neighbour per shuffle period, a node pulls the broadcasts it lacks, and relays what it got
 *   that way to its other neighbours.
 */
import { HyParView, type HyParViewConfig, type HyParViewEffect, type HyParViewMessage } from '../../src/peer/overlay/hyparview.js';
import { Plumtree, type PlumtreeConfig, type PlumtreeEffect, type PlumtreeMessage } from '../../src/peer/overlay/plumtree.js';
import { seededRandom, type Random } from '../../src/peer/overlay/random.js';

export interface SimConfig {
  seed: number;
  loss: number;
  latencyMs: readonly [number, number];
  shufflePeriodMs: number;
  claimGraceMs: number;
  failureDetection: 'close' | 'silent';
  /** Silent crashes are noticed this long after (Chatty's keep-alive: ping 2 s, dead after 6 s). */
  keepAliveMs: readonly [number, number];
  connectTimeoutMs: number;
  discovery: boolean;
  catchUp: boolean;
  /** Catch-up relays wait this long, as Chatty's sync does (sync.ts relayDelayMs). */
  relayDelayMs: number;
  hyparview: Partial<HyParViewConfig>;
  plumtree: Partial<PlumtreeConfig>;
  /** One Plumtree tree per source, as the node runs it (root = the author), instead of the paper's shared tree. */
  perSourceTrees: boolean;
}

export const SIM_DEFAULTS: Readonly<SimConfig> = {
  seed: 1,
  loss: 0.01,
  latencyMs: [0.5, 5],
  shufflePeriodMs: 2000,
  claimGraceMs: 50,
  failureDetection: 'close',
  keepAliveMs: [4000, 6000],
  connectTimeoutMs: 3000,
  discovery: true,
  catchUp: false,
  relayDelayMs: 60,
  hyparview: {},
  plumtree: {},
  perSourceTrees: false,
};

export interface Delivery {
  hops: number;
  at: number;
  via: 'tree' | 'catchup';
}

export interface BroadcastRecord {
  id: string;
  source: number;
  at: number;
  /** Live nodes other than the source when it was sent: the receivers that count. */
  receivers: number;
  delivered: Map<number, Delivery>;
  /** GOSSIP messages sent for this id (payload copies, GRAFT answers included). */
  payloadSent: number;
}

type Layer = 'hv' | 'pt';
type PtMessage = PlumtreeMessage<string>;

interface SimLink {
  a: number;
  b: number;
}

export class SimNode {
  alive = true;
  joined = false;
  wakeAt = Infinity;
  rejoinScheduled = false;
  lastRejoin = -Infinity;
  readonly hv: HyParView;
  readonly pt: Plumtree<string>;

  constructor(
    readonly index: number,
    readonly id: string,
    random: Random,
    now: () => number,
    config: SimConfig,
  ) {
    this.hv = new HyParView(id, random, config.hyparview);
    this.pt = new Plumtree<string>(id, now, config.plumtree);
  }
}

interface QueuedEvent {
  at: number;
  seq: number;
  run: () => void;
}

/** A binary min-heap on (time, insertion order): same-time events run in the order they were made. */
class EventQueue {
  private readonly heap: QueuedEvent[] = [];
  private seq = 0;

  get size(): number {
    return this.heap.length;
  }

  push(at: number, run: () => void): void {
    const h = this.heap;
    h.push({ at, seq: this.seq++, run });
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(h[i]!, h[parent]!)) break;
      [h[i], h[parent]] = [h[parent]!, h[i]!];
      i = parent;
    }
  }

  peekTime(): number | undefined {
    return this.heap[0]?.at;
  }

  pop(): QueuedEvent | undefined {
    const h = this.heap;
    const top = h[0];
    const last = h.pop();
    if (top === undefined || last === undefined || h.length === 0) return top;
    h[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && before(h[l]!, h[m]!)) m = l;
      if (r < h.length && before(h[r]!, h[m]!)) m = r;
      if (m === i) break;
      [h[i], h[m]] = [h[m]!, h[i]!];
      i = m;
    }
    return top;
  }
}

function before(x: QueuedEvent, y: QueuedEvent): boolean {
  return x.at < y.at || (x.at === y.at && x.seq < y.seq);
}

export class SimNetwork {
  readonly config: SimConfig;
  now = 0;
  readonly nodes: SimNode[] = [];
  readonly broadcasts = new Map<string, BroadcastRecord>();
  /** Messages sent, by layer and type (`hv.join`, `pt.gossip`…). */
  readonly sent = new Map<string, number>();
  /** Messages the network lost, and messages that reached a crashed node. */
  lost = 0;
  toDown = 0;
  /** Joins again through discovery, and events brought by the catch-up model. */
  rejoins = 0;
  catchUpTransfers = 0;
  /** The network's own stream (latency, loss; scenarios draw from it too). */
  readonly random: Random;
  private readonly queue = new EventQueue();
  private readonly links = new Map<number, SimLink>();
  private readonly linksOf: Set<SimLink>[] = [];
  /** Per node, the peers its HyParView holds a link to (connected and not released). */
  private readonly holds: Set<number>[] = [];
  private readonly fifo = new Map<number, number>();

  constructor(config: Partial<SimConfig> = {}) {
    this.config = { ...SIM_DEFAULTS, ...config };
    this.random = seededRandom(this.config.seed);
  }

  /** Adds `count` nodes, not joined yet; returns their indices. */
  addNodes(count: number): number[] {
    const added: number[] = [];
    for (let k = 0; k < count; k++) {
      const i = this.nodes.length;
      // Each node its own stream, derived from the seed: adding a node does not reshuffle the others.
      const random = seededRandom((this.config.seed * 1_000_003 + i * 7919) >>> 0);
      this.nodes.push(new SimNode(i, `n${i}`, random, () => this.now, this.config));
      this.linksOf.push(new Set());
      this.holds.push(new Set());
      added.push(i);
    }
    return added;
  }

  /** Node `i` joins through `contact` now (or starts alone without one), and starts its shuffle ticks. */
  join(i: number, contact?: number): void {
    const node = this.nodes[i]!;
    node.joined = true;
    if (contact !== undefined) this.applyHv(i, node.hv.join(this.nodes[contact]!.id));
    this.scheduleTicks(i, this.now + this.random() * this.config.shufflePeriodMs);
  }

  /** Crashes the nodes at once. */
  kill(indices: readonly number[]): void {
    for (const d of indices) this.nodes[d]!.alive = false;
    for (const d of indices) {
      for (const link of [...this.linksOf[d]!]) {
        const other = link.a === d ? link.b : link.a;
        this.closeLink(link);
        if (this.holds[other]!.has(d) && this.nodes[other]!.alive) this.notifyClosed(other, d, link, this.detectDelay());
      }
      this.holds[d]!.clear();
    }
  }

  /** Node `i` broadcasts a new message `id` now. */
  broadcast(i: number, id: string): BroadcastRecord {
    const receivers = this.nodes.filter((n) => n.alive && n.joined && n.index !== i).length;
    const record: BroadcastRecord = { id, source: i, at: this.now, receivers, delivered: new Map(), payloadSent: 0 };
    this.broadcasts.set(id, record);
    const node = this.nodes[i]!;
    this.applyPt(i, node.pt.broadcast(id, id, this.config.perSourceTrees ? node.pt.self : undefined));
    return record;
  }

  at(time: number, run: () => void): void {
    this.queue.push(Math.max(time, this.now), run);
  }

  /** Runs every event up to `time` (inclusive) and leaves the clock there. */
  runUntil(time: number): void {
    for (let t = this.queue.peekTime(); t !== undefined && t <= time; t = this.queue.peekTime()) {
      const ev = this.queue.pop()!;
      this.now = ev.at;
      ev.run();
    }
    this.now = Math.max(this.now, time);
  }

  runFor(ms: number): void {
    this.runUntil(this.now + ms);
  }

  live(): SimNode[] {
    return this.nodes.filter((n) => n.alive && n.joined);
  }

  index(id: string): number {
    return Number(id.slice(1));
  }

  // ---- the host of each node: carrying out the modules' effects ----

  private applyHv(i: number, effects: HyParViewEffect[]): void {
    const node = this.nodes[i]!;
    for (const e of effects) {
      switch (e.type) {
        case 'send':
          this.send(i, this.index(e.to), 'hv', e.message);
          break;
        case 'connect':
          this.connect(i, this.index(e.peer));
          break;
        case 'disconnect':
          this.disconnect(i, this.index(e.peer));
          break;
        case 'neighborUp':
          this.applyPt(i, node.pt.neighborUp(e.peer));
          if (this.config.catchUp) this.schedulePull(i, this.index(e.peer), 2 * this.latency());
          break;
        case 'neighborDown':
          this.applyPt(i, node.pt.neighborDown(e.peer));
          break;
      }
    }
    if (this.config.discovery && this.needsContact(node) && !node.rejoinScheduled) {
      // Left with nobody to ask (e.g. its JOIN was lost): join again at once, or the next node
      // that picks it as contact would start an island of its own.
      node.rejoinScheduled = true;
      this.at(this.now + this.latency(), () => {
        node.rejoinScheduled = false;
        this.rejoin(node);
      });
    }
  }

  /**
   * Nobody to promote (empty passive view) and room for more neighbours: the node is alone, or in
   * a small group cut off from the rest (an island in the making: a node of the overlay proper
   * has passive peers after its first shuffle). At most once per shuffle period.
   */
  private needsContact(node: SimNode): boolean {
    const hv = node.hv;
    return (
      node.alive &&
      node.joined &&
      hv.passive.length === 0 &&
      hv.active.length + hv.pendingRequests.length < hv.config.activeViewSize &&
      this.now - node.lastRejoin >= this.config.shufflePeriodMs
    );
  }

  /** What mDNS gives a node on a LAN: some live peer, not a neighbour already, to join through. */
  private rejoin(node: SimNode): void {
    if (!this.needsContact(node)) return;
    const others = this.live().filter((n) => n.index !== node.index && !node.hv.isActive(n.id));
    const contact = others[Math.floor(this.random() * others.length)];
    if (!contact) return;
    node.lastRejoin = this.now;
    this.rejoins++;
    this.applyHv(node.index, node.hv.join(contact.id));
  }

  private applyPt(i: number, effects: PlumtreeEffect<string>[]): void {
    const node = this.nodes[i]!;
    for (const e of effects) {
      if (e.type === 'send') {
        if (e.message.t === 'gossip') {
          const record = this.broadcasts.get(e.message.id);
          if (record) record.payloadSent++;
        }
        this.send(i, this.index(e.to), 'pt', e.message);
      } else {
        this.recordDelivery(i, e.id, { hops: e.hops, at: this.now, via: 'tree' });
      }
    }
    const deadline = node.pt.nextDeadline();
    if (deadline !== undefined && deadline < node.wakeAt) {
      node.wakeAt = deadline;
      this.at(deadline, () => {
        if (!node.alive || node.wakeAt !== deadline) return;
        node.wakeAt = Infinity;
        this.applyPt(i, node.pt.tick(this.now));
      });
    }
  }

  private recordDelivery(i: number, id: string, delivery: Delivery): void {
    const record = this.broadcasts.get(id);
    if (record && !record.delivered.has(i)) record.delivered.set(i, delivery);
  }

  private scheduleTicks(i: number, first: number): void {
    const node = this.nodes[i]!;
    const tick = () => {
      if (!node.alive) return;
      if (this.config.discovery) this.rejoin(node);
      this.applyHv(i, node.hv.shuffleTick());
      if (this.config.catchUp) {
        // Anti-entropy: compare vectors with one random neighbour per period.
        const active = node.hv.active;
        const peer = active[Math.floor(this.random() * active.length)];
        if (peer !== undefined) this.pull(i, this.index(peer));
      }
      this.at(this.now + this.config.shufflePeriodMs, tick);
    };
    this.at(first, tick);
  }

  // ---- messages ----

  private send(from: number, to: number, layer: Layer, message: HyParViewMessage | PtMessage): void {
    const kind = `${layer}.${message.t}`;
    this.sent.set(kind, (this.sent.get(kind) ?? 0) + 1);
    if (this.random() < this.config.loss) {
      this.lost++;
      return;
    }
    const arrival = this.fifoArrival(from, to);
    this.at(arrival, () => {
      const node = this.nodes[to]!;
      if (!node.alive) {
        this.toDown++;
        return;
      }
      const sender = this.nodes[from]!.id;
      if (layer === 'hv') this.applyHv(to, node.hv.receive(sender, message as HyParViewMessage));
      else this.applyPt(to, node.pt.receive(sender, message as PtMessage));
    });
  }

  private latency(): number {
    const [lo, hi] = this.config.latencyMs;
    return lo + this.random() * (hi - lo);
  }

  /** In order per (sender, receiver): never before the previous message on that pair. */
  private fifoArrival(from: number, to: number): number {
    const key = from * 65_536 + to;
    const arrival = Math.max(this.now + this.latency(), this.fifo.get(key) ?? 0);
    this.fifo.set(key, arrival);
    return arrival;
  }

  // ---- links ----

  private linkKey(a: number, b: number): number {
    return a < b ? a * 65_536 + b : b * 65_536 + a;
  }

  private connect(p: number, q: number): void {
    this.holds[p]!.add(q);
    const key = this.linkKey(p, q);
    if (this.links.has(key)) return;
    const link: SimLink = { a: p, b: q };
    this.links.set(key, link);
    this.linksOf[p]!.add(link);
    this.linksOf[q]!.add(link);
    if (!this.nodes[q]!.alive) {
      this.closeLink(link);
      const delay = this.config.failureDetection === 'silent' ? this.config.connectTimeoutMs : 2 * this.latency();
      this.notifyClosed(p, q, link, delay);
      return;
    }
    // A link one end never claims (its JOIN, NEIGHBOR or reply was lost) is closed after a grace period.
    this.at(this.now + this.config.claimGraceMs, () => {
      if (this.links.get(key) !== link) return;
      if (this.holds[p]!.has(q) && this.holds[q]!.has(p)) return;
      this.closeLink(link);
      for (const [s, o] of [
        [p, q],
        [q, p],
      ] as const) {
        if (this.holds[s]!.has(o) && this.nodes[s]!.alive) this.notifyClosed(s, o, link, this.latency());
      }
    });
  }

  private disconnect(p: number, q: number): void {
    this.holds[p]!.delete(q);
    const link = this.links.get(this.linkKey(p, q));
    if (!link) return;
    this.closeLink(link);
    // The close travels the link after what p sent on it (its DISCONNECT first).
    if (this.holds[q]!.has(p) && this.nodes[q]!.alive) this.notifyClosed(q, p, link, this.fifoArrival(p, q) - this.now);
  }

  private closeLink(link: SimLink): void {
    const key = this.linkKey(link.a, link.b);
    if (this.links.get(key) === link) this.links.delete(key);
    this.linksOf[link.a]!.delete(link);
    this.linksOf[link.b]!.delete(link);
  }

  /** Tells `s` its link to `other` closed, unless a newer link replaced it or `s` released it meanwhile. */
  private notifyClosed(s: number, other: number, link: SimLink, delay: number): void {
    this.at(this.now + delay, () => {
      const current = this.links.get(this.linkKey(s, other));
      if (!this.nodes[s]!.alive || (current && current !== link) || !this.holds[s]!.has(other)) return;
      this.holds[s]!.delete(other);
      this.applyHv(s, this.nodes[s]!.hv.linkFailed(this.nodes[other]!.id));
    });
  }

  private detectDelay(): number {
    if (this.config.failureDetection === 'close') return this.latency();
    const [lo, hi] = this.config.keepAliveMs;
    return lo + this.random() * (hi - lo);
  }

  // ---- Chatty's catch-up, as a model ----

  private schedulePull(i: number, from: number, delay: number): void {
    this.at(this.now + delay, () => this.pull(i, from));
  }

  /** `i` takes from `from` every broadcast it lacks (a version-vector exchange), then relays them. */
  private pull(i: number, from: number): void {
    const node = this.nodes[i]!;
    if (!node.alive || !this.nodes[from]!.alive) return;
    let got = 0;
    for (const record of this.broadcasts.values()) {
      const theirs = record.delivered.get(from);
      if (!theirs || record.delivered.has(i)) continue;
      record.delivered.set(i, { hops: theirs.hops + 1, at: this.now, via: 'catchup' });
      node.pt.markReceived(record.id, record.id, theirs.hops + 1);
      got++;
    }
    if (!got) return;
    this.catchUpTransfers += got;
    for (const peer of node.hv.active) {
      const k = this.index(peer);
      if (k !== from) this.schedulePull(k, i, this.config.relayDelayMs + this.latency());
    }
  }
}
