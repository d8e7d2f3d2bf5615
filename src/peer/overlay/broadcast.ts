/**
 * Tree broadcast of new events on real links: hosts the Plumtree state machine (./plumtree.ts) over
 * the neighbours' links (the active view of ./membership.ts).
 *
 * - A new event (ours once durable, or one received as GOSSIP) goes eagerly along the tree and as
 *   an IHAVE on the other neighbours' links; a duplicate prunes the link it came over, a missing
 *   announced event is pulled with GRAFT, which puts that link back into the tree.
 * - Each author's events travel a tree of their own (rooted at the author): with everyone writing,
 *   one shared tree keeps tearing (see ./plumtree.ts).
 * - The tree's ids are event ids; its payload is only a reference (author, seq): the event's JSON
 *   comes from a small cache of recent events or the store, so the tree never holds history.
 * - Every GOSSIP is checked by the replica (signature, hash chain) before it is forwarded: a peer
 *   cannot use the tree to spread what the replica refuses. One whose predecessor we lack is not
 *   forwarded either; it asks that neighbour for a resync (version-vector catch-up), as any gap does.
 * - Backlogs (catch-up after a partition or an absence) are not pushed along the tree: version
 *   vectors between neighbours carry them (./sync.ts), and the tree only learns that we hold them.
 */
import { WIRE_LIMITS, type Frame, type SignedEvent } from '../../shared/wire.js';
import { verifySignature } from '../events.js';
import type { Logger } from '../log.js';
import type { Replica } from '../replica.js';
import type { Store } from '../store.js';
import type { Sync } from '../sync.js';
import type { Link } from '../transport.js';
import { trimOldest } from '../trim-oldest.js';
import { Plumtree, PLUMTREE_DEFAULTS, type PlumtreeConfig, type PlumtreeEffect } from './plumtree.js';

/** Where to find an event the tree knows of. */
interface EventRef {
  author: string;
  seq: number;
}

const TREE_FRAMES = new Set<Frame['t']>(['gossip', 'gossips', 'ihave', 'graft', 'prune']);

/** GOSSIP for one link is sent at the end of the event-loop turn, several per frame up to this size. */
const GOSSIP_FRAME_BYTES = 1024 * 1024;

interface Inbound {
  link: Link;
  frame: Frame;
}

/**
 * A GOSSIP that arrives before its author's previous event (the tree changed under a stream of
 * events, or a GRAFT answer overtook the eager copy) is held this long for it, instead of asking
 * for a resync at once: a resync costs a full version vector and a catch-up stream.
 */
const EARLY_HOLD_MS = 2000;
/** An announced event still missing this long after its IHAVE (GRAFTs take 0.5 + 4 × 0.3 s) brings a resync. */
const UNSEEN_AFTER_MS = 5000;
const UNSEEN_MAX = 10_000;
const EARLY_MAX = 10_000;

/** Author and seq a GOSSIP's event claims, before it is checked. */
function positionOf(frame: Frame): { id: string; author: string; seq: number } | undefined {
  if (frame.t !== 'gossip') return undefined;
  const ev = (frame.event ?? {}) as Partial<SignedEvent>;
  return typeof ev.author === 'string' && typeof ev.seq === 'number' ? { id: frame.id, author: ev.author, seq: ev.seq } : undefined;
}

/** Recent events' JSON kept for forwarding and GRAFTs without a database read. */
const JSON_CACHE_SIZE = 4096;

export const TREE_DEFAULTS: Partial<PlumtreeConfig> = {
  // Real peers answer slower than the simulation's 0.5–5 ms hops: a busy event loop, fsyncs, and on
  // one test machine dozens of processes sharing two cores. A GRAFT sent while the eager copy is
  // still on its way costs a duplicate and churns the tree, so repairs wait longer than in bench/sim
  // (a tree only needs them when a link broke: a chat can wait half a second then).
  ihaveTimeoutMs: 500,
  graftTimeoutMs: 300,
  // IHAVEs are not urgent with those timeouts: batching them longer saves frames under load.
  lazyFlushMs: 50,
  // only references are kept, but a catch-up marks every event it brings: bound what that costs
  maxKept: 20_000,
  keepMs: 60_000,
};

