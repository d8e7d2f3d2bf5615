/**
 * Reliable broadcast and catch-up over peer links, driven by version vectors.
 *
 * For every link we keep `known`: what the peer holds as far as we know
 * (its full vector on connect, then its announcements and what we sent it).
 * One mechanism then does everything — "send each peer what it lacks":
 * - our own new events go out to every link at once;
 * - events received from one peer are announced to the others and relayed
 *   after a short delay to those still lacking them (so a sender that crashes
 *   mid-broadcast loses nothing, and a peer that reaches only one other gets
 *   everything), while the announcements keep a full mesh from relaying twice;
 * - on (re)connect, the missing ranges stream in chunks, one chunk of each author in turn,
 *   awaited one by one (backpressure), so catch-up costs what is missing;
 * - a peer catching up from several neighbours takes each author's missing range
 *   from one of them (the first that offered it) and tells the others to `skip`
 *   it; a range whose neighbour leaves or stalls is handed back to the others.
 */
import type { SignedEvent, VersionVector } from '../shared/wire.js';
import { CHECKER_TUNING, type EventChecker, type EventVerdict } from './event-checker.js';
import { verifySignature } from './events.js';
import type { Logger } from './log.js';
import type { IngestResult, Replica } from './replica.js';
import type { Store } from './store.js';
import type { Link } from './transport.js';

export const SYNC_TUNING = {
  /**
   * A neighbour streaming ranges to us that delivers fewer than `stallEvents` events (finished
   * ranges count in full) for this long loses them to the others: a slow or hostile one cannot
   * starve a catch-up by dripping events.
   */
  stallMs: 5000,
  stallEvents: 100,
  /** Events received from others are relayed after this delay, giving direct deliveries time to be announced. */
  relayDelayMs: 60,
  /** Announcements of what we hold are coalesced over this window. */
  announceMs: 20,
  /**
   * Overlay: a neighbour announced events we lack; if the tree has not brought them this much later,
   * we ask that neighbour for them (a backlog it caught up with, e.g. across a healed partition).
   */
  pullDelayMs: 2000,
  chunkEvents: 500,
  chunkBytes: 1024 * 1024,
  /** Catch-up frames received in one event-loop turn are stored together, up to about this many events. */
  turnEvents: 1000,
  /**
   * A link with this many frames waiting to be handled (their events checked on the worker, or
   * checked and waiting for the frames before them) stops reading until only half as many are left: a
   * catch-up then waits in TCP, not parsed in our heap.
   */
  framesBehind: 4,
} as const;

class Session {
  readonly known = new Map<string, number>();
  /** Authors the peer gets, up to these seqs, from another neighbour: not ours to push. */
  skip = new Map<string, number>();
  /**
   * The peer told us what to skip (its answer to our full vector). Until then we push nothing: on
   * loopback a socket takes megabytes before it pushes back, so a sender that starts at once has
   * queued most of a catch-up by the time the receiver can say another neighbour streams it.
   */
  planned = false;
  /** We only push once the peer told us what it has. */
  ready = false;
  /**
   * Overlay: how far we stream to the peer. What we held when it sent its full vector or we sent it
   * ours (we stream what we said we hold), and what a catch-up brought us since (the tree does not
   * carry that on). Anything else is the tree's to carry: a stream that followed the live log sent
   * the peer a second copy of all of it (under load, for as long as the load lasted).
   */
  upTo?: Map<string, number>;

  /** Overlay: we may stream the peer these authors' logs up to these seqs. */
  streamUpTo(positions: Iterable<readonly [author: string, seq: number]>): void {
    if (!this.upTo) return;
    for (const [author, seq] of positions) if (seq > (this.upTo.get(author) ?? 0)) this.upTo.set(author, seq);
  }
  private pumping = false;
  private again = false;
  readonly pendingAnnounce = new Map<string, number>();
  /** Frames still to handle behind one whose events are being checked on the worker. */
  private behind = 0;
  private handled: Promise<void> = Promise.resolve();

  constructor(
    readonly link: Link,
    private readonly sync: Sync,
  ) {}

