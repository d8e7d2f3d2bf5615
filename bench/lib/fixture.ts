/**
 * A data directory for the UI scenario, written in-process through the peer's
 * own Replica (so every event is signed, hash-chained and causally ordered
 * exactly as the peer would make it) but without network or per-message
 * commits: three authors, a room `big` of `bigCount` messages and a room
 * `small`, authors writing in bursts of 1–4 messages, every 7th message long.
 * The first author's directory is the fixture; the UI's peer runs on a copy.
 */
import type { SignedEvent } from '../../src/shared/wire.js';
import { loadIdentity, type Identity } from '../../src/peer/identity.js';
import { silentLogger } from '../../src/peer/log.js';
import { Replica } from '../../src/peer/replica.js';
import { Store } from '../../src/peer/store.js';
import type { TempDirs } from './util.js';

interface Author {
  nick: string;
  store: Store;
  identity: Identity;
  replica: Replica;
}

export interface UiFixture {
  dir: string;
  peerId: string;
  big: string;
  small: string;
  bigCount: number;
  smallCount: number;
}

export function makeUiFixture(tmp: TempDirs, bigCount: number, smallCount = 500): UiFixture {
  const authors: Author[] = ['reader', 'alice', 'bob'].map((nick) => {
    const store = new Store(tmp.make(`chatty-bench-ui-${nick}-`));
    const identity = loadIdentity(store);
    return { nick, store, identity, replica: new Replica(store, identity, silentLogger) };
  });
  const begin = () => authors.forEach((a) => a.store.db.exec('BEGIN'));
  const commit = () => authors.forEach((a) => a.store.db.exec('COMMIT'));
  const ship = (from: Author, events: SignedEvent[]) => {
    for (const a of authors) if (a !== from) a.replica.ingest(events);
  };
  let seed = 12345;
  const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  try {
    begin();
    for (const a of authors) ship(a, [a.replica.append('profile', null, { nick: a.nick, dh: a.identity.dh.publicRaw })]);
    for (const a of authors)
      ship(a, [a.replica.append('join', 'big', { nick: a.nick }), a.replica.append('join', 'small', { nick: a.nick })]);
    const write = (room: string, count: number) => {
      let i = 0;
      while (i < count) {
        const a = authors[Math.floor(rand() * authors.length)]!;
        const burst = Math.min(count - i, 1 + Math.floor(rand() * 4));
        const events: SignedEvent[] = [];
        for (let j = 0; j < burst; j++, i++) {
          const long = i % 7 === 0 ? ` ${'lorem ipsum dolor sit amet '.repeat(12)}` : '';
          events.push(a.replica.append('msg', room, { nick: a.nick, text: `${room} message ${i}${long}` }));
        }
        ship(a, events);
        if (i % 5000 < burst) {
          commit();
          begin();
        }
      }
    };
    write('small', smallCount);
    write('big', bigCount);
    commit();
    return {
      dir: authors[0]!.store.db.name.replace(/\/chatty\.db$/, ''),
      peerId: authors[0]!.identity.peerId,
      big: 'big',
      small: 'small',
      bigCount,
      smallCount,
    };
  } finally {
    for (const a of authors) {
      if (a.store.db.inTransaction) a.store.db.exec('ROLLBACK');
      a.store.close();
    }
  }
}
