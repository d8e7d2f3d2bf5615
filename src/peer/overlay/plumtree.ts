/**
 * Plumtree broadcast (Leitão, Pereira, Rodrigues: "Epidemic Broadcast Trees", SRDS 2007) as a
 * deterministic state machine over opaque message ids: no I/O; the clock is injected and the host
 * calls `tick()` at `nextDeadline()` (or periodically) to run the missing-message timers and the
 * lazy queue.
 *
 * Inputs: `broadcast(id, payload)`, `receive(from, message)`, `neighborUp/Down(peer)` (from the
 * membership layer, HyParView), `tick(now)`. Effects: `send(to, message)` and
 * `deliver(id, payload, hops, from)` (once per id; `from` null for our own broadcast).
 *
 * The payload goes eagerly (GOSSIP) along the tree's links and lazily (IHAVE, ids only) along the
 * other links of the active view; a duplicate PRUNEs the link it came over, a missed message is
 * pulled with GRAFT after a timeout, which also puts that link back into the tree (§3, Alg. 1–2).
 * Eager and lazy sets belong to a tree, named by a root: a message without one travels the shared
 * tree (§3 "sender-based versus shared trees"), one with a root (its origin) that root's own tree.
 * Both ends of a link agree on each tree (PRUNE and GRAFT name it and change both ends). A shared
 * tree suits one source at a time; with many concurrent sources (a chat: everyone writes) it tears:
 * message A's duplicate prunes one side of a cycle and message B's the other, until nodes hold no
 * eager link at all and every delivery waits for a GRAFT. One tree per source, as Riak's Plumtree
 * keeps, settles once per source and then stays put.
 */
import { trimOldest } from '../trim-oldest.js';
import type { PeerId } from './hyparview.js';

export type MessageId = string;

export interface Announcement {
  id: MessageId;
  /** Hops the announcing node received the message at (0 at the source). */
  round: number;
  /** The message's tree (absent: the shared tree). */
  root?: PeerId;
}

/** Plumtree's messages; they become wire frames (field names short and stable). */
export type PlumtreeMessage<P> =
  /** The payload, eagerly; `round` is the sender's hop count (the receiver's is round + 1). */
  | { t: 'gossip'; id: MessageId; payload: P; round: number; root?: PeerId }
  /** Lazy push: ids the sender holds, batched per link (§3, Alg. 1 "dispatch": the lazy-queue policy). */
  | { t: 'ihave'; ids: Announcement[] }
  /** Pull `id` (null: only put the link back into the tree, the optimization) and make the link eager. */
  | { t: 'graft'; id: MessageId | null; round: number; root?: PeerId }
  /** Make the link lazy in `root`'s tree: the receiver sent us a duplicate. */
  | { t: 'prune'; root?: PeerId };

export type PlumtreeEffect<P> =
  | { type: 'send'; to: PeerId; message: PlumtreeMessage<P> }
  | { type: 'deliver'; id: MessageId; payload: P; hops: number; from: PeerId | null };

export interface PlumtreeConfig {
  /** timeout1 (Alg. 2): from the first IHAVE of a missing id to its first GRAFT. */
  ihaveTimeoutMs: number;
  /** timeout2 (Alg. 2): between GRAFTs to the next announcer while it is still missing. */
  graftTimeoutMs: number;
  /** IHAVEs for one link are held this long and sent as one message (0: at once). */
  lazyFlushMs: number;
  /** A link's queue is sent at once when it holds this many ids. */
  maxIhaveBatch: number;
  /**
   * GRAFTs per missing id. The paper tries each announcer once and then gives up; over a link that
   * can lose a GRAFT or its answer we cycle over the announcers up to this many times in all.
   */
  maxGraftAttempts: number;
  /** §3 "Optimization": graft the IHAVE's link and prune the GOSSIP's when the latter is this many hops longer. */
  optimize: boolean;
  optimizationThreshold: number;
  /** How long a delivered id (and its payload, to answer GRAFTs) is remembered. */
  keepMs: number;
  /** About this many ids are remembered, an eighth more at most (the oldest are forgotten first: ../trim-oldest.ts). */
  maxKept: number;
  /** At most this many missing ids are tracked (a flood of made-up IHAVEs must not grow it forever). */
  maxMissing: number;
  /** About this many trees (roots) are kept; the least recently used are forgotten (they regrow eager). */
  maxRoots: number;
}

