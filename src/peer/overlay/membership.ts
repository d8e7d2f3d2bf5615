/**
 * The overlay's membership on real links: hosts the HyParView state machine (./hyparview.ts) over
 * the peer manager's links, so a peer holds a small active view of neighbours (default 5) instead
 * of a link to everyone.
 *
 * - HyParView's `connect` dials through the address book; `send` to a peer without a link opens a
 *   short-lived one (a SHUFFLEREPLY, a JOIN), which is closed after `graceMs` unless the peer became
 *   a neighbour; a link failure is HyParView's failure detector (the link's keep-alive finds a
 *   silent crash).
 * - Every address learned (mDNS, peer exchange, `--peer`, earlier runs) feeds the passive view; a
 *   peer without neighbours joins through any peer it can reach.
 * - Merging after a partition heals: HyParView only repairs into free slots, so two halves whose
 *   views are full never meet again. Every `probeMs` a peer compares version vectors (`digest`) with
 *   a random peer outside its active view; if either holds events the other still lacks a moment
 *   later, the one behind asks it to become a neighbour with high priority, and catch-up runs over
 *   the new link. The same probe with a neighbour asks it for a resync if something went missing.
 */
import { EventEmitter } from 'node:events';
import type { VersionVector } from '../../shared/wire.js';
import type { Logger } from '../log.js';
import type { PeerManager } from '../peers.js';
import type { Link } from '../transport.js';
import { HyParView, type HyParViewConfig, type HyParViewEffect, type HyParViewMessage } from './hyparview.js';
import { pick, type Random } from './random.js';

export interface MembershipConfig {
  hyParView: Partial<HyParViewConfig>;
  /** Shuffle period (the paper does not fix it). */
  shuffleMs: number;
  /** A link that is neither a neighbour nor asked to be one is closed after this long. */
  graceMs: number;
  /** How often a peer compares what it holds with a random other peer (partition merge, lost events). */
  probeMs: number;
  /** A difference in a probe counts only if it is still there this much later (events in flight). */
  probeSettleMs: number;
}

export const MEMBERSHIP_DEFAULTS: Readonly<MembershipConfig> = {
  hyParView: {},
  // Every shuffle costs a short-lived link (its reply) and a handshake: on a LAN, where mDNS feeds
  // the passive view anyway, one every 30 s keeps it fresh (100 peers: 3 shuffles a second in all).
  shuffleMs: 30_000,
  graceMs: 2_000,
  // A partition that heals is merged within about a minute; everything else is the tree's job.
  probeMs: 60_000,
  probeSettleMs: 2_000,
};

/** How soon a view is mended after news, and the backoff of an isolated peer's joins. */
const MEND = { firstMs: 250, maxMs: 10_000 } as const;

export interface MembershipEvents {
  /** A link became a neighbour's (sync and the broadcast tree use it); again if its link was replaced. */
  neighborUp: [Link];
  neighborDown: [string];
}

/** What the membership needs from the replica: how far it is, and what a digest says it lacks. */
export interface ReplicaView {
  vector(): VersionVector;
  /** Authors (and seqs) of `vector` that are ahead of us. */
  ahead(vector: VersionVector): VersionVector;
}

export class Membership extends EventEmitter<MembershipEvents> {
  readonly config: Readonly<MembershipConfig>;
  private readonly hv: HyParView;
  /** Messages for peers whose link is being dialled. */
  private readonly outbox = new Map<string, Parameters<Link['send']>[0][]>();
  private readonly linkedAt = new Map<Link, number>();
  private readonly dialing = new Set<string>();
  private readonly probing = new Set<string>();
  private mendTimer?: NodeJS.Timeout;
  /** Joins tried since the last neighbour came up (the backoff of an isolated peer). */
  private joinAttempts = 0;
  private readonly timers: NodeJS.Timeout[] = [];
  private closed = false;

  constructor(
    private readonly selfId: string,
    private readonly peers: PeerManager,
    private readonly replica: ReplicaView,
    /** Ask a neighbour for everything we lack (a full version vector): used when a probe finds a gap. */
    private readonly resync: (link: Link) => void,
    private readonly log: Logger,
    config: Partial<MembershipConfig> = {},
    private readonly random: Random = Math.random,
  ) {
    super();
    this.config = { ...MEMBERSHIP_DEFAULTS, ...config, hyParView: { ...config.hyParView } };
    this.hv = new HyParView(selfId, random, this.config.hyParView);
    peers.on('up', (link) => this.onLinkUp(link));
    peers.on('down', (link) => this.onLinkDown(link));
    peers.on('discovered', (peerId) => this.onDiscovered(peerId));
  }

