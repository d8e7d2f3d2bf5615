/**
 * HyParView membership (Leitão, Pereira, Rodrigues: "HyParView: a membership protocol for reliable
 * gossip-based broadcast", DSN 2007) as a deterministic state machine: no I/O, no timers, no clock.
 *
 * Inputs: `join(contact)`, `receive(from, message)`, `linkFailed(peer)` and `shuffleTick()` (called
 * by the host every shuffle period). Each returns the effects the host must carry out, in order:
 * `send`, `connect`/`disconnect` (hold or release the link to a peer), `neighborUp`/`neighborDown`
 * (the active view changed: what Plumtree listens to). Randomness is injected (`random`).
 *
 * What the host must provide (the paper's "TCP as failure detector", §4.1):
 * - one reliable FIFO link per pair of peers; `connect(p)` dials p or keeps the existing link,
 *   `disconnect(p)` closes it (both ends see it close);
 * - `linkFailed(p)` when a link this module holds closes without this module's `disconnect`, or a
 *   `connect` fails; only for the current link to p (an old, replaced link's close is not news);
 * - a link that one end holds and the other never claims (its JOIN or NEIGHBOR answer was lost)
 *   is closed after a short grace period, so both ends agree again;
 * - `send` to a peer without a link goes over a short-lived connection (the paper's temporary TCP
 *   connection for SHUFFLEREPLY, §4.4), and may be lost.
 */
import { pick, sample, type Random } from './random.js';

export type PeerId = string;

/** HyParView's messages (§4); they become wire frames, so the field names are short and stable. */
export type HyParViewMessage =
  /** §4.2: sent by a new node to its contact. */
  | { t: 'join' }
  /** §4.2: a random walk announcing `peer` (the new node); `ttl` counts down from ARWL. */
  | { t: 'forwardJoin'; peer: PeerId; ttl: number }
  /**
   * §4.2: the end of a FORWARDJOIN walk tells the new node it took it into its active view (the
   * paper leaves this implicit in the TCP connection the accepting node opens).
   */
  | { t: 'forwardJoinReply' }
  /** §4.3: asks a passive peer to become a neighbour; `high` when our active view is empty. */
  | { t: 'neighbor'; priority: 'high' | 'low' }
  | { t: 'neighborReply'; accepted: boolean }
  /** §4.2/§4.3: the sender dropped us from its active view (we keep it as a passive peer). */
  | { t: 'disconnect' }
  /** §4.4: a random walk carrying the origin, ka active and kp passive peers of it. */
  | { t: 'shuffle'; origin: PeerId; peers: PeerId[]; ttl: number }
  /** §4.4: as many of the accepting node's passive peers, back to the origin. */
  | { t: 'shuffleReply'; peers: PeerId[] };

export type HyParViewEffect =
  | { type: 'send'; to: PeerId; message: HyParViewMessage }
  | { type: 'connect'; peer: PeerId }
  | { type: 'disconnect'; peer: PeerId }
  | { type: 'neighborUp'; peer: PeerId }
  | { type: 'neighborDown'; peer: PeerId };

export interface HyParViewConfig {
  /**
   * Active view capacity: fanout + 1 (§4.1). The paper's evaluation (§5) uses 5 (fanout 4 ≈ log10
   * of its 10,000 nodes, + 1); we keep 5 for ≤ 1,000 peers (log10 1000 + 1 = 4 would do) for
   * margin against massive failures, and so the papers' figures compare like for like.
   */
  activeViewSize: number;
  /** Passive view capacity: k·(log n + c); the paper's 30 (k = 6 times the active view). */
  passiveViewSize: number;
  /** ARWL (§4.2): length of a FORWARDJOIN walk; the paper's 6. */
  activeRandomWalkLength: number;
  /** PRWL (§4.2): the walk's node that receives ttl = PRWL keeps the new node as passive; 3. */
  passiveRandomWalkLength: number;
  /** ka (§4.4): active peers sent in a SHUFFLE; the paper's 3. */
  shuffleActive: number;
  /** kp (§4.4): passive peers sent in a SHUFFLE; the paper's 4. */
  shufflePassive: number;
  /** TTL of a SHUFFLE walk (§4.4); 6, as ARWL. */
  shuffleWalkLength: number;
  /**
   * A NEIGHBOR request unanswered for this many shuffle ticks is given up (its answer was lost:
   * not in the paper, whose channels are TCP; here a reply can be lost on a link that then stays).
   */
  neighborRequestTicks: number;
  /**
   * Not in the paper, which refills the active view only on a failure (§4.3): a view left short
   * (by DISCONNECTs when joins elsewhere made room, or by failures whose repair was refused by full
   * peers) also asks, each tick, one passive peer per free slot (low priority). Without it a node
   * can keep a single neighbour for good, and then one lost frame loses it a broadcast.
   */
  refillOnTick: boolean;
}

