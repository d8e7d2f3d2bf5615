/**
 * Discovery on this machine, several instances in one process. No multicast reaches a real
 * network: every socket uses loopback as its multicast interface (`interfaces: ['127.0.0.1']`)
 * and a random private UDP port instead of 5353, so neither the LAN nor another process
 * (a system mDNS daemon, a parallel test run) sees these packets.
 * The real-network behaviour (port 5353, several hosts, avahi) is covered by test/lan/discovery.test.ts.
 */
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { Bonjour } from 'bonjour-service';
import { Discovery, instanceName, urlsFor, type DiscoveredPeer, type DiscoveryOptions } from '../../src/peer/discovery.js';
import { PROTOCOL_VERSION } from '../../src/shared/wire.js';

const LOOPBACK = '127.0.0.1';
const mdnsPort = 20_000 + Math.floor(Math.random() * 30_000);

function newPeerId(): string {
  return randomBytes(32).toString('base64url');
}

interface Probe {
  d: Discovery;
  peerId: string;
  port: number;
  up: Map<string, DiscoveredPeer>;
  events: { ev: 'up' | 'down'; peerId: string; at: number; peer?: DiscoveredPeer }[];
}

const running: Discovery[] = [];
const cleanups: (() => Promise<void> | void)[] = [];

function start(over: Partial<DiscoveryOptions> = {}): Probe {
  const peerId = over.peerId ?? newPeerId();
  const port = over.port ?? 30_000 + running.length;
  const d = new Discovery({
    peerId,
    port,
    nick: `nick-${running.length}`,
    interfaces: [LOOPBACK],
    mdnsPort,
    queryIntervalMs: 500,
    staleAfterMs: 2500,
    ...over,
  });
  const probe: Probe = { d, peerId, port, up: new Map(), events: [] };
  d.on('up', (peer) => {
    probe.up.set(peer.peerId, peer);
    probe.events.push({ ev: 'up', peerId: peer.peerId, at: Date.now(), peer });
  });
  d.on('down', (id) => {
    probe.up.delete(id);
    probe.events.push({ ev: 'down', peerId: id, at: Date.now() });
  });
  d.start();
  running.push(d);
  return probe;
}

