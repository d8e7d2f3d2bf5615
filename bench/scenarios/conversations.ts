/**
 * Conversations (issue #16): what reactions, edits, deletes and presence cost.
 *
 * - history: one peer, two rooms of BENCH_CONV_MESSAGES messages each; in one of them the newest
 *   1,000 messages carry reactions (three each, one taken back), every fifth an edit and every
 *   tenth is deleted. Time of `history {limit: 100}` (median of 50 calls), annotated room against
 *   the plain one (the baseline): what folding reactions, edits and deletes into a page costs.
 * - reaction: 5 peers in one room; frames and bytes all peers receive for one reaction, against one
 *   message of the same size class (the baseline): an annotation is one event of the log.
 * - presence: BENCH_CONV_PEERS peers in an overlay of `--links 3`, the heartbeat shortened to
 *   1 s (CHATTY_TEST_PRESENCE_MS): frames a peer receives per second, against the same cluster with
 *   the heartbeat set to an hour (the baseline, everything else equal); scaled to the default 60 s
 *   heartbeat in the note.
 */
import type { BenchContext } from '../lib/context.js';
import { startCluster, startPeer, stopAll, stopPeer, waitFor, type BenchPeer } from '../lib/peers.js';
import { envInt, sleep, wallNow } from '../lib/util.js';

interface Sent {
  id: string;
}

async function fill(peer: BenchPeer, room: string, n: number): Promise<string[]> {
  const ids: string[] = [];
  // pipelined in batches: the peer answers each once durable
  for (let i = 0; i < n; i += 200) {
    const batch = Array.from({ length: Math.min(200, n - i) }, (_, j) => peer.call('send', { room, text: `message ${i + j} of ${room}` }));
    for (const m of (await Promise.all(batch)) as Sent[]) ids.push(m.id);
  }
  return ids;
}

async function historyMs(peer: BenchPeer, room: string): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < 50; i++) {
    const t = performance.now();
    await peer.call('history', { room, limit: 100 });
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  return times[times.length >> 1]!;
}

async function runHistory(ctx: BenchContext, messages: number): Promise<void> {
  const annotated: number[] = [];
  const plain: number[] = [];
  for (let r = 0; r < ctx.repeat; r++) {
    const peer = await startPeer('chatty', `H${r}`);
    try {
      const busy = ((await peer.call('join', { room: 'busy' })) as { id: string }).id;
      const quiet = ((await peer.call('join', { room: 'quiet' })) as { id: string }).id;
      const ids = await fill(peer, busy, messages);
      await fill(peer, quiet, messages);
      const newest = ids.slice(-1000);
      for (let i = 0; i < newest.length; i += 50) {
        await Promise.all(
          newest.slice(i, i + 50).flatMap((message, j) => {
            const k = i + j;
            const calls = ['👍', '🎉', '👀'].map((emoji) => peer.call('react', { message, emoji }));
            if (k % 5 === 0) calls.push(peer.call('edit', { message, text: `edited ${k}` }));
            return calls;
          }),
        );
        await Promise.all(newest.slice(i, i + 50).map((message) => peer.call('unreact', { message, emoji: '👀' })));
      }
      for (let k = 0; k < newest.length; k += 10) await peer.call('delete', { message: newest[k] });
      annotated.push(await historyMs(peer, busy));
      plain.push(await historyMs(peer, quiet));
      ctx.log(`history: ${annotated.at(-1)!.toFixed(2)} ms annotated, ${plain.at(-1)!.toFixed(2)} ms plain`);
    } finally {
      await stopPeer(peer);
    }
  }
  ctx.report.add({
    scenario: 'conversations',
    metric: `history of 100 (newest 1,000 of ${messages} annotated)`,
    unit: 'ms',
    chatty: annotated,
    baseline: plain,
    better: 'lower',
    note: 'baseline: the same page of a room without reactions, edits or deletes',
  });
}

interface Stats {
  frames: { received: number };
  bytes: { received: number };
}

async function received(peers: readonly BenchPeer[]): Promise<{ frames: number; bytes: number }> {
  const all = (await Promise.all(peers.map((p) => p.call('stats')))) as Stats[];
  return { frames: all.reduce((s, x) => s + x.frames.received, 0), bytes: all.reduce((s, x) => s + x.bytes.received, 0) };
}

