/**
 * Files and pictures (docs/protocol.md, "Files"): the file never rides in the event log. Its
 * author shares a manifest in a signed message and keeps the bytes; whoever downloads pulls
 * chunks from every peer that holds them and serves what it holds in turn. This module answers
 * other peers' FWANT / FGET, keeps each file's swarm (who holds what), runs the downloads and
 * keeps their state for the control API.
 */
import { EventEmitter } from 'node:events';
import { constants } from 'node:fs';
import { access, copyFile, mkdir, open, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { dirname, extname, join, basename, sep } from 'node:path';
import { ChattyError, FILE_LIMITS, type FileInfo, type Transfer } from '../../shared/api.js';
import { sanitizeFileName } from '../../shared/files.js';
import { WIRE_LIMITS, type ChunkHeader, type FileManifest, type Frame } from '../../shared/wire.js';
import { fromB64u, openChunk } from '../crypto.js';
import type { Logger } from '../log.js';
import { trimOldest } from '../trim-oldest.js';
import type { Link } from '../transport.js';
import { Fetch, type FetchHost } from './fetch.js';
import { FileStore, type FileRecord } from './file-store.js';
import { Bitfield, buildManifest, fileIdOf, readFully } from './manifest.js';

export interface FilesConfig {
  /** The largest file this peer sends or fetches. */
  maxBytes: number;
  /** Pictures up to this size are fetched as they arrive (0: never). */
  autoFetchBytes: number;
  /** Disk space the files fetched on arrival may take in all. */
  quotaBytes: number;
  /** Serve what this peer downloaded to other downloaders (off: only authors serve, for comparison). */
  swarm: boolean;
}

export const FILE_DEFAULTS: FilesConfig = {
  maxBytes: FILE_LIMITS.defaultMaxSizeBytes,
  autoFetchBytes: 8 * 1024 * 1024,
  quotaBytes: 1024 ** 3,
  swarm: true,
};

/** The links a transfer uses: any peer holding the file, a neighbour in the overlay or not. */
export interface FileNetwork {
  links(): Link[];
  link(peerId: string): Link | undefined;
  dial(peerId: string): Promise<Link>;
  /** Keeps (or stops keeping) a link the overlay would otherwise close as not a neighbour's. */
  keep(peerId: string, on: boolean): void;
  addresses(peerId: string): string[];
  learnAddresses(peerId: string, urls: string[]): void;
}

/** Progress events of one file at most this often while it runs. */
const PROGRESS_EVERY_MS = 250;
/** A fetch nobody supplies asks around again this often. */
const SEEK_EVERY_MS = 5000;
/** A peer that sent this many bad chunks is disconnected (and refused a while, as for any protocol violation). */
const BAD_CHUNKS_TO_DISCONNECT = 3;
/** Chunk sends waiting on one link before its server waits for the socket. */
const SERVE_AHEAD = 4;
/** Bytes queued on one link's socket before serving pauses (bounds the memory of serving many downloaders). */
const SERVE_BUFFERED_BYTES = 4 * 1024 * 1024;
/** Announcements of gained chunks are batched this long. */
const ANNOUNCE_EVERY_MS = 100;
/** Fault injection for tests: a pause before each chunk served (a slow disk or link), so a test can stop a transfer midway. */
const TEST_SERVE_DELAY_MS = Number(process.env.CHATTY_TEST_SERVE_DELAY_MS ?? 0);

type FileFrame = Extract<Frame, { t: 'fwant' | 'fhave' | 'fget' | 'fnone' }>;

export class Files extends EventEmitter<{ transfer: [Transfer] }> implements FetchHost {
  private readonly fetches = new Map<string, Fetch>();
  /** Who holds (or is fetching) each file, as they told us: the swarm we point other downloaders to. */
  private readonly swarms = new Map<string, Map<string, Bitfield | 'all'>>();
  private readonly serving = new Map<Link, { file: string; i: number }[]>();
  /** Links whose queue a server is working through. */
  private readonly servingBusy = new Set<Link>();
  /** Whether our own shared files changed, looked up at most once a second (a stat per chunk served cost 2–5 %). */
  private readonly checkedAt = new Map<string, { at: number; changed: boolean }>();
  private readonly handles = new Map<string, { handle: Promise<FileHandle>; used: number }>();
  private readonly lastProgress = new Map<string, number>();
  private readonly lastSeek = new Map<string, number>();
  private readonly servedCache = new Map<string, { file: FileRecord; at: number }>();
  /** Chunks asked per file, kept across a cancel and a new download of it (see Fetch's everAskedOf). */
  private readonly asked = new Map<string, Set<string>>();
  /** When we last asked a peer named in an FHAVE about a file (`file|peer`). */
  private readonly wanted = new Map<string, number>();
  private readonly badChunks = new Map<string, number>();
  private readonly announce = new Map<string, Set<number>>();
  private announceTimer?: NodeJS.Timeout;
  private readonly sweeper: NodeJS.Timeout;
  private closed = false;
  readonly store: FileStore;

  constructor(
    private readonly selfId: string,
    store: FileStore,
    private readonly dataDir: string,
    private readonly net: FileNetwork,
    readonly config: FilesConfig,
    private readonly log: Logger,
  ) {
    super();
    this.store = store;
    this.sweeper = setInterval(() => this.closeIdleHandles(), 10_000);
    this.sweeper.unref();
  }

  private get blobDir(): string {
    return join(this.dataDir, 'files');
  }

  // ---- sharing ---------------------------------------------------------------------------------

  /** Hashes (and for `encrypt`, encrypts) a file of ours and records it as held: the manifest for a message. */
  async share(path: string, encrypt: boolean): Promise<FileManifest> {
    let info;
    try {
      info = await stat(path);
      await access(path, constants.R_OK);
    } catch (err) {
      throw ioError(
        path,
        `cannot read ${path}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`,
      );
    }
    if (!info.isFile()) throw ioError(path, `${path} is not a file`);
    if (info.size > this.config.maxBytes)
      throw new ChattyError('too_large', `${basename(path)} is ${mib(info.size)}; files are at most ${mib(this.config.maxBytes)}`, {
        size: info.size,
        max: this.config.maxBytes,
      });
    await mkdir(this.blobDir, { recursive: true, mode: 0o700 });
    let built;
    try {
      built = await buildManifest(path, { encrypt, blobDir: this.blobDir });
    } catch (err) {
      throw ioError(path, `cannot read ${path}: ${(err as Error).message}`);
    }
    const { manifest, blob } = built;
    const served = blob ?? path;
    this.store.own(manifest, this.selfId, served, path, (await stat(served)).mtimeMs);
    return manifest;
  }

  /**
   * A message carried a manifest. Its id must be the hash of its content (a manifest claiming
   * another file's id is ignored); pictures of a few MB are fetched at once, within the quota.
   */
  learn(messageId: string, manifest: FileManifest, author: string, live: boolean): boolean {
    if (fileIdOf(manifest) !== manifest.id) {
      this.log.warn({ message: messageId, author }, 'a message carries a file manifest whose id does not match it; ignored');
      return false;
    }
    this.store.learn(messageId, manifest, author);
    if (live && author !== this.selfId && this.wantsOnArrival(manifest)) {
      void this.download(manifest.id, undefined, true).catch((err: Error) =>
        this.log.warn({ file: manifest.id, err: err.message }, 'could not fetch a picture on arrival'),
      );
    }
    return true;
  }

  private wantsOnArrival(m: FileManifest): boolean {
    const picture = m.image !== undefined || m.mime.startsWith('image/');
    return (
      picture &&
      m.size <= this.config.autoFetchBytes &&
      m.size <= this.config.maxBytes &&
      this.store.autoBytes() + m.size <= this.config.quotaBytes &&
      this.store.get(m.id)?.state === 'none'
    );
  }

  /** The `file` of a message, with this peer's copy. */
  info(messageId: string): FileInfo | undefined {
    const found = this.store.ofMessage(messageId);
    if (!found) return undefined;
    const { manifest: m, file } = found;
    const transfer = file && file.state !== 'none' ? this.transferOf(file) : undefined;
    return {
      id: m.id,
      name: m.name,
      size: m.size,
      mime: m.mime,
      sha256: m.sha256,
      ...(m.image ? { image: m.image } : {}),
      ...(transfer
        ? { transfer: { received: transfer.received, total: transfer.total, state: transfer.state, ...pathAndError(transfer) } }
        : {}),
    };
  }

  /** Where the readable copy of a file is on this machine, once it is complete. */
  location(id: string): { path: string; name: string; mime: string } | undefined {
    const file = this.store.get(id);
    if (!file || file.state !== 'done' || !file.dest) return undefined;
    return { path: file.dest, name: file.manifest.name, mime: file.manifest.mime };
  }

  // ---- downloads -------------------------------------------------------------------------------

  async download(id: string, path?: string, auto = false): Promise<Transfer> {
    const file = this.store.get(id);
    if (!file) throw new ChattyError('not_found', `no known file ${id}`);
    if (file.manifest.size > this.config.maxBytes)
      throw new ChattyError(
        'too_large',
        `${file.manifest.name} is ${mib(file.manifest.size)}; this peer fetches files of at most ${mib(this.config.maxBytes)}`,
      );
    if (file.state === 'running') return this.transferOf(file);
    if (file.state === 'done' && file.dest && (await exists(file.dest))) {
      if (path === undefined) return this.transferOf(file);
      // a copy where the user wants it (a picture fetched on arrival, our own file elsewhere)
      const target = await this.destination(path, file.manifest.name);
      try {
        await copyFile(file.dest, target);
      } catch (err) {
        throw ioError(target, `cannot write ${target}: ${(err as Error).message}`);
      }
      return { ...this.transferOf(file), path: target };
    }
    if (file.state === 'done') file.have = new Bitfield(file.layout.count); // the copy is gone: fetch it again
    const resuming = file.have.count > 0 && file.blob !== null && path === undefined && (await exists(file.blob));
    if (!resuming) {
      if (file.have.count > 0 && file.blob && !file.layout.encrypted && path !== undefined) {
        // a different place for a transfer under way: its chunks move along
        const dest = await this.destination(path, file.manifest.name);
        await rename(file.blob, partOf(dest)).catch(() => (file.have = new Bitfield(file.layout.count)));
        this.store.update(file, { dest, blob: partOf(dest) });
      } else {
        const dest = auto ? await this.cachePath(file) : await this.destination(path, file.manifest.name);
        const blob = file.layout.encrypted ? join(this.blobDir, `${file.id}.blob`) : partOf(dest);
        if (!(file.have.count > 0 && file.blob === blob && (await exists(blob)))) file.have = new Bitfield(file.layout.count);
        this.store.update(file, { dest, blob });
      }
      this.store.saveHave(file);
    }
    this.store.update(file, { state: 'running', error: null, auto: auto || file.auto });
    await this.startFetch(file);
    return this.transferOf(file);
  }

  cancel(id: string): Transfer {
    const file = this.store.get(id);
    if (!file) throw new ChattyError('not_found', `no known file ${id}`);
    const fetch = this.fetches.get(id);
    if (file.state !== 'running') return this.transferOf(file);
    if (fetch) this.stopFetch(fetch);
    this.store.update(file, { state: 'cancelled' });
    const transfer = this.transferOf(file);
    this.emit('transfer', transfer);
    return transfer;
  }

  /**
   * The message carrying a file was deleted: its record goes, a transfer stops, and the copies in
   * this peer's data folder (encrypted blobs, pictures fetched on arrival) are removed. A file the
   * user saved elsewhere, or shared from their own folders, is theirs and stays.
   */
  async forget(messageId: string): Promise<void> {
    const file = this.store.forgetMessage(messageId);
    if (!file) return;
    const fetch = this.fetches.get(file.id);
    if (fetch) this.stopFetch(fetch);
    this.servedCache.delete(file.id);
    for (const path of new Set([file.blob, file.dest])) {
      if (path && path.startsWith(this.blobDir + sep)) await rm(path, { force: true }).catch(() => undefined);
    }
    if (file.state === 'running') this.emit('transfer', { ...this.transferOf(file), state: 'cancelled' });
  }

  /** Transfers that were running when the peer stopped go on. */
  resume(): void {
    for (const file of this.store.running()) {
      this.startFetch(file).catch((err: Error) => this.finishFailed(file, err.message));
    }
  }

  private async startFetch(file: FileRecord): Promise<void> {
    if (this.fetches.has(file.id) || this.closed) return;
    await mkdir(dirname(file.blob!), { recursive: true });
    let asked = this.asked.get(file.id);
    if (!asked) this.asked.set(file.id, (asked = new Set()));
    const fetch = new Fetch(file, file.blob!, this, asked);
    this.fetches.set(file.id, fetch);
    this.lastSeek.delete(file.id); // a download started again asks around at once
    try {
      await fetch.open();
    } catch (err) {
      this.fetches.delete(file.id);
      throw ioError(file.blob!, `cannot write ${file.blob}: ${(err as Error).message}`);
    }
    this.emit('transfer', this.transferOf(file));
    if (file.layout.count === 0 || fetch.complete) this.changed(fetch);
  }

  private stopFetch(fetch: Fetch): void {
    this.fetches.delete(fetch.id);
    void fetch.stop().then(() => this.store.saveHave(fetch.file));
    for (const peerId of fetch.sourceIds) this.net.keep(peerId, false);
  }

  // FetchHost: what a download asks of the peer.

  seek(fetch: Fetch): void {
    const now = Date.now();
    if (now - (this.lastSeek.get(fetch.id) ?? 0) < SEEK_EVERY_MS) return;
    this.lastSeek.set(fetch.id, now);
    const want: Frame = { t: 'fwant', file: fetch.id, have: fetch.have.toWire() };
    // the author, the peers known to hold or fetch it, and whoever we are linked to
    const candidates = new Set([fetch.file.author, ...(this.swarms.get(fetch.id)?.keys() ?? []), ...this.net.links().map((l) => l.peerId)]);
    candidates.delete(this.selfId);
    for (const peerId of [...candidates].slice(0, 32)) this.ask(peerId, want);
  }

  /** Asks a peer named by another what it holds of a file we fetch, at most once per SEEK_EVERY_MS. */
  private want(fetch: Fetch, peerId: string): void {
    const key = `${fetch.id}|${peerId}`;
    const now = Date.now();
    if (now - (this.wanted.get(key) ?? 0) < SEEK_EVERY_MS) return;
    if (this.wanted.size > 10_000) this.wanted.clear();
    this.wanted.set(key, now);
    this.ask(peerId, { t: 'fwant', file: fetch.id, have: fetch.have.toWire() });
  }

  private ask(peerId: string, frame: Frame): void {
    const linked = this.net.link(peerId);
    const send = (link: Link) => {
      this.net.keep(peerId, true);
      void link.send(frame).catch(() => undefined);
    };
    if (linked && !linked.closed) return send(linked);
    if (!this.net.addresses(peerId).length) return;
    this.net.dial(peerId).then(send, (err: Error) => this.log.debug({ peer: peerId, err: err.message }, 'file source unreachable'));
  }

  gained(fetch: Fetch, i: number): void {
    let set = this.announce.get(fetch.id);
    if (!set) this.announce.set(fetch.id, (set = new Set()));
    set.add(i);
    this.announceTimer ??= setTimeout(() => this.flushAnnouncements(), ANNOUNCE_EVERY_MS);
  }

  /** Tells the other downloaders of each file which chunks we gained (they may fetch them from us). */
  private flushAnnouncements(): void {
    this.announceTimer = undefined;
    if (!this.config.swarm) return this.announce.clear();
    for (const [file, chunks] of this.announce) {
      const list = [...chunks];
      for (const [peerId, have] of this.swarms.get(file) ?? []) {
        const link = this.net.link(peerId);
        if (have === 'all' || !link || link.closed) continue;
        for (let k = 0; k < list.length; k += WIRE_LIMITS.maxChunksPerRequest) {
          void link.send({ t: 'fhave', file, add: list.slice(k, k + WIRE_LIMITS.maxChunksPerRequest) }).catch(() => undefined);
        }
      }
    }
    this.announce.clear();
  }

  changed(fetch: Fetch): void {
    const file = fetch.file;
    if (fetch.error) return this.finishFailed(file, fetch.error);
    if (fetch.complete && this.fetches.get(file.id) === fetch) {
      this.fetches.delete(file.id);
      void this.finish(fetch);
      return;
    }
    const now = Date.now();
    if (now - (this.lastProgress.get(file.id) ?? 0) < PROGRESS_EVERY_MS) return;
    this.lastProgress.set(file.id, now);
    this.store.saveHave(file);
    this.emit('transfer', this.transferOf(file, fetch));
  }

  /** Every chunk is on disk: the readable copy gets its name (an encrypted file is decrypted into it first). */
  private async finish(fetch: Fetch): Promise<void> {
    const file = fetch.file;
    await fetch.stop();
    this.asked.delete(file.id); // chunks that still come find no download, and are dropped
    for (const peerId of fetch.sourceIds) this.net.keep(peerId, false);
    this.store.saveHave(file);
    try {
      const dest = await this.freeName(file.dest!);
      if (file.layout.encrypted) {
        await this.decrypt(file, partOf(dest));
        await rename(partOf(dest), dest);
        this.store.update(file, { state: 'done', dest });
      } else {
        await rename(file.blob!, dest);
        this.store.update(file, { state: 'done', dest, blob: dest });
      }
      this.log.info({ file: file.id, name: file.manifest.name, bytes: file.manifest.size }, 'file fetched');
      // we hold it all now: the peers still fetching may ask us
      for (const [peerId, have] of this.swarms.get(file.id) ?? []) {
        if (have !== 'all' && this.config.swarm)
          void this.net
            .link(peerId)
            ?.send({ t: 'fhave', file: file.id, all: true })
            .catch(() => undefined);
      }
      this.emit('transfer', this.transferOf(file));
    } catch (err) {
      this.finishFailed(file, `cannot write ${file.dest}: ${(err as Error).message}`);
    }
  }

  /** Writes the plaintext of an encrypted file's wire copy, chunk by chunk. */
  private async decrypt(file: FileRecord, target: string): Promise<void> {
    const key = fromB64u(file.manifest.key!);
    const input = await open(file.blob!, 'r');
    const output = await open(target, 'w', 0o600);
    try {
      const buf = Buffer.allocUnsafe(file.layout.wireLength(0) || 1);
      for (let i = 0; i < file.layout.count; i++) {
        const length = file.layout.wireLength(i);
        await readFully(input, buf, length, file.layout.wireOffset(i));
        const plain = openChunk(key, i, buf.subarray(0, length));
        if (!plain) throw new Error(`chunk ${i} does not decrypt with the file's key`);
        await output.write(plain, 0, plain.length, file.layout.plainOffset(i));
      }
      await output.sync();
    } finally {
      await input.close();
      await output.close();
    }
  }

  private finishFailed(file: FileRecord, error: string): void {
    const fetch = this.fetches.get(file.id);
    if (fetch) this.stopFetch(fetch);
    this.store.update(file, { state: 'failed', error });
    this.log.warn({ file: file.id, error }, 'file transfer failed');
    this.emit('transfer', this.transferOf(file));
  }

  misbehaved(peerId: string, why: string): void {
    const count = (this.badChunks.get(peerId) ?? 0) + 1;
    this.badChunks.set(peerId, count);
    this.log.warn({ peer: peerId, count }, `peer misbehaved in a file transfer: ${why}`);
    if (count >= BAD_CHUNKS_TO_DISCONNECT) this.net.link(peerId)?.fail('bad_chunk', `${count} bad chunks: ${why}`);
  }

  transferOf(file: FileRecord, fetch = this.fetches.get(file.id)): Transfer {
    const received = file.state === 'done' ? file.manifest.size : file.layout.heldBytes(fetch?.have ?? file.have);
    const state = file.state === 'none' ? 'cancelled' : file.state;
    return {
      file: file.id,
      received,
      total: file.manifest.size,
      state,
      ...(file.dest ? { path: file.dest } : {}),
      ...(file.error ? { error: file.error } : {}),
    };
  }

  /** Where a download goes: the path given (an existing folder gets the file's name in it), else the downloads folder. */
  private async destination(path: string | undefined, given: string): Promise<string> {
    // the author's name, made safe for this machine's file system (Windows refuses more than Linux)
    const name = sanitizeFileName(given);
    let target: string;
    if (path === undefined) {
      const dir = join(this.dataDir, 'downloads');
      await mkdir(dir, { recursive: true });
      target = join(dir, name);
    } else {
      const info = await stat(path).catch(() => undefined);
      if (info?.isDirectory()) target = join(path, name);
      else {
        const parent = await stat(dirname(path)).catch(() => undefined);
        if (!parent?.isDirectory()) throw ioError(path, `cannot save to ${path}: no such folder ${dirname(path)}`);
        target = path;
      }
    }
    return this.freeName(target);
  }

  private async cachePath(file: FileRecord): Promise<string> {
    const dir = join(this.blobDir, file.id);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    return join(dir, sanitizeFileName(file.manifest.name));
  }

  /** `name.ext`, else `name (1).ext`, `name (2).ext`… (a transfer's own part file does not count as taken). */
  private async freeName(target: string): Promise<string> {
    const ext = extname(target);
    const stem = target.slice(0, target.length - ext.length);
    for (let n = 0; ; n++) {
      const candidate = n === 0 ? target : `${stem} (${n})${ext}`;
      const mine = [...this.fetches.values()].some((f) => f.file.dest === candidate);
      if (!(await exists(candidate)) && (mine || !(await exists(partOf(candidate))) || candidate === target)) return candidate;
    }
  }

  // ---- serving ---------------------------------------------------------------------------------

  /** Wires a new link: file frames, chunks, and our running downloads ask it what it holds. */
  attach(link: Link): void {
    link.on('frame', (frame) => {
      if (frame.t === 'fwant' || frame.t === 'fhave' || frame.t === 'fget' || frame.t === 'fnone') this.onFrame(link, frame);
    });
    link.on('data', (header, bytes) => this.onChunk(link, header, bytes));
    link.on('close', () => {
      this.serving.delete(link);
      for (const fetch of this.fetches.values()) fetch.linkDown(link);
    });
    for (const fetch of this.fetches.values()) {
      if (!fetch.supplied) void link.send({ t: 'fwant', file: fetch.id, have: fetch.have.toWire() }).catch(() => undefined);
    }
  }

  private onFrame(link: Link, frame: FileFrame): void {
    const file = this.served(frame.file);
    switch (frame.t) {
      case 'fwant': {
        if (file) this.noteHolder(frame.file, link.peerId, Bitfield.fromWire(file.layout.count, frame.have));
        void link.send(this.haveFrame(frame.file, file, link.peerId)).catch(() => undefined);
        return;
      }
      case 'fhave': {
        if (!file) return;
        for (const p of frame.peers ?? []) if (p.peerId !== this.selfId) this.net.learnAddresses(p.peerId, p.urls);
        const have: Bitfield | 'all' = frame.all ? 'all' : Bitfield.fromWire(file.layout.count, frame.have ?? '');
        const fetch = this.fetches.get(frame.file);
        if (frame.add) {
          const known = this.swarms.get(frame.file)?.get(link.peerId);
          if (known instanceof Bitfield) for (const i of frame.add) known.set(i);
          fetch?.gainedBy(link.peerId, frame.add);
        } else {
          this.noteHolder(frame.file, link.peerId, have);
          // a peer holding nothing yet is a source too: the chunks it gains come as `add`
          fetch?.holds(link, have);
        }
        // peers it named may hold chunks too (each asked once in a while: swarms name each other)
        if (fetch)
          for (const p of frame.peers ?? [])
            if (p.peerId !== this.selfId && !fetch.sourceIds.includes(p.peerId)) this.want(fetch, p.peerId);
        return;
      }
      case 'fnone':
        this.fetches.get(frame.file)?.lacks(link.peerId, frame.chunks);
        return;
      case 'fget': {
        const queue = this.serving.get(link) ?? [];
        for (const i of frame.chunks) queue.push({ file: frame.file, i });
        this.serving.set(link, queue);
        // one server per link: a second one on the same queue would send a chunk twice and skip the next
        if (!this.servingBusy.has(link)) void this.serve(link);
        return;
      }
    }
  }

  /**
   * A file as the serving side needs it, for every frame and chunk: a download's own record (its
   * chunks held, to the moment), else the stored one, kept a second (parsing a manifest per chunk
   * served would cost more than the chunk's hash).
   */
  private served(id: string): FileRecord | undefined {
    const fetching = this.fetches.get(id)?.file;
    if (fetching) return fetching;
    const now = Date.now();
    const cached = this.servedCache.get(id);
    if (cached && now - cached.at < 1000) return cached.file;
    const file = this.store.get(id);
    if (this.servedCache.size > 64) this.servedCache.clear();
    if (file) this.servedCache.set(id, { file, at: now });
    return file;
  }

  /** What we hold of a file, and up to 16 other peers of its swarm with their addresses. */
  private haveFrame(id: string, file: FileRecord | undefined, asker: string): Frame {
    const serves = file && (this.config.swarm || file.own);
    const peers = serves
      ? [...(this.swarms.get(id)?.keys() ?? [])]
          .filter((p) => p !== asker)
          .slice(0, WIRE_LIMITS.maxSwarmPeers)
          .map((peerId) => ({ peerId, urls: this.net.addresses(peerId).slice(0, 4) }))
          .filter((p) => p.urls.length)
      : [];
    if (!file || !serves) return { t: 'fhave', file: id, have: '' };
    return file.have.complete ? { t: 'fhave', file: id, all: true, peers } : { t: 'fhave', file: id, have: file.have.toWire(), peers };
  }

  private noteHolder(id: string, peerId: string, have: Bitfield | 'all'): void {
    let swarm = this.swarms.get(id);
    if (!swarm) {
      this.swarms.set(id, (swarm = new Map()));
      trimOldest(this.swarms, 1000);
    }
    if (!swarm.has(peerId) && swarm.size >= 256) return;
    swarm.set(peerId, have instanceof Bitfield && have.complete ? 'all' : have);
  }

  /** Sends the chunks a link asked for, in order, reading ahead a little, pausing while its socket is full. */
  private async serve(link: Link): Promise<void> {
    this.servingBusy.add(link);
    const sends: Promise<void>[] = [];
    try {
      let queue: { file: string; i: number }[] | undefined;
      while ((queue = this.serving.get(link))?.length && !link.closed && !this.closed) {
        const { file: id, i } = queue.shift()!;
        const file = this.served(id);
        const bytes = file && (this.config.swarm || file.own) && file.have.has(i) ? await this.readChunk(file, i) : undefined;
        if (TEST_SERVE_DELAY_MS) await new Promise((r) => setTimeout(r, TEST_SERVE_DELAY_MS));
        if (!bytes) {
          void link.send({ t: 'fnone', file: id, chunks: [i] }).catch(() => undefined);
          continue;
        }
        sends.push(link.sendData({ t: 'chunk', file: id, i }, bytes).catch(() => undefined));
        if (sends.length >= SERVE_AHEAD) await sends.shift();
        while (link.bufferedAmount > SERVE_BUFFERED_BYTES && !link.closed) await new Promise((r) => setTimeout(r, 5));
      }
      await Promise.all(sends);
    } finally {
      this.servingBusy.delete(link);
    }
    // asked for more while the last sends were finishing
    if (this.serving.get(link)?.length && !link.closed && !this.closed) void this.serve(link);
    else this.serving.delete(link);
  }

  /** Chunk i as it travels; our own file is checked first (it may have changed since it was shared). */
  private async readChunk(file: FileRecord, i: number): Promise<Buffer | undefined> {
    const path = file.blob;
    if (!path) return undefined;
    const length = file.layout.wireLength(i);
    const buf = Buffer.allocUnsafe(length);
    try {
      await readFully(await this.handleOf(path), buf, length, file.layout.wireOffset(i));
    } catch (err) {
      this.log.warn({ file: file.id, path, err: (err as Error).message }, 'cannot read a chunk to serve');
      return undefined;
    }
    if (file.own && (await this.changedSince(path, file)) && !file.layout.verify(i, buf)) {
      this.log.warn({ file: file.id, path }, 'a shared file changed since it was sent; its changed chunks are not served');
      return undefined;
    }
    return buf;
  }

  /** Whether our own shared file was modified since we shared it (then each chunk is checked before it goes). */
  private async changedSince(path: string, file: FileRecord): Promise<boolean> {
    const now = Date.now();
    const known = this.checkedAt.get(path);
    if (known && now - known.at < 1000) return known.changed;
    const info = await (await this.handleOf(path)).stat();
    const changed =
      info.mtimeMs !== file.mtime ||
      info.size !== file.layout.wireOffset(file.layout.count - 1) + file.layout.wireLength(file.layout.count - 1);
    if (this.checkedAt.size > 64) this.checkedAt.clear();
    this.checkedAt.set(path, { at: now, changed });
    return changed;
  }

  private handleOf(path: string): Promise<FileHandle> {
    let entry = this.handles.get(path);
    if (!entry) {
      const handle = open(path, 'r');
      handle.catch(() => this.handles.delete(path));
      this.handles.set(path, (entry = { handle, used: Date.now() }));
    }
    entry.used = Date.now();
    return entry.handle;
  }

  private closeIdleHandles(): void {
    const now = Date.now();
    for (const [path, entry] of this.handles) {
      if (now - entry.used < 30_000) continue;
      this.handles.delete(path);
      void entry.handle.then((h) => h.close()).catch(() => undefined);
    }
  }

  private onChunk(link: Link, header: ChunkHeader, bytes: Buffer): void {
    const fetch = this.fetches.get(header.file);
    if (fetch) fetch.receive(link.peerId, header.i, bytes);
    else if (!this.served(header.file)) this.misbehaved(link.peerId, 'sent a chunk of a file we never asked for');
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.sweeper);
    clearTimeout(this.announceTimer);
    await Promise.all([...this.fetches.values()].map(async (f) => (await f.stop(), this.store.saveHave(f.file))));
    this.fetches.clear();
    for (const entry of this.handles.values()) void entry.handle.then((h) => h.close()).catch(() => undefined);
  }
}

function partOf(dest: string): string {
  return `${dest}.chatty-part`;
}

function pathAndError(t: Transfer): { path?: string; error?: string } {
  return { ...(t.path ? { path: t.path } : {}), ...(t.error ? { error: t.error } : {}) };
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

function ioError(path: string, message: string): ChattyError {
  return new ChattyError('io_error', message, { path });
}

function mib(bytes: number): string {
  return bytes >= 1024 ** 3 ? `${(bytes / 1024 ** 3).toFixed(1)} GiB` : `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
}
