/**
 * A hostile peer on the LAN, with real sockets, against two honest peers
 * (real processes). For each attack: the exact rejection, and the honest
 * peers keep chatting and lose nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dmConversation, roomOfEvent, WIRE_LIMITS, type SignedEvent } from '../../src/shared/wire.js';
import { HostilePeer } from '../helpers/hostile-peer.js';
import { eventually, PeerProcess } from '../helpers/peer-process.js';

let alice: PeerProcess;
let bob: PeerProcess;
/** Id of the room `general` alice created. */
let general: string;
const hostiles: HostilePeer[] = [];

function hostile(): HostilePeer {
  const h = new HostilePeer();
  hostiles.push(h);
  return h;
}

/** A hostile peer past the handshake that has asked alice for everything she holds. */
async function syncedHostile(): Promise<HostilePeer> {
  const h = hostile();
  expect(await h.handshake(alice.url)).toBe(true);
  h.send({ t: 'vv', have: {}, full: true, skip: {} }); // skip: our plan (nothing to skip), which lets alice push
  await eventually(async () => h.eventsReceived().length > 0, 5000, 'events from alice');
  return h;
}

function eventsSeen(h: HostilePeer): SignedEvent[] {
  return h.eventsReceived();
}

/** The room's current heads and depth as a peer that saw `events` would compute them. */
function headsOf(events: SignedEvent[], room: string): { deps: string[]; depth: number } {
  const inRoom = events.filter((e) => roomOfEvent(e) === room);
  const referenced = new Set(inRoom.flatMap((e) => e.deps));
  const heads = inRoom.filter((e) => !referenced.has(e.id));
  return { deps: heads.map((e) => e.id), depth: 1 + Math.max(0, ...heads.map((e) => e.depth)) };
}

/** What a peer lists for alice's `general`. */
async function roomOf(p: PeerProcess) {
  const room = (await p.call('rooms')).find((r) => r.id === general);
  if (!room) throw new Error(`a peer does not know ${general}`);
  return room;
}

async function honestStillChat(): Promise<void> {
  const m = await alice.call('send', { room: general, text: `still fine ${Date.now()}` });
  await bob.waitFor('message', (x) => x.id === m.id, 10_000);
}

const historyIds = async (p: PeerProcess) => (await p.call('history', { room: general })).map((m) => m.id);

beforeAll(async () => {
  alice = await PeerProcess.start({ nick: 'alice' });
  bob = await PeerProcess.start({ nick: 'bob', peers: [alice.url] });
  general = (await alice.call('join', { room: 'general' })).id;
  await eventually(async () => (await bob.call('rooms')).length === 1, 10_000, 'room synced');
  await bob.call('join', { room: general });
  await honestStillChat();
});

afterAll(async () => {
  for (const h of hostiles) h.close();
  await Promise.all([alice?.stop(), bob?.stop()]);
});

describe('hostile handshakes', () => {
  it('drops a socket that never says hello', async () => {
    const h = hostile();
    await h.open(alice.url);
    expect((await h.rejection(10_000)).reason).toBe('handshake_timeout');
  });

  it('refuses garbage, an unknown protocol version and a key it cannot prove', async () => {
    const garbage = hostile();
    await garbage.open(alice.url);
    garbage.ws.send('{definitely not json');
    expect((await garbage.rejection()).reason).toBe('bad_json');

    const old = hostile();
    expect(await old.handshake(alice.url, { version: 99 })).toBe(false);
    expect((await old.rejection()).reason).toBe('version');

    // claims to be alice but holds only its own key
    const impostor = hostile();
    expect(await impostor.handshake(bob.url, { claimId: alice.peerId })).toBe(false);
    expect((await impostor.rejection()).reason).toBe('bad_auth');
  });

  it('refuses a replayed handshake', async () => {
    const first = hostile();
    expect(await first.handshake(alice.url)).toBe(true);
    const recorded = first.lastAuthFrame!;
    first.close();
    const replay = hostile();
    expect(await replay.handshake(alice.url, { claimId: first.peerId, authFrame: recorded })).toBe(false);
    expect((await replay.rejection()).reason).toBe('bad_auth');
  });
});

