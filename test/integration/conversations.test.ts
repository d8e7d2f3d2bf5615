/**
 * Replies, reactions, edits, deletes, presence and read markers between real `chatty --json`
 * processes: each rule enforced by every peer, and the concurrent cases (a partition cut in the
 * transport with CHATTY_TEST_PARTITION_FILE) converging to the same result everywhere.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Message } from '../../src/shared/api.js';
import { eventually, PeerProcess, reason } from '../helpers/peer-process.js';

const peers: PeerProcess[] = [];
const cutFile = join(mkdtempSync(join(tmpdir(), 'chatty-conversations-')), 'alice-cut.json');
writeFileSync(cutFile, '[]');

let alice: PeerProcess, bob: PeerProcess, carol: PeerProcess;
let room: string;

async function start(nick: string, opts: Parameters<typeof PeerProcess.start>[0] = {}): Promise<PeerProcess> {
  const p = await PeerProcess.start({ nick, ...opts });
  peers.push(p);
  return p;
}

/** The message `id` of `room` as `p` has it now. */
async function messageOn(p: PeerProcess, id: string, where = room): Promise<Message | undefined> {
  return (await p.call('history', { room: where })).find((m) => m.id === id);
}

async function everywhere(id: string, what: string, pred: (m: Message) => boolean, on = [alice, bob, carol]): Promise<void> {
  for (const p of on) {
    await eventually(
      async () => {
        const m = await messageOn(p, id);
        return m !== undefined && pred(m);
      },
      15_000,
      `${what} on ${p.opts.nick}`,
    );
  }
}

/** Cuts alice off from `others`, or heals (`cut: false`), and waits for her links to follow. */
async function partition(others: PeerProcess[], cut = true): Promise<void> {
  writeFileSync(cutFile, JSON.stringify(cut ? others.map((o) => o.peerId) : []));
  await new Promise((r) => setTimeout(r, 400)); // the transport polls the file every 100 ms
  // healed: dial at once rather than wait out the backoff of the failed dials
  if (!cut) await Promise.all(others.map((o) => alice.call('connect', { url: o.url }).catch(() => undefined)));
  await eventually(
    async () => {
      const list = await alice.call('peers');
      return others.every((o) => list.some((p) => p.peerId === o.peerId && p.connected !== cut));
    },
    20_000,
    cut ? 'alice cut off' : 'alice linked again',
  );
}

beforeAll(async () => {
  alice = await start('alice', { env: { CHATTY_TEST_PARTITION_FILE: cutFile } });
  bob = await start('bob', { peers: [alice.url] });
  carol = await start('carol', { peers: [alice.url, bob.url] });
  room = (await alice.call('join', { room: 'team' })).id;
  await eventually(async () => (await bob.call('rooms')).length > 0 && (await carol.call('rooms')).length > 0, 15_000, 'room synced');
  await bob.call('join', { room });
  await carol.call('join', { room });
  await eventually(async () => (await alice.call('rooms'))[0]?.members.length === 3, 15_000, 'three members');
});

afterAll(async () => {
  await Promise.all(peers.map((p) => p.stop()));
});

describe('replies', () => {
  it('carries replyTo in rooms and DMs, and refuses a reply to a message of another conversation', async () => {
    const question = await alice.call('send', { room, text: 'lunch at noon?' });
    await everywhere(question.id, 'question', () => true);
    const answer = await bob.call('send', { room, text: 'yes', replyTo: question.id });
    await everywhere(answer.id, 'reply', (m) => m.replyTo === question.id);

    await eventually(async () => (await bob.call('peers')).some((p) => p.peerId === carol.peerId), 10_000, 'bob knows carol');
    const dm = await bob.call('dm', { to: carol.peerId, text: 'psst' });
    await carol.waitFor('dm', (m) => m.id === dm.id);
    const dmReply = await carol.call('dm', { to: bob.peerId, text: 'what?', replyTo: dm.id });
    expect(dmReply.replyTo).toBe(dm.id);
    await bob.waitFor('dm', (m) => m.id === dmReply.id && m.replyTo === dm.id);

    // a reply's original, fetched by id however old; paging DMs
    expect(await carol.call('message', { id: dm.id })).toMatchObject({ id: dm.id, text: 'psst' });
    expect((await carol.call('dmHistory', { peer: bob.peerId, before: dmReply.id })).map((m) => m.id)).toEqual([dm.id]);
    expect(await reason(alice.call('message', { id: dm.id }))).toBe('not_found'); // not alice's DM
    expect(await reason(carol.call('send', { room, text: 'x', replyTo: dm.id }))).toBe('not_found');
    expect(await reason(carol.call('dm', { to: bob.peerId, text: 'x', replyTo: question.id }))).toBe('not_found');
  });
});

