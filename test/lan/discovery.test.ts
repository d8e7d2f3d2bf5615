/**
 * mDNS discovery on a real (virtual) LAN: four network namespaces on one bridge, one Chatty
 * Discovery process per host on the standard port 5353, plus Avahi as a standard DNS-SD client.
 * Nothing leaves the namespaces (see test/helpers/netns.ts). Needs root + iproute2; the Avahi
 * check also needs avahi-daemon, avahi-utils and dbus. Skipped, with the reason, otherwise.
 */
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLan, namespaceSupport, type Lan, type LanHost } from '../helpers/netns.js';
import { avahiMissing, startAvahi, type AvahiObserver } from '../helpers/netns-avahi.js';
import { instanceName, type DiscoveredPeer } from '../../src/peer/discovery.js';
import { PROTOCOL_VERSION } from '../../src/shared/wire.js';

const support = await namespaceSupport();
if (!support.ok) console.warn(`[lan/discovery] SKIPPED: cannot create network namespaces: ${support.reason}`);
const avahiReason = support.ok ? await avahiMissing() : undefined;
if (avahiReason) console.warn(`[lan/discovery] avahi check SKIPPED: ${avahiReason}`);

const QUERY_MS = 2000;
const STALE_MS = 7000;

interface PeerProc {
  host: LanHost;
  peerId: string;
  port: number;
  proc: ChildProcess;
  up: Map<string, DiscoveredPeer>;
  events: { t: number; ev: string; peerId?: string; peer?: DiscoveredPeer }[];
  stderr: string;
}

function startPeer(lan: Lan, host: LanHost, port: number): PeerProc {
  const peerId = randomBytes(32).toString('base64url');
  const proc = lan.spawn(
    host,
    process.execPath,
    [
      '--import',
      'tsx',
      'test/helpers/mdns-peer.ts',
      `--id=${peerId}`,
      `--port=${port}`,
      `--nick=nick-${host.name}`,
      ...['--query-ms', String(QUERY_MS), '--stale-ms', String(STALE_MS)],
    ],
    { cwd: process.cwd(), env: { ...process.env, CHATTY_LOG: 'info' } },
  );
  const p: PeerProc = { host, peerId, port, proc, up: new Map(), events: [], stderr: '' };
  createInterface({ input: proc.stdout! }).on('line', (line) => {
    let msg: { t: number; ev: string; peerId?: string; peer?: DiscoveredPeer };
    try {
      msg = JSON.parse(line) as typeof msg;
    } catch {
      return;
    }
    p.events.push(msg);
    if (msg.ev === 'up' && msg.peer) p.up.set(msg.peer.peerId, msg.peer);
    if (msg.ev === 'down' && msg.peerId) p.up.delete(msg.peerId);
  });
  proc.stderr?.on('data', (d: Buffer) => {
    p.stderr = (p.stderr + d.toString()).slice(-20_000);
  });
  return p;
}

