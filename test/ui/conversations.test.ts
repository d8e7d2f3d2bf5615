/** Issue #16 in the stores: reactions, edits, deletes, reply originals, presence, read markers and receipts. */
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Message, ReadMarker, RoomInfo } from '../../src/shared/api.js';
import { IDLE_AWAY_MS, IDLE_POLL_MS } from '../../src/renderer/src/stores/presence';
import { dmKey, roomKey } from '../../src/renderer/src/stores/timeline';
import { MARK_READ_DELAY_MS } from '../../src/renderer/src/stores/unread';
import { useUiStore } from '../../src/renderer/src/stores/ui';
import { BOB, CAROL, FakeClient, flush, ME, member, msg, MY, roomInfo, startStores } from './fake-client';

const GENERAL = roomInfo('general', [member(ME, 'owner'), member(BOB), member(CAROL, 'moderator')]);
const RANDOM = roomInfo('random', [member(ME), member(BOB, 'owner')]);

async function setup(opts: { rooms?: RoomInfo[]; history?: Record<string, Message[]>; markers?: ReadMarker[] } = {}) {
  const client = new FakeClient();
  client.handle('rooms', () => opts.rooms ?? [GENERAL, RANDOM]);
  client.handle('history', (p) => opts.history?.[p.room] ?? []);
  client.handle('readMarkers', () => opts.markers ?? []);
  const stores = startStores(client);
  await flush(40);
  return stores;
}

afterEach(() => {
  vi.useRealTimers();
});