  /**
   * Handles a frame once `value` (a check on the worker, or at hand) is ready and the frames before
   * it are handled: a link's frames keep their order, while the checks of several run ahead.
   */
  inOrder<T>(value: T | Promise<T>, handle: (value: T) => void): void {
    if (!this.behind && !(value instanceof Promise)) return handle(value);
    if (++this.behind === SYNC_TUNING.framesBehind) {
      this.link.pause();
      this.sync.counts.pauses++;
    }
    this.handled = this.handled
      .then(() => value)
      .then((v) => {
        if (!this.link.closed) handle(v);
      })
      .catch((err: Error) => this.link.fail('internal_error', `could not handle a frame: ${err.message}`))
      .finally(() => {
        if (--this.behind === SYNC_TUNING.framesBehind / 2) this.link.resume();
      });
  }

  /**
   * Each link walks the authors from its own starting point, so a peer catching up from several
   * neighbours gets different logs from each at first instead of the same backlog from all.
   */
  private rotated<T>(entries: T[]): T[] {
    if (entries.length < 2) return entries;
    const start = (this.link.peerId.charCodeAt(0) * 31 + this.link.peerId.charCodeAt(1)) % entries.length;
    return [...entries.slice(start), ...entries.slice(0, start)];
  }

  learn(author: string, seq: number): void {
    if (seq > (this.known.get(author) ?? 0)) this.known.set(author, seq);
  }

  /** Sends every event the peer lacks; one pump at a time per link. */
  async pump(): Promise<void> {
    if (!this.ready || !this.planned || this.link.closed) return;
    if (this.pumping) {
      this.again = true;
      return;
    }
    this.pumping = true;
    try {
      do {
        this.again = false;
        const upTo = this.upTo;
        const vector = Object.entries(this.sync.replica.shareableVector());
        const authors = this.rotated(
          upTo ? vector.map(([author, mine]) => [author, Math.min(mine, upTo.get(author) ?? 0)] as const) : vector,
        );
        // One chunk of each author in turn: events depend on other authors' events of the same
        // time, so a log streamed whole before the next would wait, mostly, for the next one.
        for (let sent = true; sent && !this.link.closed;) {
          sent = false;
          for (const [author, mine] of authors) {
            // Another neighbour streams this author's range to the peer: nothing of it until the peer
            // says it holds that range (what follows would be a gap). Re-read every chunk: a skip
            // that arrives mid-stream stops it.
            const from = this.known.get(author) ?? 0;
            if (from >= mine || from < (this.skip.get(author) ?? 0) || this.link.closed) continue;
            const { json, last } = this.sync.chunk(author, from, mine);
            if (!json.length) continue;
            this.learn(author, last);
            this.sync.counts.relayed += json.length;
            await this.link.sendRaw(`{"t":"events","events":[${json.join(',')}]}`);
            sent = true;
          }
        }
      } while (this.again && !this.link.closed);
    } catch {
      // The link closed mid-stream; its session ends with it and a new one resyncs.
    } finally {
      this.pumping = false;
    }
  }
}

/** Author and seq an event from the wire claims, before it is parsed. */
function positionOf(raw: unknown): { author: string; seq: number } | undefined {
  const e = (raw ?? {}) as Partial<SignedEvent>;
  return typeof e.author === 'string' && typeof e.seq === 'number' ? { author: e.author, seq: e.seq } : undefined;
}

interface Stream {
  session: Session;
  upTo: number;
  held: number;
  since: number;
}

export class Sync {
  private readonly sessions = new Map<Link, Session>();
  private readonly byPeer = new Map<string, Session>();
  /**
   * Told of events that arrived by catch-up (`events` frames), once stored: the overlay's tree
   * learns it holds them. Unset in the full mesh.
   */
  onHeld?: (events: SignedEvent[]) => void;
  /** Told when `events` frames leave this peer holding all its neighbours told it they hold, with how many they brought since it was last level. */
  onCaughtUp?: (events: number) => void;
  /** Events `events` frames brought since this peer was last level with its neighbours. */
  private catchingUp = 0;
  /** Events sent to neighbours, events received that this peer already held, links paused (the `stats` method). */
  readonly counts = { relayed: 0, duplicates: 0, pauses: 0 };
  /** Author → the neighbour streaming its missing range to us, up to `upTo` (`held` at `since`: its last progress mark). */
  private readonly streams = new Map<string, Stream>();
  /** `events` frames received in this event-loop turn, by link (see queueEvents). */
  private inbox = new Map<Session, { raws: unknown[]; verdicts: (EventVerdict | undefined)[] }>();
  private inboxEvents = 0;
  private closed = false;
  private stallTimer?: NodeJS.Timeout;
  private relayTimer?: NodeJS.Timeout;
  private announceTimer?: NodeJS.Timeout;

