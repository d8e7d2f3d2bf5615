/**
 * The overlay spike of issue #14: N real peer processes on loopback, each
 * given the address of one or a few earlier peers, all in one room; once the
 * overlay has settled every peer sends M messages at once, and the run
 * measures what a 30–100-peer LAN would feel:
 *
 * - start-up: spawn of the first → every peer ready, and joined → overlay settled;
 * - messages: time from the first `send` until every message was delivered
 *   to every other peer, and per-delivery latency (request written → the
 *   receiver's `message` line read, on the bench's clock);
 * - links per peer (min / median / max; for gossipsub also its mesh peers);
 * - CPU of the whole swarm: while the messages flow, and idle for 10 s
 *   afterwards (sum of utime + stime deltas of /proc/PID/stat over all
 *   processes, in % of one core);
 * - VmRSS per process after the idle window;
 * - Chatty: frames sent by the whole swarm per message (from `stats`), and per second when idle.
 *
 *   npx tsx bench/spike-swarm.ts --kind gossipsub --peers 100 --msgs 2
 *   npx tsx bench/spike-swarm.ts --kind chatty --peers 30 --msgs 2 --cap 600
 *
 * Options:
 *   --kind gossipsub|chatty   which peer (gossipsub: bench/gossipsub-peer.ts; chatty: `chatty --json`)
 *   --peers N (30), --msgs M (2)
 *   --seeds K                 earlier peers each one is given: 3 for gossipsub, 1 for Chatty (which
 *                             learns the others' addresses from its peers)
 *   --rate R                  pace the N×M messages at R per second over the swarm, senders taking
 *                             turns, instead of one burst
 *   --no-px                   gossipsub without peer exchange
 *   --full-mesh               Chatty linking every peer (its design before the overlay), to compare
 *   --fast-msg-id             gossipsub drops copies of a message before checking their signature
 *   --transport tcp|ws        gossipsub's transport (tcp)
 *   --idle S (10)             the idle CPU window
 *   --settle S (120)          time allowed for the overlay to settle
 *   --drain S (60)            stop waiting for messages when none arrived for that long
 *   --cap S (900)             the whole run: over it, the run stops, writes what it has, exits 2
 *   --batch B (4)             processes started at once
 *   --seed X (1)              the random choice of seeds
 *   --stderr-dir D            write the tail of every peer's stderr there at the end (with e.g.
 *                             DEBUG=libp2p:connection-monitor* for gossipsub)
 *   --prof 0,50               run these peers under node --cpu-prof (profiles in --prof-dir,
 *                             default bench/results/profiles/spike-<kind>; see profile-summary.ts)
 *
 * "Settled": gossipsub — every peer sees at least one other in the topic and
 * has min(Dlo = 4, topic peers) mesh peers, and links and mesh sizes did not
 * change for 3 s; Chatty — every peer listing N members in the room and linked
 * to at least one other (with --full-mesh: to all N−1 others). Figures go to stdout and to
 * bench/results/spike-<kind>-<N>.json (git-ignored).
 */
import { seededRandom } from '../src/peer/overlay/random.js';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import {
  ChattyPeer,
  cpuProfWrap,
  killAll,
  removePeerDirs,
  RESULTS_DIR,
  ROOM,
  startPeer,
  stopAll,
  type BenchPeer,
  type ScriptPeer,
} from './lib/peers.js';
import { percentile, rssMb, sleep, wallNow } from './lib/util.js';

interface Args {
  kind: 'gossipsub' | 'chatty';
  peers: number;
  msgs: number;
  seeds: number;
  /** Messages per second over the whole swarm; 0: a burst. */
  rate: number;
  px: boolean;
  fastMsgId: boolean;
  /** Chatty with --full-mesh. */
  mesh: boolean;
  transport: 'tcp' | 'ws';
  idle: number;
  settle: number;
  drain: number;
  cap: number;
  batch: number;
  seed: number;
  stderrDir?: string;
  /** Peers run under `node --cpu-prof`, their profiles written to `profDir` when they exit. */
  profPeers: number[];
  profDir: string;
}

