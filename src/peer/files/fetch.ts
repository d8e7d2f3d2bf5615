/**
 * One file coming in: which peers hold which chunks, which chunks are asked of whom, checking
 * each chunk against the manifest before it is written, and resuming from what is on disk.
 * Chunks are asked of every peer that holds them, a few at a time from each, rarest first, each
 * downloader starting at its own random place so that several downloaders soon hold different
 * chunks and feed each other.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { WIRE_LIMITS } from '../../shared/wire.js';
import type { Link } from '../transport.js';
import type { FileRecord } from './file-store.js';
import { Bitfield } from './manifest.js';

export const FETCH_LIMITS = {
  /** Chunks asked of one peer at once (fewer for big chunks: at most `perSourceBytes`). */
  perSource: 8,
  perSourceBytes: 8 * 1024 * 1024,
  /** Chunks asked at once in all (at most `inFlightBytes`): what a download may hold in memory. */
  inFlight: 32,
  inFlightBytes: 16 * 1024 * 1024,
  /** A chunk asked for and not received in this time is asked again (of whoever has it). */
  requestTimeoutMs: 30_000,
} as const;

/** What a fetch needs from the rest of the peer. */
export interface FetchHost {
  /** Asks the peers that may hold the file what they hold (and keeps their links open meanwhile). */
  seek(fetch: Fetch): void;
  /** A chunk is on disk: tell the other downloaders. */
  gained(fetch: Fetch, i: number): void;
  /** Progress, or an end. */
  changed(fetch: Fetch): void;
  /** A peer sent a chunk that fails its hash, or one nobody asked it for. */
  misbehaved(peerId: string, why: string): void;
}

interface Source {
  link: Link;
  have: Bitfield | 'all';
  asked: Set<number>;
  /** Sent a bad chunk: never asked again for this file. */
  bad: boolean;
}

export class Fetch {
  private readonly sources = new Map<string, Source>();
  private readonly pending = new Map<number, { peerId: string; at: number }>();
  private handle?: FileHandle;
  /** Chunks checked and being written: neither held yet nor to be asked for again. */
  private readonly writing = new Set<number>();
  private readonly start: number;
  private timer?: NodeJS.Timeout;
  stopped = false;

  /** Chunks asked of one peer, and in all, for this file's chunk size. */
  private readonly perSource: number;
  private readonly inFlight: number;

  constructor(
    readonly file: FileRecord,
    /** Where the wire form is written. */
    private readonly blobPath: string,
    private readonly host: FetchHost,
    /**
     * `peer|chunk` of every chunk asked for this file, by this download or an earlier one of it
     * (a cancelled one's answers may still come): a chunk sent without being asked is misbehaviour.
     */
    private readonly everAskedOf: Set<string> = new Set(),
  ) {
    this.start = Math.floor(Math.random() * Math.max(1, file.layout.count));
    const chunk = file.manifest.chunk;
    this.perSource = Math.max(1, Math.min(FETCH_LIMITS.perSource, Math.floor(FETCH_LIMITS.perSourceBytes / chunk)));
    this.inFlight = Math.max(2, Math.min(FETCH_LIMITS.inFlight, Math.floor(FETCH_LIMITS.inFlightBytes / chunk)));
  }

  get id(): string {
    return this.file.id;
  }

  get have(): Bitfield {
    return this.file.have;
  }

  async open(): Promise<void> {
    // r+ keeps the chunks already there (a resume); w+ makes the file when it is not
    const mode = this.file.layout.encrypted ? 0o600 : 0o644; // a download is the user's file; an encrypted copy stays private
    this.handle = await open(this.blobPath, 'r+', mode).catch(() => open(this.blobPath, 'w+', mode));
    this.timer = setInterval(() => this.checkTimeouts(), 2000);
    this.timer.unref();
    this.host.seek(this);
  }

  /** A peer told what it holds of this file (maybe nothing yet: what it gains comes later). */
  holds(link: Link, have: Bitfield | 'all'): void {
    const known = this.sources.get(link.peerId);
    if (known?.bad) return;
    this.sources.set(link.peerId, { link, have, asked: known?.asked ?? new Set(), bad: false });
    this.pump();
  }

  /** A peer gained chunks since it told us. */
  gainedBy(peerId: string, chunks: number[]): void {
    const source = this.sources.get(peerId);
    if (!source || source.have === 'all') return;
    for (const i of chunks) source.have.set(i);
    this.pump();
  }

  /** A peer does not hold these chunks after all. */
  lacks(peerId: string, chunks: number[]): void {
    const source = this.sources.get(peerId);
    if (!source) return;
    if (source.have === 'all') source.have = Bitfield.full(this.file.layout.count);
    for (const i of chunks) {
      source.have.unset(i);
      this.release(i, peerId);
    }
    this.pump();
  }

  /** A link closed: what was asked over it is asked again (of whoever holds it; a duplicate link closing changes nothing). */
  linkDown(link: Link): void {
    const peerId = link.peerId;
    const source = this.sources.get(peerId);
    if (source?.link !== link) return;
    this.sources.delete(peerId);
    for (const i of source.asked) this.release(i, peerId);
    this.pump();
  }

  /** Peers this fetch gets chunks from now. */
  get sourceIds(): string[] {
    return [...this.sources.keys()];
  }