export class TreeBroadcast {
  private readonly tree: Plumtree<EventRef>;
  private readonly neighbors = new Map<string, Link>();
  private readonly json = new Map<string, string>();
  private inbox: Inbound[] = [];
  private readonly listening = new WeakSet<Link>();
  private outGossip = new Map<Link, string[]>();
  /** Ids announced to us (IHAVE) that we lack, with who announced them first. */
  private readonly unseen = new Map<string, { link: Link; at: number }>();
  private unseenTimer?: NodeJS.Timeout;
  /** GOSSIP ahead of its author's log, by author and seq, until its predecessor arrives. */
  private readonly early = new Map<string, Map<number, Inbound & { until: number }>>();
  private earlyCount = 0;
  private earlyTimer?: NodeJS.Timeout;
  private timer?: NodeJS.Timeout;
  private timerAt = Infinity;
  /** Our own events up to this seq went into the tree. */
  private ownSeq: number;
  private closed = false;
  private readonly keepMs: number;

  constructor(
    private readonly selfId: string,
    private readonly replica: Replica,
    private readonly store: Store,
    private readonly sync: Sync,
    private readonly log: Logger,
    config: Partial<PlumtreeConfig> = {},
  ) {
    const tuned = { ...TREE_DEFAULTS, ...config };
    this.keepMs = tuned.keepMs ?? PLUMTREE_DEFAULTS.keepMs;
    this.tree = new Plumtree<EventRef>(selfId, Date.now, tuned);
    this.ownSeq = replica.shareableVector()[selfId] ?? 0;
  }

  neighborUp(link: Link): void {
    const replaced = this.neighbors.get(link.peerId);
    this.neighbors.set(link.peerId, link);
    if (replaced === link) return;
    if (!replaced) this.run(this.tree.neighborUp(link.peerId));
    // a link that stopped and became a neighbour's again keeps its one pair of listeners
    if (this.listening.has(link)) return;
    this.listening.add(link);
    link.on('frame', (frame) => {
      if (this.neighbors.get(link.peerId) !== link || !TREE_FRAMES.has(frame.t)) return;
      // A burst of GOSSIP from many neighbours is ingested in one transaction per link and turn.
      if (!this.inbox.length) setImmediate(() => this.drain());
      if (frame.t === 'gossips') for (const item of frame.items) this.inbox.push({ link, frame: { t: 'gossip', ...item } });
      else this.inbox.push({ link, frame });
    });
    link.on('close', () => {
      if (this.neighbors.get(link.peerId) !== link) return;
      this.neighbors.delete(link.peerId);
      this.run(this.tree.neighborDown(link.peerId));
    });
  }

  neighborDown(peerId: string): void {
    if (!this.neighbors.delete(peerId)) return;
    this.run(this.tree.neighborDown(peerId));
  }

  /** Our own events that became durable (the replica's `shared`): each goes into the tree once. */
  shareOwn(): void {
    const upTo = this.replica.shareableVector()[this.selfId] ?? 0;
    while (this.ownSeq < upTo) {
      const rows = this.store.eventsAfter(this.selfId, this.ownSeq, Math.min(500, upTo - this.ownSeq));
      if (!rows.length) break;
      for (const row of rows) {
        const id = (JSON.parse(row.json) as SignedEvent).id;
        this.cache(id, row.json);
        this.ownSeq = row.seq;
        this.run(this.tree.broadcast(id, { author: this.selfId, seq: row.seq }, this.selfId));
      }
    }
  }