function parseArgs(argv: string[]): Args {
  const get = (name: string): string | undefined => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const num = (name: string, fallback: number): number => {
    const v = get(name);
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) throw new Error(`--${name} must be a number, got ${v}`);
    return n;
  };
  const kind = get('kind') ?? 'gossipsub';
  if (kind !== 'gossipsub' && kind !== 'chatty') throw new Error(`--kind must be gossipsub or chatty, got ${kind}`);
  const transport = get('transport') ?? 'tcp';
  if (transport !== 'tcp' && transport !== 'ws') throw new Error(`--transport must be tcp or ws, got ${transport}`);
  return {
    kind,
    peers: num('peers', 30),
    msgs: num('msgs', 2),
    seeds: num('seeds', kind === 'gossipsub' ? 3 : 1),
    rate: num('rate', 0),
    px: !argv.includes('--no-px'),
    fastMsgId: argv.includes('--fast-msg-id'),
    mesh: argv.includes('--full-mesh'),
    transport,
    idle: num('idle', 10),
    settle: num('settle', 120),
    drain: num('drain', 60),
    cap: num('cap', 900),
    batch: Math.max(1, num('batch', 4)),
    seed: num('seed', 1),
    stderrDir: get('stderr-dir'),
    profPeers: (get('prof') ?? '').split(',').filter(Boolean).map(Number),
    profDir: get('prof-dir') ?? join(RESULTS_DIR, 'profiles', `spike-${kind}`),
  };
}

/** Set once the run is being stopped (done, capped or interrupted). */
let finished = false;

/** `k` distinct random peers among the first `i`. */
function pickSeeds(i: number, k: number, rand: () => number): number[] {
  const pool = Array.from({ length: i }, (_, j) => j);
  for (let j = pool.length - 1; j > 0; j--) {
    const r = Math.floor(rand() * (j + 1));
    [pool[j], pool[r]] = [pool[r]!, pool[j]!];
  }
  return pool.slice(0, Math.min(k, i));
}

const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** utime + stime of a process in seconds (all its threads), NaN when it is gone. */
function cpuSeconds(pid: number | undefined): number {
  if (pid === undefined) return NaN;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may contain spaces) start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
  } catch {
    return NaN;
  }
}

const swarmCpu = (peers: readonly BenchPeer[]): number => peers.reduce((sum, p) => sum + (cpuSeconds(p.pid) || 0), 0);

interface Spread3 {
  min: number;
  median: number;
  max: number;
}
function spread3(values: readonly number[]): Spread3 {
  return { min: percentile(values, 0), median: percentile(values, 50), max: percentile(values, 100) };
}
const fmt3 = (s: Spread3, digits = 0): string => `${s.min.toFixed(digits)} / ${s.median.toFixed(digits)} / ${s.max.toFixed(digits)}`;

interface Snapshot {
  links: number[];
  /** Gossipsub: connections closed so far, summed over the swarm. */
  closed?: number;
  mesh?: number[];
  topicPeers?: number[];
  members?: number[];
}

async function snapshot(kind: Args['kind'], peers: readonly BenchPeer[]): Promise<Snapshot> {
  if (kind === 'gossipsub') {
    const views = await Promise.all(peers.map((p) => (p as ScriptPeer).overlay(ROOM)));
    return {
      links: views.map((v) => v.links),
      closed: views.reduce((sum, v) => sum + v.closed, 0),
      mesh: views.map((v) => v.mesh),
      topicPeers: views.map((v) => v.topicPeers),
    };
  }
  const [links, rooms] = await Promise.all([
    Promise.all(peers.map((p) => p.connectedCount())),
    Promise.all(peers.map((p) => p.call('rooms') as Promise<{ name: string; members: unknown[] }[]>)),
  ]);
  return { links, members: rooms.map((list) => list.find((r) => r.name === ROOM)?.members.length ?? 0) };
}

function settled(args: Args, n: number, s: Snapshot): boolean {
  if (args.kind === 'gossipsub') return s.topicPeers!.every((t, i) => t >= 1 && s.mesh![i]! >= Math.min(4, t));
  return s.links.every((l) => l >= (args.mesh ? n - 1 : 1)) && s.members!.every((m) => m >= n);
}

interface Traffic {
  frames: number;
  bytes: number;
}

/** Frames and bytes the whole swarm sent so far (Chatty's `stats`). */
async function swarmTraffic(peers: readonly BenchPeer[]): Promise<Traffic> {
  const stats = (await Promise.all(peers.map((p) => p.call('stats')))) as { frames: { sent: number }; bytes: { sent: number } }[];
  return stats.reduce((t, s) => ({ frames: t.frames + s.frames.sent, bytes: t.bytes + s.bytes.sent }), { frames: 0, bytes: 0 });
}

