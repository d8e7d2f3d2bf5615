/**
 * Scenario 3 (catch-up) and 6 (memory and start-up), on the shared data set
 * (lib/dataset.ts: BENCH_CATCHUP messages in 10 rooms).
 *
 * Catch-up, per repeat, on fresh copies of the data:
 * - restart: A–D run; X (offline while everything was sent, member of every
 *   room) restarts with `--peer` to all four. Time from spawning X to its
 *   last `message` notification of the missed messages (count exact: every
 *   missed message plus the ten markers, then X's last 1,000 messages of
 *   every room are checked against A's), and to `ready`.
 * - newcomer: an empty data dir joins the same network; converged when its
 *   `history` of every room ends with that room's marker (polled every 50 ms).
 * - baseline: a plain-ws process holding the same number of messages in memory
 *   streams them (500 per frame, no verification, no storage) to a newcomer
 *   that reports each one: time from spawning the newcomer to the last one.
 *
 * Memory and start-up, per repeat: a peer restarted alone on a copy of A's
 * data (all messages, ten rooms): time from spawn to `ready`, and VmRSS two
 * seconds after; the baseline process holding the same messages in memory
 * alike. X's VmRSS right after its catch-up is reported too.
 */
import type { BenchContext } from '../lib/context.js';
import { copyDir, dataset, ROOMS } from '../lib/dataset.js';
import { startPeer, stopAll, stopPeer, waitFor, waitMesh, type BenchPeer, type ChattyPeer } from '../lib/peers.js';
import { availableParallelism } from 'node:os';
import { cpuSeconds, machineBusySeconds, rssMb, sleep, waitingForCpuSeconds, wallNow } from '../lib/util.js';

const rssAfterCatchup: number[] = [];
/** The peak RSS of the restarting peer up to its convergence (VmHWM): what the catch-up held at once. */
const rssPeakDuringCatchup: number[] = [];
/** The same peer left idle for 10 s: what V8 and the allocator give back once the burst is over. */
const rssLaterAfterCatchup: number[] = [];

/** Starts A–D on fresh copies of the data set, meshed. */
async function startAuthors(ctx: BenchContext): Promise<BenchPeer[]> {
  const ds = dataset(ctx);
  const peers: BenchPeer[] = [];
  try {
    for (const [i, dir] of ds.authorDirs.entries()) peers.push(await startPeer('chatty', 'ABCD'[i]!, { dataDir: copyDir(ctx, dir) }));
    for (let i = 1; i < peers.length; i++) await Promise.all(peers.slice(0, i).map((p) => peers[i]!.call('connect', { url: p.url })));
    await waitMesh(peers, peers.length - 1);
    await sleep(300);
    return peers;
  } catch (err) {
    await stopAll(peers);
    throw err;
  }
}

interface CatchupFigures {
  restart: number;
  /** Events X received that it already held, per missed event (from its `stats`): the cost of 4 senders. */
  restartDuplicates: number;
  restartCpu: CatchupCpu;
  restartReady: number;
  newcomer: number;
  newcomerReady: number;
  baseline: number;
}

/**
 * CPU seconds spent from X's spawn to its convergence: by X (every thread), by its four neighbours,
 * and by the bench process; and how busy the machine's cores were meanwhile (0–1), everything on it
 * counted. A catch-up that keeps every core busy is bound by the total, not by one process.
 */
export interface CatchupCpu {
  x: number;
  /** X's main thread alone (the rest: the event-check worker, V8's and libuv's helper threads). */
  xMain: number;
  /** How long X's main thread was ready to run but waiting for a core (the other processes' and threads' share). */
  xMainWaiting: number;
  neighbours: number;
  bench: number;
  machineBusy: number;
}

/** Snapshots of the counters `CatchupCpu` is the difference of. */
function cpuCounters(authors: readonly BenchPeer[]) {
  const usage = process.cpuUsage();
  return {
    neighbours: authors.reduce((sum, a) => sum + cpuSeconds(a.pid), 0),
    bench: (usage.user + usage.system) / 1e6,
    machine: machineBusySeconds(),
    at: wallNow(),
  };
}

