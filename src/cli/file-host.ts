/**
 * The host's side of file sharing for the two front ends that show the UI: the UI server (browser)
 * and the desktop's main process. Both put files the user picks where the peer can read them
 * (`<dataDir>/uploads/<random>/<name>`, streamed and bounded), and both serve the files the peer
 * holds to the page with the same headers.
 *
 * The peer node provides what they need (`FileHost`); it is not part of the control API, which
 * names files by path on the peer's machine and never carries their bytes.
 */
import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, type ReadStream } from 'node:fs';
import { mkdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { contentDisposition, FILE_ID_RE, formatBytes, isActiveMime, safeMime, sanitizeFileName } from '../shared/files.js';

export interface FileLocation {
  /** The plaintext copy on this machine. */
  path: string;
  name: string;
  mime: string;
}

/** What a front end needs of the peer node for files (PeerNode provides it). */
export interface FileHost {
  readonly dataDir: string;
  /** The largest file this peer sends or fetches (`--max-file`). */
  readonly maxFileBytes: number;
  /** Where the file is on this machine once this peer holds all of it; else undefined. */
  fileLocation(fileId: string): FileLocation | undefined;
}

export function isFileHost(x: unknown): x is FileHost {
  const h = x as Partial<FileHost> | null;
  return !!h && typeof h.dataDir === 'string' && typeof h.maxFileBytes === 'number' && typeof h.fileLocation === 'function';
}

/** Folder of the data directory that files picked in the UI are put in before the peer sends them. */
export const UPLOADS_DIR = 'uploads';

export class UploadTooLargeError extends Error {
  constructor(readonly limit: number) {
    super(`That file is over the limit of ${formatBytes(limit)} for sending files`);
    this.name = 'UploadTooLargeError';
  }
}

/**
 * Streams `source` into `<dataDir>/uploads/<random>/<sanitized name>` and returns that path. More
 * than `maxBytes` fails with UploadTooLargeError; any failure leaves nothing behind.
 */
export async function writeUpload(
  dataDir: string,
  name: string,
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  maxBytes: number,
): Promise<string> {
  const dir = path.join(dataDir, UPLOADS_DIR, randomBytes(12).toString('hex'));
  const file = path.join(dir, sanitizeFileName(name));
  await mkdir(dir, { recursive: true, mode: 0o700 });
  let seen = 0;
  const limit = new Transform({
    transform(chunk: Buffer, _enc, done) {
      seen += chunk.length;
      if (seen > maxBytes) done(new UploadTooLargeError(maxBytes));
      else done(null, chunk);
    },
  });
  try {
    await pipeline(source, limit, createWriteStream(file, { flags: 'wx', mode: 0o600 }));
  } catch (err) {
    await rm(dir, { recursive: true, force: true }).catch(() => undefined);
    throw err;
  }
  return file;
}

/**
 * What pages may do with a served file: nothing active. A file from a peer shown from the UI's own
 * origin must not run scripts there, so it is sandboxed (an opaque origin, no scripts) and markup
 * comes as a download. PDF is left unsandboxed: the browser's viewer is isolated from the page,
 * and it does not load in a sandbox.
 */
const SANDBOX = "sandbox; default-src 'none'; img-src 'self' data:; media-src 'self'; style-src 'unsafe-inline'";

export interface HeldFile {
  size: number;
  headers: Record<string, string>;
  open(): ReadStream;
}

/** The file `fileId` when this peer holds it, with the headers to serve it; undefined when not (404). */
export async function heldFile(host: FileHost | undefined, fileId: string): Promise<HeldFile | undefined> {
  if (!host || !FILE_ID_RE.test(fileId)) return undefined;
  const loc = host.fileLocation(fileId);
  if (!loc) return undefined;
  const info = await stat(loc.path).catch(() => null);
  if (!info?.isFile()) return undefined;
  const mime = safeMime(loc.mime);
  const headers: Record<string, string> = {
    'Content-Type': mime,
    'Content-Length': String(info.size),
    'Content-Disposition': contentDisposition(isActiveMime(mime) ? 'attachment' : 'inline', loc.name),
    'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'no-referrer',
    // A file id names its content (the hash of its manifest): it never changes.
    'Cache-Control': 'private, max-age=31536000, immutable',
  };
  if (mime !== 'application/pdf') headers['Content-Security-Policy'] = SANDBOX;
  return { size: info.size, headers, open: () => createReadStream(loc.path) };
}
