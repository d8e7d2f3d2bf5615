/**
 * The replicated event log of one peer: the heart of Chatty's reliability.
 *
 * - Every author's events form a gapless, hash-chained log (seq 1, 2, 3…), so
 *   what a peer holds is summed up by a version vector and sync is "send me
 *   everything after these numbers" (see sync.ts).
 * - Room events name the room's heads as their author had delivered them;
 *   an event is delivered only once its author's previous event and all its
 *   dependencies were delivered (causal delivery). Until then it is stored
 *   as Waiting, so nothing received is ever lost, even across a restart.
 * - A room's history is sorted by (depth, id): deterministic and consistent
 *   with causality, so every peer converges to the same order. An event that
 *   sorts before what was already delivered is marked late.
 * - The room rules (room-state.ts) judge each event against the state of
 *   the events before it in that order, so verdicts converge too.
 * - A room is its `create` event: every other event of the room must depend
 *   on events of that room, so all of them descend from that one create.
 */
import { EventEmitter } from 'node:events';
import {
  ANNOTATION_TYPES,
  dmConversation,
  dmOtherEnd,
  roomOfEvent,
  sealedAttachmentSchema,
  STATE_EVENT_TYPES,
  WIRE_LIMITS,
  type EventType,
  type FileManifest,
  type SignedEvent,
  type VersionVector,
} from '../shared/wire.js';
import type { EventVerdict } from './event-checker.js';
import { checkEvent, createEvent, EventError, isErasable, redact, verifySignature, type CheckedEvent } from './events.js';
import { decryptDm } from './crypto.js';
import type { Identity } from './identity.js';
import type { Logger } from './log.js';
import { applyEvent, emptyRoomState, type RoomState, type Verdict } from './room-state.js';
import { RoomKeys } from './room-keys.js';
import { EventStatus, type Store } from './store.js';
import { trimOldest } from './trim-oldest.js';

interface OrderKey {
  depth: number;
  id: string;
}

/**
 * The readable content of an event sent in clear: a message's text ('' for a file without text, or
 * for a message whose content a delete erased), a reaction's emoji, an edit's text; null for
 * sealed content and other events.
 */
function clearText(ev: SignedEvent): string | null {
  switch (ev.type) {
    case 'msg':
      if (ev.redacted) return '';
      return typeof ev.body.text === 'string' ? ev.body.text : ev.body.file !== undefined ? '' : null;
    case 'dm':
      return ev.redacted ? '' : null;
    case 'edit':
      return ev.redacted ? '' : typeof ev.body.text === 'string' ? ev.body.text : null;
    case 'react':
    case 'unreact':
      return typeof ev.body.emoji === 'string' ? ev.body.emoji : null;
    default:
      return null;
  }
}

/** The message an annotation (reaction, edit, delete, read receipt) is about. */
function annotatedMessage(ev: SignedEvent): string | undefined {
  return ANNOTATION_TYPES.includes(ev.type) && typeof ev.body.message === 'string' ? ev.body.message : undefined;
}

function before(a: OrderKey, b: OrderKey): boolean {
  return a.depth < b.depth || (a.depth === b.depth && a.id < b.id);
}

interface TimelineStateEvent extends OrderKey {
  author: string;
  type: string;
  body: Record<string, unknown>;
  accepted: boolean;
}

/** In-memory view of one room (or DM thread): its state events, current state, heads and tail. */
interface Timeline {
  stateEvents: TimelineStateEvent[];
  state: RoomState;
  /**
   * The state before the first `count` state events, as `stateAt` last replayed it: the late
   * messages of a catch-up mostly fall between the same two state events, and only read it.
   */
  past?: { count: number; state: RoomState };
  heads: Set<string>;
  tail: OrderKey | null;
}

/**
 * How many delivered events' room and depth are kept in memory (`Replica.deliveredMeta`). A whole
 * catch-up's worth (the bound was 500,000) kept 10 MB more after 100,000 events (RSS right after
 * 136 / 136 → 124 / 127 MB, 10 s later 128 / 128 → 115 / 120 MB) for no speed: the lookups are of
 * recent events.
 */
const DELIVERED_META_MAX = 20_000;

/** What the replica tells the node about each event it delivered. */
export interface Delivery {
  event: SignedEvent;
  accepted: boolean;
  reason?: string;
  late: boolean;
  /** The text this peer can read: a message's clear text, or a DM or sealed message it could open. */
  text?: string;
}