function cpuSince(start: ReturnType<typeof cpuCounters>, authors: readonly BenchPeer[], x: number | undefined): CatchupCpu {
  const end = cpuCounters(authors);
  return {
    x: cpuSeconds(x),
    xMain: cpuSeconds(x, 'main'),
    xMainWaiting: waitingForCpuSeconds(x),
    neighbours: end.neighbours - start.neighbours,
    bench: end.bench - start.bench,
    machineBusy: (end.machine - start.machine) / ((end.at - start.at) / 1000) / availableParallelism(),
  };
}

async function restartX(
  ctx: BenchContext,
  authors: BenchPeer[],
  opts: { wrap?: string[] } = {},
): Promise<{ total: number; ready: number; rss: number; rssPeak: number; rssLater: number; duplicates: number; cpu: CatchupCpu }> {
  const ds = dataset(ctx);
  const expected = ds.messages + ROOMS.length;
  let got = 0;
  let doneAt = 0;
  let resolveDone!: () => void;
  const done = new Promise<void>((r) => (resolveDone = r));
  const start = cpuCounters(authors);
  let cpu: CatchupCpu | undefined;
  const x = await startPeer('chatty', 'X', { dataDir: copyDir(ctx, ds.offlineDir), peers: authors.map((p) => p.url), wrap: opts.wrap });
  // Notifications that arrived before `ready` was parsed are in the PeerProcess' event list.
  const ours = (room: string | null) => room !== null && ROOMS.includes(room);
  got = (x as ChattyPeer).proc.eventsOf('message').filter((m) => ours(m.roomName ?? null)).length;
  const off = x.onMessage((m, at) => {
    if (!ours(m.roomName ?? null)) return;
    if (++got === expected) {
      doneAt = at;
      cpu = cpuSince(start, authors, x.pid);
      resolveDone();
    }
  });
  try {
    if (got < expected) await Promise.race([done, x.exited, sleep(600_000)]);
    if (got < expected) throw new Error(`X delivered ${got} of ${expected} missed messages`);
    const [rss, rssPeak] = await Promise.all([rssMb(x.pid), rssMb(x.pid, 'VmHWM')]);
    // Converged for real: the last page of every room is the same as A's.
    for (const room of ROOMS) {
      const [mine, theirs] = (await Promise.all([
        x.call('history', { room, limit: 1000 }),
        authors[0]!.call('history', { room, limit: 1000 }),
      ])) as {
        id: string;
      }[][];
      if (mine!.map((m) => m.id).join() !== theirs!.map((m) => m.id).join()) throw new Error(`X's history of ${room} differs from A's`);
    }
    const stats = (await x.call('stats')) as { events: { duplicates: number } };
    await sleep(Math.max(0, doneAt + 10_000 - wallNow()));
    const rssLater = await rssMb(x.pid);
    return {
      rssLater,
      total: (doneAt - x.spawnedAt) / 1000,
      ready: (x.readyAt - x.spawnedAt) / 1000,
      rss,
      rssPeak,
      duplicates: stats.events.duplicates / expected,
      cpu: cpu ?? cpuSince(start, authors, x.pid),
    };
  } finally {
    off();
    await stopPeer(x);
  }
}

async function newcomer(ctx: BenchContext, authors: BenchPeer[]): Promise<{ total: number; ready: number }> {
  const ds = dataset(ctx);
  const n = await startPeer('chatty', 'N', { dataDir: ctx.tmp.make('chatty-bench-N-'), peers: authors.map((p) => p.url) });
  try {
    for (const room of ROOMS) {
      await waitFor(
        async () => ((await n.call('history', { room, limit: 1 })) as { id: string }[])[0]?.id === ds.markers.get(room),
        600_000,
        `newcomer holds ${room}`,
      );
    }
    return { total: (wallNow() - n.spawnedAt) / 1000, ready: (n.readyAt - n.spawnedAt) / 1000 };
  } finally {
    await stopPeer(n);
  }
}

