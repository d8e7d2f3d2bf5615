/**
 * What this peer knows and holds of files, in the node's database: each file's manifest (with
 * its key, for an encrypted one: the database is this user's only), the messages that carry it,
 * its transfer state, which chunks are on disk and where. A transfer resumes from it after a
 * restart; chunks are recorded after they are written, so a crash can only make a chunk be
 * fetched twice, never count one that is not there.
 */
import type { TransferState } from '../../shared/api.js';
import type { FileManifest } from '../../shared/wire.js';
import { prepare } from '../sqlite.js';
import type { Store } from '../store.js';
import { Bitfield, Layout } from './manifest.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS files (
  id TEXT PRIMARY KEY,
  manifest TEXT NOT NULL,
  author TEXT NOT NULL,
  state TEXT NOT NULL DEFAULT 'none',
  have BLOB,
  -- the copy that is served: the file as it travels (the ciphertext, for an encrypted file)
  blob TEXT,
  -- the readable copy on this machine: done, or being written (for an open file, the same as blob)
  dest TEXT,
  -- fetched on arrival (a picture), counted in the automatic-download quota
  auto INTEGER NOT NULL DEFAULT 0,
  -- shared by this peer: blob is the author's own file (or, encrypted, our copy of it)
  own INTEGER NOT NULL DEFAULT 0,
  -- modification time of our own file when shared: a change since makes each chunk be checked before it is served
  mtime REAL,
  error TEXT
);
CREATE TABLE IF NOT EXISTS file_messages (message TEXT PRIMARY KEY, file TEXT NOT NULL, manifest TEXT NOT NULL);
`;

/** `none`: known from a message, never fetched. */
export type FileState = TransferState | 'none';

export interface FileRecord {
  id: string;
  manifest: FileManifest;
  layout: Layout;
  author: string;
  state: FileState;
  have: Bitfield;
  blob: string | null;
  dest: string | null;
  auto: boolean;
  own: boolean;
  mtime: number | null;
  error: string | null;
}

interface Row {
  id: string;
  manifest: string;
  author: string;
  state: FileState;
  have: Uint8Array | null;
  blob: string | null;
  dest: string | null;
  auto: number;
  own: number;
  mtime: number | null;
  error: string | null;
}

export type FileUpdate = Partial<Pick<FileRecord, 'state' | 'blob' | 'dest' | 'auto' | 'error'>>;

export class FileStore {
  private readonly stmts;

  constructor(private readonly store: Store) {
    const db = store.db;
    db.exec(SCHEMA);
    this.stmts = {
      insert: prepare<[string, string, string, number, string | null, string | null, string, Uint8Array]>(
        db,
        `INSERT INTO files (id, manifest, author, own, blob, dest, state, have) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (id) DO NOTHING`,
      ),
      own: prepare<[string | null, string | null, Uint8Array, number, string]>(
        db,
        "UPDATE files SET own = 1, state = 'done', blob = ?, dest = ?, have = ?, mtime = ?, error = NULL WHERE id = ?",
      ),
      link: prepare<[string, string, string]>(
        db,
        'INSERT INTO file_messages (message, file, manifest) VALUES (?, ?, ?) ON CONFLICT DO NOTHING',
      ),
      get: prepare<[string], Row>(db, 'SELECT * FROM files WHERE id = ?'),
      ofMessage: prepare<[string], { manifest: string; file: string }>(db, 'SELECT file, manifest FROM file_messages WHERE message = ?'),
      update: prepare<[string, string | null, string | null, number, string | null, string]>(
        db,
        'UPDATE files SET state = ?, blob = ?, dest = ?, auto = ?, error = ? WHERE id = ?',
      ),
      have: prepare<[Uint8Array, string]>(db, 'UPDATE files SET have = ? WHERE id = ?'),
      running: prepare<[], Row>(db, "SELECT * FROM files WHERE state = 'running'"),
      unlink: prepare<[string]>(db, 'DELETE FROM file_messages WHERE message = ?'),
      linked: prepare<[string], { n: number }>(db, 'SELECT COUNT(*) AS n FROM file_messages WHERE file = ?'),
      remove: prepare<[string]>(db, 'DELETE FROM files WHERE id = ?'),
      autoBytes: prepare<[], { bytes: number | null }>(
        db,
        "SELECT SUM(json_extract(manifest, '$.size')) AS bytes FROM files WHERE auto = 1 AND state IN ('running', 'done')",
      ),
    };
  }

  /** Records a file a message carries (the first manifest seen for an id is the one kept). */
  learn(messageId: string, manifest: FileManifest, author: string): void {
    const json = JSON.stringify(manifest);
    const empty = new Bitfield(new Layout(manifest).count).bytes;
    this.store.transaction(() => {
      this.stmts.insert.run(manifest.id, json, author, 0, null, null, 'none', empty);
      this.stmts.link.run(messageId, manifest.id, json);
    });
  }

  /** A file this peer shares: every chunk held, served from `blob` (`mtime`: the blob's when it was read). */
  own(manifest: FileManifest, author: string, blob: string, dest: string, mtime: number): void {
    const full = Bitfield.full(new Layout(manifest).count).bytes;
    this.store.transaction(() => {
      this.stmts.insert.run(manifest.id, JSON.stringify(manifest), author, 1, blob, dest, 'done', full);
      this.stmts.own.run(blob, dest, full, mtime, manifest.id);
    });
  }

  get(id: string): FileRecord | undefined {
    const row = this.stmts.get.get(id);
    return row && this.record(row);
  }

  /** The file a message carries, with that message's manifest (its name and thumbnail may differ from another's). */
  ofMessage(messageId: string): { manifest: FileManifest; file: FileRecord | undefined } | undefined {
    const link = this.stmts.ofMessage.get(messageId);
    if (!link) return undefined;
    return { manifest: JSON.parse(link.manifest) as FileManifest, file: this.get(link.file) };
  }

  update(file: FileRecord, changes: FileUpdate): void {
    Object.assign(file, changes);
    this.stmts.update.run(file.state, file.blob, file.dest, file.auto ? 1 : 0, file.error, file.id);
  }

  /**
   * A deleted message no longer carries its file: its manifest (name, thumbnail, key) goes, and the
   * file's record too unless another message carries it. Returns the record removed, if any.
   */
  forgetMessage(messageId: string): FileRecord | undefined {
    const found = this.ofMessage(messageId);
    if (!found) return undefined;
    return this.store.transaction(() => {
      this.stmts.unlink.run(messageId);
      if (!found.file || this.stmts.linked.get(found.file.id)!.n > 0) return undefined;
      this.stmts.remove.run(found.file.id);
      return found.file;
    });
  }

  /** Records the chunks held; without a flush of its own (a chunk fetched twice after a power cut is harmless). */
  saveHave(file: FileRecord): void {
    this.store.relaxedTransaction(() => this.stmts.have.run(file.have.bytes, file.id));
  }

  running(): FileRecord[] {
    return this.stmts.running.all().map((r) => this.record(r));
  }

  /** Bytes of the files fetched on arrival (what the automatic-download quota counts). */
  autoBytes(): number {
    return this.stmts.autoBytes.get()?.bytes ?? 0;
  }

  private record(row: Row): FileRecord {
    const manifest = JSON.parse(row.manifest) as FileManifest;
    const layout = new Layout(manifest);
    return {
      id: row.id,
      manifest,
      layout,
      author: row.author,
      state: row.state,
      have: new Bitfield(layout.count, row.have ?? undefined),
      blob: row.blob,
      dest: row.dest,
      auto: row.auto === 1,
      own: row.own === 1,
      mtime: row.mtime,
      error: row.error,
    };
  }
}