export interface IngestResult {
  /** Events newly stored (in arrival order). */
  stored: SignedEvent[];
  /** First problem found, if any: the sender deserves a penalty. */
  error?: EventError;
  /** Authors whose next events are missing (seq gap): the sender's view of us is stale. */
  gap: boolean;
  /** Events skipped unparsed: held already, or sent by another sender of the same batch. */
  duplicates: number;
}

/** What one sender sent: its events as parsed from the wire, and those already checked on the worker. */
export interface IngestBatch {
  raws: readonly unknown[];
  /** Per event, when checked already: its JSON, or why it was refused (else the replica checks it). */
  verdicts?: readonly (EventVerdict | undefined)[];
}

/** An event from the wire, checked here or (with its verdict) on the worker, where `raw` was parsed from the same bytes. */
function checkedEvent(raw: unknown, verdict: EventVerdict | undefined): CheckedEvent {
  if (verdict === undefined) return checkEvent(raw);
  if (typeof verdict !== 'string') throw new EventError(verdict.reason, verdict.message);
  return { ev: raw as SignedEvent, json: verdict };
}

export interface ReplicaEvents {
  delivered: [Delivery];
  /** Our own events up to `shareableVector()` are durable now and may leave this peer. */
  shared: [];
  /** Messages whose reactions, edits or delete changed without a delivery: a late state event re-judged them. */
  changed: [messages: string[]];
}

export class Replica extends EventEmitter<ReplicaEvents> {
  private readonly vv = new Map<string, { seq: number; id: string }>();
  /** Stored events not yet delivered, by id. */
  private readonly waiting = new Map<string, SignedEvent>();
  /** Missing (or waiting) id → ids of waiting events that need it. */
  private readonly waiters = new Map<string, Set<string>>();
  private readonly timelines = new Map<string, Timeline>();
  private pendingDeliveries: Delivery[] = [];
  /** Latest profile (nick, DM key) of every author, updated as profile events are delivered. */
  readonly profiles = new Map<string, { nick: string; dh: string }>();
  readonly roomKeys: RoomKeys;
  /**
   * Our own events up to here are flushed and may be sent. One sent before its flush and then
   * lost in a power cut would come back as a fork: the next event would reuse its seq.
   */
  private sharedSeq: number;
  private sharing = false;

  constructor(
    private readonly store: Store,
    private readonly identity: Identity,
    private readonly log: Logger,
  ) {
    super();
    this.roomKeys = new RoomKeys(store, identity, (peerId) => this.dhKeyOf(peerId));
    for (const { author, seq, id } of store.vector()) this.vv.set(author, { seq, id });
    this.sharedSeq = this.seqOf(identity.peerId); // the store flushed everything on open
    for (const row of store.profiles()) {
      const body = this.bodyOf(row.id);
      this.profiles.set(row.author, { nick: String(body.nick), dh: String(body.dh) });
    }
    // Events stored but not delivered before a restart wait again for their dependencies.
    for (const json of store.waitingEvents()) {
      const ev = JSON.parse(json) as SignedEvent;
      this.waiting.set(ev.id, ev);
    }
    store.transaction(() => {
      for (const ev of [...this.waiting.values()]) this.tryDeliver(ev);
      this.finishTransaction();
    });
    this.flush();
  }

  get peerId(): string {
    return this.identity.peerId;
  }

  vector(): VersionVector {
    const out: VersionVector = {};
    for (const [author, { seq }] of this.vv) out[author] = seq;
    return out;
  }

  /** What may be sent to peers: everything held, but our own log only as far as it is flushed. */
  shareableVector(): VersionVector {
    const out = this.vector();
    if (out[this.peerId] !== undefined) out[this.peerId] = this.sharedSeq;
    return out;
  }

  /**
   * Resolves once our own events appended so far are durable (one flush shared by every caller of
   * the same event-loop turn), then lets them be sent.
   */
  async durable(): Promise<void> {
    const seq = this.seqOf(this.peerId); // everything up to here is in the flush we wait for
    await this.store.durable();
    if (seq <= this.sharedSeq) return;
    this.sharedSeq = seq;
    // the waiters of one flush wake together: tell the node once
    if (this.sharing) return;
    this.sharing = true;
    queueMicrotask(() => {
      this.sharing = false;
      this.emit('shared');
    });
  }