async function waitFor(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

afterEach(async () => {
  await Promise.all(running.splice(0).map((d) => d.stop()));
  for (const c of cleanups.splice(0)) await c();
});

describe('urlsFor', () => {
  it('puts IPv4 first (the packet source first of all), brackets IPv6, skips link-local IPv6', () => {
    expect(urlsFor(['fd00::5', '10.0.0.2', 'fe80::1', '192.168.1.9', '10.0.0.2'], 7447, '192.168.1.9')).toEqual([
      'ws://192.168.1.9:7447',
      'ws://10.0.0.2:7447',
      'ws://[fd00::5]:7447',
    ]);
    expect(urlsFor(['fe80::1'], 1)).toEqual([]);
    expect(urlsFor(['10.1.1.1'], 1, '10.9.9.9')).toEqual(['ws://10.1.1.1:1']);
  });

  it('names the instance after the peer id', () => {
    expect(instanceName('abcdefghijklmnopqrstu')).toBe('chatty-abcdefghijkl');
  });
});

describe('Discovery (loopback, private mDNS port)', () => {
  it('three peers find each other with their urls and nicks, and ignore themselves', async () => {
    const peers = [start(), start(), start()];
    await waitFor(() => peers.every((p) => p.up.size === 2), 5000, 'every peer to see the two others');
    for (const p of peers) {
      expect(p.up.has(p.peerId)).toBe(false);
      for (const q of peers) {
        if (q === p) continue;
        const seen = p.up.get(q.peerId);
        expect(seen).toEqual({
          peerId: q.peerId,
          urls: [`ws://${LOOPBACK}:${q.port}`],
          version: PROTOCOL_VERSION,
          nick: expect.any(String),
        });
      }
      expect(
        p.d
          .peers()
          .map((x) => x.peerId)
          .sort(),
      ).toEqual(
        peers
          .filter((q) => q !== p)
          .map((q) => q.peerId)
          .sort(),
      );
    }
    // No flapping: exactly one 'up' per peer seen, no 'down'.
    await new Promise((r) => setTimeout(r, 1500));
    for (const p of peers) {
      expect(p.events.filter((e) => e.ev === 'down')).toEqual([]);
      expect(p.events.filter((e) => e.ev === 'up')).toHaveLength(2);
    }
  });

  it('ignores a peer speaking another protocol version (both ways)', async () => {
    const a = start();
    const b = start();
    const other = start({ version: PROTOCOL_VERSION + 1 });
    await waitFor(() => a.up.has(b.peerId) && b.up.has(a.peerId), 5000, 'a and b to meet');
    await new Promise((r) => setTimeout(r, 1500)); // several query rounds
    expect(a.up.has(other.peerId)).toBe(false);
    expect(b.up.has(other.peerId)).toBe(false);
    expect(other.up.size).toBe(0);
  });

  it('stop() says goodbye: the others see the peer down at once', async () => {
    const peers = [start({ staleAfterMs: 60_000, queryIntervalMs: 20_000 }), start(), start()];
    await waitFor(() => peers.every((p) => p.up.size === 2), 5000, 'everyone to meet');
    const [leaving, ...stay] = peers as [Probe, Probe, Probe];
    running.splice(running.indexOf(leaving.d), 1);
    const t0 = Date.now();
    await leaving.d.stop();
    await waitFor(() => stay.every((p) => !p.up.has(leaving.peerId)), 2000, "the others to see the leaver 'down'");
    expect(Date.now() - t0).toBeLessThan(2000);
    for (const p of stay) expect(p.events.at(-1)).toMatchObject({ ev: 'down', peerId: leaving.peerId });
    // And it stays down (nothing answers for it any more).
    await new Promise((r) => setTimeout(r, 1200));
    for (const p of stay) expect(p.up.has(leaving.peerId)).toBe(false);
    await leaving.d.stop(); // idempotent
  });

  it('setNick() is announced as an update', async () => {
    const a = start();
    const b = start({ nick: 'before' });
    await waitFor(() => a.up.get(b.peerId)?.nick === 'before', 5000, 'a to see b');
    b.d.setNick('after');
    await waitFor(() => a.up.get(b.peerId)?.nick === 'after', 3000, 'a to see the new nick');
    expect(a.events.filter((e) => e.ev === 'down')).toEqual([]);
  });

  it('finds a standard DNS-SD publisher (bonjour-service publish) and expires it when it vanishes without goodbye', async () => {
    const a = start({ queryIntervalMs: 400, staleAfterMs: 2000 });
    const foreignId = newPeerId();
    const bonjour = new Bonjour({ interface: LOOPBACK, bind: '0.0.0.0', port: mdnsPort } as never, () => {});
    let destroyed = false;
    cleanups.push(() => {
      if (!destroyed) bonjour.destroy();
    });
    bonjour.publish({
      name: instanceName(foreignId),
      type: 'chatty',
      port: 4242,
      host: 'foreign-host.local',
      txt: { id: foreignId, v: String(PROTOCOL_VERSION), nick: 'foreign' },
    });
    await waitFor(() => a.up.has(foreignId), 6000, 'the foreign service to be found');
    const seen = a.up.get(foreignId)!;
    expect(seen.nick).toBe('foreign');
    expect(seen.urls.length).toBeGreaterThan(0);
    for (const u of seen.urls) expect(u).toMatch(/^ws:\/\/(\d+\.\d+\.\d+\.\d+|\[[0-9a-f:]+\]):4242$/);
    // Vanish without goodbye (like kill -9): it must go down once stale, not after the 75 min PTR TTL.
    destroyed = true;
    const t0 = Date.now();
    bonjour.destroy();
    await waitFor(() => !a.up.has(foreignId), 5000, 'the silent service to expire');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1000);
  });

  it('never throws on socket errors (mDNS port taken without SO_REUSEADDR)', async () => {
    const port = 20_000 + Math.floor(Math.random() * 30_000);
    const blocker = dgram.createSocket({ type: 'udp4', reuseAddr: false });
    await new Promise<void>((resolve) => blocker.bind(port, '0.0.0.0', resolve));
    cleanups.push(() => new Promise<void>((r) => blocker.close(() => r())));
    const errors: string[] = [];
    const logger = {
      child: () => logger,
      error: (o: unknown, msg?: string) => errors.push(`${JSON.stringify(o)} ${msg ?? ''}`),
      warn: () => {},
      info: () => {},
      debug: () => {},
    };
    const p = start({ mdnsPort: port, logger: logger as never });
    await waitFor(() => errors.length > 0, 3000, 'the bind error to be logged');
    expect(errors.join()).toMatch(/EADDRINUSE/);
    await p.d.stop();
  });
});