async function baselineCatchup(ctx: BenchContext): Promise<number> {
  const ds = dataset(ctx);
  const holder = await startPeer('baseline', 'holder', { fill: ds.messages });
  try {
    let got = 0;
    let resolveDone!: (at: number) => void;
    const done = new Promise<number>((r) => (resolveDone = r));
    const fresh = await startPeer('baseline', 'fresh', { peers: [holder.url] }).then((p) => {
      p.onMessage((_m, at) => ++got === ds.messages && resolveDone(at));
      return p;
    });
    try {
      const at = await Promise.race([done, sleep(300_000).then(() => NaN)]);
      return (at - fresh.spawnedAt) / 1000;
    } finally {
      await stopPeer(fresh);
    }
  } finally {
    await stopPeer(holder);
  }
}

export async function runCatchup(ctx: BenchContext): Promise<void> {
  if (!ctx.only.has('catchup')) return;
  const ds = dataset(ctx);
  const runs: CatchupFigures[] = [];
  for (let r = 0; r < ctx.repeat; r++) {
    const authors = await startAuthors(ctx);
    try {
      const x = await restartX(ctx, authors);
      rssAfterCatchup.push(x.rss);
      rssPeakDuringCatchup.push(x.rssPeak);
      rssLaterAfterCatchup.push(x.rssLater);
      ctx.log(
        `restart: X converged in ${x.total.toFixed(2)} s (ready after ${x.ready.toFixed(2)} s), VmRSS ${x.rss.toFixed(0)} MB (peak ${x.rssPeak.toFixed(0)} MB, ${x.rssLater.toFixed(0)} MB 10 s later), duplicates ${(x.duplicates * 100).toFixed(0)} %`,
      );
      ctx.log(
        `restart: CPU until converged: X ${x.cpu.x.toFixed(2)} s (main thread ${x.cpu.xMain.toFixed(2)} s, and ${x.cpu.xMainWaiting.toFixed(2)} s waiting for a core), its 4 neighbours ${x.cpu.neighbours.toFixed(2)} s, the bench ${x.cpu.bench.toFixed(2)} s; the machine's ${availableParallelism()} cores ${(x.cpu.machineBusy * 100).toFixed(0)} % busy`,
      );
      const nc = await newcomer(ctx, authors);
      ctx.log(`newcomer converged in ${nc.total.toFixed(2)} s (ready after ${nc.ready.toFixed(2)} s)`);
      const base = await baselineCatchup(ctx);
      ctx.log(`baseline: ${ds.messages} messages streamed to a fresh process in ${base.toFixed(2)} s`);
      runs.push({
        restart: x.total,
        restartCpu: x.cpu,
        restartDuplicates: x.duplicates,
        restartReady: x.ready,
        newcomer: nc.total,
        newcomerReady: nc.ready,
        baseline: base,
      });
    } finally {
      await stopAll(authors);
    }
  }
  const n = ds.messages.toLocaleString('en-US');
  const b = runs.map((r) => r.baseline);
  ctx.report.add({
    scenario: `catch-up ${n} msgs`,
    metric: 'restart → converged',
    unit: 's',
    chatty: runs.map((r) => r.restart),
    baseline: b,
    better: 'lower',
    target: '< 3 s',
  });
  ctx.report.add({
    scenario: `catch-up ${n} msgs`,
    metric: 'newcomer → converged',
    unit: 's',
    chatty: runs.map((r) => r.newcomer),
    baseline: b,
    better: 'lower',
    target: '< 3 s',
  });
  ctx.report.add({
    scenario: `catch-up ${n} msgs`,
    metric: 'restart: events received twice or more, per missed event',
    unit: '%',
    chatty: runs.map((r) => r.restartDuplicates * 100),
    better: 'lower',
    target: '< 10 %',
  });
  const cpuRows: [metric: string, unit: string, figure: (cpu: CatchupCpu) => number, note: string][] = [
    [
      'restart: CPU until converged, X and its 4 neighbours',
      's',
      (c) => c.x + c.neighbours,
      'user + system, every thread; the wall time cannot be below this divided by the cores',
    ],
    [
      "restart: CPU until converged, X's main thread",
      's',
      (c) => c.xMain,
      'storage, delivery and notifications: what a second thread cannot take over',
    ],
    [
      "restart: X's main thread waiting for a core",
      's',
      (c) => c.xMainWaiting,
      'ready to run while the other threads and processes of the run held both cores',
    ],
    [
      'restart: machine busy until converged',
      '%',
      (c) => c.machineBusy * 100,
      'every core, every process (the bench reading 100,000 notifications included)',
    ],
  ];
  for (const [metric, unit, figure, note] of cpuRows)
    ctx.report.add({ scenario: `catch-up ${n} msgs`, metric, unit, chatty: runs.map((r) => figure(r.restartCpu)), better: 'lower', note });
  ctx.report.add({
    scenario: `catch-up ${n} msgs`,
    metric: 'restart → ready',
    unit: 's',
    chatty: runs.map((r) => r.restartReady),
    better: 'lower',
  });
  ctx.report.raw.catchup = { runs, dataSet: { messages: ds.messages, writtenInProcessSeconds: ds.seconds } };
}

