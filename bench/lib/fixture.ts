/**
 * Data directories written in-process through the peer's own Replica: every
 * event is made, signed, hash-chained, stored and causally ordered exactly as
 * a peer makes it, but without network, stdio or a commit per message, so a
 * 100,000-message history takes seconds instead of minutes.
 *
 * Authors write in bursts of 1–4 messages (every 7th message long); every
 * `syncEvery` messages each author's new events are ingested by every other
 * online author, as a sync round would (one signature per author run), so
 * messages written between two rounds are concurrent, like peers typing at
 * once. `offline` authors take part in the setup (profiles, joins) and then
 * receive nothing. With `markers`, the first author finally writes one message
 * per room after the last round: its causal past is the whole room, so it is
 * the room's last message in history order everywhere, and a peer that
 * delivered it holds the whole room.
 */
import { roomIdOf, type SignedEvent } from '../../src/shared/wire.js';
import { loadIdentity, type Identity } from '../../src/peer/identity.js';
import { silentLogger } from '../../src/peer/log.js';
import { Replica } from '../../src/peer/replica.js';
import { Store } from '../../src/peer/store.js';
import type { TempDirs } from './util.js';

interface Author {
  nick: string;
  dir: string;
  store: Store;
  identity: Identity;
  replica: Replica;
  online: boolean;
  outbox: SignedEvent[];
}

export interface FixtureSpec {
  /** Author nicks (each gets its own data dir); the first creates the rooms. */
  authors: string[];
  /** Nicks (among `authors`) that go offline after the setup and write nothing. */
  offline?: string[];
  /** Rooms and how many messages each gets (interleaved in proportion). */
  rooms: { name: string; count: number }[];
  syncEvery?: number;
  markers?: boolean;
  markerText?: string;
}

export interface Fixture {
  dirs: Map<string, string>;
  peerIds: Map<string, string>;
  /** Room id by name. */
  roomIds: Map<string, string>;
  messages: number;
  /** Marker message id per room (with `markers`). */
  markers: Map<string, string>;
}

export function makeFixture(tmp: TempDirs, spec: FixtureSpec): Fixture {
  const authors: Author[] = spec.authors.map((nick) => {
    const dir = tmp.make(`chatty-bench-fx-${nick}-`);
    const store = new Store(dir);
    const identity = loadIdentity(store);
    return { nick, dir, store, identity, replica: new Replica(store, identity, silentLogger), online: true, outbox: [] };
  });
  const writers = () => authors.filter((a) => a.online);
  const append = (a: Author, ...args: Parameters<Replica['append']>) => {
    const ev = a.replica.append(...args);
    a.outbox.push(ev);
    return ev;
  };
  /** One sync round: everything new goes to every online author (offline ones are left out). */
  const sync = () => {
    const news = authors.flatMap((a) => a.outbox.splice(0));
    if (!news.length) return;
    for (const a of writers()) {
      const res = a.replica.ingest(news.filter((e) => e.author !== a.identity.peerId));
      if (res.error) throw new Error(`fixture sync: ${res.error.message}`);
    }
  };
  const begin = () => authors.forEach((a) => a.store.db.exec('BEGIN'));
  const commit = () => authors.forEach((a) => a.store.db.exec('COMMIT'));
  let seed = 12345;
  const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const markers = new Map<string, string>();
  let messages = 0;
  try {
    begin();
    for (const a of authors) append(a, 'profile', null, { nick: a.nick, dh: a.identity.dh.publicRaw });
    sync();
    // rooms are their create events: ids by name
    const ids = new Map(
      spec.rooms.map((r) => [r.name, roomIdOf(append(authors[0]!, 'create', null, { name: r.name, nick: authors[0]!.nick }).id)]),
    );
    const idOf = (name: string) => ids.get(name)!;
    sync();
    for (const a of authors.slice(1)) for (const r of spec.rooms) append(a, 'join', idOf(r.name), { nick: a.nick });
    sync();
    for (const a of authors) a.online = !(spec.offline ?? []).includes(a.nick);

    const total = spec.rooms.reduce((s, r) => s + r.count, 0);
    const written = spec.rooms.map(() => 0);
    const syncEvery = spec.syncEvery ?? 1000;
    const online = writers();
    let sinceSync = 0;
    let syncs = 0;
    while (messages < total) {
      const a = online[Math.floor(rand() * online.length)]!;
      const burst = 1 + Math.floor(rand() * 4);
      for (let j = 0; j < burst && messages < total; j++) {
        // The room furthest behind its share gets the next message.
        let ri = 0;
        for (let k = 1; k < spec.rooms.length; k++) if (written[k]! / spec.rooms[k]!.count < written[ri]! / spec.rooms[ri]!.count) ri = k;
        const i = written[ri]!++;
        const room = spec.rooms[ri]!.name;
        const long = i % 7 === 0 ? ` ${'lorem ipsum dolor sit amet '.repeat(12)}` : '';
        append(a, 'msg', idOf(room), { nick: a.nick, text: `${room} message ${i}${long}` });
        messages++;
        sinceSync++;
      }
      if (sinceSync >= syncEvery) {
        sync();
        sinceSync = 0;
        if (++syncs % 10 === 0) {
          commit();
          begin();
        }
      }
    }
    sync();
    if (spec.markers) {
      for (const r of spec.rooms)
        markers.set(r.name, append(authors[0]!, 'msg', idOf(r.name), { nick: authors[0]!.nick, text: spec.markerText ?? 'marker' }).id);
      sync();
    }
    commit();
    return {
      dirs: new Map(authors.map((a) => [a.nick, a.dir])),
      peerIds: new Map(authors.map((a) => [a.nick, a.identity.peerId])),
      roomIds: ids,
      messages,
      markers,
    };
  } finally {
    for (const a of authors) {
      if (a.store.db.isTransaction) a.store.db.exec('ROLLBACK');
      a.store.close();
    }
  }
}