export const PLUMTREE_DEFAULTS: Readonly<PlumtreeConfig> = {
  // A LAN hop is 0.5–5 ms. Longer waits measured worse in bench/sim: with lost frames and
  // concurrent broadcasts the tree splits more and every split waits this long (100 ms: p50
  // latency ×4 on 1,000 nodes at 1 % loss); a shorter one only grafts a shortcut more often.
  ihaveTimeoutMs: 50,
  graftTimeoutMs: 25,
  // Batches IHAVEs when broadcasts come faster than this, without delaying repair much.
  lazyFlushMs: 10,
  maxIhaveBatch: 128,
  maxGraftAttempts: 5,
  optimize: false,
  optimizationThreshold: 3,
  keepMs: 120_000,
  maxKept: 100_000,
  maxMissing: 10_000,
  maxRoots: 4096,
};

/** The shared tree's name: messages without a root. */
const SHARED = '';

interface Tree {
  eager: Set<PeerId>;
  lazy: Set<PeerId>;
}

interface Received<P> {
  payload: P;
  hops: number;
  at: number;
  root: PeerId;
  /** The link its first copy came over (none: our own, or known from elsewhere). */
  from?: PeerId;
}

interface Missing {
  root: PeerId;
  announcers: { peer: PeerId; round: number }[];
  attempts: number;
  deadline: number;
}

export class Plumtree<P> {
  readonly config: Readonly<PlumtreeConfig>;
  /** The active view, in arrival order: a new tree starts with all of it eager. */
  private readonly neighbors = new Set<PeerId>();
  /** Trees by root, least recently used first. */
  private readonly trees = new Map<PeerId, Tree>();
  /** Insertion order is arrival order: the oldest are forgotten first. */
  private readonly received = new Map<MessageId, Received<P>>();
  private readonly missing = new Map<MessageId, Missing>();
  private readonly lazyQueues = new Map<PeerId, Announcement[]>();
  private flushAt?: number;
  private out: PlumtreeEffect<P>[] = [];

  constructor(
    readonly self: PeerId,
    private readonly now: () => number,
    config: Partial<PlumtreeConfig> = {},
  ) {
    this.config = { ...PLUMTREE_DEFAULTS, ...config };
  }

  /** Eager links of a tree (default: the shared one). */
  eagerPeers(root: PeerId = SHARED): PeerId[] {
    return [...(this.trees.get(root)?.eager ?? this.neighbors)];
  }

  lazyPeers(root: PeerId = SHARED): PeerId[] {
    return [...(this.trees.get(root)?.lazy ?? [])];
  }

  /** How many trees are kept. */
  get rootCount(): number {
    return this.trees.size;
  }

  /** Ids announced to us that we are waiting for. */
  get missingIds(): MessageId[] {
    return [...this.missing.keys()];
  }

  has(id: MessageId): boolean {
    return this.received.has(id);
  }

  /**
   * Alg. 1 "Broadcast": push to the eager peers, announce to the lazy ones, deliver locally. An id
   * already known is not sent again.
   */
  broadcast(id: MessageId, payload: P, root: PeerId = SHARED): PlumtreeEffect<P>[] {
    if (this.received.has(id)) return [];
    this.remember(id, payload, 0, root);
    this.eagerPush(root, id, payload, 0, null);
    this.lazyPush(root, id, 0, null);
    this.out.push({ type: 'deliver', id, payload, hops: 0, from: null });
    return this.flush();
  }

  /**
   * An id the host obtained some other way (e.g. Chatty's catch-up with a new neighbour): it is not
   * delivered or forwarded, but a later GOSSIP of it counts as a duplicate and an IHAVE as news we have.
   */
  markReceived(id: MessageId, payload: P, hops = 0, root: PeerId = SHARED): void {
    if (this.received.has(id)) return;
    this.remember(id, payload, hops, root);
    this.missing.delete(id);
  }

  receive(from: PeerId, message: PlumtreeMessage<P>): PlumtreeEffect<P>[] {
    if (from === this.self) return [];
    switch (message.t) {
      case 'gossip':
        this.onGossip(from, message.id, message.payload, message.round, message.root ?? SHARED);
        break;
      case 'ihave':
        this.onIhave(from, message.ids);
        break;
      case 'graft':
        this.onGraft(from, message.id, message.root ?? SHARED);
        break;
      case 'prune':
        this.makeLazy(message.root ?? SHARED, from);
        break;
    }
    return this.flush();
  }