describe('reactions', () => {
  it('merges concurrent reactions into a set per emoji, toggles, and ignores repeats', async () => {
    const m = await alice.call('send', { room, text: 'shipped v1' });
    await everywhere(m.id, 'message', () => true);
    // at the same time, from three peers
    await Promise.all([
      bob.call('react', { message: m.id, emoji: '👍' }),
      carol.call('react', { message: m.id, emoji: '👍' }),
      alice.call('react', { message: m.id, emoji: '🎉' }),
    ]);
    await everywhere(
      m.id,
      'three reactions',
      (x) => x.reactions?.find((r) => r.emoji === '👍')?.count === 2 && x.reactions.some((r) => r.emoji === '🎉'),
    );
    const onBob = await messageOn(bob, m.id);
    expect(onBob!.reactions!.find((r) => r.emoji === '👍')).toMatchObject({
      mine: true,
      peers: expect.arrayContaining([expect.objectContaining({ nick: 'carol' })]),
    });
    expect(onBob!.reactions!.find((r) => r.emoji === '🎉')).toMatchObject({
      count: 1,
      mine: false,
      peers: [{ peerId: alice.peerId, nick: 'alice' }],
    });
    // alice sees the change as it comes
    await alice.waitFor('update', (u) => u.id === m.id && u.reactions?.find((r) => r.emoji === '👍')?.count === 2);

    const before = (await bob.call('stats')).events.relayed;
    const again = await bob.call('react', { message: m.id, emoji: '👍' });
    expect(again.reactions!.find((r) => r.emoji === '👍')!.count).toBe(2);
    expect((await bob.call('stats')).events.relayed).toBe(before); // no event for a repeat

    await bob.call('unreact', { message: m.id, emoji: '👍' });
    await everywhere(m.id, 'one 👍 left', (x) => x.reactions?.find((r) => r.emoji === '👍')?.count === 1);
    expect((await messageOn(carol, m.id))!.reactions!.find((r) => r.emoji === '👍')!.peers.map((p) => p.nick)).toEqual(['carol']);

    expect(await reason(bob.call('react', { message: m.id, emoji: 'two words' }))).toBe('invalid_params');
    expect(await reason(bob.call('react', { message: 'A'.repeat(43), emoji: '👍' }))).toBe('not_found');
  });
});