describe('message changes', () => {
  it('replace the loaded message in place on `update`, keeping its position', async () => {
    const a = msg(GENERAL, BOB, 'first');
    const b = msg(GENERAL, BOB, 'second');
    const { conversations, client } = await setup({ history: { [GENERAL.id]: [a, b] } });
    const conv = conversations.room(GENERAL.id)!;
    const version = conv.version;
    client.emit('update', { ...a, text: 'first, fixed', edited: a.sentAt + 5 });
    expect(conv.messages.map((m) => m.text)).toEqual(['first, fixed', 'second']);
    expect(conv.index.get(a.id)?.edited).toBe(a.sentAt + 5);
    expect(conv.version).toBeGreaterThan(version);
    // A message not loaded here changes nothing.
    client.emit('update', msg(GENERAL, BOB, 'elsewhere'));
    expect(conv.messages).toHaveLength(2);
  });

  it('toggle my reaction: react when I have not, unreact when I have', async () => {
    const a = msg(GENERAL, BOB, 'nice');
    const { conversations, client, actions } = await setup({ history: { [GENERAL.id]: [a] } });
    const reacted: Message = { ...a, reactions: [{ emoji: '👍', count: 1, peers: [MY], mine: true }] };
    client.handle('react', () => reacted);
    client.handle('unreact', () => ({ ...a, reactions: [] }));
    expect(await actions.toggleReaction(a, '👍')).toBe(true);
    expect(client.callsOf('react')).toEqual([{ message: a.id, emoji: '👍' }]);
    const conv = conversations.room(GENERAL.id)!;
    expect(conv.index.get(a.id)?.reactions?.[0]?.mine).toBe(true);
    await actions.toggleReaction(conv.index.get(a.id)!, '👍');
    expect(client.callsOf('unreact')).toEqual([{ message: a.id, emoji: '👍' }]);
    expect(conv.index.get(a.id)?.reactions).toEqual([]);
  });

  it('edit only my own messages; up-arrow picks my newest; an unchanged text just closes the editor', async () => {
    const mine1 = msg(GENERAL, MY, 'one');
    const theirs = msg(GENERAL, BOB, 'two');
    const mine2 = msg(GENERAL, MY, 'three');
    const { conversations, client, actions } = await setup({ history: { [GENERAL.id]: [mine1, mine2, theirs] } });
    client.handle('edit', (p) => ({ ...mine2, text: p.text, edited: Date.now() }));
    const conv = conversations.room(GENERAL.id)!;
    expect(actions.canEdit(theirs)).toBe(false);
    expect(actions.editLast(conv)).toBe(true);
    expect(actions.editing).toEqual({ key: conv.key, id: mine2.id });
    expect(await actions.saveEdit(conv, mine2, 'three')).toBe(true);
    expect(client.callsOf('edit')).toEqual([]);
    expect(actions.editing).toBeNull();
    actions.startEdit(conv, mine2);
    expect(await actions.saveEdit(conv, mine2, '  three, better ')).toBe(true);
    expect(client.callsOf('edit')).toEqual([{ message: mine2.id, text: 'three, better' }]);
    expect(conv.index.get(mine2.id)?.text).toBe('three, better');
    expect(actions.editing).toBeNull();
    // Emptying the text asks to delete instead.
    actions.startEdit(conv, mine2);
    expect(await actions.saveEdit(conv, mine2, '   ')).toBe(false);
    expect(useUiStore().deleting?.message.id).toBe(mine2.id);
  });

  it('let authors delete their messages, and owners and moderators those of lower roles', async () => {
    const byBob = msg(GENERAL, BOB, 'spam');
    const byCarol = msg(GENERAL, CAROL, 'mod says');
    const byMe = msg(RANDOM, MY, 'mine');
    const byOwner = msg(RANDOM, BOB, 'owner says');
    const { conversations, actions, client } = await setup();
    const general = conversations.room(GENERAL.id)!;
    const random = conversations.room(RANDOM.id)!;
    expect(actions.canDelete(general, byBob)).toBe(true); // I own general
    expect(actions.canDelete(general, byCarol)).toBe(true);
    expect(actions.canDelete(random, byMe)).toBe(true);
    expect(actions.canDelete(random, byOwner)).toBe(false); // a plain member of random
    expect(actions.canDelete(general, { ...byBob, deleted: true })).toBe(false);
    client.handle('delete', (p) => ({ ...byBob, id: p.message, text: '', deleted: true, deletedBy: MY }));
    expect(await actions.remove(byBob)).toBe(true);
    expect(client.callsOf('delete')).toEqual([{ message: byBob.id }]);
  });

  it('send replies in DMs too', async () => {
    const { conversations, client, composer } = await setup();
    const question = msg(null, BOB, 'lunch?', { to: MY });
    client.emit('dm', question);
    client.handle('dm', (p) => msg(null, MY, p.text, { to: BOB, ...(p.replyTo ? { replyTo: p.replyTo } : {}) }));
    const conv = conversations.byKey.get(dmKey(BOB.peerId))!;
    composer.setReply(conv, conv.index.get(question.id)!);
    expect(await composer.send(conv, 'yes')).toBe(true);
    expect(client.callsOf('dm')).toEqual([{ to: BOB.peerId, text: 'yes', replyTo: question.id }]);
    expect(conv.replyTo).toBeNull();
  });

  it('fetch a reply’s original however old, and show it once found', async () => {
    const original = msg(GENERAL, BOB, 'the question');
    const reply = msg(GENERAL, MY, 'the answer', { replyTo: original.id });
    const client = new FakeClient();
    client.handle('rooms', () => [GENERAL]);
    client.handle('history', () => [reply]);
    client.handle('message', (p) => (p.id === original.id ? original : Promise.reject(new Error('not_found'))));
    const { conversations, actions } = startStores(client);
    await flush(40);
    const conv = conversations.room(GENERAL.id)!;
    expect(actions.original(conv, original.id)).toBeUndefined();
    await actions.findOriginal(conv, original.id);
    expect(actions.original(conv, original.id)?.text).toBe('the question');
    expect(client.callsOf('message')).toEqual([{ id: original.id }]);
    // Deleted later: the quote learns it from the update.
    client.emit('update', { ...original, text: '', deleted: true });
    expect(actions.original(conv, original.id)?.deleted).toBe(true);
    // The timeline itself was left alone (no pages prepended under the reader's eyes).
    expect(conv.messages.map((m) => m.id)).toEqual([reply.id]);
  });
});