  seqOf(author: string): number {
    return this.vv.get(author)?.seq ?? 0;
  }

  /** The authors of `vector` (with their seqs) whose logs reach further than ours: what we lack of it. */
  ahead(vector: VersionVector): VersionVector {
    return Object.fromEntries(Object.entries(vector).filter(([author, seq]) => seq > this.seqOf(author)));
  }

  waitingCount(): number {
    return this.waiting.size;
  }

  /** Creates, stores and delivers an event of our own; returns it once committed (`durable()` flushes it). */
  append(type: EventType, room: string | null, body: Record<string, unknown>): SignedEvent {
    // Committed now, flushed by `durable()` with the other appends of this turn (group commit).
    const ev = this.store.relaxedTransaction(
      () => {
        const last = this.vv.get(this.peerId);
        const timeline = room === null ? null : this.timeline(room);
        // The deepest heads first, so the depth (and thus the order) always reflects everything delivered.
        const heads = timeline ? [...timeline.heads].map((id) => ({ id, depth: this.metaOf(id)?.depth ?? 0 })) : [];
        heads.sort((a, b) => b.depth - a.depth);
        const deps = heads.slice(0, WIRE_LIMITS.maxDeps).map((h) => h.id);
        const depth = 1 + (heads[0]?.depth ?? 0);
        const ev = createEvent(
          { author: this.peerId, seq: (last?.seq ?? 0) + 1, prev: last?.id ?? null, room, deps, depth, type, body },
          this.identity.signing.privateKey,
        );
        this.storeEvent(ev, JSON.stringify(ev), true);
        this.tryDeliver(ev);
        this.finishTransaction();
        return ev;
      },
      { flushSoon: true },
    );
    this.flush();
    void this.durable().catch((err: Error) => this.log.error({ err: err.message }, 'could not flush our own events to disk'));
    return ev;
  }

  /**
   * Stores and delivers events received from a peer. Each author's events
   * must continue its log exactly; the newest of each contiguous run has its
   * signature checked and the hash chain authenticates the rest.
   */
  ingest(raws: readonly unknown[]): IngestResult {
    return this.ingestFrom(new Map([[null, { raws }]])).get(null)!;
  }

  /**
   * `ingest` for several senders at once (the catch-up frames each neighbour sent in one event-loop
   * turn), in one transaction: each sender gets its own result, so a bad event costs only its sender.
   */
  ingestFrom<K>(sources: ReadonlyMap<K, IngestBatch>): Map<K, IngestResult> {
    const parsed = new Map<K, { result: IngestResult; byAuthor: Map<string, CheckedEvent[]> }>();
    // an event two senders both sent is parsed once (`author:seq` of those parsed already)
    const taken = new Set<string>();
    for (const [source, batch] of sources) parsed.set(source, this.parseBatch(batch, taken));
    this.store.relaxedTransaction(() => {
      for (const { result, byAuthor } of parsed.values()) for (const [author, events] of byAuthor) this.ingestRun(author, events, result);
      this.finishTransaction();
    });
    this.flush();
    return new Map([...parsed].map(([source, { result }]) => [source, result]));
  }

  /** Parses what one sender sent, grouped by author; duplicates are skipped before paying for parsing and hashing. */
  private parseBatch({ raws, verdicts }: IngestBatch, taken: Set<string>): { result: IngestResult; byAuthor: Map<string, CheckedEvent[]> } {
    const result: IngestResult = { stored: [], gap: false, duplicates: 0 };
    const byAuthor = new Map<string, CheckedEvent[]>();
    for (const [i, raw] of raws.entries()) {
      const r = (raw ?? {}) as { author?: unknown; seq?: unknown; id?: unknown };
      if (typeof r.author === 'string' && typeof r.seq === 'number' && r.seq <= this.seqOf(r.author)) {
        const head = this.vv.get(r.author)!;
        if (r.seq === head.seq && typeof r.id === 'string' && r.id !== head.id) this.noteFork(r.author, r.seq);
        result.duplicates++;
        continue;
      }
      if (typeof r.author === 'string' && typeof r.seq === 'number' && taken.has(`${r.author}:${r.seq}`)) {
        result.duplicates++;
        continue;
      }
      try {
        const checked = checkedEvent(raw, verdicts?.[i]);
        const { ev } = checked;
        taken.add(`${ev.author}:${ev.seq}`);
        let list = byAuthor.get(ev.author);
        if (!list) byAuthor.set(ev.author, (list = []));
        list.push(checked);
      } catch (err) {
        result.error ??= err instanceof EventError ? err : new EventError('malformed', String(err));
      }
    }
    return { result, byAuthor };
  }