  /**
   * Events that came by catch-up: the tree does not forward them, but an IHAVE or GOSSIP of them is
   * old news. Only recent ones are worth remembering: neighbours announce what their tree carried
   * in the last `keepMs`, and an IHAVE of anything else costs one store lookup (`onFrame`), while
   * marking a 100,000-event backlog would fill the tree's memory with history. (Twice `keepMs`:
   * the authors' clocks may differ from ours.)
   */
  markHeld(events: readonly SignedEvent[]): void {
    const since = Date.now() - 2 * this.keepMs;
    for (const ev of events) if (ev.ts >= since) this.tree.markReceived(ev.id, { author: ev.author, seq: ev.seq }, 0, ev.author);
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    clearTimeout(this.earlyTimer);
    clearInterval(this.unseenTimer);
  }

  /**
   * The tree frames of one event-loop turn, in arrival order: first every new event that came by
   * GOSSIP is checked and stored (one `ingest` per link, so a bad event costs only its sender),
   * then each frame is handled as if alone.
   */
  private drain(): void {
    const inbox = this.inbox;
    this.inbox = [];
    const fresh = new Set<string>();
    const batches = new Map<Link, unknown[]>();
    for (const { link, frame } of inbox) {
      const ev = positionOf(frame);
      if (!ev || frame.t !== 'gossip' || ev.seq <= this.replica.seqOf(ev.author)) continue;
      const batch = batches.get(link);
      if (batch) batch.push(frame.event);
      else batches.set(link, [frame.event]);
    }
    for (const [link, events] of batches) {
      if (link.closed) continue;
      const result = this.replica.ingest(events);
      for (const ev of result.stored) fresh.add(ev.id);
      if (result.error) link.fail(result.error.reason, result.error.message);
    }
    const ready: Inbound[] = [];
    for (const item of inbox) {
      const ev = positionOf(item.frame);
      // ahead of its author's log: its predecessor is most likely on its way along another path
      if (ev && !fresh.has(ev.id) && ev.seq > this.replica.seqOf(ev.author)) this.holdEarly(item, ev);
      else ready.push(item);
    }
    ready.push(...this.releaseEarly(fresh));
    for (const { link, frame } of ready) if (!link.closed && !this.closed) this.onFrame(link, frame, fresh);
  }

  /** Holds a GOSSIP that arrived before its predecessor, for `EARLY_HOLD_MS` at most. */
  private holdEarly(item: Inbound, ev: { author: string; seq: number }): void {
    if (this.earlyCount >= EARLY_MAX || item.link.closed) {
      this.sync.resync(item.link);
      return;
    }
    let byseq = this.early.get(ev.author);
    if (!byseq) this.early.set(ev.author, (byseq = new Map()));
    if (byseq.has(ev.seq)) return; // a copy of one held already: the tree learns of it when the first is handled
    byseq.set(ev.seq, { ...item, until: Date.now() + EARLY_HOLD_MS });
    this.earlyCount++;
    this.earlyTimer ??= setTimeout(() => this.expireEarly(), EARLY_HOLD_MS);
  }

  /** Held GOSSIP whose predecessors arrived: stored now, in seq order, and handed back to be handled. */
  private releaseEarly(fresh: Set<string>): Inbound[] {
    const released: Inbound[] = [];
    for (const [author, byseq] of this.early) {
      // copies of what came meanwhile by another way (another link, a catch-up): handled as duplicates
      for (const [seq, held] of byseq) {
        if (seq > this.replica.seqOf(author)) continue;
        byseq.delete(seq);
        this.earlyCount--;
        released.push(held);
      }
      // the run that now continues the author's log, stored in one transaction (one each took a
      // fifth of a loaded peer's time)
      const run: (Inbound & { until: number; seq: number })[] = [];
      for (let seq = this.replica.seqOf(author) + 1, next = byseq.get(seq); next && !next.link.closed; next = byseq.get(++seq)) {
        byseq.delete(seq);
        this.earlyCount--;
        run.push({ ...next, seq });
      }
      if (run.length) {
        const result = this.replica.ingest(run.map((item) => (item.frame as Extract<Frame, { t: 'gossip' }>).event));
        for (const ev of result.stored) fresh.add(ev.id);
        const stored = result.stored.length;
        released.push(...run.slice(0, stored));
        if (result.error) run[stored]?.link.fail(result.error.reason, result.error.message);
        // what could not be stored waits on, as it did before
        for (const item of run.slice(stored)) {
          byseq.set(item.seq, item);
          this.earlyCount++;
        }
      }
      if (!byseq.size) this.early.delete(author);
    }
    return released;
  }

