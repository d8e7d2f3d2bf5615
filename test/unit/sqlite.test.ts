/**
 * The storage binding: Node's built-in `node:sqlite`, with the transactions the store builds on it.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadIdentity } from '../../src/peer/identity.js';
import { silentLogger } from '../../src/peer/log.js';
import { Replica } from '../../src/peer/replica.js';
import { openDatabase, prepare, transaction } from '../../src/peer/sqlite.js';
import { CHECKPOINT_PAGES, Store } from '../../src/peer/store.js';
import { roomIdOf } from '../../src/shared/wire.js';

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'chatty-sqlite-'));
  dirs.push(dir);
  return dir;
}
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function table() {
  const db = openDatabase(join(tempDir(), 't.db'));
  db.exec('CREATE TABLE t (v INTEGER)');
  const insert = prepare<[number]>(db, 'INSERT INTO t (v) VALUES (?)');
  const values = () =>
    prepare<[], { v: number }>(db, 'SELECT v FROM t ORDER BY v')
      .all()
      .map((r) => r.v);
  return { db, insert, values };
}

describe('transactions on node:sqlite', () => {
  it('commits what the function wrote and returns its result', () => {
    const { db, insert, values } = table();
    expect(transaction(db, () => (insert.run(1), insert.run(2), 'done'))).toBe('done');
    expect(db.isTransaction).toBe(false);
    expect(values()).toEqual([1, 2]);
  });

  it('rolls everything back when the function throws', () => {
    const { db, insert, values } = table();
    expect(() =>
      transaction(db, () => {
        insert.run(1);
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(db.isTransaction).toBe(false);
    expect(values()).toEqual([]);
  });

  it('nests as a savepoint: an inner failure undoes only the inner work', () => {
    const { db, insert, values } = table();
    transaction(db, () => {
      insert.run(1);
      expect(() =>
        transaction(db, () => {
          insert.run(2);
          throw new Error('inner');
        }),
      ).toThrow('inner');
      transaction(db, () => insert.run(3));
    });
    expect(values()).toEqual([1, 3]);
  });
});

describe('Store on node:sqlite', () => {
  it('keeps what was committed across a reopen, in WAL mode with full sync', () => {
    const dir = tempDir();
    const store = new Store(dir);
    expect(prepare<[], { journal_mode: string }>(store.db, 'PRAGMA journal_mode').get()?.journal_mode).toBe('wal');
    expect(prepare<[], { synchronous: number }>(store.db, 'PRAGMA synchronous').get()?.synchronous).toBe(2); // FULL
    store.relaxedTransaction(() => store.setMeta('a', '1'), { flushSoon: true });
    // a relaxed transaction leaves the connection at full sync for everything else
    expect(prepare<[], { synchronous: number }>(store.db, 'PRAGMA synchronous').get()?.synchronous).toBe(2);
    store.close();
    const again = new Store(dir);
    expect(again.getMeta('a')).toBe('1');
    again.close();
  });

  it('loads without the experimental-feature warning, and lets other warnings through', () => {
    const storeModule = resolve(import.meta.dirname, '../../src/peer/store.ts');
    const script = `
      const { Store } = await import(${JSON.stringify(storeModule)});
      new Store(${JSON.stringify(tempDir())}).close();
      process.emitWarning('still shown', 'ExperimentalWarning');`;
    const run = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(run.status).toBe(0);
    expect(run.stderr).not.toMatch(/SQLite is an experimental feature/);
    expect(run.stderr).toMatch(/ExperimentalWarning: still shown/);
  });
});

describe('checkpoints during a catch-up', () => {
  /** Writes about `pages` pages of the write-ahead log in commits of 100 pages; returns the log's size in pages. */
  function writePages(store: Store, pages: number): number {
    const insert = prepare<[string]>(store.db, 'INSERT INTO filler (v) VALUES (?)');
    for (let i = 0; i < pages / 100; i++) store.relaxedTransaction(() => Array.from({ length: 100 }, () => insert.run('x'.repeat(4000))));
    return statSync(join(store.dataDir, 'chatty.db-wal')).size / 4096;
  }

  it('lets the log grow while catching up, and checkpoints it all once level', () => {
    const live = new Store(tempDir());
    live.db.exec('CREATE TABLE filler (v TEXT)');
    // live: the default threshold, so the log restarts after about 1,000 pages
    expect(writePages(live, 3000)).toBeLessThan(1500);
    live.close();

    const store = new Store(tempDir());
    store.db.exec('CREATE TABLE filler (v TEXT)');
    store.catchingUp(true);
    expect(prepare<[], { wal_autocheckpoint: number }>(store.db, 'PRAGMA wal_autocheckpoint').get()?.wal_autocheckpoint).toBe(
      CHECKPOINT_PAGES.catchUp,
    );
    expect(writePages(store, 3000)).toBeGreaterThan(2900);
    expect(statSync(join(store.dataDir, 'chatty.db')).size / 4096).toBeLessThan(100);
    store.catchingUp(false);
    expect(prepare<[], { wal_autocheckpoint: number }>(store.db, 'PRAGMA wal_autocheckpoint').get()?.wal_autocheckpoint).toBe(
      CHECKPOINT_PAGES.live,
    );
    // what the log held is in the database file now
    expect(statSync(join(store.dataDir, 'chatty.db')).size / 4096).toBeGreaterThan(2900);
    store.close();
  });
});

