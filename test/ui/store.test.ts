import { afterEach, describe, expect, it, vi } from 'vitest';
import { RpcCallError } from '../../src/shared/jsonrpc.js';
import type { RoomInfo } from '../../src/shared/api.js';
import { describeError } from '../../src/renderer/src/stores/notices';
import { dmKey, PAGE, roomKey } from '../../src/renderer/src/stores/timeline';
import { useUiStore } from '../../src/renderer/src/stores/ui';
import { BOB, CAROL, FakeClient, flush, ME, member, memberEvent, msg, MY, roomInfo, startStores } from './fake-client';

const GENERAL = roomInfo('general', [member(ME, 'owner'), member(BOB)]);
const RANDOM = roomInfo('random', [member(ME), member(BOB)]);

async function setup(rooms: RoomInfo[] = [GENERAL, RANDOM]) {
  const client = new FakeClient();
  client.handle('rooms', () => rooms);
  client.handle('peers', () => [
    { ...BOB, connected: true, addresses: ['ws://10.0.0.2:7447'], state: 'connected', fingerprint: 'BBBB-BBBB', status: 'online' },
    { ...CAROL, connected: false, addresses: [], state: 'offline', fingerprint: 'CCCC-CCCC', status: 'offline' },
  ]);
  const stores = startStores(client);
  await flush();
  return stores;
}

