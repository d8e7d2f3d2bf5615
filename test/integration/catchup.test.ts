/**
 * Catch-up from several neighbours: each missing range is pulled from one of them, and a neighbour
 * that claims a range and does not deliver it loses it to the others.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { SYNC_TUNING } from '../../src/peer/sync.js';
import { HostilePeer } from '../helpers/hostile-peer.js';
import { eventually, PeerProcess } from '../helpers/peer-process.js';

const MESSAGES = 600;
const peers: PeerProcess[] = [];
let alice: PeerProcess;
let bob: PeerProcess;
let room: string;
let last: string;

beforeAll(async () => {
  alice = await PeerProcess.start({ nick: 'alice' });
  bob = await PeerProcess.start({ nick: 'bob', peers: [alice.url] });
  peers.push(alice, bob);
  room = (await alice.call('join', { room: 'backlog' })).id;
  const sent = await Promise.all(Array.from({ length: MESSAGES }, (_, i) => alice.call('send', { room, text: `m${i}` })));
  last = sent[sent.length - 1]!.id;
  await eventually(async () => (await bob.call('history', { room, limit: 1 }))[0]?.id === last, 20_000, 'bob holds the backlog');
});

afterAll(async () => {
  await Promise.all(peers.map((p) => p.stop()));
});

it('takes each missing event from one neighbour only', async () => {
  const carol = await PeerProcess.start({ nick: 'carol', peers: [alice.url, bob.url] });
  peers.push(carol);
  await eventually(async () => (await carol.call('history', { room, limit: 1 }))[0]?.id === last, 20_000, 'carol caught up');
  const { events } = await carol.call('stats');
  // every event of the room and of both logs was missing; a few may cross before the plan lands
  expect(events.duplicates).toBeLessThan(MESSAGES / 10);
});

it('hands a range back when the neighbour that claimed it delivers nothing', async () => {
  const dave = await PeerProcess.start({ nick: 'dave' });
  peers.push(dave);
  // a neighbour that claims to hold far more of alice's log than anyone, then stays silent
  const liar = new HostilePeer();
  expect(await liar.handshake(dave.url)).toBe(true);
  liar.send({ t: 'vv', have: { [alice.peerId]: 1_000_000 }, full: true, skip: {} });
  await new Promise((r) => setTimeout(r, 200)); // dave plans alice's log onto the liar
  await dave.call('connect', { url: alice.url });
  const started = Date.now();
  await eventually(async () => (await dave.call('history', { room, limit: 1 }))[0]?.id === last, 30_000, 'dave caught up anyway');
  // it took the stall detection, not the liar's good will
  expect(Date.now() - started).toBeGreaterThan(SYNC_TUNING.stallMs / 2);
  liar.close();
});

it('streams one chunk of each author in turn, so what arrives can be delivered as it arrives', async () => {
  // bob's log grows past one chunk too: alice's and bob's messages of a time depend on each other
  await bob.call('join', { room });
  await Promise.all(Array.from({ length: SYNC_TUNING.chunkEvents + 50 }, (_, i) => bob.call('send', { room, text: `b${i}` })));
  const reader = new HostilePeer();
  const authors: string[] = [];
  reader.onFrames((frame) => {
    const events = frame.t === 'events' ? (frame.events as { author: string }[]) : [];
    if (events.length) authors.push(events[0]!.author);
  });
  expect(await reader.handshake(bob.url)).toBe(true);
  reader.send({ t: 'vv', have: {}, full: true, skip: {} });
  const framesOf = (peer: PeerProcess) => authors.filter((a) => a === peer.peerId).length;
  await eventually(async () => framesOf(alice) >= 2 && framesOf(bob) >= 2, 10_000, 'both logs from bob, in several chunks');
  reader.close();
  // neither log is sent whole before the other starts
  expect(authors.indexOf(bob.peerId)).toBeLessThan(authors.lastIndexOf(alice.peerId));
  expect(authors.indexOf(alice.peerId)).toBeLessThan(authors.lastIndexOf(bob.peerId));
});

it('stops reading a neighbour that sends faster than it can handle, and loses nothing of it', async () => {
  const erin = await PeerProcess.start({ nick: 'erin' });
  peers.push(erin);
  const flood = new HostilePeer();
  expect(await flood.handshake(erin.url)).toBe(true);
  // a log in large frames (checked on erin's worker), all sent at once: far more frames than she lets wait
  const frames = SYNC_TUNING.framesBehind * 4;
  const perFrame = 250;
  const log = Array.from({ length: frames * perFrame }, (_, i) => flood.profile(`flood${i}`));
  for (let f = 0; f < frames; f++) flood.sendEvents(log.slice(f * perFrame, (f + 1) * perFrame));
  // she holds the whole log: asked for everything she holds, she sends all of it back
  const returned = () =>
    Math.max(
      0,
      ...flood
        .eventsReceived()
        .filter((e) => e.author === flood.peerId)
        .map((e) => e.seq),
    );
  await eventually(
    async () => {
      flood.send({ t: 'vv', have: {}, full: true, skip: {} });
      await new Promise((r) => setTimeout(r, 300));
      return returned() === log.length;
    },
    30_000,
    'erin holds the whole log',
  );
  const { events } = await erin.call('stats');
  expect(events.pauses).toBeGreaterThan(0);
  flood.close();
});
