/**
 * Presence across a bounded overlay: a status reaches peers that are not neighbours, a peer not
 * heard of goes offline (kill -9), and a forged or replayed record changes nothing.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { signBytes } from '../../src/peer/crypto.js';
import { presenceSignedBytes } from '../../src/peer/presence.js';
import { HostilePeer } from '../helpers/hostile-peer.js';
import { eventually, PeerProcess } from '../helpers/peer-process.js';

const HEARTBEAT_MS = 400;
const peers: PeerProcess[] = [];

beforeAll(async () => {
  const env = { CHATTY_TEST_PRESENCE_MS: String(HEARTBEAT_MS) };
  // two neighbours each at most: with five peers, some pairs are never linked
  const first = await PeerProcess.start({ nick: 'p0', env, extraArgs: ['--links', '2'] });
  peers.push(first);
  for (let i = 1; i < 5; i++) {
    peers.push(await PeerProcess.start({ nick: `p${i}`, env, extraArgs: ['--links', '2'], peers: [peers[i - 1]!.url] }));
  }
  for (const p of peers) {
    await eventually(
      async () => (await p.call('peers')).filter((x) => x.status !== 'offline').length === 4,
      20_000,
      `${p.opts.nick} sees the four others online`,
    );
  }
});

afterAll(async () => {
  await Promise.all(peers.map((p) => p.stop()));
});

it('reaches peers that are not neighbours, through the overlay', async () => {
  const setter = peers[4]!;
  await setter.call('setStatus', { status: 'busy', text: 'deploying' });
  for (const p of peers.slice(0, 4)) {
    await eventually(
      async () => (await p.call('peers')).find((x) => x.peerId === setter.peerId)?.status === 'busy',
      10_000,
      `${p.opts.nick} sees busy`,
    );
  }
  // someone saw it without a link to the setter: the status travelled through others
  const views = await Promise.all(peers.slice(0, 4).map(async (p) => (await p.call('peers')).find((x) => x.peerId === setter.peerId)!));
  expect(views.some((v) => !v.connected && v.status === 'busy' && v.statusText === 'deploying' && v.state !== 'connected')).toBe(true);
});

it('shows a peer offline a few heartbeats after it vanished', async () => {
  const gone = peers[2]!;
  await gone.kill9();
  for (const p of [peers[0]!, peers[4]!]) {
    await eventually(
      async () => (await p.call('peers')).find((x) => x.peerId === gone.peerId)?.status === 'offline',
      15_000,
      `${p.opts.nick} sees p2 offline`,
    );
    await p.waitFor('status', (s) => s.peerId === gone.peerId && s.status === 'offline', 1000);
  }
});

it("drops a forged status and an old one replayed, and keeps the peer's own", async () => {
  const target = peers[0]!;
  const victim = peers[4]!; // busy, from the first test
  const h = new HostilePeer();
  expect(await h.handshake(target.url)).toBe(true);
  const record = (peerId: string, status: 'online' | 'away' | 'busy', seq: number) => {
    const signed = { peerId, status, seq };
    return { ...signed, sig: signBytes(h.key.privateKey, presenceSignedBytes(signed)) };
  };
  // the victim's id, signed with another key: dropped
  h.send({ t: 'presence', records: [record(victim.peerId, 'away', Date.now() + 60_000)] });
  // its own status: taken
  const seq = Date.now();
  h.send({ t: 'presence', records: [record(h.peerId, 'away', seq)] });
  await target.waitFor('status', (s) => s.peerId === h.peerId && s.status === 'away', 5000);
  // an older record of its own, replayed: changes nothing
  h.send({ t: 'presence', records: [record(h.peerId, 'busy', seq - 1000)] });
  await new Promise((r) => setTimeout(r, 500));
  const list = await target.call('peers');
  expect(list.find((x) => x.peerId === victim.peerId)?.status).toBe('busy');
  expect(list.find((x) => x.peerId === h.peerId)?.status).toBe('away');
  // malformed records get the link refused with a clear reason, and the peer stays up
  h.send({ t: 'presence', records: [{ peerId: h.peerId, status: 'asleep', seq: 1, sig: 'x' }] });
  expect((await h.rejection()).reason).toBe('bad_frame');
  expect((await target.call('whoami')).peerId).toBe(target.peerId);
  h.close();
});