export const HYPARVIEW_DEFAULTS: Readonly<HyParViewConfig> = {
  activeViewSize: 5,
  passiveViewSize: 30,
  activeRandomWalkLength: 6,
  passiveRandomWalkLength: 3,
  shuffleActive: 3,
  shufflePassive: 4,
  shuffleWalkLength: 6,
  neighborRequestTicks: 2,
  refillOnTick: true,
};

interface NeighborRequest {
  high: boolean;
  ticks: number;
}

export class HyParView {
  readonly config: Readonly<HyParViewConfig>;
  /** Insertion-ordered, so a run is reproducible from its seed. */
  private readonly activeSet = new Set<PeerId>();
  private readonly passiveSet = new Set<PeerId>();
  /** NEIGHBOR requests in flight (their targets stay in the passive view until accepted). */
  private readonly pending = new Map<PeerId, NeighborRequest>();
  /** Passive peers that refused us since the last tick: the repair walk skips them. */
  private readonly refused = new Set<PeerId>();
  /** How many more NEIGHBOR requests the current repair may send (a walk over the passive view). */
  private walkBudget = 0;
  /** The peers of our last SHUFFLE: evicted first when its reply is integrated (§4.4). */
  private lastShuffle: PeerId[] = [];
  private out: HyParViewEffect[] = [];

  constructor(
    readonly self: PeerId,
    private readonly random: Random,
    config: Partial<HyParViewConfig> = {},
  ) {
    this.config = { ...HYPARVIEW_DEFAULTS, ...config };
  }

  get active(): PeerId[] {
    return [...this.activeSet];
  }

  get passive(): PeerId[] {
    return [...this.passiveSet];
  }

  /** Peers asked to become neighbours, not answered yet. */
  get pendingRequests(): PeerId[] {
    return [...this.pending.keys()];
  }

  isActive(peer: PeerId): boolean {
    return this.activeSet.has(peer);
  }

  /**
   * §4.2: join the overlay through `contact`: it becomes our first neighbour and spreads our id by
   * FORWARDJOIN walks. Also how the host rejoins when the views ran dry (e.g. through a peer mDNS
   * just found).
   */
  join(contact: PeerId): HyParViewEffect[] {
    this.addActive(contact, { t: 'join' });
    return this.flush();
  }

  receive(from: PeerId, message: HyParViewMessage): HyParViewEffect[] {
    if (from === this.self) return [];
    switch (message.t) {
      case 'join':
        this.onJoin(from);
        break;
      case 'forwardJoin':
        this.onForwardJoin(from, message.peer, message.ttl);
        break;
      case 'forwardJoinReply':
        // The end of our FORWARDJOIN walk took us: take it too (links are symmetric, §4.1).
        this.addActive(from);
        break;
      case 'neighbor':
        this.onNeighbor(from, message.priority === 'high');
        break;
      case 'neighborReply':
        this.onNeighborReply(from, message.accepted);
        break;
      case 'disconnect':
        this.onDisconnect(from);
        break;
      case 'shuffle':
        this.onShuffle(from, message.origin, message.peers, message.ttl);
        break;
      case 'shuffleReply':
        // §4.4: make room by dropping first what we sent in the shuffle (the other side has it now).
        this.integrate(message.peers, this.lastShuffle);
        break;
    }
    return this.flush();
  }