  constructor(
    readonly replica: Replica,
    private readonly store: Store,
    private readonly log: Logger,
    /**
     * In the overlay the tree carries new events, so a neighbour pushes only when asked (its full
     * vector) and announcements make the other side pull what the tree did not bring; in the full
     * mesh, announcements and relays push what each link lacks.
     */
    private readonly pullOnly = false,
    /** Checks large `events` frames off the main thread (without it, every event is checked by the replica). */
    private readonly checker?: EventChecker,
  ) {}

  /** Starts syncing over a new link: tell the peer what we hold. */
  attach(link: Link): void {
    if (this.sessions.has(link)) return;
    const session = new Session(link, this);
    if (this.pullOnly) session.upTo = new Map();
    this.sessions.set(link, session);
    this.byPeer.set(link.peerId, session);
    link.on('close', () => {
      this.sessions.delete(link);
      if (this.byPeer.get(link.peerId) === session) this.byPeer.delete(link.peerId);
      this.releaseStreams((s) => s.session === session);
    });
    link.on('frame', (frame, bytes) => {
      if (frame.t === 'vv') session.inOrder(frame, (f) => this.onVector(session, f.have, f.full, f.skip));
      else if (frame.t === 'events') {
        const { events } = frame;
        const checked = this.checker && events.length >= CHECKER_TUNING.minEvents ? this.checker.check(bytes) : undefined;
        session.inOrder(checked, (verdicts) => this.queueEvents(session, events, verdicts));
      }
    });
    this.resync(link);
  }

  private onVector(session: Session, have: VersionVector, full: boolean, skip?: VersionVector): void {
    if (full) {
      if (this.checker && this.lacking(have) >= CHECKER_TUNING.minEvents) this.checker.warm();
      session.known.clear();
      session.ready = true;
      session.streamUpTo(Object.entries(this.replica.shareableVector()));
    }
    if (skip) {
      session.skip = new Map(Object.entries(skip));
      session.planned = true;
    }
    for (const [author, seq] of Object.entries(have)) session.learn(author, seq);
    if (full) this.planStreams(session);
    if (!this.pullOnly || full || skip) void session.pump();
    else if (!full) this.pullLater(session, have);
  }

  /** How many events of `have` we do not hold. */
  private lacking(have: VersionVector): number {
    let n = 0;
    for (const [author, seq] of Object.entries(have)) n += Math.max(0, seq - this.replica.seqOf(author));
    return n;
  }

  /** Overlay: what a neighbour announced and the tree has not brought by then, we ask it for. */
  private pullLater(session: Session, have: VersionVector): void {
    const lacking = this.replica.ahead(have);
    if (!Object.keys(lacking).length) return;
    setTimeout(() => {
      if (session.link.closed || !this.sessions.has(session.link)) return;
      if (Object.keys(this.replica.ahead(lacking)).length) this.resync(session.link);
    }, SYNC_TUNING.pullDelayMs).unref();
  }

  /**
   * A neighbour told us all it holds: the ranges we lack that no other neighbour streams yet are
   * its to stream, and it skips those others stream.
   */
  private planStreams(session: Session): void {
    const now = Date.now();
    let assigned = false;
    for (const [author, seq] of session.known) {
      const held = this.replica.seqOf(author);
      const stream = this.streams.get(author);
      if (seq > held && (!stream || stream.upTo <= held || stream.session === session)) {
        this.streams.set(author, { session, upTo: seq, held, since: now });
        assigned = true;
      }
    }
    // the others learn what to skip; this one learns what the others stream
    this.sendSkips(assigned ? this.sessions.values() : [session]);
    this.stallTimer ??= setInterval(() => this.checkStreams(), SYNC_TUNING.stallMs / 2);
    this.stallTimer.unref();
  }

  /** What `session`'s peer should not push us: the ranges other neighbours stream. */
  private skipsFor(session: Session): VersionVector {
    const skip: VersionVector = {};
    for (const [author, s] of this.streams) if (s.session !== session) skip[author] = s.upTo;
    return skip;
  }

  private sendSkips(sessions: Iterable<Session>): void {
    for (const s of sessions) void s.link.send({ t: 'vv', have: {}, full: false, skip: this.skipsFor(s) }).catch(() => undefined);
  }

