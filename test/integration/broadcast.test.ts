/**
 * The tree broadcast's receiving end with a real peer: GOSSIP that arrives ahead of its author's
 * previous event waits for it (no resync), and a GOSSIP whose id is not its event's is refused.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { HostilePeer } from '../helpers/hostile-peer.js';
import { eventually, PeerProcess } from '../helpers/peer-process.js';

let alice: PeerProcess;
const neighbours: HostilePeer[] = [];

beforeAll(async () => {
  alice = await PeerProcess.start({ nick: 'alice' });
});

afterAll(async () => {
  for (const h of neighbours) h.close();
  await alice.stop();
});

async function neighbour(): Promise<HostilePeer> {
  const h = new HostilePeer();
  neighbours.push(h);
  expect(await h.handshake(alice.url)).toBe(true); // it sends JOIN: a neighbour
  return h;
}

const fullVectors = (h: HostilePeer) => h.received.filter((f) => f.t === 'vv' && f.full === true).length;

/** Asks alice for everything, as a neighbour catching up does: its full vector (empty), then its plan (skip nothing). */
function askCatchUp(h: HostilePeer): void {
  h.send({ t: 'vv', have: {}, full: true });
  h.send({ t: 'vv', have: {}, full: false, skip: {} });
}

/** Ids of the events alice streamed to `h` by catch-up. */
const streamedIds = (h: HostilePeer) =>
  h.received.filter((f) => f.t === 'events').flatMap((f) => (f.events as { id: string }[]).map((e) => e.id));

/** Alice's only neighbour, which asked her for everything and got her log. */
async function caughtUpNeighbour(): Promise<HostilePeer> {
  // neighbours that never said what they hold would hold up alice's joins (she waits to be caught up)
  for (const other of neighbours.splice(0)) other.close();
  const h = await neighbour();
  await new Promise((r) => setTimeout(r, 300));
  askCatchUp(h);
  await eventually(async () => streamedIds(h).length > 0, 5000, 'alice’s log');
  return h;
}

it('holds a GOSSIP that overtook its predecessor until the predecessor comes, without a resync', async () => {
  const h = await neighbour();
  const first = h.profile('first');
  const second = h.profile('second');
  await new Promise((r) => setTimeout(r, 300)); // alice's own full vector on the new neighbour link
  const before = fullVectors(h);
  h.send({ t: 'gossip', id: second.id, round: 0, event: second });
  await new Promise((r) => setTimeout(r, 400));
  h.send({ t: 'gossip', id: first.id, round: 0, event: first });
  await eventually(async () => (await alice.call('peers')).find((p) => p.peerId === h.peerId)?.nick === 'second', 5000, 'both profiles');
  expect(fullVectors(h)).toBe(before); // no catch-up was asked for
});

it('asks for a resync when the predecessor never comes', async () => {
  const h = await neighbour();
  h.profile('lost'); // made, never sent
  const next = h.profile('found');
  await new Promise((r) => setTimeout(r, 300));
  const before = fullVectors(h);
  h.send({ t: 'gossip', id: next.id, round: 0, event: next });
  await eventually(async () => fullVectors(h) > before, 6000, 'a full vector from alice');
});

it('takes several GOSSIP in one frame, each handled as if alone', async () => {
  const h = await neighbour();
  const events = [h.profile('one'), h.profile('two'), h.profile('three')];
  h.send({ t: 'gossips', items: events.map((event) => ({ id: event.id, round: 0, event })) });
  await eventually(async () => (await alice.call('peers')).find((p) => p.peerId === h.peerId)?.nick === 'three', 5000, 'all three');
});

it('refuses a GOSSIP whose id is not its event’s', async () => {
  const h = await neighbour();
  const ev = h.profile('liar');
  h.send({ t: 'gossip', id: 'A'.repeat(43), round: 0, event: ev });
  expect((await h.rejection()).reason).toBe('bad_frame');
});

it('does not take an IHAVE that came with its GOSSIP for a duplicate, and keeps the GOSSIP’s link in the tree', async () => {
  // In one event-loop turn the GOSSIP is stored first and the frames are handled after, in arrival order: an
  // IHAVE of the same event handled before its GOSSIP once found it in the store and marked it as held, so the
  // GOSSIP counted as a duplicate and its link was pruned (the next event then waited for a GRAFT).
  const h = await neighbour();
  await new Promise((r) => setTimeout(r, 300));
  const events = Array.from({ length: 20 }, (_, i) => h.profile(`nick${i}`));
  for (const event of events) {
    h.send({ t: 'ihave', ids: [{ id: event.id, round: 0, root: h.peerId }] });
    h.send({ t: 'gossip', id: event.id, round: 0, event });
    await new Promise((r) => setTimeout(r, 20));
  }
  await eventually(async () => (await alice.call('peers')).find((p) => p.peerId === h.peerId)?.nick === 'nick19', 5000, 'all profiles');
  expect(h.received.filter((f) => f.t === 'prune')).toEqual([]);
});

it('streams a catch-up up to what it held when asked, and leaves later events to the tree', async () => {
  // A stream that followed the live log sent a neighbour a second copy of every event its tree brought it: under
  // load, for as long as the load lasted.
  const h = await caughtUpNeighbour();
  await alice.call('join', { room: 'bounded' });
  h.send({ t: 'prune', root: alice.peerId }); // alice's own events now reach h by IHAVE only
  await new Promise((r) => setTimeout(r, 200));
  const later = await alice.call('send', { room: 'bounded', text: 'after the catch-up' });
  h.send({ t: 'vv', have: {}, full: false, skip: {} }); // a new plan: alice pumps again
  await eventually(async () => h.received.some((f) => f.t === 'ihave' && JSON.stringify(f).includes(later.id)), 5000, 'an IHAVE of it');
  await new Promise((r) => setTimeout(r, 300));
  expect(streamedIds(h)).not.toContain(later.id);
  // asked again, alice streams it
  askCatchUp(h);
  await eventually(async () => streamedIds(h).includes(later.id), 5000, 'the event, by catch-up');
});

it('streams on what a catch-up brought it to the neighbours that lack it (the tree does not carry that)', async () => {
  const lacking = await caughtUpNeighbour();
  const holder = await neighbour();
  const log = [holder.profile('one'), holder.profile('two'), holder.profile('three')];
  holder.send({ t: 'vv', have: { [holder.peerId]: log.length }, full: true });
  holder.sendEvents(log);
  await eventually(async () => streamedIds(lacking).includes(log[2]!.id), 1500, 'holder’s log streamed on to the neighbour that lacks it');
});
