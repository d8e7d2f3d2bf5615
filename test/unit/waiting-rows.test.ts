/**
 * Events that wait for a causal dependency are kept in memory and written once, with their
 * verdict; until then the store answers for them as if they were written.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { loadIdentity } from '../../src/peer/identity.js';
import { silentLogger } from '../../src/peer/log.js';
import { Replica } from '../../src/peer/replica.js';
import { prepare } from '../../src/peer/sqlite.js';
import { EventStatus, Store, WAITING_ROWS } from '../../src/peer/store.js';
import { WaitingRows } from '../../src/peer/waiting-rows.js';
import { roomIdOf, type SignedEvent } from '../../src/shared/wire.js';

const row = (author: string, seq: number, json = '{}') => ({ id: `${author}${seq}`, author, seq, json });

describe('WaitingRows', () => {
  it('finds rows by id and by position, and hands out an author’s tail in order', () => {
    const rows = new WaitingRows<ReturnType<typeof row>>({ maxRows: 100, maxAgeMs: 1000, maxChars: 1e6 });
    for (const seq of [4, 5, 6]) rows.add(row('a', seq));
    rows.add(row('b', 1));
    expect(rows.get('a5')?.seq).toBe(5);
    expect(rows.at('b', 1)?.id).toBe('b1');
    expect(rows.after('a', 3, 10).map((r) => r.seq)).toEqual([4, 5, 6]);
    expect(rows.after('a', 4, 1).map((r) => r.seq)).toEqual([5]);
    expect(rows.after('a', 6, 10)).toEqual([]);
    expect(rows.take('a4')?.id).toBe('a4');
    expect(rows.get('a4')).toBeUndefined();
    expect(rows.after('a', 3, 10)).toEqual([]); // not a prefix any more: nothing continues seq 3
    expect(rows.size).toBe(3);
  });

  it('gives out what is past its age, or the oldest half past the bound, oldest first', () => {
    const rows = new WaitingRows<ReturnType<typeof row>>({ maxRows: 4, maxAgeMs: 1000, maxChars: 1e6 });
    rows.add(row('a', 1), 0);
    rows.add(row('a', 2), 500);
    rows.add(row('b', 1), 900);
    expect(rows.nextDue()).toBe(1000);
    expect(rows.due({ now: 999 })).toEqual([]);
    expect(rows.due({ now: 1000 }).map((r) => r.id)).toEqual(['a1']);
    expect(rows.nextDue()).toBe(1500);
    for (let seq = 3; seq <= 5; seq++) rows.add(row('a', seq), 1000);
    expect(rows.size).toBe(5);
    expect(rows.due({ now: 1000 }).map((r) => r.id)).toEqual(['a2', 'b1', 'a3']);
    expect(rows.due({ all: true, now: 1000 }).map((r) => r.id)).toEqual(['a4', 'a5']);
    expect(rows.nextDue()).toBeUndefined();
  });

  it('is full past its size in JSON too, and then keeps half of it', () => {
    const rows = new WaitingRows<ReturnType<typeof row>>({ maxRows: 100, maxAgeMs: 1000, maxChars: 100 });
    for (let seq = 1; seq <= 3; seq++) rows.add(row('a', seq, 'x'.repeat(40)), 0);
    expect(rows.full).toBe(true); // 120 characters
    expect(rows.due({ now: 0 }).map((r) => r.id)).toEqual(['a1', 'a2']); // down to 40, at most 50
    expect(rows.full).toBe(false);
    rows.take('a3');
    rows.add(row('a', 4, 'x'.repeat(100)), 0);
    expect(rows.full).toBe(false); // the bound itself is not past it
  });
});

describe('the store, for events that wait', () => {
  const dirs: string[] = [];
  const stores: Store[] = [];
  afterEach(() => {
    vi.useRealTimers();
    for (const s of stores.splice(0)) s.close();
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  function peer() {
    const dir = mkdtempSync(join(tmpdir(), 'chatty-waiting-'));
    dirs.push(dir);
    const store = new Store(dir);
    stores.push(store);
    const identity = loadIdentity(store);
    return { dir, store, identity, replica: new Replica(store, identity, silentLogger) };
  }
  const logOf = (p: ReturnType<typeof peer>) =>
    p.store.eventsAfter(p.identity.peerId, 0, 1000).map((r) => JSON.parse(r.json) as SignedEvent);
  /** A founder's room, and a member's log: its profile, its join and `messages` messages. */
  function scene(messages: number) {
    const founder = peer();
    founder.replica.append('profile', null, { nick: 'alice', dh: founder.identity.dh.publicRaw });
    const room = roomIdOf(founder.replica.append('create', null, { name: 'r', nick: 'alice' }).id);
    const member = peer();
    member.replica.ingest(logOf(founder));
    member.replica.append('profile', null, { nick: 'bob', dh: member.identity.dh.publicRaw });
    member.replica.append('join', room, { nick: 'bob' });
    for (let i = 0; i < messages; i++) member.replica.append('msg', room, { nick: 'bob', text: `m${i}` });
    return { room, founder: logOf(founder), member: logOf(member), memberId: member.identity.peerId };
  }
  /** The member's rows written at a reader (seq and status). */
  const written = (store: Store, author: string) =>
    prepare<[string], { seq: number; status: number }>(store.db, 'SELECT seq, status FROM events WHERE author = ? ORDER BY seq').all(
      author,
    );

  it('answers for them before they are written, and writes each once, with its verdict', () => {
    const { room, founder, member, memberId } = scene(2);
    const reader = peer();
    // the member's join and messages arrive before the room's create: they wait for it
    reader.replica.ingest(member);
    expect(reader.replica.waitingCount()).toBe(3);
    expect(written(reader.store, memberId).map((r) => r.seq)).toEqual([1]); // only the profile
    expect(reader.store.event(member[2]!.id)).toMatchObject({ seq: 3, status: EventStatus.Waiting, rowid: 0 });
    expect(reader.store.eventJson(member[2]!.id)).toBe(JSON.stringify(member[2]));
    // a neighbour asking for the member's log gets the tail that waits, after the written prefix
    expect(reader.store.eventsAfter(memberId, 0, 10).map((r) => r.seq)).toEqual([1, 2, 3, 4]);
    expect(reader.store.eventsAfter(memberId, 2, 1).map((r) => r.seq)).toEqual([3]);
    reader.replica.ingest(founder);
    expect(reader.replica.waitingCount()).toBe(0);
    expect(written(reader.store, memberId)).toEqual([1, 2, 3, 4].map((seq) => ({ seq, status: EventStatus.Accepted })));
    expect(reader.store.messages(room, {}).map((m) => m.text)).toEqual(['m0', 'm1']);
  });

  it('writes them as waiting once they are old, and on close; the next start takes them up', () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const { founder, member, memberId } = scene(1);
    const reader = peer();
    reader.replica.ingest(member);
    expect(written(reader.store, memberId)).toHaveLength(1);
    vi.advanceTimersByTime(WAITING_ROWS.maxAgeMs);
    expect(written(reader.store, memberId)).toEqual([
      { seq: 1, status: EventStatus.Accepted },
      { seq: 2, status: EventStatus.Waiting },
      { seq: 3, status: EventStatus.Waiting },
    ]);
    // written as waiting, they are updated in place when their dependency comes
    reader.replica.ingest(founder);
    expect(written(reader.store, memberId).map((r) => r.status)).toEqual([1, 1, 1]);

    const other = peer();
    other.replica.ingest(member);
    other.store.close();
    const again = new Store(other.dir);
    expect(again.waitingEvents()).toHaveLength(2);
    const replica = new Replica(again, loadIdentity(again), silentLogger);
    expect(replica.waitingCount()).toBe(2);
    again.close();
  });
});