describe('a database of the older protocol', () => {
  it('is set aside on start, keeping identity, remembered peers, room keys and our nick', () => {
    const dir = tempDir();
    const old = new Store(dir);
    old.setMeta('identity.ed25519', 'secret');
    old.setMeta('roomkey|general|AAAAAAAAAAAAAAAA', 'key');
    old.rememberPeer('peer-1', ['ws://10.0.0.2:7447'], 'mdns');
    // protocol 1 named rooms by name; its databases had no user_version
    old.db.exec(`INSERT INTO events (id, id_key, author, seq, room, type, depth, ts, nick, json)
      VALUES ('e1', 1, 'me', 1, NULL, 'profile', 1, 0, 'alice', '{}'), ('e2', 2, 'me', 2, 'general', 'join', 1, 0, 'alice', '{}');
      INSERT INTO heads (room, id) VALUES ('general', 'e2'); PRAGMA user_version = 0;`);
    old.close();

    const store = new Store(dir);
    expect(store.setAside).toBe(1);
    expect(store.vector()).toEqual([]);
    expect(store.rooms()).toEqual([]);
    expect(store.nickSetAside(1, 'me')).toBe('alice');
    expect(prepare<[], { n: number }>(store.db, 'SELECT COUNT(*) AS n FROM events_v1').get()?.n).toBe(2);
    // the set-aside table's indexes went with it: the new table has its own
    expect(
      prepare<[], { name: string }>(store.db, 'PRAGMA index_list(events)')
        .all()
        .map((i) => i.name),
    ).toContain('events_messages');
    expect(store.getMeta('identity.ed25519')).toBe('secret');
    expect(store.getMeta('roomkey|general|AAAAAAAAAAAAAAAA')).toBe('key');
    expect(store.rememberedPeers().map((p) => p.peerId)).toEqual(['peer-1']);
    store.close();

    // only once: the next start finds a database of this protocol
    const again = new Store(dir);
    expect(again.setAside).toBeUndefined();
    again.close();
  });
});

describe('a database from before the id key', () => {
  /** The events table as versions before `id_key` wrote it: the id itself was the indexed, unique column. */
  const EVENTS_BEFORE_ID_KEY = `CREATE TABLE events (
    rowid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, author TEXT NOT NULL, seq INTEGER NOT NULL, room TEXT,
    type TEXT NOT NULL, depth INTEGER NOT NULL, ts INTEGER NOT NULL, status INTEGER NOT NULL DEFAULT 0,
    late INTEGER NOT NULL DEFAULT 0, nick TEXT, text TEXT, reply_to TEXT, target TEXT,
    sig_ok INTEGER NOT NULL DEFAULT 1, sealed INTEGER NOT NULL DEFAULT 0, json TEXT NOT NULL, UNIQUE (author, seq));
    CREATE INDEX events_room_order ON events (room, depth, id);
    CREATE INDEX events_messages ON events (room, depth, id) WHERE type IN ('msg', 'dm');`;

  it('is copied into the new table once: every event found by id, history and logs unchanged', () => {
    const dir = tempDir();
    const before = new Store(dir);
    const identity = loadIdentity(before);
    const replica = new Replica(before, identity, silentLogger);
    replica.append('profile', null, { nick: 'alice', dh: identity.dh.publicRaw });
    const room = roomIdOf(replica.append('create', null, { name: 'general', nick: 'alice' }).id);
    const sent = Array.from({ length: 30 }, (_, i) => replica.append('msg', room, { nick: 'alice', text: `m${i}` }));
    const history = before.messages(room, {}).map((m) => [m.rowid, m.id, m.text, m.status]);
    // the same rows in the earlier layout
    before.db.exec(`ALTER TABLE events RENAME TO events_now; DROP INDEX events_id; DROP INDEX events_room_others;
      DROP INDEX events_waiting; DROP INDEX events_creates; DROP INDEX events_annotations; DROP INDEX events_messages;
      DROP INDEX events_state; DROP INDEX events_profiles; ${EVENTS_BEFORE_ID_KEY}
      INSERT INTO events SELECT rowid, id, author, seq, room, type, depth, ts, status, late, nick, text, reply_to,
        target, sig_ok, sealed, json FROM events_now; DROP TABLE events_now;`);
    before.close();

    const store = new Store(dir);
    const columns = prepare<[], { name: string }>(store.db, 'PRAGMA table_info(events)')
      .all()
      .map((c) => c.name);
    expect(columns).toContain('id_key');
    // no index on the id text is left to maintain; the key's index and the room indexes are there
    const indexes = prepare<[], { name: string; unique: number }>(store.db, 'PRAGMA index_list(events)').all();
    expect(indexes.filter((i) => i.unique).map((i) => i.name)).toHaveLength(1); // (author, seq)
    expect(indexes.map((i) => i.name)).toEqual(expect.arrayContaining(['events_id', 'events_room_others', 'events_messages']));
    // the room index of every event (a message was in two) is gone: each event is in one room index
    expect(indexes.map((i) => i.name)).not.toContain('events_room_order');
    expect(store.messages(room, {}).map((m) => [m.rowid, m.id, m.text, m.status])).toEqual(history);
    for (const ev of sent) expect(store.event(ev.id)?.seq).toBe(ev.seq);
    expect(store.event(sent[0]!.id.replace(/.$/, (c) => (c === 'A' ? 'B' : 'A')))).toBeUndefined();
    expect(store.vector()).toEqual([{ author: identity.peerId, seq: 32, id: sent.at(-1)!.id }]);
    // the log goes on where it was
    const next = new Replica(store, loadIdentity(store), silentLogger).append('msg', room, { nick: 'alice', text: 'after' });
    expect(store.event(next.id)?.seq).toBe(33);
    store.close();

    const again = new Store(dir);
    expect(again.messages(room, {})).toHaveLength(31);
    again.close();
  });
});