async function runReaction(ctx: BenchContext): Promise<void> {
  const reactFrames: number[] = [];
  const msgFrames: number[] = [];
  const reactBytes: number[] = [];
  const msgBytes: number[] = [];
  for (let r = 0; r < ctx.repeat; r++) {
    const peers = await startCluster('chatty', 5);
    try {
      const room = ((await peers[0]!.call('rooms')) as { id: string; name: string }[]).find((x) => x.name === 'bench')!.id;
      const N = 50;
      const cost = async (act: (i: number) => Promise<unknown>, wait: () => Promise<boolean>) => {
        await sleep(1000);
        const before = await received(peers);
        for (let i = 0; i < N; i++) await act(i);
        await waitFor(wait, 30_000, 'everyone has them');
        await sleep(1000);
        const after = await received(peers);
        return { frames: (after.frames - before.frames) / N, bytes: (after.bytes - before.bytes) / N };
      };
      const sent: string[] = [];
      const m = await cost(
        async (i) => sent.push(((await peers[0]!.call('send', { room, text: `to react to ${i}` })) as Sent).id),
        async () => ((await peers[4]!.call('history', { room, limit: N })) as unknown[]).length === N,
      );
      const reacted = await cost(
        (i) => peers[1]!.call('react', { message: sent[i], emoji: '👍' }),
        async () =>
          ((await peers[4]!.call('history', { room, limit: N })) as { reactions?: unknown[] }[]).every((x) => x.reactions?.length === 1),
      );
      msgFrames.push(m.frames);
      msgBytes.push(m.bytes);
      reactFrames.push(reacted.frames);
      reactBytes.push(reacted.bytes);
      ctx.log(
        `reaction: ${reacted.frames.toFixed(1)} frames / ${reacted.bytes.toFixed(0)} B; message ${m.frames.toFixed(1)} / ${m.bytes.toFixed(0)}`,
      );
    } finally {
      await stopAll(peers);
    }
  }
  const note = 'received by all 5 peers together, per event, after the network went quiet; baseline: a short message';
  ctx.report.add({
    scenario: 'conversations',
    metric: 'frames per reaction (5 peers)',
    unit: 'frames',
    chatty: reactFrames,
    baseline: msgFrames,
    better: 'lower',
    note,
  });
  ctx.report.add({
    scenario: 'conversations',
    metric: 'bytes per reaction (5 peers)',
    unit: 'B',
    chatty: reactBytes,
    baseline: msgBytes,
    better: 'lower',
    note,
  });
}

async function framesPerSecond(n: number, heartbeatMs: number): Promise<number> {
  // an overlay, not a mesh: every peer joins through the first, and holds 3 links
  const env = { CHATTY_TEST_PRESENCE_MS: String(heartbeatMs) };
  const first = await startPeer('chatty', 'P0', { env, extraArgs: ['--links', '3'] });
  const peers: BenchPeer[] = [first];
  try {
    for (let i = 1; i < n; i++) peers.push(await startPeer('chatty', `P${i}`, { env, extraArgs: ['--links', '3'], peers: [first.url] }));
    await waitFor(
      async () => (await Promise.all(peers.map((p) => p.call('peers')))).every((list) => (list as unknown[]).length === n - 1),
      30_000,
      'every peer known everywhere',
    );
    await sleep(5000);
    const before = await received(peers);
    const t = wallNow();
    await sleep(10_000);
    const after = await received(peers);
    return (after.frames - before.frames) / n / ((wallNow() - t) / 1000);
  } finally {
    await stopAll(peers);
  }
}

async function runPresence(ctx: BenchContext, n: number): Promise<void> {
  const on: number[] = [];
  const off: number[] = [];
  for (let r = 0; r < ctx.repeat; r++) {
    on.push(await framesPerSecond(n, 1000));
    off.push(await framesPerSecond(n, 3_600_000));
    ctx.log(`presence: ${on.at(-1)!.toFixed(1)} frames/s per peer with a 1 s heartbeat, ${off.at(-1)!.toFixed(1)} without`);
  }
  ctx.report.add({
    scenario: 'conversations',
    metric: `idle frames received per peer (${n} peers, heartbeat 1 s)`,
    unit: 'frames/s',
    chatty: on,
    baseline: off,
    better: 'lower',
    note: 'baseline: the same overlay with the heartbeat at an hour; at the default 60 s the difference is 1/60 of this',
  });
}

export async function runConversations(ctx: BenchContext): Promise<void> {
  await runHistory(ctx, envInt('BENCH_CONV_MESSAGES', 20_000));
  await runReaction(ctx);
  await runPresence(ctx, envInt('BENCH_CONV_PEERS', 10));
}
