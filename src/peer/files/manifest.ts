/**
 * A file's manifest (docs/protocol.md, "Files"): made by one pass over the file that hashes every
 * chunk and the whole file, and, for a file of a DM or an invite-only room, encrypts each chunk
 * with a key of its own into a copy that is what travels. Also the chunk arithmetic and the
 * bitfields of held chunks that peers exchange.
 */
import { createHash, randomBytes } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import mime from 'mime-types';
import { FILE_LIMITS } from '../../shared/api.js';
import { sanitizeFileName } from '../../shared/files.js';
import { chunkCount, type FileManifest } from '../../shared/wire.js';
import { b64u, sealChunk, sha256 } from '../crypto.js';
import { describeImage } from './thumbnail.js';

/** Bytes the GCM tag adds to each chunk of an encrypted file. */
export const TAG_BYTES = 16;

/** The smallest power-of-two chunk (from 256 KiB) that cuts `size` bytes into at most `maxChunks` chunks. */
export function chunkSizeFor(size: number): number {
  let chunk: number = FILE_LIMITS.minChunkBytes;
  while (Math.ceil(size / chunk) > FILE_LIMITS.maxChunks) chunk *= 2;
  return chunk;
}

/** How a file's chunks lie in its plaintext and in its wire form (the ciphertext, for an encrypted file). */
export class Layout {
  readonly count: number;
  private readonly digests: Buffer;

  constructor(readonly manifest: FileManifest) {
    this.count = chunkCount(manifest.size, manifest.chunk);
    this.digests = Buffer.from(manifest.hashes, 'base64url');
  }

  get encrypted(): boolean {
    return this.manifest.key !== undefined;
  }

  /** Plaintext bytes of chunk i. */
  plainLength(i: number): number {
    return Math.min(this.manifest.chunk, this.manifest.size - i * this.manifest.chunk);
  }

  /** Bytes of chunk i as it travels and is stored. */
  wireLength(i: number): number {
    return this.plainLength(i) + (this.encrypted ? TAG_BYTES : 0);
  }

  /** Offset of chunk i in the wire-form copy. */
  wireOffset(i: number): number {
    return i * (this.manifest.chunk + (this.encrypted ? TAG_BYTES : 0));
  }

  /** Bytes of the file the chunks of `have` hold (every chunk is `chunk` long but the last). */
  heldBytes(have: Bitfield): number {
    const last = this.count - 1;
    if (last < 0) return 0;
    const { chunk } = this.manifest;
    return have.count * chunk - (have.has(last) ? chunk - this.plainLength(last) : 0);
  }

  plainOffset(i: number): number {
    return i * this.manifest.chunk;
  }

  /** Whether `bytes` are chunk i as the manifest describes it. */
  verify(i: number, bytes: Buffer): boolean {
    if (i >= this.count || bytes.length !== this.wireLength(i)) return false;
    return createHash('sha256').update(bytes).digest().equals(this.digest(i));
  }

  private digest(i: number): Buffer {
    return this.digests.subarray(i * 32, i * 32 + 32);
  }
}

/**
 * The file id: a hash of what fixes the bytes (size, chunking, chunk digests, the whole file's
 * hash and the key), the same on every peer. Every peer recomputes it: a manifest cannot claim
 * the id of another file, so a transfer's state and chunks are never mixed up with another's.
 */
export function fileIdOf(m: Pick<FileManifest, 'size' | 'chunk' | 'hashes' | 'sha256' | 'key'>): string {
  return sha256(`chatty-file|${m.size}|${m.chunk}|${m.hashes}|${m.sha256}|${m.key ?? ''}`);
}

export interface BuiltManifest {
  manifest: FileManifest;
  /** For an encrypted file: its wire-form copy (ciphertext), under `blobDir`. */
  blob?: string;
}

/**
 * Reads `path` once, chunk by chunk (never the whole file in memory): the whole file's SHA-256,
 * each chunk's (of the ciphertext when `encrypt`), and the encrypted copy written to `blobDir`.
 */
