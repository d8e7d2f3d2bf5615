/**
 * The arithmetic and checks files rest on: chunk sizes that keep every manifest small, the
 * layout of an encrypted file's chunks, each chunk checked against its hash, ids that bind a
 * manifest to its content, and the bitfields peers exchange.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FILE_LIMITS } from '../../src/shared/api.js';
import { chunkCount, fileManifestSchema, eventBodies } from '../../src/shared/wire.js';
import { openChunk } from '../../src/peer/crypto.js';
import { Bitfield, buildManifest, chunkSizeFor, fileIdOf, Layout, TAG_BYTES } from '../../src/peer/files/manifest.js';

const dir = mkdtempSync(join(tmpdir(), 'chatty-manifest-'));

describe('chunk sizes', () => {
  it('are 256 KiB up to 128 MiB, then grow so a file never has more than 512 chunks', () => {
    expect(chunkSizeFor(0)).toBe(256 * 1024);
    expect(chunkSizeFor(128 * 1024 ** 2)).toBe(256 * 1024);
    expect(chunkSizeFor(128 * 1024 ** 2 + 1)).toBe(512 * 1024);
    expect(chunkSizeFor(1024 ** 3)).toBe(2 * 1024 ** 2);
    expect(chunkSizeFor(FILE_LIMITS.maxSizeBytes)).toBe(FILE_LIMITS.maxChunkBytes);
    for (const size of [1, 1e6, 3e8, 2 ** 31, FILE_LIMITS.maxSizeBytes])
      expect(chunkCount(size, chunkSizeFor(size))).toBeLessThanOrEqual(512);
  });
});

describe('a manifest', () => {
  it('hashes every chunk and the whole file, and its id binds them', async () => {
    const path = join(dir, 'notes.txt');
    const data = randomBytes(600_000);
    writeFileSync(path, data);
    const { manifest, blob } = await buildManifest(path, { encrypt: false, blobDir: dir });
    expect(blob).toBeUndefined();
    expect(manifest).toMatchObject({ name: 'notes.txt', size: 600_000, mime: 'text/plain', chunk: 256 * 1024 });
    expect(fileManifestSchema.safeParse(manifest).success).toBe(true);
    expect(manifest.id).toBe(fileIdOf(manifest));
    const layout = new Layout(manifest);
    expect(layout.count).toBe(3);
    expect(layout.verify(0, data.subarray(0, 256 * 1024))).toBe(true);
    expect(layout.verify(2, data.subarray(512 * 1024))).toBe(true);
    const tampered = Buffer.from(data.subarray(0, 256 * 1024));
    tampered[100] = tampered[100]! ^ 1;
    expect(layout.verify(0, tampered)).toBe(false);
    expect(layout.verify(1, data.subarray(0, 256 * 1024))).toBe(false); // right bytes, wrong place
    expect(layout.verify(2, data.subarray(512 * 1024, 600_000 - 1))).toBe(false); // short
    // a manifest that claims another file's id is found out by anyone who recomputes it
    expect(fileIdOf({ ...manifest, sha256: fileIdOf(manifest) })).not.toBe(manifest.id);
  });

  it('of an encrypted file describes a ciphertext copy that only its key opens', async () => {
    const path = join(dir, 'secret.bin');
    const data = randomBytes(300_000);
    writeFileSync(path, data);
    const { manifest, blob } = await buildManifest(path, { encrypt: true, blobDir: dir });
    expect(manifest.key).toHaveLength(43);
    const layout = new Layout(manifest);
    expect(layout.wireLength(0)).toBe(256 * 1024 + TAG_BYTES);
    expect(layout.wireOffset(1)).toBe(256 * 1024 + TAG_BYTES);
    const copy = readFileSync(blob!);
    expect(copy.length).toBe(300_000 + 2 * TAG_BYTES);
    const first = copy.subarray(0, layout.wireLength(0));
    expect(layout.verify(0, first)).toBe(true);
    expect(first.subarray(0, 1000).equals(data.subarray(0, 1000))).toBe(false);
    const key = Buffer.from(manifest.key!, 'base64url');
    expect(openChunk(key, 0, first)?.equals(data.subarray(0, 256 * 1024))).toBe(true);
    expect(openChunk(key, 1, first)).toBeNull(); // each chunk's nonce is its index
    expect(openChunk(randomBytes(32), 0, first)).toBeNull();
    // its key never travels in clear: an open room's message refuses a manifest with one
    expect(eventBodies.msg.safeParse({ nick: 'a', file: manifest }).success).toBe(false);
    expect(eventBodies.msg.safeParse({ nick: 'a', file: { ...manifest, key: undefined } }).success).toBe(true);
  });

  it('refuses hash lists that do not match the size, and names with paths', () => {
    const base = { id: 'a'.repeat(43), name: 'x.bin', size: 10, mime: 'application/octet-stream', sha256: 'b'.repeat(43), chunk: 262144 };
    const one = Buffer.alloc(32).toString('base64url');
    expect(fileManifestSchema.safeParse({ ...base, hashes: one }).success).toBe(true);
    expect(fileManifestSchema.safeParse({ ...base, hashes: one + one }).success).toBe(false);
    expect(fileManifestSchema.safeParse({ ...base, hashes: one, name: '../etc/passwd' }).success).toBe(false);
    expect(fileManifestSchema.safeParse({ ...base, hashes: one, name: '..' }).success).toBe(false);
    expect(fileManifestSchema.safeParse({ ...base, hashes: one, chunk: 300000 }).success).toBe(false);
  });
});

describe('bitfields', () => {
  it('count, travel and never hold bits past the last chunk', () => {
    const field = new Bitfield(10);
    field.set(0);
    field.set(9);
    field.set(9);
    field.set(10);
    expect(field.count).toBe(2);
    const back = Bitfield.fromWire(10, field.toWire());
    expect([...Array(10).keys()].filter((i) => back.has(i))).toEqual([0, 9]);
    expect(Bitfield.fromWire(10, Buffer.from([0xff, 0xff]).toString('base64url')).count).toBe(10);
    expect(Bitfield.full(10).complete).toBe(true);
    expect(new Bitfield(0).complete).toBe(true);
  });
});
