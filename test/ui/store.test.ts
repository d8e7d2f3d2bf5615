import { createPinia, setActivePinia } from 'pinia';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { RpcCallError } from '../../src/shared/jsonrpc.js';
import type { Member, RoomInfo } from '../../src/shared/api.js';
import { describeError, dmKey, PAGE, roomKey, useChatStore } from '../../src/renderer/src/stores/chat';
import { BOB, CAROL, FakeClient, flush, ME, msg } from './fake-client';

const member = (p: { peerId: string; nick: string }, role: Member['role'] = 'member', online = true): Member => ({ ...p, role, online });

function roomInfo(room: string, members: Member[], joined = true): RoomInfo {
  return { room, joined, private: false, members } as RoomInfo;
}

async function setup(
  rooms: RoomInfo[] = [roomInfo('general', [member(ME, 'owner'), member(BOB)]), roomInfo('random', [member(ME), member(BOB)])],
) {
  setActivePinia(createPinia());
  localStorage.clear();
  const client = new FakeClient();
  client.handle('rooms', () => rooms);
  client.handle('peers', () => [
    { ...BOB, connected: true, addresses: ['ws://10.0.0.2:7447'], state: 'connected', fingerprint: 'BBBB-BBBB' },
    { ...CAROL, connected: false, addresses: [], state: 'offline', fingerprint: 'CCCC-CCCC' },
  ]);
  const store = useChatStore();
  store.init(client);
  await flush();
  return { client, store };
}