describe('the stores', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('load identity, joined rooms and peers, and open the first room', async () => {
    const { session, conversations, peers, navigation } = await setup();
    expect(session.me?.nick).toBe('me');
    expect(conversations.joinedRooms.map((c) => c.id)).toEqual([GENERAL.id, RANDOM.id]);
    expect(conversations.joinedRooms.map((c) => conversations.label(c))).toEqual(['general', 'random']);
    expect(peers.list.map((p) => p.nick)).toEqual(['bob', 'carol']); // online first
    expect(navigation.activeKey).toBe(roomKey(GENERAL.id));
    expect(session.synced).toBe(true);
  });

  it('count unread messages per room, and mentions of my nick, and clear them when viewed', async () => {
    const { conversations, unread, client, navigation } = await setup();
    client.emit('message', msg(RANDOM, BOB, 'hello there'));
    client.emit('message', msg(RANDOM, BOB, 'hey @me, look'));
    client.emit('message', msg(RANDOM, BOB, 'memes and awesome-me-things'));
    const random = conversations.room(RANDOM.id)!;
    expect(random.unread).toBe(3);
    expect(random.mentions).toBe(1);
    expect(unread.total).toBe(3);
    await flush();
    expect(client.unread.at(-1)).toBe(3); // the desktop badge
    expect(document.title).toBe('(3) Chatty');

    // Messages in the room I am looking at are read at once; my own never count.
    client.emit('message', msg(GENERAL, BOB, 'seen'));
    client.emit('message', msg(RANDOM, MY, 'mine'));
    expect(conversations.room(GENERAL.id)!.unread).toBe(0);
    expect(random.unread).toBe(3);

    navigation.open(roomKey(RANDOM.id));
    expect(random.unread).toBe(0);
    expect(random.mentions).toBe(0);
    await flush();
    expect(client.unread.at(-1)).toBe(0);
    expect(document.title).toBe('Chatty');
  });

  it('keep delivery order and drop duplicates (live events, send results, history)', async () => {
    const { conversations, client, composer, history } = await setup();
    const a = msg(GENERAL, BOB, 'a');
    const b = msg(GENERAL, BOB, 'b');
    const c = msg(GENERAL, BOB, 'c', { late: true });
    client.handle('history', () => [a]);
    const general = conversations.room(GENERAL.id)!;
    await history.loadConversation(general);
    client.emit('message', b);
    client.emit('message', a); // duplicate
    client.emit('message', c);
    client.emit('message', b); // duplicate
    expect(general.messages.map((m) => m.text)).toEqual(['a', 'b', 'c']);
    expect(general.messages[2]!.late).toBe(true);

    // My own message comes back from `send` and again as an event: shown once.
    const mine = msg(GENERAL, MY, 'mine');
    client.handle('send', () => mine);
    expect(await composer.send(general, 'mine')).toBe(true);
    expect(client.callsOf('send')).toEqual([{ room: GENERAL.id, text: 'mine' }]);
    client.emit('message', mine);
    expect(general.messages.map((m) => m.text)).toEqual(['a', 'b', 'c', 'mine']);
  });

  it('load older history with `before` and prepend it', async () => {
    const { conversations, client, history } = await setup();
    const latest = Array.from({ length: PAGE }, (_, i) => msg(GENERAL, BOB, `new ${i}`));
    const older = [msg(GENERAL, BOB, 'old 1'), msg(GENERAL, BOB, 'old 2')];
    client.handle('history', (p) => (p.before ? older : latest));
    const general = conversations.room(GENERAL.id)!;
    await history.loadConversation(general);
    expect(general.hasMore).toBe(true);
    expect(await history.loadOlder(general)).toBe(2);
    expect(client.callsOf('history').at(-1)).toEqual({ room: GENERAL.id, before: latest[0]!.id, limit: PAGE });
    expect(general.messages[0]!.text).toBe('old 1');
    expect(general.messages.length).toBe(PAGE + 2);
    expect(general.hasMore).toBe(false);
    expect(await history.loadOlder(general)).toBe(0);
  });

  it('track members: joins, roles, presence, and kicks of others', async () => {
    const { conversations, peers, directory, client } = await setup();
    const general = conversations.room(GENERAL.id)!;
    client.emit('member', memberEvent(GENERAL, { peerId: CAROL.peerId, nick: 'carol', change: 'joined' }));
    expect(general.members.map((m) => m.nick).sort()).toEqual(['bob', 'carol', 'me']);
    expect(general.messages.at(-1)?.text).toBe('carol joined #general');
    expect(
      directory.byId
        .get(GENERAL.id)
        ?.members.map((m) => m.nick)
        .sort(),
    ).toEqual(['bob', 'carol', 'me']);

    client.emit('member', memberEvent(GENERAL, { peerId: BOB.peerId, nick: 'bob', change: 'role', role: 'moderator', by: ME.peerId }));
    expect(general.members.find((m) => m.peerId === BOB.peerId)?.role).toBe('moderator');
    expect(general.messages.at(-1)?.text).toBe('me made bob a moderator');

    client.emit('peer', { peerId: BOB.peerId, nick: 'bob', state: 'down' });
    expect(general.members.find((m) => m.peerId === BOB.peerId)?.online).toBe(false);
    expect(peers.byId.get(BOB.peerId)?.connected).toBe(false);

    client.emit('member', memberEvent(GENERAL, { peerId: CAROL.peerId, nick: 'carol', change: 'kicked', by: ME.peerId, reason: 'spam' }));
    expect(general.members.some((m) => m.peerId === CAROL.peerId)).toBe(false);
    expect(general.messages.at(-1)?.text).toBe('carol was removed from #general by me (spam)');

    client.emit('member', memberEvent(GENERAL, { peerId: CAROL.peerId, nick: 'carol', change: 'banned', by: ME.peerId }));
    expect(general.banned).toEqual([{ peerId: CAROL.peerId, nick: 'carol' }]);
    client.emit('member', memberEvent(GENERAL, { peerId: CAROL.peerId, nick: 'carol', change: 'unbanned', by: ME.peerId }));
    expect(general.banned).toEqual([]);
  });

  it('leave the room view and tell me when I am kicked', async () => {
    const { conversations, notices, client, navigation } = await setup();
    expect(navigation.activeKey).toBe(roomKey(GENERAL.id));
    client.emit('member', memberEvent(GENERAL, { peerId: ME.peerId, nick: 'me', change: 'kicked', by: BOB.peerId, reason: 'bye' }));
    const general = conversations.room(GENERAL.id)!;
    expect(general.joined).toBe(false);
    expect(conversations.joinedRooms.map((c) => c.id)).toEqual([RANDOM.id]);
    expect(navigation.activeKey).toBe(roomKey(RANDOM.id));
    expect(notices.toasts.at(-1)).toMatchObject({ kind: 'warning', title: 'You were removed from #general', text: 'by bob (bye)' });
  });

  it('only let owners and moderators moderate, over lower roles', async () => {
    const rooms = [
      roomInfo('mine', [member(ME, 'owner'), member(BOB, 'moderator')]),
      roomInfo('theirs', [member(ME, 'member'), member(BOB, 'owner')]),
      roomInfo('modded', [member(ME, 'moderator'), member(BOB, 'owner'), member(CAROL)]),
    ];
    const { conversations } = await setup(rooms);
    const get = (i: number) => conversations.room(rooms[i]!.id)!;
    expect(conversations.canModerate(get(0), member(BOB, 'moderator'))).toBe(true);
    expect(conversations.canModerate(get(1), member(BOB, 'owner'))).toBe(false);
    expect(conversations.canModerate(get(2), member(BOB, 'owner'))).toBe(false);
    expect(conversations.canModerate(get(2), member(CAROL))).toBe(true);
    expect(conversations.canModerate(get(0), member(ME, 'owner'))).toBe(false);
  });

  it('put DMs in one conversation per peer, both directions', async () => {
    const { conversations, client } = await setup();
    client.emit('dm', msg(null, BOB, 'psst', { to: MY }));
    client.emit('dm', msg(null, MY, 'yes?', { to: BOB }));
    const conv = conversations.byKey.get(dmKey(BOB.peerId))!;
    expect(conv.title).toBe('bob');
    expect(conv.messages.map((m) => m.text)).toEqual(['psst', 'yes?']);
    expect(conv.unread).toBe(1);
    expect(conv.mentions).toBe(1); // a DM always counts as a mention
    expect(conversations.dms.map((c) => c.id)).toEqual([BOB.peerId]);
  });

  it('show "is typing" for 5 seconds and send my typing at most every 3 seconds', async () => {
    vi.useFakeTimers();
    const { conversations, client, typing } = await setup();
    const general = conversations.room(GENERAL.id)!;
    client.emit('typing', { room: GENERAL.id, peerId: BOB.peerId, nick: 'bob' });
    expect(general.typing.map((t) => t.nick)).toEqual(['bob']);
    vi.advanceTimersByTime(3000);
    expect(general.typing).toHaveLength(1);
    vi.advanceTimersByTime(2600);
    expect(general.typing).toHaveLength(0);

    for (let i = 0; i < 10; i++) {
      typing.notifyTyping(general);
      vi.advanceTimersByTime(500);
    }
    expect(client.callsOf('typing')).toEqual([{ room: GENERAL.id }, { room: GENERAL.id }]); // at 0 s and at 3 s
  });

  it('stop showing a peer as typing once their message arrives', async () => {
    const { conversations, client } = await setup();
    const general = conversations.room(GENERAL.id)!;
    client.emit('typing', { room: GENERAL.id, peerId: BOB.peerId, nick: 'bob' });
    client.emit('message', msg(GENERAL, BOB, 'done'));
    expect(general.typing).toEqual([]);
  });

  it('turn API errors into readable toasts and keep the draft', async () => {
    const { conversations, membership, notices, client, composer } = await setup();
    client.handle('send', () => {
      throw new RpcCallError(1002, 'only members can post', { reason: 'forbidden' });
    });
    const general = conversations.room(GENERAL.id)!;
    expect(await composer.send(general, 'nope')).toBe(false);
    expect(notices.toasts.at(-1)).toMatchObject({
      kind: 'error',
      title: "You don't have permission to do that",
      text: 'only members can post',
    });
    expect(await membership.joinNamed('not a room!')).toBe(false);
    expect(notices.toasts.at(-1)?.title).toBe('That room name is not valid');
    expect(client.callsOf('join')).toHaveLength(0);
  });

  it('resynchronize after a reconnect', async () => {
    const { conversations, session, client, history } = await setup();
    const general = conversations.room(GENERAL.id)!;
    await history.loadConversation(general);
    client.setState('closed');
    expect(session.connection).toBe('closed');
    for (let i = 0; i < 4; i++) {
      client.setState('connecting');
      client.setState('closed');
    }
    expect(session.failedConnects).toBe(4); // the banner now suggests opening the peer's new address
    const missed = msg(GENERAL, BOB, 'sent while I was away');
    client.handle('history', () => [missed]);
    client.setState('open');
    await flush();
    expect(session.failedConnects).toBe(0);
    expect(general.messages.map((m) => m.text)).toContain('sent while I was away');
  });

  it('describe plain errors, invalid params and ambiguous room names', () => {
    expect(describeError(new Error('boom'))).toEqual({ title: 'boom' });
    expect(
      describeError(
        new RpcCallError(-32602, 'invalid params: room: bad', { reason: 'invalid_params', issues: [{ path: 'room', message: 'bad' }] }),
      ),
    ).toEqual({
      title: "That isn't valid",
      text: 'bad',
    });
    const twins = new RpcCallError(1008, '2 rooms are called "town"', {
      reason: 'ambiguous',
      candidates: [{ id: '!a', name: 'town', owner: BOB, members: 2 }],
    });
    expect(describeError(twins).title).toBe('More than one room has that name');
    expect(describeError(new RpcCallError(1008, 'x', { reason: 'ambiguous', candidates: [{ peerId: 'p' }] })).title).toBe(
      'More than one peer has that nick',
    );
  });

  it('ignore what older builds stored by room name', async () => {
    const client = new FakeClient();
    client.handle('rooms', () => [GENERAL, RANDOM]);
    localStorage.clear();
    localStorage.setItem('chatty.active', 'room:random');
    localStorage.setItem('chatty.read.room:random', '{"id":"old","at":1}');
    localStorage.setItem(`chatty.read.${roomKey(GENERAL.id)}`, 'not json');
    const { conversations, navigation } = startStores(client, { keepStorage: true });
    await flush(40);
    expect(navigation.activeKey).toBe(roomKey(GENERAL.id)); // the first room, not a crash
    expect(conversations.room(RANDOM.id)!.unread).toBe(0);
  });
});