export async function runMemory(ctx: BenchContext): Promise<void> {
  if (!ctx.only.has('memory')) return;
  const ds = dataset(ctx);
  const chatty = { ready: [] as number[], rss: [] as number[] };
  const base = { ready: [] as number[], rss: [] as number[] };
  for (let r = 0; r < ctx.repeat; r++) {
    const a = await startPeer('chatty', 'A', { dataDir: copyDir(ctx, ds.authorDirs[0]!) });
    try {
      chatty.ready.push(a.readyAt - a.spawnedAt);
      await sleep(2000);
      chatty.rss.push(await rssMb(a.pid));
    } finally {
      await stopPeer(a);
    }
    const b = await startPeer('baseline', 'holder', { fill: ds.messages });
    try {
      base.ready.push(b.readyAt - b.spawnedAt);
      await sleep(2000);
      base.rss.push(await rssMb(b.pid));
    } finally {
      await stopPeer(b);
    }
    ctx.log(
      `memory: Chatty ready ${chatty.ready.at(-1)!.toFixed(0)} ms, VmRSS ${chatty.rss.at(-1)!.toFixed(0)} MB; baseline ${base.rss.at(-1)!.toFixed(0)} MB`,
    );
  }
  const scenario = `memory, ${ds.messages.toLocaleString('en-US')} msgs in ${ROOMS.length} rooms`;
  ctx.report.add({
    scenario,
    metric: 'VmRSS idle after start',
    unit: 'MB',
    chatty: chatty.rss,
    baseline: base.rss,
    better: 'lower',
    target: '< 90 MB',
  });
  if (rssAfterCatchup.length) {
    ctx.report.add({
      scenario,
      metric: 'VmRSS right after catch-up',
      unit: 'MB',
      chatty: rssAfterCatchup,
      better: 'lower',
      target: '< 150 MB',
    });
    ctx.report.add({ scenario, metric: 'VmRSS peak during catch-up', unit: 'MB', chatty: rssPeakDuringCatchup, better: 'lower' });
    ctx.report.add({
      scenario,
      metric: 'VmRSS 10 s after catch-up (idle)',
      unit: 'MB',
      chatty: rssLaterAfterCatchup,
      better: 'lower',
    });
  }
  ctx.report.add({ scenario, metric: 'start → ready', unit: 'ms', chatty: chatty.ready, baseline: base.ready, better: 'lower' });
  ctx.report.raw.memory = { chatty, baseline: base, rssAfterCatchup, rssPeakDuringCatchup, rssLaterAfterCatchup };
}

export { restartX, startAuthors };