  private ingestRun(author: string, events: CheckedEvent[], result: IngestResult): void {
    events.sort((a, b) => a.ev.seq - b.ev.seq);
    const head = this.vv.get(author);
    let seq = head?.seq ?? 0;
    let prevId = head?.id ?? null;
    const run: CheckedEvent[] = [];
    for (const checked of events) {
      const { ev } = checked;
      if (ev.seq <= seq) {
        continue; // already held: a duplicate from relaying, harmless (forks are caught before parsing)
      }
      if (ev.seq !== seq + 1) {
        result.gap = true;
        break;
      }
      if (ev.prev !== prevId) {
        // Either the author signed two different histories (equivocation) or the sender is wrong; a relay
        // cannot tell, so the link stays up and the author's other branch is simply not taken.
        this.noteFork(author, ev.seq);
        break;
      }
      run.push(checked);
      seq = ev.seq;
      prevId = ev.id;
    }
    if (run.length === 0) return;
    // One signature authenticates the whole run: each event's id covers its prev.
    let valid = run;
    if (!verifySignature(run[run.length - 1]!.ev)) {
      const firstBad = run.findIndex(({ ev }) => !verifySignature(ev));
      valid = run.slice(0, firstBad);
      result.error ??= new EventError('bad_signature', `event ${run[firstBad]!.ev.seq} of ${author} has an invalid signature`);
    }
    valid.forEach(({ ev, json }, i) => {
      this.storeEvent(ev, json, i === valid.length - 1);
      result.stored.push(ev);
    });
    for (const { ev } of valid) this.tryDeliver(ev);
  }

  /** Authors caught with two different events at one seq; their other branch is never accepted. */
  readonly forkedAuthors = new Set<string>();

  private noteFork(author: string, seq: number): void {
    if (this.forkedAuthors.has(author)) return;
    this.forkedAuthors.add(author);
    this.log.warn({ author, seq }, 'author signed two different events at one position (forked log); keeping the first seen');
  }

  /**
   * Events stored in this transaction but not written yet: an event delivered at once (the usual
   * case, a log streaming in order) is written once with its verdict, instead of inserted as
   * waiting and then updated; what still waits is written when the transaction ends.
   */
  private readonly unwritten = new Map<string, { json: string; sigChecked: boolean }>();
  /** Rooms whose heads changed in this transaction: written once, when it ends. */
  private readonly headsChanged = new Set<string>();

  private storeEvent(ev: SignedEvent, json: string, sigChecked: boolean): void {
    this.unwritten.set(ev.id, { json, sigChecked });
    this.vv.set(ev.author, { seq: ev.seq, id: ev.id });
    this.waiting.set(ev.id, ev);
  }

  /** Writes an event with its verdict (or, stored in an earlier transaction, updates it). */
  private writeVerdict(ev: SignedEvent, status: EventStatus, late: boolean, text: string | undefined): void {
    const unwritten = this.unwritten.get(ev.id);
    if (unwritten) {
      this.unwritten.delete(ev.id);
      this.store.insertEvent(ev, unwritten.json, text ?? clearText(ev), unwritten.sigChecked, status, late);
      return;
    }
    this.store.setStatus(ev.id, status, late, text);
  }

  /** The end of every transaction: re-judged rooms, the events left waiting, and the heads that moved. */
  private finishTransaction(): void {
    this.rejudgeDirtyRooms();
    for (const [id, { json, sigChecked }] of this.unwritten) {
      const ev = this.waiting.get(id)!;
      this.store.insertEvent(ev, json, clearText(ev), sigChecked);
    }
    this.unwritten.clear();
    for (const room of this.headsChanged) this.store.setHeads(room, this.timeline(room).heads);
    this.headsChanged.clear();
  }

  /**
   * Room and depth of recently delivered events, so delivery (a handful of lookups per event, nearly
   * all of recent events: a new event names the heads) stays in memory. Older ones are read from
   * storage on demand.
   */
  private readonly deliveredMeta = new Map<string, { depth: number; room: string | null }>();