describe('hostile frames', () => {
  it('closes on an oversized frame', async () => {
    const h = hostile();
    expect(await h.handshake(alice.url)).toBe(true);
    h.sendSealed(Buffer.alloc(WIRE_LIMITS.maxDataFrameBytes + 1, 1));
    expect((await h.rejection()).code).toBe(1009);
    // a JSON frame may not use the room a file's chunk may
    const big = hostile();
    expect(await big.handshake(alice.url)).toBe(true);
    big.send(JSON.stringify({ t: 'peers', peers: [], pad: 'x'.repeat(WIRE_LIMITS.maxFrameBytes) }));
    expect((await big.rejection()).reason).toBe('too_large');
    await honestStillChat();
  });

  it('refuses invalid JSON, unknown frame types, tampered and replayed frames', async () => {
    const cases: [string, (h: HostilePeer) => void, string][] = [
      ['invalid JSON', (h) => h.send('{"t":'), 'bad_json'],
      ['unknown type', (h) => h.send({ t: 'gimme', all: true }), 'bad_frame'],
      ['plaintext', (h) => h.ws.send(JSON.stringify({ t: 'vv', have: {}, full: true })), 'bad_frame'],
      [
        'tampered',
        (h) => {
          const sealed = h.cipher!.seal(JSON.stringify({ t: 'vv', have: {}, full: true }));
          sealed[12] = sealed[12]! ^ 0xff;
          h.sendSealed(sealed);
        },
        'bad_frame',
      ],
      [
        'replayed',
        (h) => {
          const sealed = h.cipher!.seal(JSON.stringify({ t: 'vv', have: {}, full: true }));
          h.sendSealed(sealed);
          h.sendSealed(sealed);
        },
        'bad_frame',
      ],
    ];
    for (const [name, attack, reason] of cases) {
      const h = hostile();
      expect(await h.handshake(alice.url), name).toBe(true);
      attack(h);
      expect((await h.rejection()).reason, name).toBe(reason);
    }
    await honestStillChat();
  });

  it('disconnects and backs off a flooding peer while others keep chatting', async () => {
    const h = hostile();
    expect(await h.handshake(alice.url)).toBe(true);
    for (let i = 0; i < 3000 && h.ws.readyState === h.ws.OPEN; i++) h.send({ t: 'vv', have: {}, full: false });
    expect((await h.rejection()).reason).toBe('rate_limited');
    // the same key is refused for a while
    const again = new HostilePeer();
    Object.assign(again, { key: h.key });
    hostiles.push(again);
    expect(await again.handshake(alice.url)).toBe(false);
    expect((await again.rejection()).reason).toBe('backoff');
    await honestStillChat();
  });
});

