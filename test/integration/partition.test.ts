/**
 * The in-transport partition used where network namespaces are unavailable
 * (CHATTY_TEST_PARTITION_FILE): blocked peers are cut off, and catch up once healed.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { eventually, PeerProcess } from '../helpers/peer-process.js';

const peers: PeerProcess[] = [];
afterAll(async () => {
  await Promise.all(peers.map((p) => p.stop()));
});

it('cuts a blocked peer off and lets it catch up after healing', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'chatty-partition-'));
  const file = join(dir, 'alice.json');
  writeFileSync(file, '[]');
  const alice = await PeerProcess.start({ nick: 'alice', env: { CHATTY_TEST_PARTITION_FILE: file } });
  const bob = await PeerProcess.start({ nick: 'bob', peers: [alice.url] });
  peers.push(alice, bob);
  await alice.call('join', { room: 'r' });
  await eventually(async () => (await bob.call('rooms')).length === 1, 10_000, 'room synced');
  await bob.call('join', { room: 'r' });
  writeFileSync(file, JSON.stringify([bob.peerId]));
  await alice.waitFor('peer', (e) => e.peerId === bob.peerId && e.state === 'down', 5000);
  const m = await alice.call('send', { room: 'r', text: 'during the partition' });
  await new Promise((r) => setTimeout(r, 1500));
  expect(bob.eventsOf('message').some((x) => x.id === m.id)).toBe(false);
  writeFileSync(file, '[]');
  await bob.waitFor('message', (x) => x.id === m.id, 20_000);
});

it('keeps both rooms when two partitions each create one of the same name, each ruled by its creator', async () => {
  // two groups that cannot see each other, each founding `town`
  const a1 = await PeerProcess.start({ nick: 'ann' });
  const a2 = await PeerProcess.start({ nick: 'abe', peers: [a1.url] });
  const b1 = await PeerProcess.start({ nick: 'bea' });
  const b2 = await PeerProcess.start({ nick: 'bob', peers: [b1.url] });
  peers.push(a1, a2, b1, b2);
  const townA = (await a1.call('join', { room: 'town' })).id;
  const townB = (await b1.call('join', { room: 'town' })).id;
  expect(townA).not.toBe(townB);
  await eventually(async () => (await a2.call('rooms')).length === 1, 10_000, 'town synced in group A');
  await eventually(async () => (await b2.call('rooms')).length === 1, 10_000, 'town synced in group B');
  expect((await a2.call('join', { room: 'town' })).id).toBe(townA);
  expect((await b2.call('join', { room: 'town' })).id).toBe(townB);

  // heal
  await a1.call('connect', { url: b1.url });
  for (const p of [a1, a2, b1, b2]) {
    await eventually(async () => (await p.call('rooms')).filter((r) => r.name === 'town').length === 2, 15_000, 'both towns everywhere');
  }
  for (const p of [a1, a2, b1, b2]) {
    const rooms = await p.call('rooms');
    expect(rooms.find((r) => r.id === townA)).toMatchObject({ name: 'town', owner: { peerId: a1.peerId, nick: 'ann' } });
    expect(rooms.find((r) => r.id === townB)).toMatchObject({ name: 'town', owner: { peerId: b1.peerId, nick: 'bea' } });
  }

  // a bare name that fits both is refused, with what tells them apart
  const err = (await a2.call('send', { room: 'town', text: 'hello?' }).then(
    () => ({}),
    (e: unknown) => e,
  )) as { data?: Record<string, unknown> };
  expect(err.data?.reason).toBe('ambiguous');
  expect(err.data?.candidates).toEqual(
    expect.arrayContaining([
      { id: townA, name: 'town', owner: { peerId: a1.peerId, nick: 'ann' }, members: 2 },
      { id: townB, name: 'town', owner: { peerId: b1.peerId, nick: 'bea' }, members: 2 },
    ]),
  );

  // each owner rules their own room, and only that one
  await b1.call('join', { room: townA });
  const refused = (await b1.call('kick', { room: townA, peer: a2.peerId }).then(
    () => ({}),
    (e: unknown) => e,
  )) as { data?: { reason?: string } };
  expect(refused.data?.reason).toBe('forbidden');
  await a1.call('kick', { room: townA, peer: a2.peerId });
  await b1.call('kick', { room: townB, peer: b2.peerId });
  for (const p of [a1, b1]) {
    await eventually(
      async () => {
        const rooms = await p.call('rooms');
        const a = rooms.find((r) => r.id === townA)!.members.map((m) => m.peerId);
        const b = rooms.find((r) => r.id === townB)!.members.map((m) => m.peerId);
        return !a.includes(a2.peerId) && a.includes(b1.peerId) && !b.includes(b2.peerId);
      },
      10_000,
      'kicks seen',
    );
  }
});