  private metaOf(id: string): { depth: number; room: string | null } | undefined {
    let meta = this.deliveredMeta.get(id);
    if (!meta && !this.waiting.has(id)) {
      const row = this.store.event(id);
      if (row) meta = this.remember(id, row.depth, row.room);
    }
    return meta;
  }

  private remember(id: string, depth: number, room: string | null): { depth: number; room: string | null } {
    const meta = { depth, room };
    this.deliveredMeta.set(id, meta);
    trimOldest(this.deliveredMeta, DELIVERED_META_MAX);
    return meta;
  }

  /** An id is delivered when it is stored and no longer waiting. */
  private isDelivered(id: string): boolean {
    return !this.waiting.has(id) && this.metaOf(id) !== undefined;
  }

  private tryDeliver(first: SignedEvent): void {
    const queue = [first];
    while (queue.length) {
      const ev = queue.shift()!;
      if (!this.waiting.has(ev.id)) continue;
      // an annotation waits for its message too (it names it, so it has delivered it)
      const missing = [ev.prev, ...ev.deps, annotatedMessage(ev) ?? null].filter(
        (id): id is string => id !== null && !this.isDelivered(id),
      );
      if (missing.length) {
        for (const id of missing) {
          let set = this.waiters.get(id);
          if (!set) this.waiters.set(id, (set = new Set()));
          set.add(ev.id);
        }
        continue;
      }
      this.deliver(ev);
      const woken = this.waiters.get(ev.id);
      if (woken) {
        this.waiters.delete(ev.id);
        for (const id of woken) {
          const w = this.waiting.get(id);
          if (w) queue.push(w);
        }
      }
    }
  }

  /** Judges and delivers one event whose dependencies are all delivered. */
  private deliver(ev: SignedEvent): void {
    this.waiting.delete(ev.id);
    const room = roomOfEvent(ev);
    this.remember(ev.id, ev.depth, room);
    let verdict: Verdict = { ok: true };
    let late = false;
    let text: string | undefined;
    if (room !== null) {
      const tl = this.timeline(room);
      const depDepths = ev.deps.map((d) => this.metaOf(d));
      const expected = 1 + Math.max(0, ...depDepths.map((r) => r?.depth ?? 0));
      late = tl.tail !== null && before(ev, tl.tail);
      // Only a create (and a DM thread's first message) may start a DAG: anything else claiming to
      // start a room's history is an attempt to found it a second time.
      const rootless = ev.deps.length === 0 && ev.type !== 'create' && ev.type !== 'dm';
      if (ev.depth !== expected || rootless || depDepths.some((r) => r?.room !== room)) {
        verdict = { ok: false, reason: 'malformed' };
      } else if (room.startsWith('@')) {
        verdict = this.judgeDm(ev);
        if (verdict.ok && typeof ev.body.ct === 'string') text = this.readable(ev, this.openDm(ev), true);
      } else if (STATE_EVENT_TYPES.includes(ev.type)) {
        verdict = late ? this.insertLateStateEvent(tl, ev) : this.appendStateEvent(tl, ev);
      } else {
        // Messages and their annotations only read the state, so judging one against the live state is safe.
        const target = this.annotationTarget(ev);
        verdict =
          target === null
            ? { ok: false, reason: 'malformed' }
            : applyEvent(late ? this.stateAt(tl, ev) : tl.state, { ...ev, targetAuthor: target?.author });
        if (verdict.ok && typeof ev.body.ct === 'string') text = this.readable(ev, this.openRoomText(ev), true);
        else if (verdict.ok && ev.body.file !== undefined) this.onAttachment?.(ev, ev.body.file as FileManifest, true);
      }
      // Only accepted events become heads: junk from a non-member must not crowd out real dependencies.
      if (verdict.ok) {
        for (const d of ev.deps) tl.heads.delete(d);
        tl.heads.add(ev.id);
        this.headsChanged.add(room);
      }
      if (!late) tl.tail = { depth: ev.depth, id: ev.id };
    } else if (ev.type === 'profile') {
      this.profiles.set(ev.author, { nick: String(ev.body.nick), dh: String(ev.body.dh) });
    }
    const status = verdict.ok ? EventStatus.Accepted : verdict.reason === 'malformed' ? EventStatus.Invalid : EventStatus.Rejected;
    this.writeVerdict(ev, status, late, text);
    if (verdict.ok && (ev.type === 'invite' || ev.type === 'rekey')) this.takeRoomKeys(ev);
    if (verdict.ok && ev.type === 'delete') this.erase(ev);
    else if (verdict.ok && ev.type === 'edit' && !ev.redacted) {
      // an edit racing the delete of its message (concurrent, or delivered after it) is erased as well
      const deletion = this.store.deletionOf(String(ev.body.message));
      if (deletion) {
        this.erase(JSON.parse(deletion) as SignedEvent);
        text = '';
      }
    }
    if (verdict.ok && ev.type === 'create') this.roomNames?.set(room!, String(ev.body.name));
    if (!verdict.ok)
      this.log.debug({ id: ev.id, type: ev.type, author: ev.author, reason: verdict.reason }, 'event rejected by room rules');
    this.pendingDeliveries.push({
      event: ev,
      accepted: verdict.ok,
      reason: verdict.ok ? undefined : verdict.reason,
      late,
      text: text ?? clearText(ev) ?? undefined,
    });
  }