  /**
   * §4.3: a neighbour's link broke (TCP is the failure detector): it leaves both views, and a
   * passive peer is promoted in its place. A failed connection to a passive peer removes it too.
   */
  linkFailed(peer: PeerId): HyParViewEffect[] {
    if (this.activeSet.delete(peer)) {
      this.out.push({ type: 'neighborDown', peer });
      this.walkBudget = Math.max(this.walkBudget, this.passiveSet.size);
      this.repair();
    } else if (this.pending.delete(peer)) {
      this.passiveSet.delete(peer);
      this.repair();
    }
    return this.flush();
  }

  /**
   * A peer the host learned of some other way (mDNS, peer exchange, an address remembered from an
   * earlier run) joins the passive view: a candidate for repairs, as if a shuffle had brought it.
   */
  learn(peer: PeerId): HyParViewEffect[] {
    this.addPassive(peer);
    return this.flush();
  }

  /**
   * Not in the paper: asks `peer` to become a neighbour with high priority (always accepted), even
   * with a full view (accepting its reply then drops a random neighbour). The host uses it when a
   * peer outside the active view holds events this one lacks: after a partition healed, the two
   * overlays are disjoint and HyParView alone (whose repairs only fill free slots) never merges them.
   */
  promote(peer: PeerId): HyParViewEffect[] {
    if (peer === this.self || this.activeSet.has(peer) || this.pending.has(peer)) return [];
    this.addPassive(peer); // a pending request's target stays passive until accepted
    this.pending.set(peer, { high: true, ticks: 0 });
    this.out.push({ type: 'connect', peer });
    this.send(peer, { t: 'neighbor', priority: 'high' });
    return this.flush();
  }

  /**
   * Not in the paper (which refills only on a failure or, here, at a shuffle tick): asks passive
   * peers, low priority, to fill the free slots now. The host calls it when the view is short and
   * news arrived (a new peer discovered, a neighbour gone), so a small network links up in moments
   * instead of one shuffle period. Peers that refused since the last tick are not asked again.
   */
  refill(): HyParViewEffect[] {
    const free = this.config.activeViewSize - this.activeSet.size - this.pending.size;
    if (free > 0 && this.activeSet.size > 0) {
      this.walkBudget = Math.max(this.walkBudget, free);
      this.repair();
    }
    return this.flush();
  }

  /**
   * Called by the host every shuffle period: gives up unanswered NEIGHBOR requests, refills a
   * short active view, and starts one SHUFFLE (§4.4).
   */
  shuffleTick(): HyParViewEffect[] {
    this.refused.clear();
    for (const [peer, request] of this.pending) {
      if (++request.ticks < this.config.neighborRequestTicks) continue;
      this.pending.delete(peer);
      this.refused.add(peer);
      this.out.push({ type: 'disconnect', peer });
    }
    if (this.activeSet.size + this.pending.size < this.config.activeViewSize) {
      if (this.activeSet.size === 0) this.walkBudget = Math.max(this.walkBudget, this.passiveSet.size);
      else if (this.config.refillOnTick)
        this.walkBudget = Math.max(this.walkBudget, this.config.activeViewSize - this.activeSet.size - this.pending.size);
      this.repair();
    }
    this.shuffle();
    return this.flush();
  }

  // §4.2, Alg. 1 "Receive(JOIN)": take the new node (dropping a random neighbour if full), then
  // start one FORWARDJOIN walk through each other neighbour.
  private onJoin(newNode: PeerId): void {
    this.addActive(newNode);
    for (const peer of this.activeSet) {
      if (peer !== newNode) this.send(peer, { t: 'forwardJoin', peer: newNode, ttl: this.config.activeRandomWalkLength });
    }
  }

