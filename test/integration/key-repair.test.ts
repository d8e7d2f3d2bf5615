/**
 * A moderator's rekey can only seal the new room key for peers whose key it knows. An invitee whose
 * profile had not reached the moderator yet is skipped; once the profile arrives, the moderator's
 * node re-sends the current key to it. The relay between the two halves is a test peer that passes
 * on every event but the invitee's, so the order is not left to chance.
 */
import { afterAll, expect, it } from 'vitest';
import { roomOfEvent, type SignedEvent } from '../../src/shared/wire.js';
import { HostilePeer } from '../helpers/hostile-peer.js';
import { eventually, PeerProcess } from '../helpers/peer-process.js';

const peers: PeerProcess[] = [];
const relays: HostilePeer[] = [];
afterAll(async () => {
  for (const r of relays) r.close();
  await Promise.all(peers.map((p) => p.stop()));
});

const eventsOf = (h: HostilePeer): SignedEvent[] => h.eventsReceived();

it('re-sends the current key to an invitee the rekey skipped, once its key is known', async () => {
  const alice = await PeerProcess.start({ nick: 'alice' });
  const carol = await PeerProcess.start({ nick: 'carol', peers: [alice.url] });
  const dave = await PeerProcess.start({ nick: 'dave', peers: [alice.url] });
  const bob = await PeerProcess.start({ nick: 'bob' }); // reaches the others only through the relay
  peers.push(alice, carol, dave, bob);

  // The relay: one link to alice, one to bob; it asks both for everything they hold.
  const toAlice = new HostilePeer();
  const toBob = new HostilePeer();
  relays.push(toAlice, toBob);
  expect(await toAlice.handshake(alice.url)).toBe(true);
  expect(await toBob.handshake(bob.url)).toBe(true);
  for (const h of [toAlice, toBob]) h.send({ t: 'vv', have: {}, full: true, skip: {} });
  /** What the relay holds back: dave's events on the way to bob, and (for a while) everything to alice. */
  const hold = { daveToBob: true, allToAlice: false };
  const forwarded = new Set<string>();
  const relay = () => {
    const pass = (from: HostilePeer, to: HostilePeer, keep: (e: SignedEvent) => boolean) => {
      const fresh = eventsOf(from).filter((e) => !forwarded.has(`${e.id}>${to.peerId}`) && keep(e));
      fresh.forEach((e) => forwarded.add(`${e.id}>${to.peerId}`));
      if (fresh.length) to.sendEvents(fresh);
    };
    pass(toAlice, toBob, (e) => !(hold.daveToBob && e.author === dave.peerId));
    if (!hold.allToAlice) pass(toBob, toAlice, () => true);
  };
  const timer = setInterval(relay, 50);
  try {
    await eventually(async () => (await alice.call('peers')).some((p) => p.peerId === bob.peerId), 5000, 'bob known to alice');
    const room = (await alice.call('join', { room: 'secret', private: true })).id;
    await alice.call('invite', { room, peer: bob.peerId });
    await alice.call('invite', { room, peer: carol.peerId });
    await carol.waitFor('member', (e) => e.room === room && e.change === 'invited' && e.peerId === carol.peerId);
    await carol.call('join', { room });
    await alice.call('setRole', { room, peer: bob.peerId, role: 'moderator' });
    await eventually(async () => (await alice.call('peers')).some((p) => p.peerId === dave.peerId), 5000, 'dave known to alice');
    await alice.call('invite', { room, peer: dave.peerId });

    // bob gets all of it but dave's profile: he sees dave invited, without dave's key
    await eventually(
      async () => {
        const info = (await bob.call('rooms')).find((r) => r.id === room);
        return info?.members.some((m) => m.peerId === carol.peerId) === true;
      },
      10_000,
      'the room at bob',
    );
    await eventually(
      async () =>
        await bob.call('join', { room }).then(
          () => true,
          () => false,
        ),
      10_000,
      'bob joins once his invite is in',
    );
    await eventually(
      async () => (await bob.call('rooms')).find((r) => r.id === room)?.members.find((m) => m.peerId === bob.peerId)?.role === 'moderator',
      10_000,
      'bob is moderator',
    );
    await eventually(
      async () => eventsOf(toAlice).some((e) => e.type === 'invite' && e.body.target === dave.peerId),
      10_000,
      'dave’s invite relayed',
    );
    await new Promise((r) => setTimeout(r, 300)); // it reached bob too

    // bob removes carol while alice hears nothing from him (so her own repair cannot step in):
    // the new key is sealed for alice, not for dave, whose key bob does not know
    hold.allToAlice = true;
    await bob.call('kick', { room, peer: carol.peerId });
    const rekey = await eventually(
      async () => eventsOf(toBob).find((e) => e.type === 'rekey' && e.author === bob.peerId && roomOfEvent(e) === room),
      5000,
      'bob’s rekey',
    );
    const sealedFor = (rekey.body.keys as { target: string }[]).map((k) => k.target);
    expect(sealedFor).toContain(alice.peerId);
    expect(sealedFor).not.toContain(dave.peerId);

    // dave's profile reaches bob: bob's node re-sends the current key to dave in an invite
    hold.daveToBob = false;
    await eventually(
      async () =>
        eventsOf(toBob).some(
          (e) =>
            e.type === 'invite' &&
            e.author === bob.peerId &&
            e.body.target === dave.peerId &&
            (e.body.keys as { epoch: string }[]).some((k) => k.epoch === rekey.body.epoch),
        ),
      15_000,
      'the current key re-sent to dave',
    );

    // and dave reads what is written under that key
    hold.allToAlice = false;
    const m = await bob.call('send', { room, text: 'under the new key' });
    await eventually(
      async () => (await dave.call('history', { room })).some((x) => x.id === m.id && x.text === 'under the new key'),
      15_000,
      'dave reads it',
    );
  } finally {
    clearInterval(timer);
  }
});