const sameSnapshot = (a: Snapshot, b: Snapshot): boolean =>
  a.links.join() === b.links.join() && (a.mesh ?? []).join() === (b.mesh ?? []).join();

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const { kind, peers: n } = args;
  const rand = seededRandom(args.seed); // a given --seed picks the same seeds every run
  const started = wallNow();
  const log = (text: string): void => console.log(`${((wallNow() - started) / 1000).toFixed(1).padStart(6)}s ${text}`);
  const result: Record<string, unknown> = { kind, args, machine: { clkTck: CLK_TCK }, startedAt: new Date().toISOString() };
  const peers: BenchPeer[] = [];

  let capped = false;
  const capTimer = setTimeout(() => {
    capped = true;
    log(`cap of ${args.cap} s reached: stopping`);
    finish(2);
  }, args.cap * 1000);
  function finish(code: number): void {
    if (finished) return;
    finished = true;
    clearTimeout(capTimer);
    result.capped = capped;
    result.loadAverageAtEnd = loadavg();
    result.totalSeconds = (wallNow() - started) / 1000;
    mkdirSync(RESULTS_DIR, { recursive: true });
    if (args.stderrDir) {
      mkdirSync(args.stderrDir, { recursive: true });
      for (const p of peers)
        writeFileSync(join(args.stderrDir, `${p.name}.log`), p instanceof ChattyPeer ? p.proc.stderr : (p as ScriptPeer).stderr);
    }
    const variant = `${args.mesh ? '-mesh' : ''}${kind === 'gossipsub' && !args.px ? '-nopx' : ''}${args.fastMsgId ? '-fastid' : ''}${args.rate ? `-rate${args.rate}` : ''}`;
    const file = join(RESULTS_DIR, `spike-${kind}-${n}${variant}.json`);
    writeFileSync(file, JSON.stringify(result, null, 2));
    console.log(
      `\nload average ${loadavg()
        .map((l) => l.toFixed(1))
        .join(' ')}; figures: ${file}`,
    );
    const done = code === 0 ? stopAll(peers) : Promise.resolve(killAll());
    void done
      .catch(() => killAll())
      .finally(() => {
        removePeerDirs();
        process.exit(code);
      });
  }
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => finish(130));

  // 1. Start: batches of processes, each told about `seeds` random earlier peers.
  result.loadAverageAtStart = loadavg();
  log(
    `load average ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}`,
  );
  log(`starting ${n} ${kind} peers (${args.batch} at a time), each given ${args.seeds} earlier peer(s)`);
  const seedsOf: number[][] = [];
  // Peer 0 alone first; then each batch picks its seeds among the peers already running.
  for (let i = 0; i < n; i = i === 0 ? 1 : i + args.batch) {
    const batch = Array.from({ length: i === 0 ? 1 : Math.min(args.batch, n - i) }, (_, j) => i + j);
    const batchPeers = await Promise.all(
      batch.map((idx) => {
        const seeds = pickSeeds(i, args.seeds, rand);
        seedsOf[idx] = seeds;
        const urls = seeds.map((s) => peers[s]!.url);
        const wrap = args.profPeers.includes(idx) ? cpuProfWrap(args.profDir) : undefined;
        return kind === 'gossipsub'
          ? startPeer('gossipsub', `g${idx}`, { peers: urls, transport: args.transport, px: args.px, fastMsgId: args.fastMsgId, wrap })
          : startPeer('chatty', `c${idx}`, { peers: urls, wrap, extraArgs: args.mesh ? ['--full-mesh'] : [] });
      }),
    );
    peers.push(...batchPeers);
    if (finished) return;
  }
  result.seeds = seedsOf;
  const allReady = wallNow();
  result.startSeconds = (allReady - started) / 1000;
  log(`all ${n} ready`);

  // 2. Everyone in the room. Chatty: the room is its creator's signed create event; a peer joins once it has it
  //    (joining by name earlier would found a second room of that name).
  if (kind === 'gossipsub') await Promise.all(peers.map((p) => p.call('join', { room: ROOM })));
  else {
    await peers[0]!.call('join', { room: ROOM });
    await Promise.all(
      peers.slice(1).map(async (p) => {
        while (!finished) {
          const rooms = (await p.call('rooms')) as { name: string }[];
          if (rooms.some((r) => r.name === ROOM)) break;
          await sleep(200);
        }
        await p.call('join', { room: ROOM });
      }),
    );
  }
  const joined = wallNow();
  log(`all joined (${((joined - allReady) / 1000).toFixed(1)} s)`);

  // 3. Settle.
  let snap = await snapshot(kind, peers);
  let stableSince = wallNow();
  const settleEnd = wallNow() + args.settle * 1000;
  for (;;) {
    if (finished) return;
    await sleep(500);
    const next = await snapshot(kind, peers);
    if (!sameSnapshot(snap, next)) stableSince = wallNow();
    snap = next;
    if (settled(args, n, snap) && (kind === 'chatty' || wallNow() - stableSince >= 3000)) break;
    if (wallNow() > settleEnd) {
      result.settleTimedOut = true;
      log(`overlay not settled after ${args.settle} s: measuring anyway`);
      break;
    }
  }
  const settledAt = wallNow();
  result.settleSeconds = (settledAt - joined) / 1000;
  result.overlayBefore = { links: spread3(snap.links), mesh: snap.mesh ? spread3(snap.mesh) : undefined, closed: snap.closed };
  log(
    `settled in ${((settledAt - joined) / 1000).toFixed(1)} s: links per peer min/median/max ${fmt3(spread3(snap.links))}` +
      (snap.mesh ? `, mesh ${fmt3(spread3(snap.mesh))}` : '') +
      (snap.members ? `, room members ${fmt3(spread3(snap.members))}` : ''),
  );

  // 4. Messages: every peer sends M at once; delivered when every other peer reported it.
  const tag = `spike-${process.pid}`;
  const need = n - 1;
  const total = n * args.msgs;
  const sentAt = new Map<string, number>();
  const counts = new Map<string, number>();
  const latency: number[] = [];
  let complete = 0;
  let lastFull = 0;
  /** The bench's clock at the last delivery of any message. */
  let lastAny = 0;
  let onComplete: (() => void) | undefined;
  const offs = peers.map((peer) =>
    peer.onMessage((m, at) => {
      if (!m.text.startsWith(tag) || m.from.peerId === peer.peerId) return;
      lastAny = at;
      const t0 = sentAt.get(m.text);
      if (t0 !== undefined) latency.push(at - t0);
      const c = (counts.get(m.text) ?? 0) + 1;
      counts.set(m.text, c);
      if (c === need) {
        complete++;
        lastFull = at;
        if (complete === total) onComplete?.();
      }
    }),
  );
  // The swarm's CPU time, sampled every 250 ms: the phase is charged up to the first sample after the last
  // delivery, not with the idle time of a drain that waits for messages that never come.
  const cpuSamples: { at: number; cpu: number }[] = [{ at: wallNow(), cpu: swarmCpu(peers) }];
  const sampler = setInterval(() => cpuSamples.push({ at: wallNow(), cpu: swarmCpu(peers) }), 250);
  const cpu0 = cpuSamples[0]!.cpu;
  const traffic0 = kind === 'chatty' ? await swarmTraffic(peers) : undefined;
  const tSend = wallNow();
  let sendErrors = 0;
  if (!args.rate) {
    // A burst: every peer sends its M messages at once.
    await Promise.all(
      peers.map(async (peer, i) => {
        for (let k = 0; k < args.msgs; k++) {
          const text = `${tag} ${i} ${k}`;
          sentAt.set(text, wallNow());
          await peer.call('send', { room: ROOM, text }).catch(() => sendErrors++);
        }
      }),
    );
  } else {
    // Paced: message j (peer j mod N, its k-th) leaves at j / rate seconds, senders taking turns.
    const calls: Promise<unknown>[] = [];
    for (let j = 0; j < total; j++) {
      const wait = tSend + (j * 1000) / args.rate - wallNow();
      if (wait > 0) await sleep(wait);
      const i = j % n;
      const text = `${tag} ${i} ${Math.floor(j / n)}`;
      sentAt.set(text, wallNow());
      calls.push(peers[i]!.call('send', { room: ROOM, text }).catch(() => sendErrors++));
    }
    await Promise.all(calls);
  }
  const sendDone = wallNow();
  // Wait for the rest until nothing arrived for `drain` seconds.
  while (complete < total && wallNow() - Math.max(lastAny, sendDone) < args.drain * 1000) {
    await Promise.race([new Promise<void>((r) => (onComplete = r)), sleep(1000)]);
  }
  const allDelivered = complete === total;
  for (const off of offs) off();
  clearInterval(sampler);
  cpuSamples.push({ at: wallNow(), cpu: swarmCpu(peers) });
  const endAt = allDelivered ? lastFull : lastAny || wallNow();
  const cpu1 = cpuSamples.find((x) => x.at >= endAt)!.cpu;
  const messagePhase = (endAt - tSend) / 1000;
  const deliveries = [...counts.values()].reduce((a, b) => a + b, 0);
  const traffic1 = traffic0 ? await swarmTraffic(peers) : undefined;
  const framesPerMessage = traffic0 && traffic1 ? (traffic1.frames - traffic0.frames) / total : NaN;
  result.messages = {
    /** Frames the whole swarm sent during the message phase, per message (the overlay's target: ≤ 3 × peers). */
    framesPerMessage,
    bytesPerMessage: traffic0 && traffic1 ? (traffic1.bytes - traffic0.bytes) / total : NaN,
    total,
    sendErrors,
    allDelivered,
    fullyDelivered: complete,
    deliveries,
    deliveriesExpected: total * need,
    sendPhaseSeconds: (sendDone - tSend) / 1000,
    secondsUntilAllDelivered: allDelivered ? messagePhase : null,
    latencyMs: { p50: percentile(latency, 50), p99: percentile(latency, 99), max: percentile(latency, 100) },
    swarmCpuSeconds: cpu1 - cpu0,
    /** Swarm CPU of the message phase per delivery made (what one delivery costs, all peers' work included). */
    cpuMsPerDelivery: deliveries ? ((cpu1 - cpu0) * 1000) / deliveries : NaN,
  };
  log(
    `${total} messages: ${allDelivered ? `all delivered to all in ${messagePhase.toFixed(2)} s` : `${complete}/${total} fully delivered (${deliveries}/${total * need} deliveries) by the last delivery, ${messagePhase.toFixed(1)} s, and none in the ${args.drain} s after`}` +
      `, delivery latency p50 ${percentile(latency, 50).toFixed(0)} p99 ${percentile(latency, 99).toFixed(0)} max ${percentile(latency, 100).toFixed(0)} ms` +
      `, swarm CPU ${(cpu1 - cpu0).toFixed(1)} s (${(((cpu1 - cpu0) * 1000) / Math.max(1, deliveries)).toFixed(2)} ms per delivery)` +
      (Number.isFinite(framesPerMessage)
        ? `, ${framesPerMessage.toFixed(0)} frames per message (${(framesPerMessage / n).toFixed(2)} × peers)`
        : '') +
      `${sendErrors ? `, ${sendErrors} send errors` : ''}`,
  );

  // 5. Links after the messages, then the idle window (the bench itself stays quiet meanwhile).
  snap = await snapshot(kind, peers);
  result.overlayAfter = { links: spread3(snap.links), mesh: snap.mesh ? spread3(snap.mesh) : undefined, closed: snap.closed };
  await sleep(1000);
  const idleTraffic0 = kind === 'chatty' ? await swarmTraffic(peers) : undefined;
  const idle0 = swarmCpu(peers);
  const w0 = wallNow();
  await sleep(args.idle * 1000);
  const idleCpu = ((swarmCpu(peers) - idle0) / ((wallNow() - w0) / 1000)) * 100;
  const idleSeconds = (wallNow() - w0) / 1000;
  const idleFrames = idleTraffic0 ? ((await swarmTraffic(peers)).frames - idleTraffic0.frames) / idleSeconds : NaN;
  const rss = await Promise.all(peers.map((p) => rssMb(p.pid)));
  result.idle = { seconds: args.idle, cpuPercentOfOneCore: idleCpu, perPeerPercent: idleCpu / n, framesPerSecond: idleFrames };
  result.rssMb = { ...spread3(rss), sum: rss.reduce((a, b) => a + b, 0) };
  log(
    `links per peer min/median/max ${fmt3(spread3(snap.links))}${snap.mesh ? `, mesh ${fmt3(spread3(snap.mesh))}` : ''}` +
      `${snap.closed !== undefined ? ` (${snap.closed} connections closed since start)` : ''}; ` +
      `idle CPU of the swarm over ${args.idle} s: ${idleCpu.toFixed(1)} % of one core (${(idleCpu / n).toFixed(2)} % per peer` +
      `${Number.isFinite(idleFrames) ? `, ${idleFrames.toFixed(0)} frames/s` : ''}); ` +
      `VmRSS per process min/median/max ${fmt3(spread3(rss))} MB (sum ${(rss.reduce((a, b) => a + b, 0) / 1024).toFixed(2)} GB)`,
  );
  finish(0);
}

main().catch((err: unknown) => {
  if (finished) return; // the cap or a signal stopped the run; its calls fail as the peers go
  console.error(err);
  killAll();
  removePeerDirs();
  process.exit(1);
});