  // §4.2, Alg. 1 "Receive(FORWARDJOIN)": the walk ends (active view) at ttl 0 or at a node with a
  // single neighbour; the node it reaches at ttl = PRWL keeps the new node as passive.
  private onForwardJoin(sender: PeerId, newNode: PeerId, ttlIn: number): void {
    if (newNode === this.self) return;
    const ttl = Math.min(Math.max(0, Math.floor(ttlIn)), this.config.activeRandomWalkLength);
    if (ttl === 0 || this.activeSet.size <= 1) {
      this.addActive(newNode, { t: 'forwardJoinReply' });
      return;
    }
    if (ttl === this.config.passiveRandomWalkLength) this.addPassive(newNode);
    const next = pick(
      this.random,
      this.active.filter((p) => p !== sender && p !== newNode),
    );
    // Nowhere else to walk: end it here rather than drop it.
    if (next === undefined) this.addActive(newNode, { t: 'forwardJoinReply' });
    else this.send(next, { t: 'forwardJoin', peer: newNode, ttl: ttl - 1 });
  }

  // §4.3: a high-priority request is always accepted (the sender has no neighbour left); a low one
  // only into a free slot.
  private onNeighbor(from: PeerId, high: boolean): void {
    if (this.activeSet.has(from)) {
      this.send(from, { t: 'neighborReply', accepted: true });
    } else if (high || this.activeSet.size < this.config.activeViewSize) {
      this.addActive(from, { t: 'neighborReply', accepted: true });
    } else {
      this.send(from, { t: 'neighborReply', accepted: false });
    }
  }

  private onNeighborReply(from: PeerId, accepted: boolean): void {
    // A late answer to a request we gave up: we released that link already.
    if (!this.pending.delete(from) || this.activeSet.has(from)) return;
    if (accepted) {
      this.addActive(from);
      return;
    }
    // §4.3: refused, it stays passive; try another passive peer.
    this.refused.add(from);
    this.out.push({ type: 'disconnect', peer: from });
    this.repair();
  }

  // §4.2/§4.3 "Receive(DISCONNECT)": the peer dropped us (it is alive): keep it as passive. Not in
  // the paper: if that was our last neighbour, ask a passive peer at once (high priority) rather
  // than stay cut off from every broadcast until the host's next mend; not the one that dropped us.
  private onDisconnect(from: PeerId): void {
    if (!this.activeSet.delete(from)) return;
    this.out.push({ type: 'neighborDown', peer: from }, { type: 'disconnect', peer: from });
    this.addPassive(from);
    if (this.activeSet.size > 0 || this.pending.size > 0) return;
    this.refused.add(from);
    this.walkBudget = Math.max(this.walkBudget, this.passiveSet.size);
    this.repair();
  }

  // §4.4: a SHUFFLE walks ttl hops through active views; where it stops, the node answers with as
  // many of its passive peers and integrates the walk's peers into its own passive view.
  private onShuffle(sender: PeerId, origin: PeerId, peers: PeerId[], ttlIn: number): void {
    if (origin === this.self) return;
    const ttl = Math.min(Math.floor(ttlIn), this.config.shuffleWalkLength) - 1;
    if (ttl > 0 && this.activeSet.size > 1) {
      const next = pick(
        this.random,
        this.active.filter((p) => p !== sender && p !== origin),
      );
      if (next !== undefined) {
        this.send(next, { t: 'shuffle', origin, peers, ttl });
        return;
      }
    }
    const bounded = peers.slice(0, this.config.shuffleActive + this.config.shufflePassive + 1);
    const reply = sample(
      this.random,
      this.passive.filter((p) => p !== origin),
      bounded.length,
    );
    this.send(origin, { t: 'shuffleReply', peers: reply });
    this.integrate(bounded, reply);
  }