  /**
   * Told of every file a readable message carries (`live`: as it is delivered, rather than when a
   * key that opens an older message arrived). The node's files module records it.
   */
  onAttachment?: (ev: SignedEvent, manifest: FileManifest, live: boolean) => void;

  /**
   * What a sealed message says once opened: its text, or, for a message with an attachment
   * (`attachment: true`), the text of the JSON it holds, the file going to `onAttachment`. A
   * sealed attachment others cannot check and that turns out malformed is shown without it.
   */
  private readable(ev: SignedEvent, plain: string | null, live: boolean): string | undefined {
    if (plain === null) return undefined;
    if (ev.body.attachment !== true) return plain;
    let content: unknown;
    try {
      content = JSON.parse(plain);
    } catch {
      content = undefined;
    }
    const parsed = sealedAttachmentSchema.safeParse(content);
    if (!parsed.success) {
      this.log.warn({ id: ev.id, author: ev.author }, 'a sealed attachment is malformed; shown without it');
      return '';
    }
    this.onAttachment?.(ev, parsed.data.file, live);
    return parsed.data.text ?? '';
  }

  private openRoomText(ev: SignedEvent): string | null {
    const b = ev.body as { epoch: string; iv: string; ct: string };
    return this.roomKeys.openText(ev.room!, b.epoch, b);
  }

  /** Keeps the room keys an invite or rekey sealed for us, then reads what they unlock. */
  private takeRoomKeys(ev: SignedEvent): void {
    const room = ev.room!;
    const mine =
      ev.type === 'invite'
        ? ev.body.target === this.peerId
          ? (ev.body.keys as { epoch: string; iv: string; ct: string }[])
          : []
        : (ev.body.keys as { target: string; iv: string; ct: string }[])
            .filter((k) => k.target === this.peerId)
            .map((k) => ({ ...k, epoch: String(ev.body.epoch) }));
    let gained = false;
    for (const k of mine) if (!this.roomKeys.has(room, k.epoch)) gained = this.roomKeys.accept(room, k.epoch, ev.author, k) || gained;
    if (!gained) return;
    for (const row of this.store.unreadableMessages(room)) {
      const ev = JSON.parse(row.json) as SignedEvent;
      const text = this.readable(ev, this.openRoomText(ev), false);
      if (text !== undefined) this.store.setText(row.id, text);
    }
  }

  /**
   * A room event about a message: its message must be an earlier message of the same room (null:
   * malformed). Other events have no target (undefined).
   */
  private annotationTarget(ev: SignedEvent): { author: string } | null | undefined {
    const message = annotatedMessage(ev);
    if (message === undefined) return undefined;
    const row = this.store.event(message);
    const kind = ev.room?.startsWith('@') ? 'dm' : 'msg';
    if (!row || row.room !== ev.room || row.type !== kind || !before(row, ev)) return null;
    return { author: row.author };
  }