describe('rooms that share a name', () => {
  const DAVE = { peerId: 'D'.repeat(43), nick: 'dave' };
  const TOWN_BOB = roomInfo('town', [member(BOB, 'owner'), member(ME)], { tag: 'townB' });
  const TOWN_DAVE = roomInfo('town', [member(DAVE, 'owner'), member(ME), member(CAROL)], { tag: 'townD' });

  it('appear apart, labelled with their owners, each with its own timeline and unread count', async () => {
    const { conversations, directory, unread, client, composer, navigation } = await setup([GENERAL, TOWN_BOB, TOWN_DAVE]);
    expect(conversations.joinedRooms.map((c) => conversations.label(c))).toEqual([
      'general',
      'town · bob (BBBB-BBBB)',
      'town · dave (DDDD-DDDD)',
    ]);
    expect(directory.label(TOWN_DAVE.id)).toBe('town · dave (DDDD-DDDD)');

    client.emit('message', msg(TOWN_BOB, BOB, 'in bob’s town'));
    client.emit('message', msg(TOWN_DAVE, DAVE, 'in dave’s town, @me'));
    client.emit('message', msg(TOWN_DAVE, CAROL, 'also dave’s'));
    const townB = conversations.room(TOWN_BOB.id)!;
    const townD = conversations.room(TOWN_DAVE.id)!;
    expect(townB.messages.map((m) => m.text)).toEqual(['in bob’s town']);
    expect(townD.messages.map((m) => m.text)).toEqual(['in dave’s town, @me', 'also dave’s']);
    expect([townB.unread, townB.mentions, townD.unread, townD.mentions]).toEqual([1, 0, 2, 1]);
    expect(unread.total).toBe(3);

    // Opening one reads that one only; what I send goes to it by id.
    navigation.open(townD.key);
    expect([townB.unread, townD.unread]).toEqual([1, 0]);
    client.handle('send', (p) => msg(p.room === TOWN_DAVE.id ? TOWN_DAVE : TOWN_BOB, MY, p.text));
    await composer.send(townD, 'hello dave’s town');
    expect(client.callsOf('send')).toEqual([{ room: TOWN_DAVE.id, text: 'hello dave’s town' }]);
    expect(townD.messages.at(-1)?.text).toBe('hello dave’s town');
    expect(townB.messages).toHaveLength(1);

    // Member events and typing land by id too.
    client.emit('member', memberEvent(TOWN_BOB, { peerId: CAROL.peerId, nick: 'carol', change: 'joined' }));
    expect(townB.messages.at(-1)?.text).toBe('carol joined #town · bob (BBBB-BBBB)');
    expect(townD.members).toHaveLength(3);
    client.emit('typing', { room: TOWN_BOB.id, peerId: BOB.peerId, nick: 'bob' });
    expect(townB.typing).toHaveLength(1);
    expect(townD.typing).toHaveLength(0);
  });

  it('name a room alone again once its twin is gone from the directory', async () => {
    const { conversations, directory } = await setup([TOWN_BOB, TOWN_DAVE]);
    const townB = conversations.room(TOWN_BOB.id)!;
    expect(conversations.label(townB)).toBe('town · bob (BBBB-BBBB)');
    directory.apply([TOWN_BOB]);
    expect(conversations.label(townB)).toBe('town');
  });

  it('learn of a twin from a member event, with the owner its creation names', async () => {
    const { directory, conversations, client } = await setup([GENERAL, TOWN_BOB]);
    expect(conversations.label(conversations.room(TOWN_BOB.id)!)).toBe('town');
    client.emit('member', memberEvent(TOWN_DAVE, { peerId: DAVE.peerId, nick: 'dave', change: 'joined', role: 'owner' }));
    expect(directory.named('town').map((r) => r.id)).toEqual([TOWN_BOB.id, TOWN_DAVE.id]);
    expect(directory.byId.get(TOWN_DAVE.id)).toMatchObject({ joined: false, owner: DAVE });
    expect(conversations.label(conversations.room(TOWN_BOB.id)!)).toBe('town · bob (BBBB-BBBB)');
    expect(conversations.room(TOWN_DAVE.id)).toBeUndefined(); // not joined: no conversation
    client.emit('message', msg(TOWN_DAVE, DAVE, 'not for me'));
    expect(conversations.room(TOWN_DAVE.id)).toBeUndefined();
  });

  it('ask which one to join when the name typed has several rooms, and join the one picked by id', async () => {
    const { membership, conversations, client, navigation } = await setup([
      GENERAL,
      { ...TOWN_BOB, joined: false },
      { ...TOWN_DAVE, joined: false },
    ]);
    client.handle('join', (p) => {
      const r = p.room === TOWN_DAVE.id ? TOWN_DAVE : TOWN_BOB;
      return { room: r.id, id: r.id, name: r.name, owner: r.owner, members: r.members, history: [msg(r, r.owner, 'welcome')] };
    });
    const choices = await membership.joinNamed('#town');
    expect(Array.isArray(choices) && choices.map((r) => r.id)).toEqual([TOWN_BOB.id, TOWN_DAVE.id]);
    expect(client.callsOf('join')).toEqual([]);

    expect(await membership.join(TOWN_DAVE.id)).toBe(true);
    expect(client.callsOf('join')).toEqual([{ room: TOWN_DAVE.id }]);
    expect(navigation.activeKey).toBe(roomKey(TOWN_DAVE.id));
    expect(conversations.room(TOWN_DAVE.id)!.messages.map((m) => m.from.nick)).toEqual(['dave']);
    expect(conversations.room(TOWN_BOB.id)).toBeUndefined();
  });

  it('join a name at most one room has by that name (the peer creates it if need be)', async () => {
    const { membership, client } = await setup([GENERAL]);
    client.handle('join', () => ({
      room: TOWN_BOB.id,
      id: TOWN_BOB.id,
      name: 'town',
      owner: MY,
      members: [member(ME, 'owner')],
      history: [],
    }));
    expect(await membership.joinNamed('town', { private: true })).toBe(true);
    expect(client.callsOf('join')).toEqual([{ room: 'town', private: true }]);
  });

  it('offer an invite to that very room, by id', async () => {
    const { notices, client } = await setup([GENERAL, TOWN_BOB, { ...TOWN_DAVE, joined: false, private: true }]);
    client.handle('join', () => ({ room: TOWN_DAVE.id, id: TOWN_DAVE.id, name: 'town', owner: DAVE, members: [], history: [] }));
    client.emit('member', memberEvent(TOWN_DAVE, { peerId: ME.peerId, nick: 'me', change: 'invited', by: DAVE.peerId }));
    const offer = notices.toasts.at(-1)!;
    expect(offer.title).toBe('dave invited you to #town · dave (DDDD-DDDD)');
    offer.action!.run();
    await flush();
    expect(client.callsOf('join')).toEqual([{ room: TOWN_DAVE.id }]);
  });
});