  start(): void {
    const every = (ms: number, fn: () => void) => {
      // jittered, so a hundred peers started together do not tick together
      const t = setTimeout(
        () => {
          fn();
          this.timers.push(setInterval(fn, ms).unref());
        },
        ms * (0.5 + this.random()),
      );
      t.unref();
      this.timers.push(t);
    };
    every(this.config.shuffleMs, () => this.tick());
    every(this.config.graceMs / 2, () => this.closeStrayLinks());
    every(this.config.probeMs, () => this.probe());
  }

  get active(): string[] {
    return this.hv.active;
  }

  get passive(): string[] {
    return this.hv.passive;
  }

  isNeighbor(peerId: string): boolean {
    return this.hv.isActive(peerId);
  }

  /** Peers whose links serve something else (a file transfer): not closed as strays meanwhile. */
  private readonly kept = new Set<string>();

  /** Keeps the link to a peer that is no neighbour open (a file transfer uses it), or stops keeping it. */
  keep(peerId: string, on: boolean): void {
    if (on) this.kept.add(peerId);
    else this.kept.delete(peerId);
  }

  /** A peer the user asked to link to (`connect`): it becomes a neighbour, as a JOIN or with high priority. */
  adopt(peerId: string): void {
    if (!this.hv.active.length && !this.hv.pendingRequests.length) this.run(this.hv.join(peerId));
    else this.run(this.hv.promote(peerId));
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.mendTimer);
    for (const t of this.timers) clearTimeout(t);
  }

  private onDiscovered(peerId: string): void {
    this.run(this.hv.learn(peerId));
    this.mendSoon();
  }

  /**
   * After news (a peer discovered, a neighbour gone, a dial failed), shortly: a peer without
   * neighbours joins through some peer it can reach, retrying with backoff while none answers (a
   * partition, a peer that is alone); a short active view asks passive peers to fill it.
   */
  private mendSoon(): void {
    if (this.closed || this.mendTimer) return;
    const isolated = !this.hv.active.length && !this.hv.pendingRequests.length;
    const delay =
      isolated && this.joinAttempts
        ? Math.min(MEND.maxMs, MEND.firstMs * 2 ** this.joinAttempts) * (0.5 + this.random() / 2)
        : MEND.firstMs;
    this.mendTimer = setTimeout(() => {
      this.mendTimer = undefined;
      if (this.closed) return;
      if (this.hv.active.length || this.hv.pendingRequests.length) {
        this.run(this.hv.refill());
        return;
      }
      const contact = pick(this.random, this.peers.dialable());
      if (contact === undefined) return; // nobody known yet: the next discovery mends
      this.joinAttempts++;
      this.run(this.hv.join(contact));
    }, delay);
    this.mendTimer.unref();
  }

  private onLinkUp(link: Link): void {
    this.linkedAt.set(link, Date.now());
    link.on('frame', (frame) => {
      if (frame.t === 'hv') {
        for (const [peerId, urls] of Object.entries(frame.addrs ?? {})) this.peers.addAddresses(peerId, urls, 'exchange');
        this.run(this.hv.receive(link.peerId, frame.m));
      } else if (frame.t === 'digest') this.onDigest(link, frame.have, frame.reply);
    });
    for (const m of this.outbox.get(link.peerId) ?? []) void link.send(m).catch(() => undefined);
    this.outbox.delete(link.peerId);
    if (this.hv.isActive(link.peerId)) this.emit('neighborUp', link);
    // A peer reached without the overlay asking (`--peer`, a scan) was wanted by the user: a neighbour.
    else if (link.outbound && !this.dialing.has(link.peerId) && !this.probing.has(link.peerId)) this.adopt(link.peerId);
  }

  private onLinkDown(link: Link): void {
    this.linkedAt.delete(link);
    this.run(this.hv.linkFailed(link.peerId));
    this.mendSoon();
  }

  private tick(): void {
    this.run(this.hv.shuffleTick());
    this.mendSoon();
  }

  /** Links nobody claims (a shuffle's reply, a refused request, a peer that dialled us for nothing). */
  private closeStrayLinks(): void {
    const now = Date.now();
    const pending = new Set(this.hv.pendingRequests);
    for (const link of this.peers.links()) {
      if (this.hv.isActive(link.peerId) || pending.has(link.peerId) || this.kept.has(link.peerId)) continue;
      if (now - (this.linkedAt.get(link) ?? now) >= this.config.graceMs) link.close('not a neighbour');
    }
  }

  /** Compare what we hold with a random peer outside the active view, or now and then with a neighbour. */
  private probe(): void {
    if (this.closed) return;
    const active = new Set(this.hv.active);
    const outside = this.peers.dialable().filter((p) => !active.has(p));
    const peer = pick(this.random, outside.length && this.random() < 0.75 ? outside : [...active]);
    if (peer === undefined || this.probing.has(peer)) return;
    this.probing.add(peer);
    this.peers
      .dialPeer(peer)
      .then(
        (link) => void link.send({ t: 'digest', have: this.replica.vector(), reply: true }).catch(() => undefined),
        () => undefined,
      )
      .finally(() => this.probing.delete(peer));
  }

  private onDigest(link: Link, have: VersionVector, reply: boolean): void {
    if (reply) void link.send({ t: 'digest', have: this.replica.vector(), reply: false }).catch(() => undefined);
    const wanted = this.replica.ahead(have);
    const stranger = () => !this.hv.isActive(link.peerId) && !this.hv.pendingRequests.includes(link.peerId) && !this.kept.has(link.peerId);
    // the prober's link served its purpose: nothing to fetch, so it goes now rather than at the grace sweep
    if (!Object.keys(wanted).length) {
      if (!reply && stranger()) link.close('probe done');
      return;
    }
    // Events in flight explain a difference for a moment; one that lasts means we are cut off from them.
    setTimeout(() => {
      if (this.closed || !Object.keys(this.replica.ahead(wanted)).length) return;
      if (this.hv.isActive(link.peerId)) {
        if (!link.closed) this.resync(link);
        return;
      }
      this.log.info({ peer: link.peerId }, 'a peer outside our view holds events we lack: making it a neighbour');
      this.run(this.hv.promote(link.peerId));
    }, this.config.probeSettleMs).unref();
  }

  /** Carries out HyParView's effects, in order. */
  private run(effects: HyParViewEffect[]): void {
    if (this.closed) return;
    for (const e of effects) {
      switch (e.type) {
        case 'send':
          this.send(e.to, { t: 'hv', m: e.message, ...this.addressesFor(e.message) });
          break;
        case 'connect':
          this.connect(e.peer);
          break;
        case 'disconnect': {
          const link = this.peers.link(e.peer);
          this.outbox.delete(e.peer);
          // the DISCONNECT message queued before it goes out first: the socket flushes before closing
          if (link && !this.hv.isActive(e.peer)) link.close('left the active view');
          break;
        }
        case 'neighborUp': {
          this.joinAttempts = 0;
          const link = this.peers.link(e.peer);
          if (link) this.emit('neighborUp', link); // otherwise when its link comes up
          break;
        }
        case 'neighborDown':
          this.emit('neighborDown', e.peer);
          this.mendSoon();
          break;
      }
    }
  }

  /** HyParView names peers by id; the receiver needs their addresses to dial them. */
  private addressesFor(m: HyParViewMessage): { addrs?: Record<string, string[]> } {
    const named = m.t === 'forwardJoin' ? [m.peer] : m.t === 'shuffle' ? [m.origin, ...m.peers] : m.t === 'shuffleReply' ? m.peers : [];
    const addrs = Object.fromEntries(named.flatMap((p) => (this.peers.addressesOf(p).length ? [[p, this.peers.addressesOf(p)]] : [])));
    return Object.keys(addrs).length ? { addrs } : {};
  }

  private send(peerId: string, frame: Parameters<Link['send']>[0]): void {
    const link = this.peers.link(peerId);
    if (link) {
      void link.send(frame).catch(() => undefined);
      return;
    }
    this.outbox.set(peerId, [...(this.outbox.get(peerId) ?? []), frame]);
    this.connect(peerId);
  }

  private connect(peerId: string): void {
    if (this.peers.link(peerId) || this.dialing.has(peerId)) return;
    this.dialing.add(peerId);
    this.peers
      .dialPeer(peerId)
      .catch((err: Error) => {
        this.outbox.delete(peerId);
        this.log.debug({ peer: peerId, err: err.message }, 'overlay: peer unreachable');
        this.run(this.hv.linkFailed(peerId));
        this.mendSoon();
      })
      .finally(() => this.dialing.delete(peerId));
  }
}