  // §4.4: every period, a walk from a random neighbour carrying us, ka active and kp passive peers.
  private shuffle(): void {
    const target = pick(this.random, this.active);
    if (target === undefined) return;
    const others = this.active.filter((p) => p !== target);
    this.lastShuffle = [
      ...sample(this.random, others, this.config.shuffleActive),
      ...sample(this.random, this.passive, this.config.shufflePassive),
    ];
    this.send(target, { t: 'shuffle', origin: this.self, peers: [this.self, ...this.lastShuffle], ttl: this.config.shuffleWalkLength });
  }

  /**
   * §4.3: promote passive peers while the active view (with requests in flight) has room and the
   * walk has budget: a random passive peer, not asked and refused already, is sent NEIGHBOR.
   * High priority only when we have no neighbour at all, and one such request at a time: an
   * isolated node needs one sure link, the others are then asked as usual.
   */
  private repair(): void {
    while (this.walkBudget > 0 && this.activeSet.size + this.pending.size < this.config.activeViewSize) {
      const target = pick(
        this.random,
        this.passive.filter((p) => !this.pending.has(p) && !this.refused.has(p)),
      );
      if (target === undefined) break;
      this.walkBudget--;
      const high = this.activeSet.size === 0 && ![...this.pending.values()].some((r) => r.high);
      this.pending.set(target, { high, ticks: 0 });
      this.out.push({ type: 'connect', peer: target });
      this.send(target, { t: 'neighbor', priority: high ? 'high' : 'low' });
    }
    // Requests in flight may still be refused: the walk goes on until the view itself is full.
    if (this.activeSet.size >= this.config.activeViewSize) this.walkBudget = 0;
  }

  /**
   * Alg. 1 "addNodeActiveView": a full view first drops a random neighbour (DISCONNECT, kept as
   * passive). `first` goes out before `neighborUp`, so on the FIFO link it precedes anything the
   * broadcast layer sends to the new neighbour.
   */
  private addActive(peer: PeerId, first?: HyParViewMessage): void {
    if (peer === this.self) return;
    if (this.activeSet.has(peer)) {
      if (first) this.send(peer, first);
      return;
    }
    if (this.activeSet.size >= this.config.activeViewSize) this.dropRandomActive();
    this.passiveSet.delete(peer);
    this.pending.delete(peer);
    this.activeSet.add(peer);
    this.out.push({ type: 'connect', peer });
    if (first) this.send(peer, first);
    this.out.push({ type: 'neighborUp', peer });
  }

  // Alg. 1 "dropRandomElementFromActiveView".
  private dropRandomActive(): void {
    const victim = pick(this.random, this.active);
    if (victim === undefined) return;
    this.send(victim, { t: 'disconnect' });
    this.out.push({ type: 'disconnect', peer: victim });
    this.activeSet.delete(victim);
    this.out.push({ type: 'neighborDown', peer: victim });
    this.addPassive(victim);
  }

  // Alg. 1 "addNodePassiveView": a full passive view drops a random entry (or one of `evictFirst`).
  private addPassive(peer: PeerId, evictFirst: PeerId[] = []): void {
    if (peer === this.self || this.activeSet.has(peer) || this.passiveSet.has(peer)) return;
    if (this.passiveSet.size >= this.config.passiveViewSize) {
      let victim: PeerId | undefined;
      while (evictFirst.length && victim === undefined) {
        const candidate = evictFirst.shift()!;
        if (this.passiveSet.has(candidate) && !this.pending.has(candidate)) victim = candidate;
      }
      victim ??= pick(
        this.random,
        this.passive.filter((p) => !this.pending.has(p)),
      );
      if (victim === undefined) return;
      this.passiveSet.delete(victim);
    }
    this.passiveSet.add(peer);
  }

  // §4.4: new peers from a shuffle go to the passive view, evicting first the ones we sent away.
  private integrate(peers: PeerId[], sentAway: PeerId[]): void {
    const evictFirst = [...sentAway];
    for (const peer of peers) this.addPassive(peer, evictFirst);
  }

  private send(to: PeerId, message: HyParViewMessage): void {
    this.out.push({ type: 'send', to, message });
  }

  private flush(): HyParViewEffect[] {
    const out = this.out;
    this.out = [];
    return out;
  }
}