  /**
   * The rules of a DM conversation: only its two ends write in it (a `dm` names the other as `to`);
   * only the author edits a message; either end may delete only their own.
   */
  private judgeDm(ev: SignedEvent): Verdict {
    const other = this.otherEnd(ev);
    if (other === undefined || other === ev.author || ev.room !== dmConversation(ev.author, other)) return { ok: false, reason: 'invalid' };
    if (ev.type === 'dm') return { ok: true };
    const target = this.annotationTarget(ev);
    if (!target) return { ok: false, reason: 'malformed' };
    if ((ev.type === 'edit' || ev.type === 'delete') && target.author !== ev.author) return { ok: false, reason: 'forbidden' };
    return { ok: true };
  }

  /** The other end of a DM conversation event: a `dm` (and sealed annotations) name it in `to`. */
  private otherEnd(ev: SignedEvent): string | undefined {
    if (typeof ev.body.to === 'string') return ev.body.to;
    return ev.room === null ? undefined : dmOtherEnd(ev.room, ev.author);
  }

  /** Decrypts a DM (or a sealed annotation of one) if this peer is one of its two ends. */
  openDm(ev: SignedEvent): string | null {
    const to = this.otherEnd(ev);
    const other = ev.author === this.peerId ? to : ev.author;
    if (other === undefined || (ev.author !== this.peerId && to !== this.peerId)) return null;
    const dh = this.dhKeyOf(other);
    if (!dh || ev.room === null || typeof ev.body.ct !== 'string') return null;
    return decryptDm(this.identity.dh.privateKey, dh, ev.room, String(ev.body.iv), ev.body.ct);
  }

  /**
   * A delete was accepted: its message, and every edit of it, lose their content in this database.
   * What stays is the event stripped of it (and the delete that justifies that), so the author's
   * log stays whole and is relayed as it is now.
   */
  private erase(deletion: SignedEvent): void {
    const message = String(deletion.body.message);
    const json = this.store.eventJson(message);
    const targets = [...(json ? [{ id: message, json }] : []), ...this.store.editsOf(message)];
    for (const t of targets) {
      const ev = JSON.parse(t.json) as SignedEvent;
      if (!isErasable(ev)) {
        // format 2: the signature covers the text, so only what this peer shows and searches is cleared
        this.store.setText(t.id, '');
        continue;
      }
      if (!ev.redacted) this.store.erase(t.id, JSON.stringify(redact(ev, deletion)));
    }
    this.onErase?.(
      message,
      targets.map((t) => t.id),
    );
  }

  /** Told of every message whose content a delete erased (the files module forgets its file). */
  onErase?: (message: string, erased: string[]) => void;

  /** DM public key of a peer, from its latest profile event. */
  dhKeyOf(peerId: string): string | undefined {
    return this.profiles.get(peerId)?.dh;
  }

  private appendStateEvent(tl: Timeline, ev: SignedEvent): Verdict {
    const verdict = applyEvent(tl.state, ev);
    tl.stateEvents.push({ depth: ev.depth, id: ev.id, author: ev.author, type: ev.type, body: ev.body, accepted: verdict.ok });
    return verdict;
  }

  /** State of a room just before `key`, replayed from its state events (not to be changed: it may be shared). */
  private stateAt(tl: Timeline, key: OrderKey): RoomState {
    let count = 0;
    while (count < tl.stateEvents.length && before(tl.stateEvents[count]!, key)) count++;
    if (tl.past?.count === count) return tl.past.state;
    const s = emptyRoomState();
    for (let i = 0; i < count; i++) applyEvent(s, tl.stateEvents[i]!);
    tl.past = { count, state: s };
    return s;
  }

  /**
   * A state event that sorts before already-delivered events (healed
   * partition) can change later verdicts: replay the room's rules from it.
   */
  private insertLateStateEvent(tl: Timeline, ev: SignedEvent): Verdict {
    const entry: TimelineStateEvent = { depth: ev.depth, id: ev.id, author: ev.author, type: ev.type, body: ev.body, accepted: false };
    const at = tl.stateEvents.findIndex((se) => before(entry, se));
    tl.stateEvents.splice(at < 0 ? tl.stateEvents.length : at, 0, entry);
    tl.past = undefined; // the prefixes after `at` changed (appending at the end changes none)
    const s = emptyRoomState();
    for (const se of tl.stateEvents) {
      const ok = applyEvent(s, se).ok;
      if (se !== entry && ok !== se.accepted) this.store.setVerdict(se.id, ok ? EventStatus.Accepted : EventStatus.Rejected);
      se.accepted = ok;
    }
    tl.state = s;
    // The messages after it are re-judged once per batch (a healed partition brings many such events).
    const dirty = this.dirtyRooms.get(ev.room!);
    if (!dirty || before(entry, dirty)) this.dirtyRooms.set(ev.room!, { depth: entry.depth, id: entry.id });
    return entry.accepted ? { ok: true } : { ok: false, reason: 'forbidden' };
  }

