/**
 * Full peers on a namespace LAN where discovery by multicast cannot work:
 * one `--peer` address is enough (peer exchange), and after a restart the
 * peers find each other again from the addresses they remembered. Also how
 * fast a clean exit and a kill -9 are seen.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLan, namespaceSupport, type Lan } from '../helpers/netns.js';
import { eventually, PeerProcess } from '../helpers/peer-process.js';

const execFileP = promisify(execFile);
const support = await namespaceSupport();
if (!support.ok) console.warn(`[lan] skipped: network namespaces unavailable here (${support.reason})`);

describe.skipIf(!support.ok)('peers without multicast', () => {
  let lan: Lan;
  let peers: PeerProcess[] = [];
  const N = 4;

  const start = (i: number, opts: { peers?: string[]; dataDir?: string } = {}) =>
    PeerProcess.start({ nick: `n${i}`, port: 7447, mdns: true, wrap: ['ip', 'netns', 'exec', lan.hosts[i]!.ns], ...opts });

  const fullMesh = () =>
    eventually(
      async () => (await Promise.all(peers.map((p) => p.call('peers')))).every((l) => l.filter((p) => p.connected).length === N - 1),
      30_000,
      'a full mesh',
    );

  beforeAll(async () => {
    lan = await createLan(N, { prefix: 'nomc' });
    // the switch forwards no multicast (as Wi-Fi isolation or a strict switch would): mDNS reaches nobody
    for (const h of lan.hosts) await execFileP('bridge', ['-n', lan.bridge, 'link', 'set', 'dev', h.name, 'mcast_flood', 'off']);
  }, 60_000);

  afterAll(async () => {
    await Promise.all(peers.map((p) => p.kill9()));
    await lan?.destroy();
  });

  it('meshes from one known address per newcomer, through peer exchange', async () => {
    // a chain: each newcomer knows only the previous peer's address
    peers = [await start(0)];
    for (let i = 1; i < N; i++) peers.push(await start(i, { peers: [`ws://${lan.hosts[i - 1]!.ip}:7447`] }));
    await fullMesh();
    const seenBy3 = await peers[3]!.call('peers');
    expect(seenBy3.find((p) => p.peerId === peers[0]!.peerId)?.source).toBe('exchange');
    expect(seenBy3.find((p) => p.peerId === peers[2]!.peerId)?.source).toBe('manual');
  });

  it('sees a clean exit at once and a kill -9 within the keep-alive timeout', async () => {
    const watcher = peers[0]!;
    let t0 = Date.now();
    await peers[3]!.stop();
    await watcher.waitFor('peer', (e) => e.peerId === peers[3]!.peerId && e.state === 'down', 2000);
    const cleanMs = Date.now() - t0;
    // kill -9 behind a pulled cable: no FIN reaches anyone, only keep-alives tell
    await lan.linkDown(lan.hosts[2]!);
    t0 = Date.now();
    await peers[2]!.kill9();
    await watcher.waitFor('peer', (e) => e.peerId === peers[2]!.peerId && e.state === 'down', 10_000);
    console.log(`[lan] clean exit seen in ${cleanMs} ms, silent crash in ${Date.now() - t0} ms`);
    await lan.linkUp(lan.hosts[2]!);
  });

  it('reconnects after a restart of everyone from remembered addresses, without any --peer', async () => {
    await Promise.all(peers.map((p) => p.stop()));
    const dirs = peers.map((p) => p.dataDir);
    peers = await Promise.all(dirs.map((dataDir, i) => start(i, { dataDir })));
    await fullMesh();
    const sources = (await peers[0]!.call('peers')).map((p) => p.source);
    expect(sources).toContain('remembered');
  });

  it('finds peers by the opt-in fallback scan of the /24 when nothing else works', async () => {
    await Promise.all(peers.map((p) => p.stop()));
    // fresh data dirs: nothing remembered, no --peer, no multicast
    peers = await Promise.all(
      [0, 1].map((i) =>
        PeerProcess.start({
          nick: `s${i}`,
          port: 7447,
          mdns: true,
          extraArgs: ['--scan'],
          wrap: ['ip', 'netns', 'exec', lan.hosts[i]!.ns],
        }),
      ),
    );
    const found = await eventually(
      async () => (await peers[0]!.call('peers')).find((p) => p.connected),
      40_000,
      'a peer found by scanning',
    );
    expect(found.peerId).toBe(peers[1]!.peerId);
    expect([found.source, (await peers[1]!.call('peers')).find((p) => p.connected)?.source]).toContain('scan');
  }, 60_000);
});