export async function buildManifest(path: string, opts: { encrypt: boolean; blobDir: string }): Promise<BuiltManifest> {
  const handle = await open(path, 'r');
  const key = opts.encrypt ? randomBytes(32) : undefined;
  const tmp = key ? join(opts.blobDir, `.sealing-${b64u(randomBytes(9))}`) : undefined;
  const out = tmp ? await open(tmp, 'w', 0o600) : undefined;
  try {
    const { size } = await handle.stat();
    const chunk = chunkSizeFor(size);
    const whole = createHash('sha256');
    const digests = Buffer.alloc(chunkCount(size, chunk) * 32);
    const buf = Buffer.allocUnsafe(chunk);
    for (let i = 0, pos = 0; pos < size; i++, pos += chunk) {
      const length = Math.min(chunk, size - pos);
      await readFully(handle, buf, length, pos);
      const plain = buf.subarray(0, length);
      whole.update(plain);
      const wire = key ? sealChunk(key, i, plain) : plain;
      createHash('sha256')
        .update(wire)
        .digest()
        .copy(digests, i * 32);
      if (out) await out.write(wire, 0, wire.length, i * (chunk + TAG_BYTES));
    }
    const type = mime.lookup(path) || 'application/octet-stream';
    const hashes = digests.toString('base64url');
    const image = await describeImage(path, type, size);
    const sha = whole.digest('base64url');
    const keyB64 = key ? b64u(key) : undefined;
    const manifest: FileManifest = {
      id: fileIdOf({ size, chunk, hashes, sha256: sha, key: keyB64 }),
      name: sanitizeFileName(basename(path)),
      size,
      mime: type,
      sha256: sha,
      chunk,
      hashes,
      ...(keyB64 ? { key: keyB64 } : {}),
      ...(image ? { image } : {}),
    };
    let blob: string | undefined;
    if (out && tmp) {
      await out.sync();
      blob = join(opts.blobDir, `${manifest.id}.blob`);
      await rename(tmp, blob);
    }
    return { manifest, blob };
  } catch (err) {
    if (tmp) await rm(tmp, { force: true });
    throw err;
  } finally {
    await handle.close();
    await out?.close();
  }
}

/** Reads exactly `length` bytes at `position` (a short read means the file shrank under us). */
export async function readFully(
  handle: import('node:fs/promises').FileHandle,
  buf: Buffer,
  length: number,
  position: number,
): Promise<void> {
  let done = 0;
  while (done < length) {
    const { bytesRead } = await handle.read(buf, done, length - done, position + done);
    if (bytesRead === 0) throw new Error('the file is shorter than when it was shared');
    done += bytesRead;
  }
}

/** Which chunks a peer holds: bit i of the field is chunk i (bit i % 8 of byte i / 8). */
export class Bitfield {
  readonly bytes: Buffer;
  private held: number;

  constructor(
    readonly size: number,
    bytes?: Uint8Array,
  ) {
    this.bytes = Buffer.alloc(Math.ceil(size / 8));
    if (bytes) Buffer.from(bytes).copy(this.bytes, 0, 0, this.bytes.length);
    // bits past the last chunk are never set
    if (size % 8 && this.bytes.length) this.bytes[this.bytes.length - 1]! &= (1 << (size % 8)) - 1;
    this.held = 0;
    for (let i = 0; i < size; i++) if (this.has(i)) this.held++;
  }

  static full(size: number): Bitfield {
    const field = new Bitfield(size);
    for (let i = 0; i < size; i++) field.set(i);
    return field;
  }

  static fromWire(size: number, b64: string): Bitfield {
    return new Bitfield(size, Buffer.from(b64, 'base64url'));
  }

  has(i: number): boolean {
    return i >= 0 && i < this.size && (this.bytes[i >> 3]! & (1 << (i & 7))) !== 0;
  }

  set(i: number): void {
    if (i < 0 || i >= this.size || this.has(i)) return;
    this.bytes[i >> 3]! |= 1 << (i & 7);
    this.held++;
  }

  unset(i: number): void {
    if (!this.has(i)) return;
    this.bytes[i >> 3]! &= ~(1 << (i & 7));
    this.held--;
  }

  get count(): number {
    return this.held;
  }

  get complete(): boolean {
    return this.held === this.size;
  }

  toWire(): string {
    return this.bytes.toString('base64url');
  }
}
