/**
 * The overlay on a namespace LAN with multicast: mDNS finds every peer (`peers` lists them all),
 * yet each holds only its active view of links; a message reaches everyone along the tree, and a
 * partition that heals is merged back by the overlay's probe.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLan, namespaceSupport, type Lan } from '../helpers/netns.js';
import { eventually, PeerProcess } from '../helpers/peer-process.js';

const support = await namespaceSupport();
if (!support.ok) console.warn(`[lan] skipped: network namespaces unavailable here (${support.reason})`);

const N = 10;
/** A small active view, so the bound shows on 10 hosts. */
const LINKS = 3;
/** Shuffle replies and probes open short-lived links (closed after a few seconds) on top of the view. */
const TRANSIENT = 2;

describe.skipIf(!support.ok)('the overlay on a LAN', () => {
  let lan: Lan;
  const peers: PeerProcess[] = [];
  let room: string;

  beforeAll(async () => {
    lan = await createLan(N, { prefix: 'ovl' });
    peers.push(
      ...(await Promise.all(
        lan.hosts.map((h, i) =>
          PeerProcess.start({
            nick: `h${i}`,
            port: 7447,
            mdns: true,
            wrap: ['ip', 'netns', 'exec', h.ns],
            extraArgs: ['--links', String(LINKS)],
          }),
        ),
      )),
    );
  }, 90_000);

  afterAll(async () => {
    await Promise.all(peers.map((p) => p.kill9()));
    await lan?.destroy();
  });

  it('finds every peer by mDNS but holds only its active view of links', async () => {
    await eventually(
      async () => (await Promise.all(peers.map((p) => p.call('peers')))).every((list) => list.length === N - 1),
      20_000,
      'every peer listed by every other',
    );
    const links = async () => Promise.all(peers.map(async (p) => (await p.call('stats')).links));
    // the overlay forms within moments of discovery
    await eventually(async () => (await links()).every((n) => n > 0), 10_000, 'every peer linked');
    const samples: number[] = [];
    for (let k = 0; k < 5; k++) {
      samples.push(...(await links()));
      await new Promise((r) => setTimeout(r, 400));
    }
    console.log(`[lan] links per peer (5 samples): max ${Math.max(...samples)}, min ${Math.min(...samples)}`);
    expect(Math.max(...samples)).toBeLessThanOrEqual(LINKS + TRANSIENT);
    expect(Math.min(...samples)).toBeGreaterThan(0);
  });

  it('delivers a message from each peer to all along the tree', async () => {
    room = (await peers[0]!.call('join', { room: 'floor' })).id;
    await eventually(
      async () => (await Promise.all(peers.map((p) => p.call('rooms')))).every((r) => r.some((x) => x.id === room)),
      60_000, // generous: in `npm test` other suites load the machine meanwhile
      'the room everywhere',
    );
    await Promise.all(peers.map((p) => p.call('join', { room })));
    await Promise.all(peers.map((p, i) => p.call('send', { room, text: `from h${i}` })));
    await eventually(
      async () => (await Promise.all(peers.map((p) => p.call('history', { room })))).every((h) => h.length === N),
      60_000,
      'every message everywhere',
    );
  });

  it('merges the two halves of a healed partition: what each wrote reaches the other', async () => {
    const [left, right] = [lan.hosts.slice(0, N / 2), lan.hosts.slice(N / 2)];
    await lan.partition([left, right]);
    // until the keep-alives have dropped every link across: the halves are two overlays now
    const half = (i: number) => (i < N / 2 ? 0 : 1);
    const ids = peers.map((p) => p.peerId);
    await eventually(
      async () =>
        (await Promise.all(peers.map((p) => p.call('peers')))).every((list, i) =>
          list.every((x) => !x.connected || half(ids.indexOf(x.peerId)) === half(i)),
        ),
      30_000,
      'no link across the partition',
      500,
    );
    await Promise.all(peers.map((p, i) => p.call('send', { room, text: `split h${i}` })));
    // each half converges on its own
    await eventually(
      async () => (await Promise.all(peers.map((p) => p.call('history', { room })))).every((h) => h.length === N + N / 2),
      30_000,
      'each half holds its own messages',
    );
    await lan.heal();
    await eventually(
      async () => (await Promise.all(peers.map((p) => p.call('history', { room })))).every((h) => h.length === 2 * N),
      60_000,
      'both halves merged',
      500,
    );
  }, 120_000);
});