describe('presence', () => {
  it('follows status events, mine included, and `busy` silences notifications', async () => {
    const { presence, client, session, notices } = await setup();
    expect(presence.of(BOB.peerId, member(BOB)).status).toBe('online');
    client.emit('status', { peerId: BOB.peerId, nick: 'bob', status: 'away', statusText: 'lunch' });
    expect(presence.of(BOB.peerId)).toEqual({ status: 'away', statusText: 'lunch' });
    expect(notices.quiet).toBe(false);
    client.emit('status', { peerId: ME.peerId, nick: 'me', status: 'busy' });
    expect(session.me?.status).toBe('busy');
    await flush();
    expect(notices.quiet).toBe(true);
    // A browser tab in the background, allowed to notify: shown while online, not while busy.
    const shown: string[] = [];
    vi.stubGlobal(
      'Notification',
      Object.assign(
        function (this: object, title: string) {
          shown.push(title);
        },
        { permission: 'granted' },
      ),
    );
    vi.spyOn(document, 'hasFocus').mockReturnValue(false);
    client.emit('dm', msg(null, BOB, 'ping', { to: MY }));
    expect(shown).toEqual([]);
    client.emit('status', { peerId: ME.peerId, nick: 'me', status: 'online' });
    await flush();
    client.emit('dm', msg(null, BOB, 'ping again', { to: MY }));
    expect(shown).toEqual(['bob (direct message)']);
    vi.unstubAllGlobals();
    vi.restoreAllMocks();
  });

  it('sets my status and text', async () => {
    const { presence, client, session } = await setup();
    client.handle('setStatus', (p) => ({ status: p.status, ...(p.text ? { statusText: p.text } : {}) }));
    expect(await presence.setStatus('busy', '  focus time ')).toBe(true);
    expect(client.callsOf('setStatus')).toEqual([{ status: 'busy', text: 'focus time' }]);
    expect(session.me).toMatchObject({ status: 'busy', statusText: 'focus time' });
  });

  it('in the browser, goes away after 10 minutes without input and comes back on input, unless I chose a status', async () => {
    vi.useFakeTimers();
    const { presence, client, session } = await setup();
    client.handle('setStatus', (p) => ({ status: p.status, ...(p.auto ? { auto: true as const } : {}) }));
    vi.advanceTimersByTime(IDLE_AWAY_MS - IDLE_POLL_MS);
    await flush();
    expect(client.callsOf('setStatus')).toEqual([]);
    vi.advanceTimersByTime(IDLE_POLL_MS);
    await flush();
    expect(client.callsOf('setStatus')).toEqual([{ status: 'away', auto: true }]);
    expect(session.me?.status).toBe('away');
    window.dispatchEvent(new Event('keydown'));
    await flush();
    expect(client.callsOf('setStatus')).toEqual([{ status: 'away', auto: true }, { status: 'online' }]);
    expect(session.me?.status).toBe('online');

    // Away by another UI's idle rule (the desktop app's, or this peer's before a restart): input here lifts it.
    client.emit('status', { peerId: MY.peerId, nick: MY.nick, status: 'away', auto: true });
    window.dispatchEvent(new Event('keydown'));
    await flush();
    expect(client.callsOf('setStatus').at(-1)).toEqual({ status: 'online' });
    // An away the user chose in another UI stays.
    client.emit('status', { peerId: MY.peerId, nick: MY.nick, status: 'away' });
    window.dispatchEvent(new Event('keydown'));
    vi.advanceTimersByTime(IDLE_POLL_MS);
    await flush();
    expect(client.callsOf('setStatus')).toHaveLength(3);
    expect(session.me?.status).toBe('away');

    // Busy by choice: idle time changes nothing.
    await presence.setStatus('busy');
    vi.advanceTimersByTime(IDLE_AWAY_MS + IDLE_POLL_MS);
    await flush();
    window.dispatchEvent(new Event('keydown'));
    await flush();
    expect(client.callsOf('setStatus').at(-1)).toEqual({ status: 'busy' });
    expect(session.me?.status).toBe('busy');
  });
});