  /** Alg. 2 "NeighborUp": a new link starts in the tree (eager); a duplicate will prune it. */
  neighborUp(peer: PeerId): PlumtreeEffect<P>[] {
    if (peer === this.self || this.neighbors.has(peer)) return this.flush();
    this.neighbors.add(peer);
    for (const tree of this.trees.values()) tree.eager.add(peer);
    return this.flush();
  }

  /** Alg. 2 "NeighborDown": forget the link, its queued IHAVEs, and it as an announcer. */
  neighborDown(peer: PeerId): PlumtreeEffect<P>[] {
    this.neighbors.delete(peer);
    for (const tree of this.trees.values()) {
      tree.eager.delete(peer);
      tree.lazy.delete(peer);
    }
    this.lazyQueues.delete(peer);
    for (const m of this.missing.values()) {
      const i = m.announcers.findIndex((a) => a.peer === peer);
      if (i >= 0) m.announcers.splice(i, 1);
    }
    return this.flush();
  }

  /** Runs what is due at `now`: GRAFT timers (Alg. 2 "Timer"), the lazy queues, forgetting old ids. */
  tick(now: number = this.now()): PlumtreeEffect<P>[] {
    for (const [id, m] of this.missing) if (m.deadline <= now) this.onTimer(id, m, now);
    if (this.flushAt !== undefined && this.flushAt <= now) this.flushLazy();
    this.forget(now);
    return this.flush();
  }

  /** When `tick` next has something to do, if anything. */
  nextDeadline(): number | undefined {
    let next = this.flushAt;
    for (const m of this.missing.values()) if (next === undefined || m.deadline < next) next = m.deadline;
    return next;
  }

  // Alg. 1 "Receive(GOSSIP)".
  private onGossip(from: PeerId, id: MessageId, payload: P, round: number, root: PeerId): void {
    const first = this.received.get(id);
    if (first) {
      // Not the paper's: a link to the root itself stays in its tree. Its copy is the shortest path and
      // only lags when the root's link is busier than a relay's; pruning it then leaves a longer,
      // slower path for every later message, which under load lags more and GRAFTs, and the tree
      // thrashes. So a relay that beat the root is pruned instead, and the root ignores its own.
      if (root !== SHARED && (root === this.self || from === root)) {
        if (from === root && first.from !== undefined && first.from !== root && this.neighbors.has(first.from)) {
          this.makeLazy(root, first.from);
          this.send(first.from, withRoot({ t: 'prune' }, root));
        }
        return;
      }
      // A duplicate: the link it came over is redundant for the tree.
      this.makeLazy(root, from);
      this.send(from, withRoot({ t: 'prune' }, root));
      return;
    }
    const hops = round + 1;
    this.remember(id, payload, hops, root, from);
    const missing = this.missing.get(id);
    this.missing.delete(id); // cancels its timer
    this.out.push({ type: 'deliver', id, payload, hops, from });
    this.eagerPush(root, id, payload, hops, from);
    this.lazyPush(root, id, hops, from);
    this.makeEager(root, from);
    if (this.config.optimize && missing) this.optimize(root, from, round, missing);
  }

  /**
   * §3 "Optimization": an IHAVE that beat the GOSSIP by `threshold` hops or more names a
   * shorter path: graft that link (without asking for the payload again) and prune the long one.
   */
  private optimize(root: PeerId, from: PeerId, round: number, missing: Missing): void {
    let best: { peer: PeerId; round: number } | undefined;
    for (const a of missing.announcers) if (!best || a.round < best.round) best = a;
    if (!best || best.peer === from || round - best.round < this.config.optimizationThreshold) return;
    this.makeEager(root, best.peer);
    this.send(best.peer, withRoot({ t: 'graft', id: null, round: best.round }, root));
    this.makeLazy(root, from);
    this.send(from, withRoot({ t: 'prune' }, root));
  }

  // Alg. 2 "Receive(IHAVE)": remember who announced a missing id; its timer starts at the first.
  private onIhave(from: PeerId, ids: Announcement[]): void {
    for (const { id, round, root } of ids) {
      if (this.received.has(id)) continue;
      let m = this.missing.get(id);
      if (!m) {
        if (this.missing.size >= this.config.maxMissing) continue;
        m = { root: root ?? SHARED, announcers: [], attempts: 0, deadline: this.now() + this.config.ihaveTimeoutMs };
        this.missing.set(id, m);
      }
      if (!m.announcers.some((a) => a.peer === from)) m.announcers.push({ peer: from, round });
    }
  }

