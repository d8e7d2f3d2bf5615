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
 * Eager and lazy sets are shared by all senders (a shared tree, §3 "sender-based versus shared
 * trees"); both ends of a link agree on it (PRUNE and GRAFT change both), so the eager links of a
 * settled overlay form one spanning tree, good for every source.
 */
import type { PeerId } from './hyparview.js';

export type MessageId = string;

export interface Announcement {
  id: MessageId;
  /** Hops the announcing node received the message at (0 at the source). */
  round: number;
}

/** Plumtree's messages; they become wire frames (field names short and stable). */
export type PlumtreeMessage<P> =
  /** The payload, eagerly; `round` is the sender's hop count (the receiver's is round + 1). */
  | { t: 'gossip'; id: MessageId; payload: P; round: number }
  /** Lazy push: ids the sender holds, batched per link (§3, Alg. 1 "dispatch": the lazy-queue policy). */
  | { t: 'ihave'; ids: Announcement[] }
  /** Pull `id` (null: only put the link back into the tree, the optimization) and make the link eager. */
  | { t: 'graft'; id: MessageId | null; round: number }
  /** Make the link lazy: the receiver sent us a duplicate. */
  | { t: 'prune' };

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
  /** At most this many ids are remembered (the oldest are forgotten first). */
  maxKept: number;
  /** At most this many missing ids are tracked (a flood of made-up IHAVEs must not grow it forever). */
  maxMissing: number;
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
};

interface Received<P> {
  payload: P;
  hops: number;
  at: number;
}

interface Missing {
  announcers: { peer: PeerId; round: number }[];
  attempts: number;
  deadline: number;
}

export class Plumtree<P> {
  readonly config: Readonly<PlumtreeConfig>;
  private readonly eager = new Set<PeerId>();
  private readonly lazy = new Set<PeerId>();
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

  get eagerPeers(): PeerId[] {
    return [...this.eager];
  }

  get lazyPeers(): PeerId[] {
    return [...this.lazy];
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
  broadcast(id: MessageId, payload: P): PlumtreeEffect<P>[] {
    if (this.received.has(id)) return [];
    this.remember(id, payload, 0);
    this.eagerPush(id, payload, 0, null);
    this.lazyPush(id, 0, null);
    this.out.push({ type: 'deliver', id, payload, hops: 0, from: null });
    return this.flush();
  }

  /**
   * An id the host obtained some other way (e.g. Chatty's catch-up with a new neighbour): it is not
   * delivered or forwarded, but a later GOSSIP of it counts as a duplicate and an IHAVE as news we have.
   */
  markReceived(id: MessageId, payload: P, hops = 0): void {
    if (this.received.has(id)) return;
    this.remember(id, payload, hops);
    this.missing.delete(id);
  }

  receive(from: PeerId, message: PlumtreeMessage<P>): PlumtreeEffect<P>[] {
    if (from === this.self) return [];
    switch (message.t) {
      case 'gossip':
        this.onGossip(from, message.id, message.payload, message.round);
        break;
      case 'ihave':
        this.onIhave(from, message.ids);
        break;
      case 'graft':
        this.onGraft(from, message.id);
        break;
      case 'prune':
        this.makeLazy(from);
        break;
    }
    return this.flush();
  }

  /** Alg. 2 "NeighborUp": a new link starts in the tree (eager); a duplicate will prune it. */
  neighborUp(peer: PeerId): PlumtreeEffect<P>[] {
    if (peer !== this.self && !this.lazy.has(peer)) this.eager.add(peer);
    return this.flush();
  }

  /** Alg. 2 "NeighborDown": forget the link, its queued IHAVEs, and it as an announcer. */
  neighborDown(peer: PeerId): PlumtreeEffect<P>[] {
    this.eager.delete(peer);
    this.lazy.delete(peer);
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
  private onGossip(from: PeerId, id: MessageId, payload: P, round: number): void {
    if (this.received.has(id)) {
      // A duplicate: the link it came over is redundant for the tree.
      this.makeLazy(from);
      this.send(from, { t: 'prune' });
      return;
    }
    const hops = round + 1;
    this.remember(id, payload, hops);
    const missing = this.missing.get(id);
    this.missing.delete(id); // cancels its timer
    this.out.push({ type: 'deliver', id, payload, hops, from });
    this.eagerPush(id, payload, hops, from);
    this.lazyPush(id, hops, from);
    this.makeEager(from);
    if (this.config.optimize && missing) this.optimize(from, round, missing);
  }

  /**
   * §3 "Optimization": an IHAVE that beat the GOSSIP by `threshold` hops or more names a
   * shorter path: graft that link (without asking for the payload again) and prune the long one.
   */
  private optimize(from: PeerId, round: number, missing: Missing): void {
    let best: { peer: PeerId; round: number } | undefined;
    for (const a of missing.announcers) if (!best || a.round < best.round) best = a;
    if (!best || best.peer === from || round - best.round < this.config.optimizationThreshold) return;
    this.makeEager(best.peer);
    this.send(best.peer, { t: 'graft', id: null, round: best.round });
    this.makeLazy(from);
    this.send(from, { t: 'prune' });
  }

  // Alg. 2 "Receive(IHAVE)": remember who announced a missing id; its timer starts at the first.
  private onIhave(from: PeerId, ids: Announcement[]): void {
    for (const { id, round } of ids) {
      if (this.received.has(id)) continue;
      let m = this.missing.get(id);
      if (!m) {
        if (this.missing.size >= this.config.maxMissing) continue;
        m = { announcers: [], attempts: 0, deadline: this.now() + this.config.ihaveTimeoutMs };
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
    this.makeEager(a.peer);
    this.send(a.peer, { t: 'graft', id, round: a.round });
  }

  // Alg. 2 "Receive(GRAFT)": the link joins the tree; send the payload if it was asked for.
  private onGraft(from: PeerId, id: MessageId | null): void {
    this.makeEager(from);
    if (id === null) return;
    const r = this.received.get(id);
    if (r) this.send(from, { t: 'gossip', id, payload: r.payload, round: r.hops });
  }

  private eagerPush(id: MessageId, payload: P, hops: number, except: PeerId | null): void {
    for (const peer of this.eager) if (peer !== except) this.send(peer, { t: 'gossip', id, payload, round: hops });
  }

  // Alg. 1 "LazyPush" and "dispatch": IHAVEs wait in a per-link queue, sent as one message per link
  // when the flush delay runs out or the queue is full.
  private lazyPush(id: MessageId, hops: number, except: PeerId | null): void {
    for (const peer of this.lazy) {
      if (peer === except) continue;
      let queue = this.lazyQueues.get(peer);
      if (!queue) this.lazyQueues.set(peer, (queue = []));
      queue.push({ id, round: hops });
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

  /** Only neighbours move between the sets: a message from a peer that is no longer one changes nothing. */
  private makeEager(peer: PeerId): void {
    if (this.lazy.delete(peer)) this.eager.add(peer);
  }

  private makeLazy(peer: PeerId): void {
    if (this.eager.delete(peer)) this.lazy.add(peer);
  }

  private remember(id: MessageId, payload: P, hops: number): void {
    this.received.set(id, { payload, hops, at: this.now() });
    if (this.received.size > this.config.maxKept) this.received.delete(this.received.keys().next().value!);
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