describe('read markers', () => {
  it('count unread from the peer’s markers, and follow `read` events from my other UIs', async () => {
    const old = msg(RANDOM, BOB, 'old');
    const fresh = [msg(RANDOM, BOB, 'new'), msg(RANDOM, BOB, 'newer')];
    const { conversations, unread, client } = await setup({
      history: { [RANDOM.id]: [old, ...fresh] },
      markers: [
        { room: GENERAL.id, unread: 0, mentions: 0 },
        { room: RANDOM.id, message: old.id, unread: 2, mentions: 1 },
        { peer: CAROL.peerId, unread: 1, mentions: 1 },
      ],
    });
    // the mention badge is the peer's count, whether or not this UI has loaded the room's messages
    expect([conversations.room(RANDOM.id)!.unread, conversations.room(RANDOM.id)!.mentions]).toEqual([2, 1]);
    const dm = conversations.byKey.get(dmKey(CAROL.peerId))!;
    expect([dm.unread, dm.mentions]).toEqual([1, 1]);
    expect(unread.total).toBe(3);
    // Read in the browser tab: this UI agrees.
    client.emit('read', { room: RANDOM.id, message: fresh[1]!.id, unread: 0, mentions: 0 });
    expect([conversations.room(RANDOM.id)!.unread, conversations.room(RANDOM.id)!.mentions]).toEqual([0, 0]);
    client.emit('read', { peer: CAROL.peerId, message: 'x'.repeat(43), unread: 0, mentions: 0 });
    expect(unread.total).toBe(0);
  });

  it('mark the newest message read once it stayed on screen, never backwards, and put the divider at the old marker', async () => {
    vi.useFakeTimers();
    const old = msg(RANDOM, BOB, 'old');
    const fresh = [msg(RANDOM, BOB, 'new'), msg(RANDOM, BOB, 'newer')];
    const { conversations, unread, client, navigation } = await setup({
      history: { [RANDOM.id]: [old, ...fresh] },
      markers: [{ room: RANDOM.id, message: old.id, unread: 2, mentions: 0 }],
    });
    const random = conversations.room(RANDOM.id)!;
    navigation.open(random.key);
    expect(unread.dividerOf(random)).toBe(old.id);
    expect(random.unread).toBe(0);
    expect(client.callsOf('markRead')).toEqual([]);
    vi.advanceTimersByTime(MARK_READ_DELAY_MS);
    await flush();
    expect(client.callsOf('markRead')).toEqual([{ room: RANDOM.id, message: fresh[1]!.id }]);

    // Scrolled up: a new message is not read yet.
    unread.setAtLatest(random, false);
    const later = msg(RANDOM, BOB, 'latest');
    client.emit('message', later);
    vi.advanceTimersByTime(MARK_READ_DELAY_MS * 2);
    await flush();
    expect(client.callsOf('markRead')).toHaveLength(1);
    unread.setAtLatest(random, true);
    vi.advanceTimersByTime(MARK_READ_DELAY_MS);
    await flush();
    expect(client.callsOf('markRead').at(-1)).toEqual({ room: RANDOM.id, message: later.id });

    // A marker the peer reports further on is never moved back.
    unread.applyMarker({ room: RANDOM.id, message: later.id, unread: 0, mentions: 0 });
    await unread.markNewest(random);
    expect(client.callsOf('markRead')).toHaveLength(2);

    // Leaving the conversation takes the divider away.
    navigation.open(roomKey(GENERAL.id));
    expect(unread.dividerOf(random)).toBeUndefined();
  });
});

describe('read receipts', () => {
  it('put "Seen" under my newest DM the other side read, from `seen` flags and events', async () => {
    const { conversations, client, receipts, session } = await setup();
    const a = msg(null, MY, 'a', { to: BOB, seen: true });
    const b = msg(null, MY, 'b', { to: BOB });
    const reply = msg(null, BOB, 'c', { to: MY });
    const c = msg(null, MY, 'd', { to: BOB });
    for (const m of [a, b, reply, c]) client.emit('dm', m);
    const conv = conversations.byKey.get(dmKey(BOB.peerId))!;
    expect(receipts.lastSeen(conv)).toBe(a.id);
    client.emit('seen', { peer: BOB.peerId, message: c.id });
    expect(receipts.lastSeen(conv)).toBe(c.id);

    client.handle('setReadReceipts', (p) => ({ enabled: p.enabled }));
    expect(await receipts.setEnabled(false)).toBe(true);
    expect(client.callsOf('setReadReceipts')).toEqual([{ enabled: false }]);
    expect(session.me?.readReceipts).toBe(false);
    expect(receipts.enabled).toBe(false);
  });
});