  /** What waited too long: its predecessor is not coming by the tree, so catch up with the neighbour that sent it. */
  private expireEarly(): void {
    this.earlyTimer = undefined;
    const now = Date.now();
    const links = new Set<Link>();
    for (const [author, byseq] of this.early) {
      for (const [seq, held] of byseq) {
        if (held.until > now) continue;
        byseq.delete(seq);
        this.earlyCount--;
        links.add(held.link);
      }
      if (!byseq.size) this.early.delete(author);
    }
    for (const link of links) if (!link.closed) this.sync.resync(link);
    if (this.earlyCount) this.earlyTimer = setTimeout(() => this.expireEarly(), EARLY_HOLD_MS / 2);
  }

  private onFrame(link: Link, frame: Frame, fresh: Set<string>): void {
    switch (frame.t) {
      case 'gossip':
        this.onGossip(link, frame, fresh);
        break;
      case 'ihave':
        for (const { id } of frame.ids) {
          // `fresh`: its GOSSIP came in this turn and is handled after this IHAVE. Marked as held here, that
          // GOSSIP would count as a duplicate and prune the link it came over (often the only one in its tree).
          if (this.tree.has(id) || fresh.has(id)) continue;
          const row = this.store.event(id);
          if (!row) {
            this.announced(id, link);
            continue;
          }
          this.tree.markReceived(id, { author: row.author, seq: row.seq }, 0, row.author);
          this.sync.learnOf(link.peerId, row.author, row.seq);
        }
        this.run(this.tree.receive(link.peerId, frame));
        break;
      case 'graft':
      case 'prune':
        this.run(this.tree.receive(link.peerId, frame));
        break;
    }
  }

  /** A GOSSIP whose event `drain` stored just now (`fresh`, consumed by the first copy), or already held. */
  private onGossip(link: Link, frame: Extract<Frame, { t: 'gossip' }>, fresh: Set<string>): void {
    const ev = (frame.event ?? {}) as Partial<SignedEvent>;
    if (ev.id !== frame.id || typeof ev.author !== 'string' || typeof ev.seq !== 'number') {
      link.fail('bad_frame', 'gossip id does not match its event');
      return;
    }
    const ref = { author: ev.author, seq: ev.seq };
    if (fresh.delete(frame.id)) {
      this.cache(frame.id, JSON.stringify(frame.event));
    } else if (ev.seq <= this.replica.seqOf(ev.author)) {
      this.sync.counts.duplicates++;
      this.tree.markReceived(frame.id, ref, 0, ev.author); // held since before the tree knew (catch-up, a restart)
    } else {
      return; // not stored: its predecessor is missing (drain asks for a resync)
    }
    this.sync.learnOf(link.peerId, ev.author, ev.seq);
    // each author's events travel that author's own tree (the gossip's root is its event's author)
    this.run(this.tree.receive(link.peerId, { t: 'gossip', id: frame.id, payload: ref, round: frame.round, root: ev.author }));
  }

  /** An event whose content a delete erased: a later GRAFT must get it from the store, as it is now. */
  forget(id: string): void {
    this.json.delete(id);
  }

  private cache(id: string, json: string): void {
    this.json.set(id, json);
    trimOldest(this.json, JSON_CACHE_SIZE);
  }