describe('unread counts across restarts', () => {
  it('come from the peer’s read markers, mentions included', async () => {
    const rooms = [GENERAL, RANDOM];
    const seen = msg(RANDOM, BOB, 'seen before');
    const later = [msg(RANDOM, BOB, 'new one'), msg(RANDOM, BOB, 'hey @me'), msg(RANDOM, MY, 'my own')];
    const client = new FakeClient();
    client.handle('rooms', () => rooms);
    client.handle('history', (p) => (p.room === RANDOM.id ? [seen, ...later] : []));
    client.handle('readMarkers', () => [
      { room: GENERAL.id, unread: 0, mentions: 0 },
      { room: RANDOM.id, message: seen.id, unread: 2, mentions: 1 },
    ]);
    localStorage.setItem('chatty.active', roomKey(GENERAL.id));
    const b = startStores(client, { keepStorage: true });
    await flush(40);
    const random = b.conversations.room(RANDOM.id)!;
    expect(b.navigation.activeKey).toBe(roomKey(GENERAL.id));
    expect(random.loaded).toBe(true); // preloaded: it has unread messages
    expect(random.unread).toBe(2);
    expect(random.mentions).toBe(1);
  });
});

describe('slash commands', () => {
  it('join, leave, rename, send direct messages, and leave plain text alone', async () => {
    const DEV = roomInfo('dev', [member(ME, 'owner')]);
    const client = new FakeClient();
    client.handle('rooms', () => [roomInfo('general', [member(ME), member(BOB)])]);
    client.handle('join', () => ({ room: DEV.id, id: DEV.id, name: 'dev', owner: MY, members: [member(ME, 'owner')], history: [] }));
    client.handle('leave', (p) => ({ room: p.room }));
    client.handle('setNick', (p) => ({ peerId: ME.peerId, nick: p.nick }));
    client.handle('dm', (p) => msg(null, MY, p.text, { to: BOB }));
    const { commands, conversations, session, notices, navigation } = startStores(client);
    await flush();
    const general = conversations.room(GENERAL.id)!;

    expect(await commands.command(general, 'hello')).toBeNull();
    expect(await commands.command(general, '//not a command')).toBeNull();
    expect(await commands.command(general, '/join #dev')).toBe(true);
    expect(client.callsOf('join')).toEqual([{ room: 'dev' }]);
    expect(navigation.activeKey).toBe(roomKey(DEV.id));
    expect(await commands.command(general, '/nick Ada Lovelace')).toBe(true);
    expect(session.me?.nick).toBe('Ada Lovelace');
    expect(await commands.command(general, '/msg bob see you at 5')).toBe(true);
    expect(client.callsOf('dm')).toEqual([{ to: 'bob', text: 'see you at 5' }]);
    expect(navigation.activeKey).toBe(dmKey(BOB.peerId));
    expect(await commands.command(general, '/leave')).toBe(true);
    expect(client.callsOf('leave')).toEqual([{ room: GENERAL.id }]);
    expect(await commands.command(general, '/frobnicate')).toBe(false);
    expect(notices.toasts.at(-1)?.title).toBe('Unknown command /frobnicate');
  });

  it('/join of a name several rooms have opens "browse rooms" on it; /leave of a name leaves the one I am in', async () => {
    const townA = roomInfo('town', [member(BOB, 'owner')], { tag: 'townA', joined: false });
    const townB = roomInfo('town', [member(CAROL, 'owner'), member(ME)], { tag: 'townB' });
    const client = new FakeClient();
    client.handle('rooms', () => [townA, townB]);
    client.handle('leave', (p) => ({ room: p.room }));
    const { commands, conversations } = startStores(client);
    await flush();
    const ui = useUiStore();
    const here = conversations.room(townB.id)!;
    expect(await commands.command(here, '/join town')).toBe(true);
    expect(client.callsOf('join')).toEqual([]);
    expect([ui.browseOpen, ui.browseFilter]).toEqual([true, 'town']);
    expect(await commands.command(here, '/leave #town')).toBe(true);
    expect(client.callsOf('leave')).toEqual([{ room: townB.id }]);
  });
});