  /** Drops the streams `which` selects, so the other neighbours push those ranges again. */
  private releaseStreams(which: (s: Stream) => boolean): void {
    let released = false;
    for (const [author, s] of this.streams) {
      if (!which(s)) continue;
      this.streams.delete(author);
      released = true;
    }
    if (released) this.sendSkips(this.sessions.values());
  }

  /**
   * Finished streams are forgotten. A neighbour streams its authors one after the other, so its
   * progress is counted over all its streams since its last mark: enough of it moves the mark,
   * too little for `stallMs` hands them all back to every neighbour.
   */
  private checkStreams(): void {
    const now = Date.now();
    const progress = new Map<Session, number>();
    const add = (session: Session, n: number) => progress.set(session, (progress.get(session) ?? 0) + n);
    let finished = false;
    for (const [author, s] of this.streams) {
      const held = this.replica.seqOf(author);
      if (held >= s.upTo) {
        this.streams.delete(author);
        finished = true;
        add(s.session, SYNC_TUNING.stallEvents); // a finished range is progress enough
      } else {
        add(s.session, held - s.held);
      }
    }
    for (const [author, s] of this.streams) {
      if ((progress.get(s.session) ?? 0) < SYNC_TUNING.stallEvents) continue;
      s.held = this.replica.seqOf(author);
      s.since = now;
    }
    // new skip lists: a neighbour that holds more of a finished range's author than its streamer
    // sends the rest (in the overlay nothing else would make it push)
    if (finished) this.sendSkips(this.sessions.values());
    this.releaseStreams((s) => now - s.since > SYNC_TUNING.stallMs);
    if (!this.streams.size) {
      clearInterval(this.stallTimer);
      this.stallTimer = undefined;
    }
  }

  /**
   * `events` frames wait for the end of the event-loop turn: what every neighbour sent meanwhile is
   * stored in one transaction. A catch-up streams each author's log from another neighbour, and an
   * event of one often waits for one of another: stored together, they are delivered together,
   * so fewer are written as waiting and then updated, and there are fewer commits.
   */
  private queueEvents(session: Session, events: unknown[], verdicts?: EventVerdict[]): void {
    if (!this.inbox.size) setImmediate(() => this.drainEvents());
    let queued = this.inbox.get(session);
    if (!queued) this.inbox.set(session, (queued = { raws: [], verdicts: [] }));
    // verdicts from the worker go with their events; those without are checked by the replica
    const checked = verdicts?.length === events.length ? verdicts : undefined;
    for (let i = 0; i < events.length; i++) {
      queued.raws.push(events[i]);
      queued.verdicts.push(checked?.[i]);
    }
    // a turn that brings a lot is stored without waiting for more: transactions, and what waits in memory, stay bounded
    if ((this.inboxEvents += events.length) >= SYNC_TUNING.turnEvents) this.drainEvents();
  }

  private drainEvents(): void {
    const inbox = this.inbox;
    this.inbox = new Map();
    this.inboxEvents = 0;
    if (this.closed || !inbox.size) return;
    for (const session of inbox.keys()) if (session.link.closed) inbox.delete(session);
    for (const [session, result] of this.replica.ingestFrom(inbox)) {
      this.counts.duplicates += result.duplicates;
      this.catchingUp += result.stored.length;
      this.afterIngest(session, inbox.get(session)!.raws, result);
    }
    const level = this.caughtUp();
    this.store.catchingUp(!level);
    if (level) {
      this.checker?.release();
      this.onCaughtUp?.(this.catchingUp);
      this.catchingUp = 0;
    }
  }

  /** Do we hold the event at this position of its author's log already? */
  private holds(e: { author: string; seq: number } | undefined): boolean {
    return e !== undefined && e.seq <= this.replica.seqOf(e.author);
  }

  private afterIngest(session: Session, events: unknown[], result: IngestResult): void {
    for (const ev of result.stored) session.learn(ev.author, ev.seq);
    // Anything the sender sent, it holds, even duplicates we skipped.
    for (const raw of events) {
      const e = positionOf(raw);
      if (e && this.holds(e)) session.learn(e.author, e.seq);
    }
    if (result.error) {
      session.link.fail(result.error.reason, result.error.message);
      return;
    }
    // The sender believes we hold more than we do: correct its picture so it resends from our real position.
    if (result.gap) this.resync(session.link);
    if (result.stored.length) {
      this.onHeld?.(result.stored);
      this.announce(result.stored, session);
      if (this.pullOnly) this.passOn(result.stored, session);
      this.scheduleRelay();
    }
  }