  /** Whether any chunk we lack is held by a peer we know of. */
  get supplied(): boolean {
    for (const s of this.sources.values()) {
      if (s.bad) continue;
      if (s.have === 'all') return true;
      for (let i = 0; i < this.file.layout.count; i++) if (!this.have.has(i) && s.have.has(i)) return true;
    }
    return false;
  }

  /** A chunk arrived: checked, then written, then counted. */
  receive(peerId: string, i: number, bytes: Buffer): void {
    if (this.stopped) return;
    const source = this.sources.get(peerId);
    if (!source?.asked.has(i)) {
      // a chunk asked of it and given up on (timeout) may still come; one never asked is not
      if (!this.everAsked(peerId, i)) this.host.misbehaved(peerId, `sent chunk ${i} of a file nobody asked it for`);
      return;
    }
    source.asked.delete(i);
    if (this.pending.get(i)?.peerId === peerId) this.pending.delete(i);
    if (this.have.has(i) || this.writing.has(i)) return this.pump();
    // checked before it is written (SHA-256 here: WebCrypto's would copy the chunk on this thread and cost it more)
    if (!this.file.layout.verify(i, bytes)) {
      source.bad = true;
      for (const j of source.asked) this.release(j, peerId);
      source.asked.clear();
      this.host.misbehaved(peerId, `chunk ${i} fails its hash`);
      return this.pump();
    }
    this.writing.add(i);
    this.write(i, bytes);
    this.pump();
  }

  private write(i: number, bytes: Buffer): void {
    if (this.stopped || !this.handle) return void this.writing.delete(i);
    this.handle.write(bytes, 0, bytes.length, this.file.layout.wireOffset(i)).then(
      () => {
        this.writing.delete(i);
        if (this.stopped) return;
        this.have.set(i);
        this.host.gained(this, i);
        this.host.changed(this);
        this.pump();
      },
      (err: Error) => {
        this.writing.delete(i);
        this.fail(`cannot write ${this.blobPath}: ${err.message}`);
      },
    );
  }

  /** Every chunk is on disk. */
  get complete(): boolean {
    return this.have.complete && this.writing.size === 0;
  }

  /** Bytes of the file held, checked. */
  get received(): number {
    return this.file.layout.heldBytes(this.have);
  }

  error?: string;

  private fail(message: string): void {
    if (this.stopped) return;
    this.error = message;
    void this.stop();
    this.host.changed(this);
  }

  /** Stops asking; chunks on disk stay (a later download resumes). */
  async stop(): Promise<void> {
    if (this.stopped && !this.handle) return;
    this.stopped = true;
    clearInterval(this.timer);
    // wait for writes under way, so the chunks recorded are the chunks on disk
    while (this.writing.size > 0) await new Promise((r) => setTimeout(r, 5));
    const handle = this.handle;
    this.handle = undefined;
    await handle?.sync().catch(() => undefined);
    await handle?.close().catch(() => undefined);
  }

  private everAsked(peerId: string, i: number): boolean {
    return this.everAskedOf.has(`${peerId}|${i}`);
  }

  private release(i: number, peerId: string): void {
    if (this.pending.get(i)?.peerId === peerId) this.pending.delete(i);
    this.sources.get(peerId)?.asked.delete(i);
  }

  /** Asks sources for chunks while there is room: each source a few, rarest chunks first. */
  pump(): void {
    if (this.stopped) return;
    if (this.complete) return this.host.changed(this);
    const { count } = this.file.layout;
    const sources = [...this.sources.values()].filter((s) => !s.bad && !s.link.closed);
    for (const source of shuffle(sources)) {
      if (this.pending.size >= this.inFlight) break;
      const room = Math.min(this.perSource - source.asked.size, this.inFlight - this.pending.size);
      if (room <= 0) continue;
      const picks = this.pick(source, Math.min(room, WIRE_LIMITS.maxChunksPerRequest), count, sources);
      if (!picks.length) continue;
      const now = Date.now();
      for (const i of picks) {
        this.pending.set(i, { peerId: source.link.peerId, at: now });
        source.asked.add(i);
        this.everAskedOf.add(`${source.link.peerId}|${i}`);
      }
      void source.link.send({ t: 'fget', file: this.id, chunks: picks }).catch(() => this.linkDown(source.link));
    }
  }

  /** Up to `n` chunks this source holds that we lack and nobody is sending: the rarest, from our own starting place. */
  private pick(source: Source, n: number, count: number, sources: Source[]): number[] {
    let best: number[] = [];
    let bestRarity = Infinity;
    for (let k = 0; k < count; k++) {
      const i = (this.start + k) % count;
      if (this.have.has(i) || this.pending.has(i) || this.writing.has(i) || !(source.have === 'all' || source.have.has(i))) continue;
      const rarity = sources.reduce((r, s) => r + (s.have === 'all' || s.have.has(i) ? 1 : 0), 0);
      if (rarity < bestRarity) {
        bestRarity = rarity;
        best = [i];
      } else if (rarity === bestRarity && best.length < n) best.push(i);
    }
    return best;
  }

  private checkTimeouts(): void {
    const now = Date.now();
    for (const [i, p] of this.pending) if (now - p.at > FETCH_LIMITS.requestTimeoutMs) this.release(i, p.peerId);
    this.pump();
    if (!this.supplied && !this.complete) this.host.seek(this);
  }
}

function shuffle<T>(items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}
