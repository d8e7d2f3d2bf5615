/**
 * The shared data set of the catch-up, memory and profile scenarios, made
 * once per run through real peers: four authors (A–D) and a fifth peer X
 * join ten rooms; X stops; A–D send BENCH_CATCHUP messages (pipelined,
 * round-robin over the rooms) and wait until each holds all of them; A then
 * sends one marker per room, whose causal past is the whole room, so a peer
 * that delivered the ten markers holds everything. The data directories are
 * kept as templates and copied for every repeat.
 */
import { cpSync } from 'node:fs';
import type { BenchContext } from './context.js';
import { startPeer, stopAll, waitFor, waitMesh, type BenchPeer, type ChattyPeer } from './peers.js';
import { sleep, wallNow } from './util.js';

export const ROOMS = Array.from({ length: 10 }, (_, i) => `room${i}`);

export interface Dataset {
  /** Template data dirs of A–D (everything) and of X (as it was when it went offline). */
  authorDirs: string[];
  offlineDir: string;
  messages: number;
  /** Marker message id per room: the last message of the room in history order. */
  markers: Map<string, string>;
  markerText: string;
  tag: string;
  /** Generation: messages/s accepted by A–D together while sending. */
  sendRate: number;
  seconds: number;
}

let cached: Promise<Dataset> | undefined;

export function dataset(ctx: BenchContext): Promise<Dataset> {
  cached ??= generate(ctx);
  return cached;
}

/** Copies a template data dir to a fresh temporary one (a peer must never run on the template). */
export function copyDir(ctx: BenchContext, template: string): string {
  const dir = ctx.tmp.make('chatty-bench-copy-');
  cpSync(template, dir, { recursive: true });
  return dir;
}

async function generate(ctx: BenchContext): Promise<Dataset> {
  const total = ctx.catchup;
  const tag = `cu${process.pid}`;
  ctx.log(`data set: 4 authors send ${total} messages over ${ROOMS.length} rooms while X is offline…`);
  const t0 = wallNow();
  const names = ['A', 'B', 'C', 'D', 'X'];
  const peers: BenchPeer[] = [];
  try {
    for (const name of names) peers.push(await startPeer('chatty', name, { dataDir: ctx.tmp.make(`chatty-bench-${name}-`) }));
    for (let i = 1; i < peers.length; i++) await Promise.all(peers.slice(0, i).map((p) => peers[i]!.call('connect', { url: p.url })));
    await waitMesh(peers, peers.length - 1);
    for (const room of ROOMS) await peers[0]!.call('join', { room });
    for (const p of peers.slice(1)) {
      await waitFor(async () => ((await p.call('rooms')) as unknown[]).length >= ROOMS.length, 15_000, 'rooms visible');
      for (const room of ROOMS) await p.call('join', { room });
    }
    await waitFor(
      async () => {
        const lists = (await Promise.all(peers.map((p) => p.call('rooms')))) as { members: unknown[] }[][];
        return lists.every((rooms) => rooms.length === ROOMS.length && rooms.every((r) => r.members.length === names.length));
      },
      30_000,
      'every member of every room everywhere',
    );
    await sleep(300);
    const x = peers.pop() as ChattyPeer;
    await stopAll([x]);
    const offlineDir = x.dataDir;

    const authors = peers as ChattyPeer[];
    const received = authors.map(() => 0);
    const offs = authors.map((p, i) => p.onMessage((m) => void (m.text.startsWith(tag) && m.from.peerId !== p.peerId && received[i]!++)));
    const perAuthor = Math.ceil(total / authors.length);
    const sendStart = wallNow();
    let sent = 0;
    const sentBy = authors.map(() => 0);
    await Promise.all(
      authors.map(async (p, ai) => {
        let k = 0;
        const lane = async () => {
          while (k < perAuthor && sent < total) {
            const i = k++;
            sent++;
            sentBy[ai]!++;
            await p.call('send', { room: ROOMS[(i + ai) % ROOMS.length]!, text: `${tag} ${ai}:${i} ${'x'.repeat(40)}` });
          }
        };
        await Promise.all(Array.from({ length: 16 }, lane));
      }),
    );
    const sendRate = sent / ((wallNow() - sendStart) / 1000);
    ctx.log(`data set: ${sent} sent at ${sendRate.toFixed(0)} msg/s; waiting for A–D to converge…`);
    // Every author must hold every other author's messages before A's markers can cover everything.
    await waitFor(async () => received.every((r, i) => r >= sent - sentBy[i]!), 300_000, 'authors converged', 200);
    for (const off of offs) off();
    const markerText = `${tag} marker`;
    const markers = new Map<string, string>();
    for (const room of ROOMS) markers.set(room, ((await authors[0]!.call('send', { room, text: markerText })) as { id: string }).id);
    await waitFor(
      async () => {
        for (const p of authors) {
          for (const room of ROOMS) {
            const last = (await p.call('history', { room, limit: 1 })) as { id: string }[];
            if (last[0]?.id !== markers.get(room)) return false;
          }
        }
        return true;
      },
      120_000,
      'markers everywhere',
      200,
    );
    const authorDirs = authors.map((p) => p.dataDir);
    await stopAll(authors);
    const seconds = (wallNow() - t0) / 1000;
    ctx.log(`data set ready in ${seconds.toFixed(0)} s`);
    return { authorDirs, offlineDir, messages: sent, markers, markerText, tag, sendRate, seconds };
  } catch (err) {
    await stopAll(peers);
    throw err;
  }
}