describe('edits and deletes', () => {
  it('lets only the author edit, shows the latest text with its history, and refuses others', async () => {
    const m = await alice.call('send', { room, text: 'meeting at 3' });
    await everywhere(m.id, 'message', () => true);
    await alice.call('edit', { message: m.id, text: 'meeting at 4' });
    const edited = await alice.call('edit', { message: m.id, text: 'meeting at 5' });
    expect(edited).toMatchObject({ text: 'meeting at 5', edited: expect.any(Number) });
    await everywhere(m.id, 'second edit', (x) => x.text === 'meeting at 5' && x.edited !== undefined);
    await bob.waitFor('update', (u) => u.id === m.id && u.text === 'meeting at 5');
    expect((await carol.call('editHistory', { message: m.id })).map((v) => v.text)).toEqual([
      'meeting at 3',
      'meeting at 4',
      'meeting at 5',
    ]);
    expect(await reason(bob.call('edit', { message: m.id, text: 'hijacked' }))).toBe('forbidden');
    // search finds the message by what it says now, not by what it said
    expect((await bob.call('search', { query: 'at 5', room })).map((x) => x.id)).toEqual([m.id]);
    expect(await bob.call('search', { query: 'meeting at 3', room })).toEqual([]);
  });

  it('deletes for every peer, erasing the text, its edits and its history from their databases', async () => {
    const secret = `password is hunter-${Date.now()}`;
    const m = await bob.call('send', { room, text: secret });
    await bob.call('edit', { message: m.id, text: `${secret} (really)` });
    await everywhere(m.id, 'edited secret', (x) => x.text.endsWith('(really)'));
    // carol is a plain member: not hers to delete
    expect(await reason(carol.call('delete', { message: m.id }))).toBe('forbidden');
    const deleted = await bob.call('delete', { message: m.id });
    expect(deleted).toMatchObject({ id: m.id, text: '', deleted: true });
    await everywhere(m.id, 'deleted', (x) => x.deleted === true && x.text === '' && x.edited === undefined);
    await carol.waitFor('update', (u) => u.id === m.id && u.deleted === true);
    expect(await carol.call('editHistory', { message: m.id })).toEqual([]);
    expect(await carol.call('search', { query: 'hunter' })).toEqual([]);
    expect(await reason(bob.call('edit', { message: m.id, text: 'back' }))).toBe('forbidden');
    expect(await reason(carol.call('react', { message: m.id, emoji: '👍' }))).toBe('forbidden');

    // a newcomer gets the message stripped, and can check it
    const dave = await start('dave', { peers: [carol.url] });
    await eventually(async () => (await dave.call('rooms')).length > 0, 15_000, 'room reaches dave');
    await dave.call('join', { room });
    await eventually(async () => (await messageOn(dave, m.id))?.deleted === true, 15_000, 'deleted message on dave');

    // not in any database, not even in free pages or the write-ahead log
    await new Promise((r) => setTimeout(r, 1500));
    for (const p of [alice, bob, carol, dave])
      expect(p.storedBytes().includes('hunter-'), `${p.opts.nick} still stores the text`).toBe(false);
  });

  it("lets the room's moderators delete others' messages", async () => {
    const m = await carol.call('send', { room, text: 'spam spam spam' });
    await everywhere(m.id, 'spam', () => true);
    await alice.call('delete', { message: m.id }); // alice created the room: its owner
    await everywhere(m.id, 'deleted by the owner', (x) => x.deleted === true && x.deletedBy?.peerId === alice.peerId);
  });

  it('resolves a delete racing an edit across a partition: deleted, and the edit erased, everywhere', async () => {
    const m = await bob.call('send', { room, text: 'first draft' });
    await everywhere(m.id, 'draft', () => true);
    await partition([bob, carol]);
    await alice.call('delete', { message: m.id }); // the owner removes it, unaware of the edit
    await bob.call('edit', { message: m.id, text: `second draft ${Date.now()}` });
    await everywhere(m.id, 'edit seen on its side', (x) => x.text.startsWith('second draft'), [bob, carol]);
    await partition([bob, carol], false);
    await everywhere(m.id, 'deleted after the heal', (x) => x.deleted === true && x.text === '');
    await new Promise((r) => setTimeout(r, 1500));
    for (const p of [alice, bob, carol]) expect(p.storedBytes().includes('second draft'), `${p.opts.nick} keeps the edit`).toBe(false);
  });

  it('rejects, on every peer, a reaction of a member banned concurrently', async () => {
    const m = await alice.call('send', { room, text: 'vote here' });
    await everywhere(m.id, 'vote', () => true);
    await partition([bob, carol]);
    await alice.call('ban', { room, peer: carol.peerId });
    // carol reacts unaware of the ban, after something the ban does not know either: it sorts after the ban
    const meanwhile = await bob.call('send', { room, text: 'meanwhile' });
    await everywhere(meanwhile.id, 'meanwhile', () => true, [carol]);
    await carol.call('react', { message: m.id, emoji: '👎' });
    await bob.call('react', { message: m.id, emoji: '👍' });
    await everywhere(m.id, "carol's reaction on its side", (x) => x.reactions?.some((r) => r.emoji === '👎') === true, [bob, carol]);
    const updatesBefore = bob.eventsOf('update').length;
    await partition([bob, carol], false);
    await everywhere(m.id, 'only the reaction of the member', (x) => x.reactions?.length === 1 && x.reactions[0]!.emoji === '👍', [
      alice,
      bob,
    ]);
    // bob's UIs hear that the reaction they showed is gone
    await eventually(
      async () =>
        bob
          .eventsOf('update')
          .slice(updatesBefore)
          .some((u) => u.id === m.id && u.reactions?.length === 1),
      5000,
      'an update on bob after the heal',
    );
    await eventually(
      async () => (await carol.call('rooms'))[0]?.banned.some((b) => b.peerId === carol.peerId),
      15_000,
      'carol learns her ban',
    );
    expect(await reason(carol.call('react', { message: m.id, emoji: '👎' }))).toBe('banned');
  });
});

