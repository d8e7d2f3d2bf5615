/**
 * Scenario 4: discovery on a LAN of network namespaces (test/helpers/netns.ts).
 * Five Chatty peers, one per namespace, started at the same moment with mDNS
 * and no addresses; for each, the time from spawning its process to being
 * connected to all four others (polling `peers` every 20 ms). The figure is
 * the slowest peer's (the mesh is complete then); `ready` is reported too, so
 * the part spent in start-up is visible.
 *
 * Baseline: the same namespaces, plain-ws processes given each other's
 * addresses up front (no discovery), dialling every 20 ms until connected.
 *
 * Skipped with the reason printed when namespaces cannot be created here.
 */
import type { BenchContext } from '../lib/context.js';
import { startPeer, stopAll, type BenchPeer, type PeerKind } from '../lib/peers.js';
import { sleep, wallNow } from '../lib/util.js';
import { createLan, namespaceSupport, type Lan } from '../../test/helpers/netns.js';

const N = 5;

/** The LAN of a discovery run in progress, so an interrupted bench can still remove its namespaces. */
let activeLan: Lan | undefined;
let destroying: Promise<void> | undefined;
/** Idempotent; concurrent callers (the signal handler, the scenario's finally) wait for the same removal. */
export function destroyActiveLan(): Promise<void> {
  const lan = activeLan;
  if (!lan) return destroying ?? Promise.resolve();
  activeLan = undefined;
  destroying = lan.destroy();
  return destroying;
}

async function once(lan: Lan, kind: PeerKind): Promise<{ mesh: number; ready: number }> {
  const hosts = lan.hosts.slice(0, N);
  const peers: BenchPeer[] = [];
  try {
    const started = await Promise.all(
      hosts.map((h) =>
        kind === 'chatty'
          ? startPeer('chatty', h.name, { mdns: true, port: 7447, wrap: ['ip', 'netns', 'exec', h.ns] })
          : startPeer('baseline', h.name, {
              port: 7500,
              host: '0.0.0.0',
              peers: hosts.filter((o) => o !== h).map((o) => `ws://${o.ip}:7500`),
              wrap: ['ip', 'netns', 'exec', h.ns],
            }),
      ),
    );
    peers.push(...started);
    const doneAt = await Promise.all(
      peers.map(async (p) => {
        const end = wallNow() + 30_000;
        while (wallNow() < end) {
          if ((await p.connectedCount()) >= N - 1) return wallNow();
          await sleep(20);
        }
        throw new Error(`${kind} ${p.name} not connected to all others after 30 s`);
      }),
    );
    const mesh = Math.max(...peers.map((p, i) => doneAt[i]! - p.spawnedAt)) / 1000;
    const ready = Math.max(...peers.map((p) => p.readyAt - p.spawnedAt)) / 1000;
    return { mesh, ready };
  } finally {
    await stopAll(peers);
  }
}

export async function runDiscovery(ctx: BenchContext): Promise<void> {
  const support = await namespaceSupport();
  if (!support.ok) {
    ctx.report.skip('discovery', `network namespaces unavailable: ${support.reason}`);
    return;
  }
  const lan = await createLan(N, { prefix: 'bench' });
  activeLan = lan;
  const chatty = { mesh: [] as number[], ready: [] as number[] };
  const base = { mesh: [] as number[], ready: [] as number[] };
  try {
    for (let r = 0; r < ctx.repeat; r++) {
      const c = await once(lan, 'chatty');
      chatty.mesh.push(c.mesh);
      chatty.ready.push(c.ready);
      const b = await once(lan, 'baseline');
      base.mesh.push(b.mesh);
      base.ready.push(b.ready);
      ctx.log(
        `discovery: Chatty full mesh by mDNS ${c.mesh.toFixed(2)} s (ready ${c.ready.toFixed(2)} s); baseline by address ${b.mesh.toFixed(2)} s`,
      );
      // mDNS goodbyes of the stopped peers must not reach the next round's peers.
      await sleep(1000);
    }
  } finally {
    await destroyActiveLan();
  }
  const scenario = `discovery, ${N} namespaces`;
  ctx.report.add({
    scenario,
    metric: 'process start → connected to all',
    unit: 's',
    chatty: chatty.mesh,
    baseline: base.mesh,
    better: 'lower',
    target: '< 1 s',
    note: 'baseline: addresses given, no discovery',
  });
  ctx.report.add({ scenario, metric: 'process start → ready', unit: 's', chatty: chatty.ready, baseline: base.ready, better: 'lower' });
  ctx.report.raw.discovery = { chatty, baseline: base };
}