async function waitFor(cond: () => boolean | Promise<boolean>, timeoutMs: number, what: string, diag?: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${diag ? `\n${diag()}` : ''}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const exited = (p: PeerProc) =>
  new Promise<void>((r) => (p.proc.exitCode !== null || p.proc.signalCode !== null ? r() : p.proc.once('exit', () => r())));

describe.skipIf(!support.ok)('mDNS discovery on a namespace LAN', () => {
  let lan: Lan | undefined;
  let peers: PeerProc[] = [];
  let avahi: AvahiObserver | undefined;
  const diag = () =>
    peers
      .map((p) => `${p.host.name} ${p.peerId.slice(0, 8)} up=[${[...p.up.keys()].map((k) => k.slice(0, 8))}]\n${p.stderr.slice(-2000)}`)
      .join('\n');
  const downAt = (observer: PeerProc, peerId: string) => observer.events.find((e) => e.ev === 'down' && e.peerId === peerId)?.t;

  beforeAll(async () => {
    lan = await createLan(4);
    peers = lan.hosts.map((h, i) => startPeer(lan!, h, 7000 + i));
  });

  afterAll(async () => {
    await avahi?.stop().catch(() => undefined);
    await lan?.destroy();
  });

  it('every peer finds every other one, with its address and port', async () => {
    await waitFor(() => peers.every((p) => p.up.size === peers.length - 1), 20_000, 'everyone to see everyone', diag);
    for (const p of peers) {
      for (const q of peers) {
        if (q === p) continue;
        expect(p.up.get(q.peerId)).toEqual({
          peerId: q.peerId,
          urls: [`ws://${q.host.ip}:${q.port}`],
          version: PROTOCOL_VERSION,
          nick: `nick-${q.host.name}`,
        });
      }
    }
  });

  it.skipIf(!!avahiReason)('avahi-browse sees every peer with port and TXT id, v, nick', async () => {
    // On h3, next to a Chatty peer: avahi-daemon and Chatty share UDP 5353 as on a Linux desktop.
    avahi = await startAvahi(lan!, lan!.hosts[3]!);
    let found: Awaited<ReturnType<AvahiObserver['browse']>> = [];
    await waitFor(
      async () => {
        found = await avahi!.browse('_chatty._tcp');
        return peers.every((p) => found.some((s) => s.txt.id === p.peerId));
      },
      20_000,
      'avahi-browse to list every peer',
      () => JSON.stringify(found, null, 1),
    );
    for (const p of peers) {
      const s = found.find((x) => x.txt.id === p.peerId)!;
      expect(s).toMatchObject({
        name: instanceName(p.peerId),
        type: '_chatty._tcp',
        domain: 'local',
        address: p.host.ip,
        port: p.port,
        txt: { id: p.peerId, v: String(PROTOCOL_VERSION), nick: `nick-${p.host.name}` },
      });
      expect(s.host).toMatch(/^chatty-[0-9a-f]{12}\.local$/);
    }
  });

  it('a partition makes the other side go down (expiry), healing brings it back', async () => {
    const [a, b, c, d] = peers as [PeerProc, PeerProc, PeerProc, PeerProc];
    await lan!.partition([
      [a.host, b.host],
      [c.host, d.host],
    ]);
    const t0 = Date.now();
    await waitFor(
      () => !a.up.has(c.peerId) && !a.up.has(d.peerId) && !c.up.has(a.peerId) && !c.up.has(b.peerId),
      STALE_MS + 3 * QUERY_MS + 2000,
      'each side to see the other side down',
      diag,
    );
    expect(Date.now() - t0).toBeGreaterThanOrEqual(STALE_MS / 2); // by expiry, not by goodbye
    expect(a.up.has(b.peerId) && c.up.has(d.peerId)).toBe(true); // own side unaffected
    await lan!.heal();
    await waitFor(() => peers.every((p) => p.up.size === peers.length - 1), 3 * QUERY_MS + 2000, 'everyone to meet again', diag);
  });

  it('SIGTERM: the peer says goodbye and the others see it down within 2 s', async () => {
    const leaving = peers[2]!;
    const others = peers.filter((p) => p !== leaving);
    const t0 = Date.now();
    leaving.proc.kill('SIGTERM');
    await waitFor(() => others.every((p) => !p.up.has(leaving.peerId)), 2000, 'goodbye to reach everyone', diag);
    for (const p of others) expect(downAt(p, leaving.peerId)! - t0).toBeLessThan(2000);
    await exited(leaving);
    expect(leaving.events.at(-1)?.ev).toBe('stopped');
    if (avahi) {
      await waitFor(
        async () => !(await avahi!.browse('_chatty._tcp')).some((s) => s.txt.id === leaving.peerId),
        5000,
        'avahi to drop the peer',
      );
    }
  });

  it('cable pulled, then kill -9: the others see it down by expiry', async () => {
    const victim = peers[1]!;
    const others = [peers[0]!, peers[3]!];
    await lan!.linkDown(victim.host);
    victim.proc.kill('SIGKILL');
    const t0 = Date.now();
    await waitFor(() => others.every((p) => !p.up.has(victim.peerId)), STALE_MS + 3 * QUERY_MS + 2000, 'expiry of the silent peer', diag);
    expect(Date.now() - t0).toBeLessThan(STALE_MS + 3 * QUERY_MS + 2000);
    // The survivors still see each other.
    expect(peers[0]!.up.has(peers[3]!.peerId) && peers[3]!.up.has(peers[0]!.peerId)).toBe(true);
  });

  it('a restarted peer on the cable plugged back in is found again', async () => {
    const host = peers[1]!.host;
    await lan!.linkUp(host);
    const again = startPeer(lan!, host, 7101);
    peers.push(again);
    const others = [peers[0]!, peers[3]!];
    await waitFor(
      () => others.every((p) => p.up.get(again.peerId)?.urls[0] === `ws://${host.ip}:7101`) && again.up.size === 2,
      10_000,
      'the new peer and the others to meet',
      diag,
    );
  });
});

describe.skipIf(!support.ok)('mDNS discovery with a host on two LAN segments', () => {
  let lan: Lan | undefined;
  const peers: PeerProc[] = [];
  const diag = () => peers.map((p) => `${p.host.name} up=${JSON.stringify([...p.up.values()])}\n${p.stderr.slice(-2000)}`).join('\n');

  afterAll(async () => {
    await lan?.destroy();
  });

  it('a dual-homed peer is seen on both segments with the address of each, and picks up a NIC added while running', async () => {
    lan = await createLan(3);
    const [a, b, c] = lan.hosts as [LanHost, LanHost, LanHost];
    await lan.partition([[c]]); // c alone on a second segment
    peers.push(startPeer(lan, a, 7200), startPeer(lan, b, 7201), startPeer(lan, c, 7202));
    const [pa, pb, pc] = peers as [PeerProc, PeerProc, PeerProc];
    await waitFor(() => pa.up.has(pb.peerId) && pb.up.has(pa.peerId), 20_000, 'a and b to meet', diag);
    expect(pc.up.size).toBe(0);

    // b gets a second NIC on c's segment while running: found within the interface rescan period (5 s) plus a query.
    const second = `10.78.${1 + Math.floor(Math.random() * 254)}`;
    await lan.addNic(b, 'brp1', `${second}.11/24`);
    await waitFor(() => pc.up.has(pb.peerId) && pb.up.has(pc.peerId), 15_000, 'b and c to meet over the new NIC', diag);
    expect(pc.up.get(pb.peerId)!.urls[0]).toBe(`ws://${second}.11:7201`);
    expect(pa.up.get(pb.peerId)!.urls).toEqual([`ws://${b.ip}:7201`]);
    // a and c are on different segments: they never meet.
    await new Promise((r) => setTimeout(r, 2 * QUERY_MS));
    expect(pa.up.has(pc.peerId) || pc.up.has(pa.peerId)).toBe(false);
  });
});