  /** An event's JSON for a GOSSIP; one read from the store is checked first (catch-up keeps unverified signatures inside chains). */
  private eventJson(id: string): string | undefined {
    const cached = this.json.get(id);
    if (cached !== undefined) return cached;
    const json = this.store.eventJson(id);
    return json !== undefined && verifySignature(JSON.parse(json) as SignedEvent) ? json : undefined;
  }

  /** Carries out Plumtree's effects, then arms its timer for the next deadline. */
  private run(effects: PlumtreeEffect<EventRef>[]): void {
    if (this.closed) return;
    for (const e of effects) {
      if (e.type !== 'send') continue; // `deliver`: the replica delivered it when it was stored
      const link = this.neighbors.get(e.to);
      if (!link) continue;
      const m = e.message;
      if (m.t === 'gossip') {
        const json = this.eventJson(m.id);
        if (json === undefined) {
          this.log.debug({ id: m.id }, 'tree: no event to send for this id');
          continue;
        }
        this.sync.learnOf(e.to, m.payload.author, m.payload.seq);
        this.sync.counts.relayed++;
        this.queueGossip(link, `{"id":"${m.id}","round":${m.round},"event":${json}}`);
      } else {
        void link.send(m).catch(() => undefined);
      }
    }
    this.arm();
  }

  /** An id announced to us that we lack: the safety net checks on it later. */
  private announced(id: string, link: Link): void {
    if (this.unseen.has(id) || this.unseen.size >= UNSEEN_MAX) return;
    this.unseen.set(id, { link, at: Date.now() });
    this.unseenTimer ??= setInterval(() => this.checkUnseen(), UNSEEN_AFTER_MS / 2).unref();
  }

  /**
   * The safety net under the tree: an announced event that neither its GOSSIP nor a GRAFT brought
   * (every GRAFT went to announcers that dropped the link, say) is asked for with a resync from the
   * neighbour that announced it: version vectors then bring whatever is missing.
   */
  private checkUnseen(): void {
    const now = Date.now();
    const links = new Set<Link>();
    for (const [id, { link, at }] of this.unseen) {
      if (this.tree.has(id)) {
        this.unseen.delete(id);
      } else if (now - at >= UNSEEN_AFTER_MS) {
        this.unseen.delete(id);
        if (!this.store.event(id)) links.add(link);
      }
    }
    for (const link of links) if (!link.closed) this.sync.resync(link);
    if (!this.unseen.size) {
      clearInterval(this.unseenTimer);
      this.unseenTimer = undefined;
    }
  }

  /** GOSSIP items wait for the end of the turn, then leave as few frames as their size allows. */
  private queueGossip(link: Link, item: string): void {
    if (!this.outGossip.size) setImmediate(() => this.flushGossip());
    const queued = this.outGossip.get(link);
    if (queued) queued.push(item);
    else this.outGossip.set(link, [item]);
  }

  private flushGossip(): void {
    const out = this.outGossip;
    this.outGossip = new Map();
    for (const [link, items] of out) {
      if (link.closed) continue;
      let batch: string[] = [];
      let bytes = 0;
      const send = () => {
        const text = batch.length === 1 ? `{"t":"gossip",${batch[0]!.slice(1)}` : `{"t":"gossips","items":[${batch.join(',')}]}`;
        void link.sendRaw(text).catch(() => undefined);
        batch = [];
        bytes = 0;
      };
      for (const item of items) {
        if (batch.length && (bytes + item.length > GOSSIP_FRAME_BYTES || batch.length >= WIRE_LIMITS.maxEventsPerFrame)) send();
        batch.push(item);
        bytes += item.length;
      }
      if (batch.length) send();
    }
  }

  private arm(): void {
    const next = this.tree.nextDeadline();
    if (next === undefined || next >= this.timerAt) return;
    clearTimeout(this.timer);
    this.timerAt = next;
    this.timer = setTimeout(
      () => {
        this.timerAt = Infinity;
        this.timer = undefined;
        this.run(this.tree.tick());
      },
      Math.max(0, next - Date.now()),
    );
  }
}