describe('chat store', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('loads identity, joined rooms and peers, and opens the first room', async () => {
    const { store } = await setup();
    expect(store.me?.nick).toBe('me');
    expect(store.joinedRooms.map((c) => c.id)).toEqual(['general', 'random']);
    expect(store.peerList.map((p) => p.nick)).toEqual(['bob', 'carol']); // online first
    expect(store.activeKey).toBe(roomKey('general'));
    expect(store.synced).toBe(true);
  });

  it('counts unread messages per room, and mentions of my nick, and clears them when viewed', async () => {
    const { store, client } = await setup();
    client.emit('message', msg('random', BOB, 'hello there'));
    client.emit('message', msg('random', BOB, 'hey @me, look'));
    client.emit('message', msg('random', BOB, 'memes and awesome-me-things'));
    const random = store.conversations.get(roomKey('random'))!;
    expect(random.unread).toBe(3);
    expect(random.mentions).toBe(1);
    expect(store.totalUnread).toBe(3);
    await flush();
    expect(client.unread.at(-1)).toBe(3); // the desktop badge
    expect(document.title).toBe('(3) Chatty');

    // Messages in the room I am looking at are read at once; my own never count.
    client.emit('message', msg('general', BOB, 'seen'));
    client.emit('message', msg('random', ME, 'mine'));
    expect(store.conversations.get(roomKey('general'))!.unread).toBe(0);
    expect(random.unread).toBe(3);

    store.open(roomKey('random'));
    expect(random.unread).toBe(0);
    expect(random.mentions).toBe(0);
    await flush();
    expect(client.unread.at(-1)).toBe(0);
    expect(document.title).toBe('Chatty');
  });

  it('keeps delivery order and drops duplicates (live events, send results, history)', async () => {
    const { store, client } = await setup();
    const a = msg('general', BOB, 'a');
    const b = msg('general', BOB, 'b');
    const c = msg('general', BOB, 'c', { late: true });
    client.handle('history', () => [a]);
    const general = store.conversations.get(roomKey('general'))!;
    await store.loadConversation(general);
    client.emit('message', b);
    client.emit('message', a); // duplicate
    client.emit('message', c);
    client.emit('message', b); // duplicate
    expect(general.messages.map((m) => m.text)).toEqual(['a', 'b', 'c']);
    expect(general.messages[2]!.late).toBe(true);

    // My own message comes back from `send` and again as an event: shown once.
    const mine = msg('general', ME, 'mine');
    client.handle('send', () => mine);
    expect(await store.send(general, 'mine')).toBe(true);
    client.emit('message', mine);
    expect(general.messages.map((m) => m.text)).toEqual(['a', 'b', 'c', 'mine']);
  });

  it('loads older history with `before` and prepends it', async () => {
    const { store, client } = await setup();
    const latest = Array.from({ length: PAGE }, (_, i) => msg('general', BOB, `new ${i}`));
    const older = [msg('general', BOB, 'old 1'), msg('general', BOB, 'old 2')];
    client.handle('history', (p) => (p.before ? older : latest));
    const general = store.conversations.get(roomKey('general'))!;
    await store.loadConversation(general);
    expect(general.hasMore).toBe(true);
    expect(await store.loadOlder(general)).toBe(2);
    expect(client.callsOf('history').at(-1)).toEqual({ room: 'general', before: latest[0]!.id, limit: PAGE });
    expect(general.messages[0]!.text).toBe('old 1');
    expect(general.messages.length).toBe(PAGE + 2);
    expect(general.hasMore).toBe(false);
    expect(await store.loadOlder(general)).toBe(0);
  });

  it('tracks members: joins, roles, presence, and kicks of others', async () => {
    const { store, client } = await setup();
    const general = store.conversations.get(roomKey('general'))!;
    client.emit('member', { room: 'general', peerId: CAROL.peerId, nick: 'carol', change: 'joined' });
    expect(general.members.map((m) => m.nick).sort()).toEqual(['bob', 'carol', 'me']);
    expect(general.messages.at(-1)?.text).toBe('carol joined #general');

    client.emit('member', { room: 'general', peerId: BOB.peerId, nick: 'bob', change: 'role', role: 'moderator', by: ME.peerId });
    expect(general.members.find((m) => m.peerId === BOB.peerId)?.role).toBe('moderator');
    expect(general.messages.at(-1)?.text).toBe('me made bob a moderator');

    client.emit('peer', { peerId: BOB.peerId, nick: 'bob', state: 'down' });
    expect(general.members.find((m) => m.peerId === BOB.peerId)?.online).toBe(false);
    expect(store.peers.get(BOB.peerId)?.connected).toBe(false);

    client.emit('member', { room: 'general', peerId: CAROL.peerId, nick: 'carol', change: 'kicked', by: ME.peerId, reason: 'spam' });
    expect(general.members.some((m) => m.peerId === CAROL.peerId)).toBe(false);
    expect(general.messages.at(-1)?.text).toBe('carol was removed from #general by me (spam)');

    client.emit('member', { room: 'general', peerId: CAROL.peerId, nick: 'carol', change: 'banned', by: ME.peerId });
    expect(general.banned).toEqual([{ peerId: CAROL.peerId, nick: 'carol' }]);
    client.emit('member', { room: 'general', peerId: CAROL.peerId, nick: 'carol', change: 'unbanned', by: ME.peerId });
    expect(general.banned).toEqual([]);
  });

  it('leaves the room view and tells me when I am kicked', async () => {
    const { store, client } = await setup();
    expect(store.activeKey).toBe(roomKey('general'));
    client.emit('member', { room: 'general', peerId: ME.peerId, nick: 'me', change: 'kicked', by: BOB.peerId, reason: 'bye' });
    const general = store.conversations.get(roomKey('general'))!;
    expect(general.joined).toBe(false);
    expect(store.joinedRooms.map((c) => c.id)).toEqual(['random']);
    expect(store.activeKey).toBe(roomKey('random'));
    expect(store.toasts.at(-1)).toMatchObject({ kind: 'warning', title: 'You were removed from #general', text: 'by bob (bye)' });
  });

  it('only lets owners and moderators moderate, over lower roles', async () => {
    const { store } = await setup([
      roomInfo('mine', [member(ME, 'owner'), member(BOB, 'moderator')]),
      roomInfo('theirs', [member(ME, 'member'), member(BOB, 'owner')]),
      roomInfo('modded', [member(ME, 'moderator'), member(BOB, 'owner'), member(CAROL)]),
    ]);
    const get = (r: string) => store.conversations.get(roomKey(r))!;
    expect(store.canModerate(get('mine'), member(BOB, 'moderator'))).toBe(true);
    expect(store.canModerate(get('theirs'), member(BOB, 'owner'))).toBe(false);
    expect(store.canModerate(get('modded'), member(BOB, 'owner'))).toBe(false);
    expect(store.canModerate(get('modded'), member(CAROL))).toBe(true);
    expect(store.canModerate(get('mine'), member(ME, 'owner'))).toBe(false);
  });

  it('puts DMs in one conversation per peer, both directions', async () => {
    const { store, client } = await setup();
    client.emit('dm', msg(null, BOB, 'psst', { to: { peerId: ME.peerId, nick: 'me' } }));
    client.emit('dm', msg(null, ME, 'yes?', { to: BOB }));
    const conv = store.conversations.get(dmKey(BOB.peerId))!;
    expect(conv.title).toBe('bob');
    expect(conv.messages.map((m) => m.text)).toEqual(['psst', 'yes?']);
    expect(conv.unread).toBe(1);
    expect(conv.mentions).toBe(1); // a DM always counts as a mention
    expect(store.dms.map((c) => c.id)).toEqual([BOB.peerId]);
  });

  it('shows "is typing" for 5 seconds and sends my typing at most every 3 seconds', async () => {
    vi.useFakeTimers();
    const { store, client } = await setup();
    const general = store.conversations.get(roomKey('general'))!;
    client.emit('typing', { room: 'general', peerId: BOB.peerId, nick: 'bob' });
    expect(general.typing.map((t) => t.nick)).toEqual(['bob']);
    vi.advanceTimersByTime(3000);
    expect(general.typing).toHaveLength(1);
    vi.advanceTimersByTime(2600);
    expect(general.typing).toHaveLength(0);

    for (let i = 0; i < 10; i++) {
      store.notifyTyping(general);
      vi.advanceTimersByTime(500);
    }
    expect(client.callsOf('typing')).toHaveLength(2); // at 0 s and at 3 s
  });

  it('stops showing a peer as typing once their message arrives', async () => {
    const { store, client } = await setup();
    const general = store.conversations.get(roomKey('general'))!;
    client.emit('typing', { room: 'general', peerId: BOB.peerId, nick: 'bob' });
    client.emit('message', msg('general', BOB, 'done'));
    expect(general.typing).toEqual([]);
  });

  it('turns API errors into readable toasts and keeps the draft', async () => {
    const { store, client } = await setup();
    client.handle('send', () => {
      throw new RpcCallError(1002, 'only members can post', { reason: 'forbidden' });
    });
    const general = store.conversations.get(roomKey('general'))!;
    expect(await store.send(general, 'nope')).toBe(false);
    expect(store.toasts.at(-1)).toMatchObject({
      kind: 'error',
      title: "You don't have permission to do that",
      text: 'only members can post',
    });
    expect(await store.joinRoom('not a room!')).toBe(false);
    expect(store.toasts.at(-1)?.title).toBe('That room name is not valid');
    expect(client.callsOf('join')).toHaveLength(0);
  });

  it('resynchronizes after a reconnect', async () => {
    const { store, client } = await setup();
    const general = store.conversations.get(roomKey('general'))!;
    await store.loadConversation(general);
    client.setState('closed');
    expect(store.connection).toBe('closed');
    for (let i = 0; i < 4; i++) {
      client.setState('connecting');
      client.setState('closed');
    }
    expect(store.failedConnects).toBe(4); // the banner now suggests opening the peer's new address
    const missed = msg('general', BOB, 'sent while I was away');
    client.handle('history', () => [missed]);
    client.setState('open');
    await flush();
    expect(store.failedConnects).toBe(0);
    expect(general.messages.map((m) => m.text)).toContain('sent while I was away');
  });

  it('describes plain errors too', () => {
    expect(describeError(new Error('boom'))).toEqual({ title: 'boom' });
    expect(
      describeError(
        new RpcCallError(-32602, 'invalid params: room: bad', { reason: 'invalid_params', issues: [{ path: 'room', message: 'bad' }] }),
      ),
    ).toEqual({
      title: "That isn't valid",
      text: 'bad',
    });
  });
});