  /** Rooms whose messages after a key must be re-judged because a state event slotted in before them. */
  private readonly dirtyRooms = new Map<string, OrderKey>();

  /** Re-judges, room by room, the messages after the earliest late state event against the state in force at each. */
  private rejudgeDirtyRooms(): void {
    for (const [room, from] of this.dirtyRooms) {
      const tl = this.timeline(room);
      const s = emptyRoomState();
      let next = 0;
      // state in force just before `from`
      while (next < tl.stateEvents.length && before(tl.stateEvents[next]!, from)) applyEvent(s, tl.stateEvents[next++]!);
      for (const row of this.store.messagesAfter(room, from.depth, from.id)) {
        while (next < tl.stateEvents.length && before(tl.stateEvents[next]!, row)) applyEvent(s, tl.stateEvents[next++]!);
        // the rules look only at the author, whether the content is sealed, and whose message an annotation is about
        const targetAuthor = row.type === 'msg' || row.target === null ? undefined : this.store.event(row.target)?.author;
        const ok = applyEvent(s, { author: row.author, type: row.type, body: row.sealed ? { ct: '' } : { text: '' }, targetAuthor }).ok;
        if (ok === (row.status === EventStatus.Accepted)) continue;
        this.store.setVerdict(row.id, ok ? EventStatus.Accepted : EventStatus.Rejected);
        if (row.type !== 'msg' && row.target !== null) this.pendingChanged.add(row.target);
        // (a delete found unauthorized after all cannot bring back what it erased: docs/protocol.md)
        if (ok && row.type === 'delete') this.erase(JSON.parse(this.store.eventJson(row.id)!) as SignedEvent);
      }
    }
    this.dirtyRooms.clear();
  }

  /** The in-memory timeline of a room, loaded from storage on first use. */
  timeline(room: string): Timeline {
    let tl = this.timelines.get(room);
    if (!tl) {
      tl = { stateEvents: [], state: emptyRoomState(), heads: new Set(this.store.heads(room)), tail: null };
      if (!room.startsWith('@')) {
        const events = this.store.stateEvents(room).map((row) => JSON.parse(this.store.eventJson(row.id)!) as SignedEvent);
        for (const e of events) {
          const se = { depth: e.depth, id: e.id, author: e.author, type: e.type, body: e.body, accepted: false };
          se.accepted = applyEvent(tl.state, se).ok;
          tl.stateEvents.push(se);
        }
      }
      for (const h of tl.heads) {
        const row = this.store.event(h);
        if (row && (tl.tail === null || before(tl.tail, row))) tl.tail = { depth: row.depth, id: row.id };
      }
      this.timelines.set(room, tl);
    }
    return tl;
  }

  private bodyOf(id: string): Record<string, unknown> {
    const json = this.store.eventJson(id);
    return json ? (JSON.parse(json) as SignedEvent).body : {};
  }

  /** Name of every room whose create was delivered, by id: in memory, since every API call resolves rooms. */
  private roomNames?: Map<string, string>;

  private rooms(): Map<string, string> {
    this.roomNames ??= new Map(this.store.rooms());
    return this.roomNames;
  }

  roomIds(): string[] {
    return [...this.rooms().keys()];
  }

  hasRoom(id: string): boolean {
    return this.rooms().has(id);
  }

  /** The rooms called `name` (several rooms may share one). */
  roomsNamed(name: string): string[] {
    return [...this.rooms()].flatMap(([id, n]) => (n === name ? [id] : []));
  }

  roomState(room: string): RoomState {
    return this.timeline(room).state;
  }

  private readonly pendingChanged = new Set<string>();

  /** Emits deliveries (and messages re-judged) collected inside a transaction, after it committed. */
  private flush(): void {
    const list = this.pendingDeliveries;
    this.pendingDeliveries = [];
    for (const d of list) this.emit('delivered', d);
    if (this.pendingChanged.size) {
      const changed = [...this.pendingChanged];
      this.pendingChanged.clear();
      this.emit('changed', changed);
    }
  }
}