describe('hostile events', () => {
  it('refuses an event forged in another peer’s name', async () => {
    const h = await syncedHostile();
    const before = await historyIds(alice);
    const seen = eventsSeen(h);
    const { deps, depth } = headsOf(seen, general);
    // continues alice's log exactly (next seq, right prev hash), but signed with the attacker's key
    const last = seen.filter((e) => e.author === alice.peerId).sort((a, b) => b.seq - a.seq)[0]!;
    const forged = h.event({
      author: alice.peerId,
      seq: last.seq + 1,
      prev: last.id,
      room: general,
      deps,
      depth,
      type: 'msg',
      body: { nick: 'alice', text: 'I quit' },
    });
    h.sendEvents([forged]);
    expect((await h.rejection()).reason).toBe('bad_signature');
    expect(await historyIds(alice)).toEqual(before);
  });

  it('stores but never shows messages for a room the author is not in, nor forged moderation', async () => {
    const h = await syncedHostile();
    const seen = eventsSeen(h);
    const { deps, depth } = headsOf(seen, general);
    const profile = h.profile();
    const sneaky = h.event({ room: general, deps, depth, type: 'msg', body: { nick: 'mallory', text: 'not a member' } });
    const join = h.event({ room: general, deps: [sneaky.id], depth: depth + 1, type: 'join', body: { nick: 'mallory' } });
    const kick = h.event({ room: general, deps: [join.id], depth: depth + 2, type: 'kick', body: { target: bob.peerId } });
    const grant = h.event({ room: general, deps: [kick.id], depth: depth + 3, type: 'role', body: { target: h.peerId, role: 'owner' } });
    const afterGrant = h.event({ room: general, deps: [grant.id], depth: depth + 4, type: 'kick', body: { target: alice.peerId } });
    h.sendEvents([profile, sneaky, join, kick, grant, afterGrant]);
    // authentic events are accepted into the log (and relayed), then refused by the room's rules everywhere
    await eventually(async () => (await roomOf(bob)).members.some((m) => m.peerId === h.peerId), 10_000, 'mallory joined, seen by bob');
    for (const p of [alice, bob]) {
      const texts = (await p.call('history', { room: general })).map((m) => m.text);
      expect(texts).not.toContain('not a member');
      const members = (await roomOf(p)).members;
      expect(members.find((m) => m.peerId === bob.peerId)).toBeDefined();
      expect(members.find((m) => m.peerId === alice.peerId)?.role).toBe('owner');
      expect(members.find((m) => m.peerId === h.peerId)?.role).toBe('member');
    }
    expect(h.received.some((f) => f.t === 'error')).toBe(false);
    await honestStillChat();
  });

  it('rejects messages sent after a ban on every peer, even from a modified app', async () => {
    const h = await syncedHostile();
    const seen = eventsSeen(h);
    const { deps, depth } = headsOf(seen, general);
    const profile = h.profile('troll');
    const join = h.event({ room: general, deps, depth, type: 'join', body: { nick: 'troll' } });
    h.sendEvents([profile, join]);
    await eventually(async () => (await roomOf(alice)).members.some((m) => m.peerId === h.peerId), 10_000, 'troll joined');
    await alice.call('ban', { room: general, peer: h.peerId, reason: 'trolling' });
    const ban = await eventually(
      async () => eventsSeen(h).find((e) => e.type === 'ban' && e.body.target === h.peerId),
      10_000,
      'ban relayed to troll',
    );
    const spam = h.event({
      room: general,
      deps: [ban.id],
      depth: ban.depth + 1,
      type: 'msg',
      body: { nick: 'troll', text: 'banned but talking' },
    });
    h.sendEvents([spam]);
    await eventually(async () => (await roomOf(bob)).members.every((m) => m.peerId !== h.peerId), 10_000, 'ban seen by bob');
    await new Promise((r) => setTimeout(r, 500));
    for (const p of [alice, bob])
      expect((await p.call('history', { room: general })).map((m) => m.text)).not.toContain('banned but talking');
    await honestStillChat();
  });

  it('changes nothing with a second creation claim: the owner still rules, bans hold, banned posts stay rejected', async () => {
    const troll = await syncedHostile();
    const { deps, depth } = headsOf(eventsSeen(troll), general);
    troll.sendEvents([troll.profile('troll'), troll.event({ room: general, deps, depth, type: 'join', body: { nick: 'troll' } })]);
    await eventually(async () => (await roomOf(alice)).members.some((m) => m.peerId === troll.peerId), 10_000, 'troll joined');
    await alice.call('ban', { room: general, peer: troll.peerId, reason: 'trolling' });
    const ban = await eventually(
      async () => eventsSeen(troll).find((e) => e.type === 'ban' && e.body.target === troll.peerId),
      10_000,
      'ban relayed to troll',
    );
    // the old attack: a join without deps (a claim to found the room), and a create of the same name
    const rootless = troll.event({ room: general, deps: [], depth: 1, type: 'join', body: { nick: 'troll' } });
    const create = troll.event({ room: null, deps: [], depth: 1, type: 'create', body: { name: 'general', nick: 'troll' } });
    const spam = troll.event({
      room: general,
      deps: [ban.id],
      depth: ban.depth + 1,
      type: 'msg',
      body: { nick: 'troll', text: 'still here' },
    });
    troll.sendEvents([rootless, create, spam]);
    const trollRoom = roomOfEvent(create)!;
    for (const p of [alice, bob]) {
      await eventually(async () => (await p.call('rooms')).some((r) => r.id === trollRoom), 10_000, 'the troll’s room seen');
    }
    await eventually(async () => (await bob.call('history', { room: general })).length > 0, 5000, 'history');
    for (const p of [alice, bob]) {
      const rooms = await p.call('rooms');
      const mine = rooms.find((r) => r.id === general)!;
      expect(mine.owner.peerId).toBe(alice.peerId);
      expect(mine.members.find((m) => m.peerId === alice.peerId)?.role).toBe('owner');
      expect(mine.banned.map((b) => b.peerId)).toContain(troll.peerId);
      expect(mine.members.some((m) => m.peerId === troll.peerId)).toBe(false);
      expect(rooms.find((r) => r.id === trollRoom)).toMatchObject({ name: 'general', owner: { peerId: troll.peerId } });
      expect((await p.call('history', { room: general })).map((m) => m.text)).not.toContain('still here');
      // the bare name now fits two rooms
      await expect(p.call('send', { room: 'general', text: 'which one?' })).rejects.toMatchObject({ data: { reason: 'ambiguous' } });
    }
    // and the owner can still kick (bob comes back by the room's id)
    await alice.call('kick', { room: general, peer: bob.peerId, reason: 'test' });
    await bob.waitFor('member', (e) => e.room === general && e.change === 'kicked' && e.peerId === bob.peerId, 10_000);
    await bob.call('join', { room: general });
    await honestStillChat();
  });

  it('rejects a DM filed under someone else’s conversation, and cannot read DMs it relays', async () => {
    const h = await syncedHostile();
    const profile = h.profile('snoop');
    // addressed to bob, but placed in the thread between the attacker and alice
    const misfiled = h.event({
      room: dmConversation(h.peerId, alice.peerId),
      deps: [],
      depth: 1,
      type: 'dm',
      body: { nick: 'snoop', to: bob.peerId, iv: 'AAAAAAAAAAAAAAAA', ct: 'AAAAAAAAAAAAAAAAAAAAAAAA' },
    });
    h.sendEvents([profile, misfiled]);
    await new Promise((r) => setTimeout(r, 500));
    expect(bob.eventsOf('dm').some((m) => m.from.peerId === h.peerId)).toBe(false);
    expect(alice.eventsOf('dm').some((m) => m.from.peerId === h.peerId)).toBe(false);
    // a real DM between alice and bob reaches the attacker only as ciphertext
    const secret = `between us ${Date.now()}`;
    const dm = await alice.call('dm', { to: bob.peerId, text: secret });
    const relayed = await eventually(async () => eventsSeen(h).find((e) => e.id === dm.id), 10_000, 'dm relayed to the attacker');
    expect(JSON.stringify(relayed)).not.toContain(secret);
    await bob.waitFor('dm', (m) => m.id === dm.id && m.text === secret);
  });
});

describe('handshake floods', () => {
  it('refuses an address that keeps failing handshakes, for a while', async () => {
    const victim = await PeerProcess.start({ nick: 'victim' });
    try {
      for (let i = 0; i < 30; i++) {
        const h = hostile();
        await h.open(victim.url);
        h.ws.send('{not a hello');
        await h.rejection();
      }
      const next = hostile();
      await next.open(victim.url).catch(() => undefined);
      await next.closed;
      expect(next.closeCode).toBe(1008);
      expect(victim.child.exitCode).toBeNull();
    } finally {
      await victim.stop();
    }
  });
});