describe('unread counts across restarts', () => {
  it('counts messages that arrived since the room was last seen', async () => {
    setActivePinia(createPinia());
    localStorage.clear();
    const rooms = [roomInfo('general', [member(ME), member(BOB)]), roomInfo('random', [member(ME), member(BOB)])];
    const seen = msg('random', BOB, 'seen before');
    const later = [msg('random', BOB, 'new one'), msg('random', BOB, 'hey @me'), msg('random', ME, 'my own')];
    // First session: random is opened, so its last message is remembered as read.
    const first = new FakeClient();
    first.handle('rooms', () => rooms);
    first.handle('history', (p) => (p.room === 'random' ? [seen] : []));
    const a = useChatStore();
    a.init(first);
    await flush();
    a.open(roomKey('random'));
    await flush();
    a.dispose();

    // Second session: three more messages, two of them from others, one mentioning me.
    setActivePinia(createPinia());
    const second = new FakeClient();
    second.handle('rooms', () => rooms);
    second.handle('history', (p) => (p.room === 'random' ? [seen, ...later] : []));
    localStorage.setItem('chatty.active', roomKey('general'));
    const b = useChatStore();
    b.init(second);
    await flush(40);
    const random = b.conversations.get(roomKey('random'))!;
    expect(b.activeKey).toBe(roomKey('general'));
    expect(random.loaded).toBe(true);
    expect(random.unread).toBe(2);
    expect(random.mentions).toBe(1);
  });
});