  // Alg. 2 "Timer": graft the next announcer, and wait timeout2 for it before trying another.
  private onTimer(id: MessageId, m: Missing, now: number): void {
    if (m.attempts >= this.config.maxGraftAttempts || m.announcers.length === 0) {
      this.missing.delete(id);
      return;
    }
    const a = m.announcers[m.attempts % m.announcers.length]!;
    m.attempts++;
    m.deadline = now + this.config.graftTimeoutMs;
    this.makeEager(m.root, a.peer);
    this.send(a.peer, withRoot({ t: 'graft', id, round: a.round }, m.root));
  }

  // Alg. 2 "Receive(GRAFT)": the link joins the tree; send the payload if it was asked for.
  private onGraft(from: PeerId, id: MessageId | null, root: PeerId): void {
    this.makeEager(root, from);
    if (id === null) return;
    const r = this.received.get(id);
    if (r) this.send(from, withRoot({ t: 'gossip', id, payload: r.payload, round: r.hops }, r.root));
  }

  private eagerPush(root: PeerId, id: MessageId, payload: P, hops: number, except: PeerId | null): void {
    for (const peer of this.tree(root).eager)
      if (peer !== except) this.send(peer, withRoot({ t: 'gossip', id, payload, round: hops }, root));
  }

  // Alg. 1 "LazyPush" and "dispatch": IHAVEs wait in a per-link queue, sent as one message per link
  // when the flush delay runs out or the queue is full.
  private lazyPush(root: PeerId, id: MessageId, hops: number, except: PeerId | null): void {
    for (const peer of this.tree(root).lazy) {
      if (peer === except) continue;
      let queue = this.lazyQueues.get(peer);
      if (!queue) this.lazyQueues.set(peer, (queue = []));
      queue.push(root === SHARED ? { id, round: hops } : { id, round: hops, root });
      if (queue.length >= this.config.maxIhaveBatch) this.flushQueue(peer);
    }
    if (this.config.lazyFlushMs <= 0) this.flushLazy();
    else if (this.lazyQueues.size) this.flushAt ??= this.now() + this.config.lazyFlushMs;
  }

  private flushLazy(): void {
    this.flushAt = undefined;
    for (const peer of [...this.lazyQueues.keys()]) this.flushQueue(peer);
  }

  private flushQueue(peer: PeerId): void {
    const ids = this.lazyQueues.get(peer);
    this.lazyQueues.delete(peer);
    if (ids?.length) this.send(peer, { t: 'ihave', ids });
  }

  /** A root's tree, made on first use with every neighbour eager (Alg. 2's NeighborUp, per tree). */
  private tree(root: PeerId): Tree {
    let tree = this.trees.get(root);
    if (tree) {
      // least recently used first: move it to the end
      this.trees.delete(root);
    } else {
      tree = { eager: new Set(this.neighbors), lazy: new Set() };
    }
    this.trees.set(root, tree);
    trimOldest(this.trees, this.config.maxRoots);
    return tree;
  }

  /** Only neighbours move between the sets: a message from a peer that is no longer one changes nothing. */
  private makeEager(root: PeerId, peer: PeerId): void {
    const tree = this.tree(root);
    if (tree.lazy.delete(peer)) tree.eager.add(peer);
  }

  private makeLazy(root: PeerId, peer: PeerId): void {
    const tree = this.tree(root);
    if (tree.eager.delete(peer)) tree.lazy.add(peer);
  }

  private remember(id: MessageId, payload: P, hops: number, root: PeerId, from?: PeerId): void {
    this.received.set(id, { payload, hops, at: this.now(), root, from });
    trimOldest(this.received, this.config.maxKept);
  }

  private forget(now: number): void {
    for (const [id, r] of this.received) {
      if (now - r.at < this.config.keepMs) break;
      this.received.delete(id);
    }
  }

  private send(to: PeerId, message: PlumtreeMessage<P>): void {
    this.out.push({ type: 'send', to, message });
  }

  private flush(): PlumtreeEffect<P>[] {
    const out = this.out;
    this.out = [];
    return out;
  }
}

/** A message naming its tree; the shared tree's messages carry no root (they are the paper's). */
function withRoot<M extends PlumtreeMessage<unknown>>(message: M, root: PeerId): M {
  return root === SHARED ? message : { ...message, root };
}
