/**
 * The storage binding: Node's built-in `node:sqlite`, with the transactions the store builds on it.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openDatabase, prepare, transaction } from '../../src/peer/sqlite.js';
import { Store } from '../../src/peer/store.js';

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

describe('a database of the older protocol', () => {
  it('is set aside on start, keeping identity, remembered peers, room keys and our nick', () => {
    const dir = tempDir();
    const old = new Store(dir);
    old.setMeta('identity.ed25519', 'secret');
    old.setMeta('roomkey|general|AAAAAAAAAAAAAAAA', 'key');
    old.rememberPeer('peer-1', ['ws://10.0.0.2:7447'], 'mdns');
    // protocol 1 named rooms by name; its databases had no user_version
    old.db.exec(`INSERT INTO events (id, author, seq, room, type, depth, ts, nick, json)
      VALUES ('e1', 'me', 1, NULL, 'profile', 1, 0, 'alice', '{}'), ('e2', 'me', 2, 'general', 'join', 1, 0, 'alice', '{}');
      INSERT INTO heads (room, id) VALUES ('general', 'e2'); PRAGMA user_version = 0;`);
    old.close();

    const store = new Store(dir);
    expect(store.setAside).toBe(1);
    expect(store.vector()).toEqual([]);
    expect(store.rooms()).toEqual([]);
    expect(store.nickSetAside(1, 'me')).toBe('alice');
    expect(prepare<[], { n: number }>(store.db, 'SELECT COUNT(*) AS n FROM events_v1').get()?.n).toBe(2);
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
