import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadIdentity } from '../../src/peer/identity.js';
import { silentLogger } from '../../src/peer/log.js';
import { Replica, type Delivery } from '../../src/peer/replica.js';
import { EventStatus, Store } from '../../src/peer/store.js';
import { generateKeyPair } from '../../src/peer/crypto.js';
import { redact } from '../../src/peer/events.js';
import { roomIdOf, type SignedEvent } from '../../src/shared/wire.js';

const dirs: string[] = [];
const stores: Store[] = [];
afterEach(() => {
  for (const s of stores.splice(0)) s.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function makeReplica(dir?: string) {
  dir ??= mkdtempSync(join(tmpdir(), 'chatty-replica-'));
  dirs.push(dir);
  const store = new Store(dir);
  stores.push(store);
  const identity = loadIdentity(store);
  const replica = new Replica(store, identity, silentLogger);
  const delivered: Delivery[] = [];
  replica.on('delivered', (d) => delivered.push(d));
  const profile = () => replica.append('profile', null, { nick: identity.peerId.slice(0, 5), dh: identity.dh.publicRaw });
  /** Founds a room; returns its id. */
  const create = (name: string, nick: string, extra: Record<string, unknown> = {}) =>
    roomIdOf(replica.append('create', null, { name, nick, ...extra }).id);
  return { dir, store, replica, delivered, id: identity.peerId, profile, create };
}

/** Everything `from` holds that `to` lacks, as the network would carry it (JSON round trip). */
function missing(from: ReturnType<typeof makeReplica>, to: ReturnType<typeof makeReplica>): unknown[] {
  const out: unknown[] = [];
  for (const [author, seq] of Object.entries(from.replica.vector())) {
    for (const row of from.store.eventsAfter(author, to.replica.seqOf(author), 10_000)) {
      if (row.seq <= seq) out.push(JSON.parse(row.json));
    }
  }
  return out;
}

function historyIds(r: ReturnType<typeof makeReplica>, room: string): string[] {
  return r.store.messages(room, {}).map((m) => m.id);
}

describe('replica', () => {
  it('delivers a room in causal order whatever order events arrive in', () => {
    const a = makeReplica();
    const b = makeReplica();
    a.profile();
    b.profile();
    const general = a.create('general', 'a');
    const q = a.replica.append('msg', general, { nick: 'a', text: 'question?' });
    b.replica.ingest(missing(a, b));
    b.replica.append('join', general, { nick: 'b' });
    const answer = b.replica.append('msg', general, { nick: 'b', text: 'answer', replyTo: q.id });
    expect(answer.deps).toContain(b.store.heads(general).length ? answer.deps[0] : '');
    const c = makeReplica();
    // c receives b's log (with the answer) before a's: the answer must wait for the question.
    const fromB = missing(b, c).filter((e) => (e as SignedEvent).author === b.id);
    const fromA = missing(a, c);
    c.replica.ingest(fromB);
    expect(c.delivered.filter((d) => d.event.type === 'msg')).toHaveLength(0);
    expect(c.replica.waitingCount()).toBeGreaterThan(0);
    c.replica.ingest(fromA);
    expect(c.replica.waitingCount()).toBe(0);
    const msgs = c.delivered.filter((d) => d.event.type === 'msg').map((d) => d.event.body.text);
    expect(msgs).toEqual(['question?', 'answer']);
    expect(historyIds(c, general)).toEqual(historyIds(b, general));
  });

  it('converges on one order after concurrent writes and marks late arrivals', () => {
    const a = makeReplica();
    const b = makeReplica();
    a.profile();
    const r = a.create('r', 'a');
    b.replica.ingest(missing(a, b));
    b.profile();
    b.replica.append('join', r, { nick: 'b' });
    a.replica.ingest(missing(b, a));
    // partition: both write concurrently
    for (let i = 0; i < 5; i++) {
      a.replica.append('msg', r, { nick: 'a', text: `a${i}` });
      b.replica.append('msg', r, { nick: 'b', text: `b${i}` });
    }
    a.replica.ingest(missing(b, a));
    b.replica.ingest(missing(a, b));
    expect(historyIds(a, r)).toHaveLength(10);
    expect(historyIds(a, r)).toEqual(historyIds(b, r));
    expect(a.delivered.some((d) => d.late) || b.delivered.some((d) => d.late)).toBe(true);
    // heal: a new message depends on both branches
    const m = a.replica.append('msg', r, { nick: 'a', text: 'merged' });
    expect(m.deps.length).toBe(2);
  });

  it('rejects messages of a banned member on every peer, also when the ban arrives late', () => {
    const owner = makeReplica();
    const bad = makeReplica();
    owner.profile();
    bad.profile();
    const r = owner.create('r', 'owner');
    bad.replica.ingest(missing(owner, bad));
    bad.replica.append('join', r, { nick: 'bad' });
    owner.replica.ingest(missing(bad, owner));
    expect(owner.replica.roomState(r).roles.get(owner.id)).toBe('owner');
    owner.replica.append('ban', r, { target: bad.id });
    // bad has not seen the ban and keeps writing; its messages are concurrent with the ban
    bad.replica.append('msg', r, { nick: 'bad', text: 'spam' });
    owner.replica.ingest(missing(bad, owner));
    bad.replica.ingest(missing(owner, bad));
    expect(historyIds(owner, r)).toEqual(historyIds(bad, r));
    expect(owner.replica.roomState(r).banned.has(bad.id)).toBe(true);
    expect(bad.replica.roomState(r).banned.has(bad.id)).toBe(true);
    // a message sent after seeing the ban is rejected everywhere
    bad.replica.append('msg', r, { nick: 'bad', text: 'after ban' });
    owner.replica.ingest(missing(bad, owner));
    expect(owner.store.messages(r, {}).map((m) => m.text)).not.toContain('after ban');
    expect(bad.store.messages(r, {}).map((m) => m.text)).not.toContain('after ban');
  });

  it('refuses forged, tampered and out-of-chain events with a specific reason', () => {
    const a = makeReplica();
    const b = makeReplica();
    a.profile();
    const ev = a.replica.append('create', null, { name: 'r', nick: 'a' });
    const tampered = { ...ev, body: { ...ev.body, nick: 'mallory' } };
    expect(b.replica.ingest([missing(a, b)[0], tampered]).error?.reason).toBe('bad_id');
    const other = generateKeyPair('ed25519');
    const forged = { ...ev, sig: ev.sig.replace(/^../, ev.sig.startsWith('AA') ? 'BB' : 'AA') };
    const c = makeReplica();
    c.replica.ingest([missing(a, c)[0]]);
    expect(c.replica.ingest([forged]).error?.reason).toBe('bad_signature');
    expect(c.replica.ingest([{ hello: 1 }]).error?.reason).toBe('malformed');
    expect(other.publicRaw).toHaveLength(43);
    expect(c.replica.seqOf(a.id)).toBe(1);
  });

  it('keeps everything, including undelivered events, across a restart', () => {
    const a = makeReplica();
    a.profile();
    const r = a.create('r', 'a');
    a.replica.append('msg', r, { nick: 'a', text: 'hello' });
    const b = makeReplica();
    const events = missing(a, b);
    b.replica.ingest(events.slice(1)); // seq gap: nothing stored
    expect(b.replica.seqOf(a.id)).toBe(0);
    b.replica.ingest(events);
    const dir = b.dir;
    b.store.close();
    const again = makeReplica(dir);
    expect(again.replica.seqOf(a.id)).toBe(3);
    expect(again.store.messages(r, {}).map((m) => m.text)).toEqual(['hello']);
  });

  it('makes a second creation of the same name another room, which never changes the first', () => {
    const owner = makeReplica();
    const mallory = makeReplica();
    owner.profile();
    mallory.profile();
    const r = owner.create('r', 'owner');
    owner.replica.append('msg', r, { nick: 'owner', text: 'mine' });
    // mallory has not synced the room and creates its own (it could grind the id: ids decide nothing)
    const other = mallory.create('r', 'mallory');
    owner.replica.ingest(missing(mallory, owner));
    mallory.replica.ingest(missing(owner, mallory));
    expect(other).not.toBe(r);
    for (const x of [owner, mallory]) {
      expect(x.replica.roomIds().sort()).toEqual([r, other].sort());
      const first = x.replica.roomState(r);
      expect([first.name, first.creator, first.roles.get(owner.id)]).toEqual(['r', owner.id, 'owner']);
      expect([...first.members.keys()]).toEqual([owner.id]);
      const second = x.replica.roomState(other);
      expect([second.name, second.creator, second.roles.get(mallory.id)]).toEqual(['r', mallory.id, 'owner']);
      expect(x.store.messages(r, {}).map((m) => m.text)).toEqual(['mine']);
    }
  });

  it('keeps later messages when a concurrent join arrives late', () => {
    const alice = makeReplica();
    const bob = makeReplica();
    alice.profile();
    bob.profile();
    const r = alice.create('r', 'alice');
    bob.replica.ingest(missing(alice, bob));
    bob.replica.append('join', r, { nick: 'bob' }); // concurrent with alice's messages below
    for (let i = 0; i < 3; i++) alice.replica.append('msg', r, { nick: 'alice', text: `m${i}` });
    alice.replica.ingest(missing(bob, alice));
    bob.replica.ingest(missing(alice, bob));
    const texts = (x: ReturnType<typeof makeReplica>) => x.store.messages(r, {}).map((m) => m.text);
    expect(texts(alice)).toEqual(['m0', 'm1', 'm2']);
    expect(texts(bob)).toEqual(texts(alice));
  });

  it('orders a new message after everything, even after a flood of refused events', () => {
    const alice = makeReplica();
    const junk = makeReplica();
    alice.profile();
    junk.profile();
    const r = alice.create('r', 'alice');
    junk.replica.ingest(missing(alice, junk));
    // 40 messages from a non-member, all refused by the room's rules
    for (let i = 0; i < 40; i++) junk.replica.append('msg', r, { nick: 'junk', text: `junk ${i}` });
    alice.replica.ingest(missing(junk, alice));
    for (let i = 0; i < 5; i++) alice.replica.append('msg', r, { nick: 'alice', text: `real ${i}` });
    const last = alice.replica.append('msg', r, { nick: 'alice', text: 'latest' });
    expect(last.deps.length).toBeLessThanOrEqual(32);
    const all = alice.store.messages(r, {}).map((m) => m.text);
    expect(all[all.length - 1]).toBe('latest');
    expect(all.filter((t) => t?.startsWith('junk'))).toEqual([]);
  });

  it('refuses a root-less event in an existing room as malformed, for good, and the creator stays owner', () => {
    const owner = makeReplica();
    const mallory = makeReplica();
    owner.profile();
    mallory.profile();
    const r = owner.create('r', 'owner');
    owner.replica.append('msg', r, { nick: 'owner', text: 'hello' });
    // without the room's events, mallory's join has no deps: a claim to start the room's history
    const claim = mallory.replica.append('join', r, { nick: 'mallory' });
    expect(claim.deps).toEqual([]);
    owner.replica.ingest(missing(mallory, owner));
    const verdict = owner.delivered.find((d) => d.event.id === claim.id);
    expect(verdict).toMatchObject({ accepted: false, reason: 'malformed' });
    const state = owner.replica.roomState(r);
    expect(state.members.has(mallory.id)).toBe(false);
    expect(state.roles.get(owner.id)).toBe('owner');
    expect(owner.store.messages(r, {}).map((m) => m.text)).toEqual(['hello']);
    // restart: the same verdicts from storage
    const dir = owner.dir;
    owner.store.close();
    const again = makeReplica(dir);
    expect(again.replica.roomState(r).members.has(mallory.id)).toBe(false);
    expect(again.replica.roomState(r).creator).toBe(owner.id);
  });

  it('keeps the creator owner: no co-owner can demote, kick or ban them', () => {
    const creator = makeReplica();
    const co = makeReplica();
    creator.profile();
    co.profile();
    const r = creator.create('r', 'creator');
    co.replica.ingest(missing(creator, co));
    co.replica.append('join', r, { nick: 'co' });
    creator.replica.ingest(missing(co, creator));
    creator.replica.append('role', r, { target: co.id, role: 'owner' });
    co.replica.ingest(missing(creator, co));
    expect(co.replica.roomState(r).roles.get(co.id)).toBe('owner');
    const attempts = [
      co.replica.append('role', r, { target: creator.id, role: 'member' }),
      co.replica.append('kick', r, { target: creator.id }),
      co.replica.append('ban', r, { target: creator.id }),
    ];
    creator.replica.ingest(missing(co, creator));
    for (const x of [creator, co]) {
      for (const ev of attempts) expect(x.delivered.find((d) => d.event.id === ev.id)?.accepted).toBe(false);
      const state = x.replica.roomState(r);
      expect([state.roles.get(creator.id), state.members.has(creator.id), state.banned.has(creator.id)]).toEqual(['owner', true, false]);
    }
  });

  it('counts what it skipped unparsed: events held already, and copies from two senders of one batch', () => {
    const a = makeReplica();
    a.profile();
    const room = a.create('r', 'a');
    for (let i = 0; i < 3; i++) a.replica.append('msg', room, { nick: 'a', text: `m${i}` });
    const b = makeReplica();
    const events = missing(a, b);
    const results = b.replica.ingestFrom(
      new Map([
        ['first', { raws: events }],
        ['second', { raws: events }],
      ]),
    );
    expect(results.get('first')).toMatchObject({ duplicates: 0 });
    expect(results.get('first')!.stored).toHaveLength(5);
    expect(results.get('second')).toMatchObject({ duplicates: 5, stored: [] });
    expect(b.replica.ingest(events.slice(1))).toMatchObject({ duplicates: 4, stored: [] });
  });

  it('lets our own events leave only once flushed, with one flush for a burst of appends', async () => {
    const a = makeReplica();
    let flushes = 0;
    a.replica.on('shared', () => flushes++);
    a.profile();
    const r = a.create('r', 'a');
    for (let i = 0; i < 5; i++) a.replica.append('msg', r, { nick: 'a', text: `m${i}` });
    // committed and delivered locally, but not offered to peers before the flush
    expect(a.replica.vector()[a.id]).toBe(7);
    expect(a.replica.shareableVector()[a.id]).toBe(0);
    expect(historyIds(a, r)).toHaveLength(5);
    await Promise.all([a.replica.durable(), a.replica.durable()]);
    expect(a.replica.shareableVector()[a.id]).toBe(7);
    expect(flushes).toBe(1);
    // the store flushes on open too: a restart shares everything it holds
    a.store.close();
    stores.splice(stores.indexOf(a.store), 1);
    expect(makeReplica(a.dir).replica.shareableVector()[a.id]).toBe(7);
  });

  it('keeps each event of a room in one room index, and reads both kinds in one order', () => {
    const a = makeReplica();
    a.profile();
    const room = a.create('general', 'a');
    const first = a.replica.append('msg', room, { nick: 'a', text: 'first words' });
    a.replica.append('react', room, { message: first.id, emoji: '👍' });
    const second = a.replica.append('msg', room, { nick: 'a', text: 'second' });
    a.replica.append('edit', room, { message: first.id, text: 'first words, edited' });
    a.replica.append('read', room, { message: second.id });
    a.replica.append('msg', room, { nick: 'a', text: 'third' });
    const ids = (sql: string) => (a.store.db.prepare(sql).all(room) as { id: string }[]).map((r) => r.id);
    const messages = ids("SELECT id FROM events INDEXED BY events_messages WHERE room = ? AND type IN ('msg', 'dm')");
    const others = ids("SELECT id FROM events INDEXED BY events_room_others WHERE room = ? AND type NOT IN ('msg', 'dm')");
    expect(messages).toHaveLength(3);
    expect(others).toHaveLength(4); // create, react, edit, read (refused in a room, stored all the same)
    expect(ids('SELECT id FROM events WHERE room = ?').sort()).toEqual([...messages, ...others].sort());
    // messages and annotations merged from the two indexes, in the order of a plain sort of the table
    const merged = a.store.messagesAfter(room, 0, '').map((r) => r.id);
    expect(merged).toEqual(
      ids("SELECT id FROM events NOT INDEXED WHERE room = ? AND type IN ('msg', 'react', 'unreact', 'edit', 'delete') ORDER BY depth, id"),
    );
    expect(merged).toHaveLength(5);
    // search reads messages and edits
    expect(a.store.search('edited', [room], 10).map((r) => r.type)).toEqual(['edit']);
    expect(a.store.search('third', [room], 10).map((r) => r.id)).toHaveLength(1);
  });

  describe('deletes', () => {
    /** a and b in one room; a wrote `text`; b holds all of it. */
    function roomWithMessage(text: string) {
      const a = makeReplica();
      const b = makeReplica();
      a.profile();
      b.profile();
      const room = a.create('general', 'a');
      const msg = a.replica.append('msg', room, { nick: 'a', text });
      b.replica.ingest(missing(a, b));
      b.replica.append('join', room, { nick: 'b' });
      a.replica.ingest(missing(b, a));
      return { a, b, room, msg };
    }

    it('relays a deleted message stripped, which a newcomer checks and stores without its text', () => {
      const { a, room, msg } = roomWithMessage('secret words');
      a.replica.append('edit', room, { message: msg.id, text: 'secret words, edited' });
      a.replica.append('delete', room, { message: msg.id });
      const stored = JSON.parse(a.store.eventJson(msg.id)!) as SignedEvent;
      expect(stored.body.text).toBeUndefined();
      expect(stored.redacted?.text).toMatch(/^[A-Za-z0-9_-]{43}$/);
      const c = makeReplica();
      const result = c.replica.ingest(missing(a, c));
      expect(result.error).toBeUndefined();
      expect(c.store.messages(room, {}).find((m) => m.id === msg.id)).toMatchObject({ text: '' });
      expect(c.store.db.prepare("SELECT COUNT(*) AS n FROM events WHERE json LIKE '%secret%'").get()).toEqual({ n: 0 });
    });

    it('refuses a stripped message without a valid delete of it', () => {
      const { a, b, room, msg } = roomWithMessage('keep me');
      const other = a.replica.append('msg', room, { nick: 'a', text: 'another' });
      const deletion = a.replica.append('delete', room, { message: other.id });
      // stripped with the right hashes (it would pass its id check), by a relay that wants it gone
      const stripped = redact(JSON.parse(a.store.eventJson(msg.id)!) as SignedEvent, deletion);
      const c = makeReplica();
      // justified by the delete of another message
      expect(c.replica.ingest([stripped]).error?.reason).toBe('bad_redaction');
      // by a delete whose signature is forged
      const forged = { ...deletion, body: { message: msg.id } };
      expect(c.replica.ingest([{ ...stripped, redactedBy: forged }]).error?.reason).toBe('bad_redaction');
      // without any
      expect(c.replica.ingest([{ ...stripped, redactedBy: undefined }]).error?.reason).toBe('bad_redaction');
      expect(c.replica.seqOf(a.id)).toBe(0);
      expect(b.store.messages(room, {}).find((m) => m.id === msg.id)?.text).toBe('keep me');
    });

    it("refuses an edit of someone else's message and a delete by a plain member, on every peer", () => {
      const { a, b, room, msg } = roomWithMessage('mine');
      const edit = b.replica.append('edit', room, { message: msg.id, text: 'yours now' });
      const deletion = b.replica.append('delete', room, { message: msg.id });
      a.replica.ingest(missing(b, a));
      for (const r of [a, b]) {
        expect(r.store.event(edit.id)?.status).toBe(EventStatus.Rejected);
        expect(r.store.event(deletion.id)?.status).toBe(EventStatus.Rejected);
        expect(r.store.messages(room, {}).find((m) => m.id === msg.id)?.text).toBe('mine');
      }
    });

    it('refuses an annotation of a message of another room as malformed', () => {
      const { a, room } = roomWithMessage('here');
      const elsewhere = a.create('elsewhere', 'a');
      const foreign = a.replica.append('msg', elsewhere, { nick: 'a', text: 'there' });
      const react = a.replica.append('react', room, { message: foreign.id, emoji: '👍' });
      expect(a.store.event(react.id)?.status).toBe(EventStatus.Invalid);
    });
  });
});
