/**
 * Durable storage in SQLite (Node's built-in `node:sqlite`): the node's identity, every
 * event it holds (stored once, as received, so it can be relayed byte for
 * byte), each room's DAG heads, and the addresses of peers seen before.
 *
 * WAL with synchronous=FULL: a transaction that returned survives kill -9
 * and power loss. Our own new events are committed without the flush and made
 * durable together, once per event-loop turn (`durable()`, a group commit):
 * `send` answers, and the event leaves this peer, only after that flush.
 */
import { chmodSync, closeSync, mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import type { DatabaseSync, SQLInputValue } from 'node:sqlite';
import { openDatabase, prepare, transaction, type Statement } from './sqlite.js';
import { trimOldest } from './trim-oldest.js';
import { WaitingRows } from './waiting-rows.js';
import { EVENT_FORMAT, EVENT_FORMATS, roomOfEvent, STATE_EVENT_TYPES, type SignedEvent } from '../shared/wire.js';

export const EventStatus = {
  /** Stored, waiting for its causal dependencies. */
  Waiting: 0,
  Accepted: 1,
  /** Authentic but refused by the room's rules (e.g. a banned author); kept so the log stays gapless. */
  Rejected: 2,
  /** Authentic but malformed for its room (wrong depth, foreign dependencies): never judged again. */
  Invalid: 3,
} as const;
export type EventStatus = (typeof EventStatus)[keyof typeof EventStatus];

export interface EventRow {
  rowid: number;
  id: string;
  author: string;
  seq: number;
  room: string | null;
  type: string;
  depth: number;
  ts: number;
  status: EventStatus;
  late: number;
  nick: string | null;
  text: string | null;
  reply_to: string | null;
  target: string | null;
  sealed: number;
}

/** The columns an event's body fills (the same whether read from a row or from the event in memory). */
export function bodyColumns(ev: SignedEvent): Pick<EventRow, 'nick' | 'reply_to' | 'target'> {
  const str = (v: unknown) => (typeof v === 'string' ? v : null);
  // an annotation's target is its message; a kick's, its member; a DM's, its addressee
  return {
    nick: str(ev.body.nick),
    reply_to: str(ev.body.replyTo),
    target: str(ev.body.message) ?? str(ev.body.target) ?? str(ev.body.to),
  };
}

/** What an annotation (reaction, edit, delete, read receipt) of a message needs to be applied to it. */
export interface AnnotationRow {
  id: string;
  author: string;
  type: 'react' | 'unreact' | 'edit' | 'delete' | 'read';
  target: string;
  depth: number;
  ts: number;
  text: string | null;
}

/** An events row as inserted (every column but the rowid). */
type InsertRow = Omit<EventRow, 'rowid'> & { id_key: number; sig_ok: number; json: string };

const INSERT_COLUMNS = [
  'id',
  'id_key',
  'author',
  'seq',
  'room',
  'type',
  'depth',
  'ts',
  'status',
  'late',
  'nick',
  'text',
  'reply_to',
  'target',
  'sig_ok',
  'sealed',
  'json',
] as const satisfies readonly (keyof InsertRow)[];

/** How many waiting rows stay in memory, and for how long, before they are written as waiting (see WaitingRows). */
/**
 * SQLite's automatic checkpoint (copying the write-ahead log into the database, inside the commit
 * that crosses the threshold), in pages of the log: its default while live, larger while a
 * catch-up streams in (see `Store.catchingUp`).
 */
export const CHECKPOINT_PAGES = { live: 1_000, catchUp: 10_000 };

export const WAITING_ROWS = { maxRows: 10_000, maxAgeMs: 2_000, maxChars: 16 * 1024 * 1024 };

export interface PeerRow {
  peer_id: string;
  urls: string;
  source: string;
  last_seen: number;
}

/**
 * The condition of the annotation index. SQLite uses a partial index only for a query whose WHERE
 * contains this very term, so every query of annotations repeats it (narrower terms come beside it).
 */
const ANNOTATION = "type IN ('react', 'unreact', 'edit', 'delete', 'read')";

/** The condition of the state-event index: a room's rules are replayed from these alone. */
const STATE = `type IN (${STATE_EVENT_TYPES.map((t) => `'${t}'`).join(', ')})`;

/** The condition of the message index, repeated by the queries that page through messages. */
const MESSAGES = "type IN ('msg', 'dm')";

/** Readable messages of others after a position of a conversation (room, me, depth, depth, id): what is unread. */
const UNREAD = `room = ? AND status = 1 AND ${MESSAGES} AND text IS NOT NULL AND author != ? AND (depth > ? OR (depth = ? AND id > ?))`;

/**
 * The condition of the index of a room's other events (everything but messages), its complement:
 * each event is in one of the two room indexes, not in both, so storing a message updates one
 * index of the room instead of two (measured: 100,000 inserts 1,060 → 830 ms). A query over both
 * kinds is a UNION ALL of the two, which SQLite merges in order.
 */
const OTHERS = "type NOT IN ('msg', 'dm')";

/** base64url's alphabet, each character's 6-bit value (any other character counts as its code's low 6 bits). */
const BASE64URL = new Uint8Array(128).map((_, code) => code & 63);
'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'.split('').forEach((c, i) => (BASE64URL[c.charCodeAt(0)] = i));

/**
 * The lookup key of an event id: its first 48 bits (8 base64url characters of a SHA-256), an
 * integer. Ids are random, so every insert lands somewhere else in the id index: indexing this
 * 8-byte key instead of the 43-character text keeps that index a quarter of the size and makes a
 * commit dirty far fewer pages (measured: 100,000 inserts 2.4 s → 1.5 s). Lookups match the key,
 * then the id itself, so a shared prefix only costs a second row read. Defined for any string.
 */
export function idKey(id: string): number {
  let key = 0;
  for (let i = 0; i < 8 && i < id.length; i++) key = key * 64 + BASE64URL[id.charCodeAt(i) & 127]!;
  return key;
}

/** The id index's key column and the condition every lookup by id uses (the key finds it, the id confirms it). */
const BY_ID = 'id_key = ? AND id = ?';

const TABLES = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS events (
  rowid INTEGER PRIMARY KEY,
  -- unique without an index of its own: an id is the hash of its content, and (author, seq) is unique
  id TEXT NOT NULL,
  id_key INTEGER NOT NULL,
  author TEXT NOT NULL,
  seq INTEGER NOT NULL,
  room TEXT,
  type TEXT NOT NULL,
  depth INTEGER NOT NULL,
  ts INTEGER NOT NULL,
  status INTEGER NOT NULL DEFAULT 0,
  late INTEGER NOT NULL DEFAULT 0,
  nick TEXT,
  text TEXT,
  reply_to TEXT,
  target TEXT,
  -- 1 when this event's own signature was checked; 0 when it was authenticated through the hash chain
  sig_ok INTEGER NOT NULL DEFAULT 1,
  -- 1 for a message whose text is sealed under a room key (what the room rules look at)
  sealed INTEGER NOT NULL DEFAULT 0,
  json TEXT NOT NULL,
  UNIQUE (author, seq)
);
CREATE TABLE IF NOT EXISTS heads (room TEXT NOT NULL, id TEXT NOT NULL, PRIMARY KEY (room, id));
CREATE TABLE IF NOT EXISTS peers (peer_id TEXT PRIMARY KEY, urls TEXT NOT NULL, source TEXT NOT NULL, last_seen INTEGER NOT NULL);
`;

const INDEXES = `
CREATE INDEX IF NOT EXISTS events_id ON events (id_key);
-- a room's events in order: messages in the one, everything else in the other
CREATE INDEX IF NOT EXISTS events_room_others ON events (room, depth, id) WHERE ${OTHERS};
DROP INDEX IF EXISTS events_room_order;
CREATE INDEX IF NOT EXISTS events_waiting ON events (status) WHERE status = 0;
CREATE INDEX IF NOT EXISTS events_creates ON events (type) WHERE type = 'create';
CREATE INDEX IF NOT EXISTS events_annotations ON events (target, depth, id) WHERE ${ANNOTATION};
CREATE INDEX IF NOT EXISTS events_messages ON events (room, depth, id) WHERE ${MESSAGES};
-- what a start-up reads: every room's state events, every author's profiles
CREATE INDEX IF NOT EXISTS events_state ON events (room, depth, id) WHERE ${STATE};
CREATE INDEX IF NOT EXISTS events_profiles ON events (author, seq) WHERE type = 'profile';
`;

const ROW_COLUMNS = 'rowid, id, author, seq, room, type, depth, ts, status, late, nick, text, reply_to, target, sealed';

export class Store {
  readonly db: DatabaseSync;
  private readonly stmts;
  /** Relaxed commits of our own events not flushed yet. */
  private unflushed = false;
  private flushing?: Promise<void>;
  private flushes = 0;

  constructor(readonly dataDir: string) {
    // Keys, room keys and DM plaintext live here: readable by this user only. SQLite gives the WAL the db file's mode.
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    const file = join(dataDir, 'chatty.db');
    closeSync(openSync(file, 'a', 0o600));
    chmodSync(file, 0o600);
    this.db = openDatabase(file);
    // secure_delete: what a delete erases is overwritten with zeros, not left in free pages
    this.db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA secure_delete = ON');
    this.setAsideOlderProtocol();
    this.migrate();
    this.db.exec(TABLES + INDEXES);
    const db = this.db;
    this.stmts = {
      getMeta: prepare<[string], { value: string }>(db, 'SELECT value FROM meta WHERE key = ?'),
      setMeta: prepare<[string, string]>(
        db,
        'INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
      ),
      metaKeys: prepare<[string, string], { key: string }>(db, 'SELECT key FROM meta WHERE key >= ? AND key < ? ORDER BY key'),
      // positional: binding 17 parameters by name cost several µs a row
      insert: prepare<SQLInputValue[]>(
        db,
        `INSERT INTO events (${INSERT_COLUMNS.join(', ')}) VALUES (${INSERT_COLUMNS.map(() => '?').join(', ')})`,
      ),
      setStatus: prepare<[EventStatus, number, number, string]>(db, `UPDATE events SET status = ?, late = ? WHERE ${BY_ID}`),
      setVerdict: prepare<[EventStatus, number, string]>(db, `UPDATE events SET status = ? WHERE ${BY_ID}`),
      setText: prepare<[string, number, string]>(db, `UPDATE events SET text = ? WHERE ${BY_ID}`),
      erase: prepare<[string, number, string]>(db, `UPDATE events SET json = ?, text = '', sealed = 1 WHERE ${BY_ID}`),
      editsOf: prepare<[string], { id: string; json: string }>(
        db,
        `SELECT id, json FROM events WHERE target = ? AND ${ANNOTATION} AND type = 'edit'`,
      ),
      deletionOf: prepare<[string], { json: string }>(
        db,
        `SELECT json FROM events WHERE target = ? AND ${ANNOTATION} AND type = 'delete' AND status = 1 ORDER BY depth, id LIMIT 1`,
      ),
      lastRead: prepare<[string, string], { target: string }>(
        db,
        `SELECT target FROM events WHERE room = ? AND ${OTHERS} AND author = ? AND type = 'read' AND status = 1
         ORDER BY depth DESC, id DESC LIMIT 1`,
      ),
      unreadAfter: prepare<[string, string, number, number, string], { n: number }>(db, `SELECT COUNT(*) AS n FROM events WHERE ${UNREAD}`),
      unreadTexts: prepare<[string, string, number, number, string], { text: string }>(db, `SELECT text FROM events WHERE ${UNREAD}`),
      byId: prepare<[number, string], EventRow>(db, `SELECT ${ROW_COLUMNS} FROM events WHERE ${BY_ID}`),
      jsonById: prepare<[number, string], { json: string }>(db, `SELECT json FROM events WHERE ${BY_ID}`),
      // each author's newest event, one index seek per author (a GROUP BY read every row of the table)
      vector: prepare<[], { author: string; seq: number; id: string }>(
        db,
        `WITH RECURSIVE authors(author) AS (
           SELECT MIN(author) FROM events
           UNION ALL SELECT (SELECT MIN(author) FROM events WHERE author > authors.author) FROM authors WHERE author IS NOT NULL)
         SELECT a.author, e.seq, e.id FROM authors a
         JOIN events e ON e.rowid = (SELECT rowid FROM events WHERE author = a.author ORDER BY seq DESC LIMIT 1)`,
      ),
      after: prepare<[string, number, number], { seq: number; json: string; sig_ok: number }>(
        db,
        'SELECT seq, json, sig_ok FROM events WHERE author = ? AND seq > ? ORDER BY seq LIMIT ?',
      ),
      markSig: prepare<[string, number]>(db, 'UPDATE events SET sig_ok = 1 WHERE author = ? AND seq = ?'),
      // numbered parameters: both halves of a UNION read the same values
      unreadable: prepare<[string], { id: string; json: string }>(
        db,
        `SELECT id, json FROM events WHERE room = ?1 AND ${MESSAGES} AND type = 'msg' AND status = 1 AND text IS NULL
         UNION ALL
         SELECT id, json FROM events WHERE room = ?1 AND ${OTHERS} AND type IN ('react', 'unreact', 'edit') AND status = 1 AND text IS NULL`,
      ),
      waiting: prepare<[], { json: string }>(db, 'SELECT json FROM events WHERE status = 0 ORDER BY author, seq'),
      heads: prepare<[string], { id: string }>(db, 'SELECT id FROM heads WHERE room = ?'),
      addHead: prepare<[string, string]>(db, 'INSERT OR IGNORE INTO heads (room, id) VALUES (?, ?)'),
      clearHeads: prepare<[string]>(db, 'DELETE FROM heads WHERE room = ?'),
      rooms: prepare<[], { room: string; json: string }>(db, "SELECT room, json FROM events WHERE type = 'create' AND status = 1"),
      stateEvents: prepare<[string], EventRow>(
        db,
        `SELECT ${ROW_COLUMNS} FROM events WHERE room = ? AND ${STATE} AND status IN (1, 2) ORDER BY depth, id`,
      ),
      messagesAfter: prepare<[string, number, string], EventRow>(
        db,
        `SELECT ${ROW_COLUMNS} FROM events WHERE room = ?1 AND ${MESSAGES} AND type = 'msg' AND status IN (1, 2)
         AND (depth > ?2 OR (depth = ?2 AND id > ?3))
         UNION ALL
         SELECT ${ROW_COLUMNS} FROM events WHERE room = ?1 AND ${OTHERS} AND type IN ('react', 'unreact', 'edit', 'delete') AND status IN (1, 2)
         AND (depth > ?2 OR (depth = ?2 AND id > ?3))
         ORDER BY depth, id`,
      ),
      profiles: prepare<[], EventRow>(db, `SELECT ${ROW_COLUMNS} FROM events WHERE type = 'profile' AND status = 1 ORDER BY author, seq`),
      upsertPeer: prepare<[string, string, string, number]>(
        db,
        `INSERT INTO peers (peer_id, urls, source, last_seen) VALUES (?, ?, ?, ?)
         ON CONFLICT (peer_id) DO UPDATE SET urls = excluded.urls, source = excluded.source, last_seen = excluded.last_seen`,
      ),
      peers: prepare<[], PeerRow>(db, 'SELECT peer_id, urls, source, last_seen FROM peers ORDER BY last_seen DESC LIMIT 256'),
    };
    // What a previous run committed relaxed may still sit in the OS cache only: flush it before anything is shared.
    this.unflushed = true;
    this.flushNow();
  }

  /**
   * The database's `user_version` is the format of the events it holds (EVENT_FORMAT; until the
   * link protocol 3 the two were one number). Signed events of an older, incompatible format cannot be rewritten (they are other authors' signatures), and peers of
   * this format refuse them: they are set aside in `*_v<N>` tables, kept for the record, and the
   * peer starts a new log with the same identity, remembered peers and room keys.
   */
  private setAsideOlderProtocol(): void {
    const version = prepare<[], { user_version: number }>(this.db, 'PRAGMA user_version').get()?.user_version ?? 0;
    if (version === EVENT_FORMAT) return;
    if ((EVENT_FORMATS as readonly number[]).includes(version)) {
      // an older format this peer still reads: its events stay as they are, new ones use the new format
      this.db.exec(`PRAGMA user_version = ${EVENT_FORMAT}`);
      return;
    }
    const hasEventsTable =
      prepare<[], { n: number }>(this.db, "SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name = 'events'").get()!.n > 0;
    transaction(this.db, () => {
      if (hasEventsTable) {
        const old = version || 1; // databases of protocol 1 predate user_version
        this.db.exec(`ALTER TABLE events RENAME TO events_v${old}; ALTER TABLE heads RENAME TO heads_v${old};`);
        this.dropIndexesOf(`events_v${old}`);
        this.setAside = old;
      }
      this.db.exec(`PRAGMA user_version = ${EVENT_FORMAT}`);
    });
  }

  /** The protocol whose events were set aside on this start, if any (see `setAsideOlderProtocol`). */
  setAside?: number;

  /** Our nick in events set aside from protocol `version`, to keep it across the upgrade. */
  nickSetAside(version: number, peerId: string): string | undefined {
    return (
      prepare<[string], { nick: string | null }>(
        this.db,
        `SELECT nick FROM events_v${version} WHERE author = ? AND type = 'profile' ORDER BY seq DESC LIMIT 1`,
      ).get(peerId)?.nick ?? undefined
    );
  }

  /**
   * Brings an events table written by an earlier version up to this schema. Before `id_key`, the
   * id was `TEXT UNIQUE`, an index SQLite cannot drop: the rows are copied once into a new table,
   * whose indexes are then built in one pass (a copy into indexed tables is several times slower).
   */
  private migrate(): void {
    const columns = prepare<[], { name: string }>(this.db, 'PRAGMA table_info(events)')
      .all()
      .map((c) => c.name);
    if (columns.length === 0 || columns.includes('id_key')) return;
    const sealed = columns.includes('sealed') ? 'sealed' : `CASE WHEN type = 'msg' AND json LIKE '%"ct":%' THEN 1 ELSE 0 END`;
    this.db.function('chatty_id_key', { deterministic: true }, (id) => idKey(String(id)));
    const copied = 'author, seq, room, type, depth, ts, status, late, nick, text, reply_to, target, sig_ok';
    transaction(this.db, () => {
      this.db.exec('ALTER TABLE events RENAME TO events_before_id_key');
      this.dropIndexesOf('events_before_id_key');
      this.db.exec(TABLES);
      this.db.exec(`INSERT INTO events (rowid, id, id_key, ${copied}, sealed, json)
        SELECT rowid, id, chatty_id_key(id), ${copied}, ${sealed}, json FROM events_before_id_key;
        DROP TABLE events_before_id_key;`);
    });
  }

  /** A renamed table keeps its indexes and their names, which the new table's indexes need. */
  private dropIndexesOf(table: string): void {
    // `sql IS NULL`: the index of a UNIQUE constraint, which goes only with its table
    const names = prepare<[string], { name: string }>(
      this.db,
      "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL",
    ).all(table);
    for (const { name } of names) this.db.exec(`DROP INDEX "${name}"`);
  }

  transaction<T>(fn: () => T): T {
    return transaction(this.db, fn);
  }

  /**
   * A transaction that survives a crash of this process but not necessarily a power cut (WAL,
   * synchronous=NORMAL): for events received from peers, which hold them too and resend what is
   * missing. With `flushSoon` (our own events) the commit is flushed by the next `durable()`.
   */
  relaxedTransaction<T>(fn: () => T, opts: { flushSoon?: boolean } = {}): T {
    if (opts.flushSoon) this.unflushed = true;
    // inside a caller's transaction the caller's durability applies (SQLite cannot change it there)
    if (this.db.isTransaction) return transaction(this.db, fn);
    this.db.exec('PRAGMA synchronous = NORMAL');
    try {
      return transaction(this.db, fn);
    } finally {
      this.db.exec('PRAGMA synchronous = FULL');
    }
  }

  private bulk = false;

  /**
   * A catch-up commits a thousand events at a time for seconds, and each commit that crosses the
   * automatic threshold copies the log's pages into the database: the same index pages again and
   * again. While it lasts the threshold is ten times larger (a log of about 40 MB at most);
   * once level, the log is checkpointed at once, so live traffic never pays for the backlog.
   */
  catchingUp(on: boolean): void {
    if (on === this.bulk || !this.db.isOpen) return;
    this.bulk = on;
    this.db.exec(`PRAGMA wal_autocheckpoint = ${on ? CHECKPOINT_PAGES.catchUp : CHECKPOINT_PAGES.live}`);
    if (!on) this.db.exec('PRAGMA wal_checkpoint(PASSIVE)');
  }

  /**
   * Resolves once every commit made so far survives a power cut. All the callers of one
   * event-loop turn share one flush: a peer answering many pipelined sends pays one fsync, not one each.
   */
  durable(): Promise<void> {
    if (!this.unflushed) return Promise.resolve();
    this.flushing ??= new Promise((resolve, reject) =>
      setImmediate(() => {
        this.flushing = undefined;
        try {
          this.flushNow();
          resolve();
        } catch (err) {
          reject(err as Error);
        }
      }),
    );
    return this.flushing;
  }

  private flushNow(): void {
    if (!this.unflushed || !this.db.isOpen) return;
    this.unflushed = false;
    // A commit under synchronous=FULL fsyncs the WAL file, and with it every frame the relaxed commits wrote before it.
    // (a value that always changes, so the commit has a frame to write and sync)
    this.transaction(() => this.stmts.setMeta.run('flushed', `${Date.now()}.${++this.flushes}`));
  }

  getMeta(key: string): string | undefined {
    return this.stmts.getMeta.get(key)?.value;
  }

  setMeta(key: string, value: string): void {
    this.stmts.setMeta.run(key, value);
  }

  metaKeysWithPrefix(prefix: string): string[] {
    return this.stmts.metaKeys.all(prefix, `${prefix}\uffff`).map((r) => r.key);
  }

  /** Sealed messages of a room this peer could not read yet (their key may have just arrived). */
  unreadableMessages(room: string): { id: string; json: string }[] {
    return this.stmts.unreadable.all(room);
  }

  /** Inserts an event (as Waiting, unless its verdict is known). Plain columns duplicate the body fields that queries need. */
  insertEvent(
    ev: SignedEvent,
    json: string,
    text: string | null,
    sigChecked: boolean,
    status: EventStatus = EventStatus.Waiting,
    late = false,
  ): void {
    const row: InsertRow = {
      id: ev.id,
      id_key: idKey(ev.id),
      author: ev.author,
      seq: ev.seq,
      room: roomOfEvent(ev),
      type: ev.type,
      depth: ev.depth,
      ts: ev.ts,
      status,
      late: late ? 1 : 0,
      ...bodyColumns(ev),
      text,
      sig_ok: sigChecked ? 1 : 0,
      // what the room rules look at: a redacted message counts as sealed (its content is gone either way)
      sealed: typeof ev.body.ct === 'string' || ev.redacted !== undefined ? 1 : 0,
      json,
    };
    if (status !== EventStatus.Waiting) return this.insertRow(row);
    this.waitingRows.add(row);
    if (this.waitingRows.full) this.writeWaitingRows();
    else this.waitingTimer ??= setTimeout(() => this.writeWaitingRows(), WAITING_ROWS.maxAgeMs).unref();
  }

  private insertRow(row: InsertRow): void {
    this.stmts.insert.run(...INSERT_COLUMNS.map((column) => row[column]));
  }

  /** Events stored as waiting that are not written yet. */
  private readonly waitingRows = new WaitingRows<InsertRow>(WAITING_ROWS);
  private waitingTimer?: NodeJS.Timeout;

  /** Writes the waiting rows that are due (all of them with `all`), and arms the timer for the next. */
  private writeWaitingRows(all = false): void {
    clearTimeout(this.waitingTimer);
    this.waitingTimer = undefined;
    const rows = this.waitingRows.due({ all });
    if (rows.length && this.db.isOpen) this.relaxedTransaction(() => rows.forEach((r) => this.insertRow(r)));
    const next = this.waitingRows.nextDue();
    if (next !== undefined) this.waitingTimer = setTimeout(() => this.writeWaitingRows(), Math.max(0, next - Date.now())).unref();
  }

  /** An event's verdict (and its text, when it was just decrypted). */
  setStatus(id: string, status: EventStatus, late: boolean, text?: string): void {
    if (this.writeWaitingRow(id, { status, late: late ? 1 : 0, ...(text !== undefined ? { text } : {}) })) return;
    this.stmts.setStatus.run(status, late ? 1 : 0, idKey(id), id);
    if (text !== undefined) this.setText(id, text);
  }

  setVerdict(id: string, status: EventStatus): void {
    if (this.writeWaitingRow(id, { status })) return;
    this.stmts.setVerdict.run(status, idKey(id), id);
  }

  /** An event that waited in memory is written now, with its verdict; false if it is not there. */
  private writeWaitingRow(id: string, verdict: Partial<InsertRow>): boolean {
    const row = this.waitingRows.take(id);
    if (row) this.insertRow({ ...row, ...verdict });
    return row !== undefined;
  }

  setText(id: string, text: string): void {
    const row = this.waitingRows.get(id);
    if (row) row.text = text;
    else this.stmts.setText.run(text, idKey(id), id);
  }

  /** An event stored here (one still waiting and not written has no rowid: 0). */
  event(id: string): EventRow | undefined {
    const row = this.waitingRows.get(id);
    return row ? { ...row, rowid: 0 } : this.stmts.byId.get(idKey(id), id);
  }

  eventJson(id: string): string | undefined {
    return this.waitingRows.get(id)?.json ?? this.stmts.jsonById.get(idKey(id), id)?.json;
  }

  /** Replaces an event by its redacted form: its content is gone from this database, not only hidden. */
  erase(id: string, redactedJson: string): void {
    const row = this.waitingRows.get(id);
    if (row) return void Object.assign(row, { json: redactedJson, text: '', sealed: 1 });
    this.stmts.erase.run(redactedJson, idKey(id), id);
    this.scrubSoon();
  }

  private scrubTimer?: NodeJS.Timeout;

  /**
   * The old version of an erased row still sits in the write-ahead log (and in the database file
   * until a checkpoint copies the new one over it): a checkpoint that truncates the log, shortly
   * after a burst of deletes, leaves the text nowhere on disk.
   */
  private scrubSoon(): void {
    if (this.scrubTimer) return;
    this.scrubTimer = setTimeout(() => {
      this.scrubTimer = undefined;
      if (!this.db.isOpen) return;
      this.flushNow();
      this.db.exec('PRAGMA wal_checkpoint(TRUNCATE)');
    }, 500);
    this.scrubTimer.unref();
  }

  /** The edits of a message (any status: a rejected edit holds its text too). */
  editsOf(message: string): { id: string; json: string }[] {
    const waiting = this.waitingRows.rows().filter((r) => r.type === 'edit' && r.target === message);
    return [...this.stmts.editsOf.all(message), ...waiting.map(({ id, json }) => ({ id, json }))];
  }

  /** The accepted delete of a message, if any (the first in the order). */
  deletionOf(message: string): string | undefined {
    return this.stmts.deletionOf.get(message)?.json;
  }

  /** Accepted reactions, edits, deletes and read receipts of these messages, in the order of the log. */
  annotationsOf(messages: readonly string[]): AnnotationRow[] {
    const out: AnnotationRow[] = [];
    // in pages, to stay under SQLite's limit of bound parameters
    for (let i = 0; i < messages.length; i += 500) {
      const page = messages.slice(i, i + 500);
      const sql = `SELECT id, author, type, target, depth, ts, text FROM events WHERE target IN (${page.map(() => '?').join(',')})
        AND ${ANNOTATION} AND type != 'read' AND status = 1 ORDER BY depth, id`;
      out.push(...this.prepared<string[], AnnotationRow>(sql).all(...page));
    }
    // one page comes ordered by SQLite; several are merged into one order
    return messages.length <= 500 ? out : out.sort((a, b) => a.depth - b.depth || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /** The message up to which `author` said it has read a DM conversation (its latest read receipt). */
  lastRead(conversation: string, author: string): string | undefined {
    return this.stmts.lastRead.get(conversation, author)?.target;
  }

  /** The DM conversations `peerId` has messages in (their keys, `@a:b`). */
  dmConversations(peerId: string): string[] {
    return this.prepared<[string, string], { room: string }>(
      `SELECT DISTINCT room FROM events WHERE room >= '@' AND room < 'A' AND ${MESSAGES} AND type = 'dm' AND status = 1
       AND (author = ? OR target = ?)`,
    )
      .all(peerId, peerId)
      .map((r) => r.room);
  }

  /** Readable messages of others after a position of a conversation: what is unread. */
  unreadAfter(room: string, me: string, after: { depth: number; id: string } | null): number {
    const at = after ?? { depth: 0, id: '' };
    return this.stmts.unreadAfter.get(room, me, at.depth, at.depth, at.id)!.n;
  }

  /** The texts of those unread messages (to find the mentions among them). */
  unreadTexts(room: string, me: string, after: { depth: number; id: string } | null): string[] {
    const at = after ?? { depth: 0, id: '' };
    return this.stmts.unreadTexts.all(room, me, at.depth, at.depth, at.id).map((r) => r.text);
  }

  /** Highest seq and its id for every author (logs are stored gapless). */
  vector(): { author: string; seq: number; id: string }[] {
    return this.stmts.vector.all();
  }

  /** Raw JSON of `author`'s events after `seq`, in order: what a peer missing them is sent. */
  eventsAfter(author: string, seq: number, limit: number): { seq: number; json: string; sigOk: boolean }[] {
    const rows = this.stmts.after.all(author, seq, limit);
    // the log's tail may still wait in memory: it continues what is written
    const from = rows.at(-1)?.seq ?? seq;
    if (rows.length < limit) rows.push(...this.waitingRows.after(author, from, limit - rows.length));
    return rows.map((r) => ({ seq: r.seq, json: r.json, sigOk: r.sig_ok === 1 }));
  }

  markSignatureChecked(author: string, seq: number): void {
    const row = this.waitingRows.at(author, seq);
    if (row) row.sig_ok = 1;
    else this.stmts.markSig.run(author, seq);
  }

  /** Events stored and still waiting for a dependency (read on start, when none is in memory). */
  waitingEvents(): string[] {
    return [...this.stmts.waiting.all().map((r) => r.json), ...this.waitingRows.rows().map((r) => r.json)];
  }

  heads(room: string): string[] {
    return this.stmts.heads.all(room).map((r) => r.id);
  }

  /** A room's heads as they are now (written once per transaction, not once per event). */
  setHeads(room: string, heads: Iterable<string>): void {
    this.stmts.clearHeads.run(room);
    for (const id of heads) this.stmts.addHead.run(room, id);
  }

  /** Id and name of every room whose create event was accepted. */
  rooms(): [id: string, name: string][] {
    return this.stmts.rooms.all().map((r) => [r.room, String((JSON.parse(r.json) as SignedEvent).body.name)]);
  }

  stateEvents(room: string): EventRow[] {
    return this.stmts.stateEvents.all(room);
  }

  messagesAfter(room: string, depth: number, id: string): EventRow[] {
    return this.stmts.messagesAfter.all(room, depth, id);
  }

  /** Accepted messages (or DMs) of a room, oldest first: the last `limit` before `before` (an event id). */
  messages(room: string, opts: { limit?: number; before?: { depth: number; id: string } }): EventRow[] {
    // text is null only for what this peer cannot read (sealed for others)
    const where = ['room = ?', 'status = 1', MESSAGES, 'text IS NOT NULL'];
    const args: (string | number)[] = [room];
    if (opts.before) {
      where.push('(depth < ? OR (depth = ? AND id < ?))');
      args.push(opts.before.depth, opts.before.depth, opts.before.id);
    }
    let sql = `SELECT ${ROW_COLUMNS} FROM events WHERE ${where.join(' AND ')} ORDER BY depth DESC, id DESC`;
    if (opts.limit !== undefined) {
      sql += ' LIMIT ?';
      args.push(opts.limit);
    }
    return this.prepared<(string | number)[], EventRow>(sql)
      .all(...args)
      .reverse();
  }

  /**
   * Case-insensitive substring search over accepted message texts and edits, newest first: an
   * edit's hit stands for its message (the caller checks the message's current text still matches).
   */
  search(query: string, rooms: string[], limit: number): EventRow[] {
    if (rooms.length === 0) return [];
    const pattern = `%${query.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
    // numbered parameters (rooms, then the pattern, then the limit): both halves read the same values
    const inRooms = `room IN (${rooms.map((_, i) => `?${i + 1}`).join(',')})`;
    const [like, max] = [`?${rooms.length + 1}`, `?${rooms.length + 2}`];
    const sql = `SELECT ${ROW_COLUMNS} FROM events WHERE status = 1 AND ${MESSAGES} AND ${inRooms} AND text LIKE ${like} ESCAPE '\\'
      UNION ALL
      SELECT ${ROW_COLUMNS} FROM events WHERE status = 1 AND ${OTHERS} AND type = 'edit' AND ${inRooms} AND text LIKE ${like} ESCAPE '\\'
      ORDER BY ts DESC LIMIT ${max}`;
    return this.prepared<(string | number)[], EventRow>(sql).all(...rooms, pattern, limit);
  }

  /**
   * Statements whose SQL depends on the call (an optional clause, the length of an IN list), each
   * prepared once: preparing took half of a first `history` call.
   */
  private readonly statements = new Map<string, Statement<SQLInputValue[], unknown>>();

  private prepared<P extends SQLInputValue[], R>(sql: string): Statement<P, R> {
    let stmt = this.statements.get(sql);
    if (!stmt) {
      this.statements.set(sql, (stmt = prepare<SQLInputValue[], unknown>(this.db, sql)));
      trimOldest(this.statements, 64);
    }
    return stmt as unknown as Statement<P, R>;
  }

  profiles(): EventRow[] {
    return this.stmts.profiles.all();
  }

  rememberPeer(peerId: string, urls: string[], source: string): void {
    this.stmts.upsertPeer.run(peerId, JSON.stringify(urls), source, Date.now());
  }

  rememberedPeers(): { peerId: string; urls: string[]; source: string }[] {
    return this.stmts.peers.all().map((r) => ({ peerId: r.peer_id, urls: JSON.parse(r.urls) as string[], source: r.source }));
  }

  close(): void {
    // a stop keeps what waits in memory (a crash loses it, and the peer fetches it again)
    if (this.db.isOpen) this.writeWaitingRows(true);
    if (this.scrubTimer) {
      clearTimeout(this.scrubTimer);
      this.scrubTimer = undefined;
      if (this.db.isOpen) this.db.exec('PRAGMA wal_checkpoint(TRUNCATE)');
    }
    this.flushNow();
    if (this.db.isOpen) this.db.close();
  }
}