describe('presence', () => {
  it('shows a status set on one peer in the peers and members of the others, kept across a restart', async () => {
    await bob.call('setStatus', { status: 'busy', text: 'in a meeting' });
    expect(await bob.call('whoami')).toMatchObject({ status: 'busy', statusText: 'in a meeting' });
    await alice.waitFor('status', (s) => s.peerId === bob.peerId && s.status === 'busy' && s.statusText === 'in a meeting');
    const members = (await alice.call('rooms'))[0]!.members;
    expect(members.find((x) => x.peerId === bob.peerId)).toMatchObject({ status: 'busy', statusText: 'in a meeting', online: true });
    expect((await alice.call('peers')).find((p) => p.peerId === bob.peerId)).toMatchObject({ status: 'busy' });
    await bob.call('setStatus', { status: 'away' });
    await alice.waitFor('status', (s) => s.peerId === bob.peerId && s.status === 'away' && s.statusText === undefined);
    expect(await reason(bob.call('setStatus', { status: 'asleep' as 'away' }))).toBe('invalid_params');
  });

  it('marks an away an idle rule set as `auto` for this peer’s own UIs, across a restart, and tells no other peer', async () => {
    const dave = await start('dave', { peers: [alice.url] });
    const own = dave.waitFor('status', (s) => s.peerId === dave.peerId && s.status === 'away');
    const theirs = alice.waitFor('status', (s) => s.peerId === dave.peerId && s.status === 'away');
    expect(await dave.call('setStatus', { status: 'away', auto: true })).toEqual({ status: 'away', auto: true });
    expect((await own).auto).toBe(true);
    expect((await theirs).auto).toBeUndefined();
    await dave.stop();
    const restarted = await dave.restart();
    peers.push(restarted);
    expect(await restarted.call('whoami')).toMatchObject({ status: 'away', statusAuto: true });
    // the user's own choice clears it
    expect(await restarted.call('setStatus', { status: 'away', text: 'lunch' })).toEqual({ status: 'away', statusText: 'lunch' });
    expect((await restarted.call('whoami')).statusAuto).toBeUndefined();
  });
});

describe('read markers', () => {
  it('keeps one marker per conversation that only moves forward, and tells the DM sender it was seen', async () => {
    const first = await alice.call('dm', { to: bob.peerId, text: 'are you there?' });
    const second = await alice.call('dm', { to: bob.peerId, text: 'hello?' });
    await bob.waitFor('dm', (m) => m.id === second.id);
    const unread = (await bob.call('readMarkers')).find((r) => r.peer === alice.peerId);
    expect(unread?.unread).toBeGreaterThanOrEqual(2);

    expect(await bob.call('markRead', { peer: alice.peerId, message: second.id })).toMatchObject({
      peer: alice.peerId,
      message: second.id,
      unread: 0,
    });
    await bob.waitFor('read', (r) => r.peer === alice.peerId && r.message === second.id);
    // never backwards
    expect((await bob.call('markRead', { peer: alice.peerId, message: first.id })).message).toBe(second.id);

    await alice.waitFor('seen', (s) => s.peer === bob.peerId && s.message === second.id);
    const mine = await alice.call('dmHistory', { peer: bob.peerId });
    expect(mine.filter((m) => m.id === first.id || m.id === second.id).map((m) => m.seen)).toEqual([true, true]);

    // with receipts off, the marker moves but the sender is not told
    await bob.call('setReadReceipts', { enabled: false });
    expect((await bob.call('whoami')).readReceipts).toBe(false);
    const third = await alice.call('dm', { to: bob.peerId, text: 'ok, later' });
    await bob.waitFor('dm', (m) => m.id === third.id);
    await bob.call('markRead', { peer: alice.peerId, message: third.id });
    await new Promise((r) => setTimeout(r, 1500));
    expect((await alice.call('dmHistory', { peer: bob.peerId })).find((m) => m.id === third.id)?.seen).toBe(false);

    // rooms: the marker of a room, and what is left unread after it
    const history = await bob.call('history', { room });
    expect((await bob.call('readMarkers')).find((r) => r.room === room)?.unread).toBeGreaterThan(0);
    await bob.call('markRead', { room, message: history.at(-1)!.id });
    expect((await bob.call('readMarkers')).find((r) => r.room === room)?.unread).toBe(0);
    expect(await reason(bob.call('markRead', { room, message: first.id }))).toBe('not_found');
  });

  it('counts the unread messages that mention this user, as the UI highlights them', async () => {
    const bobNick = (await bob.call('whoami')).nick;
    const texts = [`@${bobNick} can you look?`, 'nothing for you here', `${bobNick.toUpperCase()}: lunch?`, `not ${bobNick}x either`];
    let last = '';
    for (const text of texts) last = (await alice.call('send', { room, text })).id;
    await bob.waitFor('message', (m) => m.id === last);
    expect((await bob.call('readMarkers')).find((r) => r.room === room)).toMatchObject({ unread: 4, mentions: 2 });
    expect(await bob.call('markRead', { room, message: last })).toMatchObject({ unread: 0, mentions: 0 });
    // in a DM every message is for this user
    const dm = await alice.call('dm', { to: bob.peerId, text: 'no name in it' });
    await bob.waitFor('dm', (m) => m.id === dm.id);
    expect((await bob.call('readMarkers')).find((r) => r.peer === alice.peerId)).toMatchObject({ unread: 1, mentions: 1 });
  });
});