  /** Tells a neighbour all we hold, so it sends what we lack (a gap, or a probe found us behind). */
  resync(link: Link): void {
    const have = this.replica.vector();
    this.sessions.get(link)?.streamUpTo(Object.entries(have));
    void link.send({ t: 'vv', have, full: true }).catch(() => undefined);
  }

  /** A neighbour holds `author`'s log up to `seq` (the tree sent it or heard of it there): not ours to push again. */
  learnOf(peerId: string, author: string, seq: number): void {
    this.byPeer.get(peerId)?.learn(author, seq);
  }

  /** Our own new events, now flushed: push them to everyone now. */
  broadcastOwn(): void {
    for (const s of this.sessions.values()) void s.pump();
  }

  private announce(events: SignedEvent[], except: Session): void {
    for (const s of this.sessions.values()) {
      if (s === except) continue;
      for (const ev of events) s.pendingAnnounce.set(ev.author, Math.max(s.pendingAnnounce.get(ev.author) ?? 0, ev.seq));
    }
    this.announceTimer ??= setTimeout(() => {
      this.announceTimer = undefined;
      for (const s of this.sessions.values()) {
        if (!s.pendingAnnounce.size || !s.ready) continue;
        const have = Object.fromEntries(s.pendingAnnounce);
        s.pendingAnnounce.clear();
        void s.link.send({ t: 'vv', have, full: false }).catch(() => undefined);
      }
    }, SYNC_TUNING.announceMs);
  }

  /** Overlay: events a catch-up brought us may be streamed on to the other neighbours that lack them. */
  private passOn(events: SignedEvent[], except: Session): void {
    const positions = events.map((ev) => [ev.author, ev.seq] as const);
    for (const s of this.sessions.values()) if (s !== except) s.streamUpTo(positions);
  }

  private scheduleRelay(): void {
    this.relayTimer ??= setTimeout(() => {
      this.relayTimer = undefined;
      for (const s of this.sessions.values()) void s.pump();
    }, SYNC_TUNING.relayDelayMs);
  }

  /**
   * The next chunk of `author`'s log after `seq`. A chunk always ends on an
   * event whose own signature is valid, so the receiver can authenticate the
   * whole chunk with that one signature (events relayed to us with a mangled
   * signature inside a chain are never the last of a chunk).
   */
  chunk(author: string, seq: number, upTo: number): { json: string[]; last: number } {
    const rows = this.store.eventsAfter(author, seq, Math.min(SYNC_TUNING.chunkEvents, upTo - seq));
    let bytes = 0;
    let end = rows.findIndex((r) => (bytes += r.json.length) > SYNC_TUNING.chunkBytes);
    end = end <= 0 ? rows.length : end;
    // Cut back to the last event whose own signature is (or now proves) valid: the frame stays within its limits.
    for (let i = end - 1; i >= 0; i--) {
      const row = rows[i]!;
      if (row.sigOk || verifySignature(JSON.parse(row.json) as SignedEvent)) {
        if (!row.sigOk) this.store.markSignatureChecked(author, row.seq);
        return { json: rows.slice(0, i + 1).map((r) => r.json), last: row.seq };
      }
    }
    this.log.warn({ author, seq }, 'no authenticated event to end a chunk on; not relaying this log further');
    return { json: [], last: seq };
  }

  connectedPeers(): string[] {
    return [...this.sessions.keys()].map((l) => l.peerId);
  }

  /** True once we hold at least what every connected peer told us it holds. */
  /** Has a neighbour told us what it holds yet (a first catch-up can start)? */
  heardFromNeighbour(): boolean {
    for (const s of this.sessions.values()) if (s.ready) return true;
    return false;
  }

  caughtUp(): boolean {
    const mine = this.replica.vector();
    for (const s of this.sessions.values()) {
      if (!s.ready) return false;
      for (const [author, seq] of s.known) if ((mine[author] ?? 0) < seq) return false;
    }
    return true;
  }

  close(): void {
    this.closed = true;
    this.checker?.close();
    clearTimeout(this.relayTimer);
    clearTimeout(this.announceTimer);
    clearInterval(this.stallTimer);
  }
}