describe('slash commands', () => {
  it('joins, leaves, renames, sends direct messages, and leaves plain text alone', async () => {
    setActivePinia(createPinia());
    localStorage.clear();
    const client = new FakeClient();
    client.handle('rooms', () => [roomInfo('general', [member(ME), member(BOB)])]);
    client.handle('join', (p) => ({ room: p.room, members: [member(ME, 'owner')], history: [] }));
    client.handle('leave', (p) => ({ room: p.room }));
    client.handle('setNick', (p) => ({ peerId: ME.peerId, nick: p.nick }));
    client.handle('dm', (p) => msg(null, { peerId: ME.peerId, nick: 'me' }, p.text, { to: BOB }));
    const store = useChatStore();
    store.init(client);
    await flush();
    const general = store.conversations.get(roomKey('general'))!;

    expect(await store.command(general, 'hello')).toBeNull();
    expect(await store.command(general, '//not a command')).toBeNull();
    expect(await store.command(general, '/join #dev')).toBe(true);
    expect(client.callsOf('join')).toEqual([{ room: 'dev' }]);
    expect(store.activeKey).toBe(roomKey('dev'));
    expect(await store.command(general, '/nick Ada Lovelace')).toBe(true);
    expect(store.me?.nick).toBe('Ada Lovelace');
    expect(await store.command(general, '/msg bob see you at 5')).toBe(true);
    expect(client.callsOf('dm')).toEqual([{ to: 'bob', text: 'see you at 5' }]);
    expect(store.activeKey).toBe(dmKey(BOB.peerId));
    expect(await store.command(general, '/leave')).toBe(true);
    expect(client.callsOf('leave')).toEqual([{ room: 'general' }]);
    expect(await store.command(general, '/frobnicate')).toBe(false);
    expect(store.toasts.at(-1)?.title).toBe('Unknown command /frobnicate');
  });
});
