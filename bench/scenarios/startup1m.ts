/**
 * Start-up on a big history (issue #17): one peer's data dir holding
 * BENCH_STARTUP_MESSAGES messages (1,000,000 by default) in 10 rooms.
 * Targets: `ready` in < 1 s, idle RSS < 120 MB, `history` of a room's newest
 * 100 messages in < 10 ms.
 *
 * The data set is written once per run, in-process, by the peer's own Replica
 * and Store (every message made, signed, hash-chained, stored and delivered as
 * `send` does it): one author, who creates the ten rooms and writes to them in
 * turn, one transaction per 10,000 messages. The template stays in the run's
 * temporary directory, or in BENCH_STARTUP_TEMPLATE when set (kept, and reused
 * by later runs of the same size: writing 1,000,000 messages takes minutes).
 *
 * Per repeat, on a fresh copy of the template: spawn a real headless peer →
 * its `ready` line; VmRSS two seconds later; then, for every room in turn,
 * `history {room, limit: 100}` through the control API 1 + 20 times, timed
 * from request to answer in the bench: the first call of each room is "cold"
 * (the very first call of the process is also reported on its own), the other
 * 20 give the "warm" median. The copy was just written, so the database sits in
 * the OS page cache: "cold" is the process and SQLite's cache, not the disk.
 * With BENCH_STARTUP_PROFILE=1 one more start runs under `node --cpu-prof`
 * (kept in bench/results/profiles/, summary printed).
 *
 * Opt-in: not part of a plain `npm run bench` (`optIn` in run.ts).
 */
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadIdentity } from '../../src/peer/identity.js';
import { silentLogger } from '../../src/peer/log.js';
import { Replica } from '../../src/peer/replica.js';
import { Store } from '../../src/peer/store.js';
import { roomIdOf } from '../../src/shared/wire.js';
import type { BenchContext } from '../lib/context.js';
import { cpuProfWrap, RESULTS_DIR, startPeer, stopPeer, type BenchPeer } from '../lib/peers.js';
import { envInt, percentile, rssMb, sleep, wallNow } from '../lib/util.js';
import { formatSummary, summarizeProfile } from '../profile-summary.js';

const ROOMS = Array.from({ length: 10 }, (_, i) => `big${i}`);
const NICK = 'S';
/** Messages per transaction while writing the data set. */
const CHUNK = 10_000;
/** Warm `history` calls per room after the cold one. */
const WARM_CALLS = 20;
const HISTORY_LIMIT = 100;

interface Template {
  dir: string;
  messages: number;
  /** Seconds it took to write (NaN when an existing BENCH_STARTUP_TEMPLATE was reused). */
  seconds: number;
  bytes: number;
}

let cached: Template | undefined;

function dirBytes(dir: string): number {
  let n = 0;
  for (const f of readdirSync(dir, { withFileTypes: true })) if (f.isFile()) n += statSync(join(dir, f.name)).size;
  return n;
}

/** Writes `messages` messages by one author, spread round-robin over ROOMS, into a new data dir. */
async function writeTemplate(ctx: BenchContext, dir: string, messages: number): Promise<void> {
  const store = new Store(dir);
  try {
    const identity = loadIdentity(store);
    const replica = new Replica(store, identity, silentLogger);
    const nextTurn = () => new Promise<void>((r) => setImmediate(r));
    store.db.exec('BEGIN');
    replica.append('profile', null, { nick: NICK, dh: identity.dh.publicRaw });
    const ids = ROOMS.map((name) => roomIdOf(replica.append('create', null, { name, nick: NICK }).id));
    store.db.exec('COMMIT');
    const t0 = wallNow();
    let last = t0;
    for (let i = 0; i < messages;) {
      store.db.exec('BEGIN');
      for (const end = Math.min(messages, i + CHUNK); i < end; i++) {
        const r = i % ROOMS.length;
        const n = Math.floor(i / ROOMS.length);
        // every 7th message long, as in the other data sets (lib/fixture.ts)
        const long = n % 7 === 0 ? ` ${'lorem ipsum dolor sit amet '.repeat(12)}` : '';
        replica.append('msg', ids[r]!, { nick: NICK, text: `${ROOMS[r]} message ${n}${long}` });
      }
      store.db.exec('COMMIT');
      // Let the replica's group-commit flush run (one per chunk) and its pending promises settle.
      await nextTurn();
      if (wallNow() - last > 15_000 || i === messages) {
        last = wallNow();
        const s = (last - t0) / 1000;
        ctx.log(`startup1m: ${i.toLocaleString('en-US')} messages written in ${s.toFixed(0)} s (${(i / s).toFixed(0)} msg/s)`);
      }
    }
  } finally {
    if (store.db.isTransaction) store.db.exec('ROLLBACK');
    store.close();
  }
}

async function template(ctx: BenchContext, messages: number): Promise<Template> {
  if (cached?.messages === messages) return cached;
  const keep = process.env.BENCH_STARTUP_TEMPLATE;
  const sizeFile = keep ? join(keep, 'bench-messages') : undefined;
  if (keep && sizeFile && existsSync(sizeFile) && Number(readFileSync(sizeFile, 'utf8')) === messages) {
    ctx.log(`startup1m: reusing the data set of ${messages.toLocaleString('en-US')} messages in ${keep}`);
    return (cached = { dir: keep, messages, seconds: NaN, bytes: dirBytes(keep) });
  }
  let dir: string;
  if (keep) {
    if (existsSync(keep) && readdirSync(keep).length)
      throw new Error(`BENCH_STARTUP_TEMPLATE ${keep} is not empty and holds no data set of ${messages} messages`);
    mkdirSync(keep, { recursive: true });
    dir = keep;
  } else {
    dir = ctx.tmp.make('chatty-bench-startup1m-');
  }
  const t0 = wallNow();
  await writeTemplate(ctx, dir, messages);
  const seconds = (wallNow() - t0) / 1000;
  if (sizeFile) writeFileSync(sizeFile, String(messages));
  const bytes = dirBytes(dir);
  ctx.log(
    `startup1m: data set of ${messages.toLocaleString('en-US')} messages in ${ROOMS.length} rooms written in-process in ${seconds.toFixed(1)} s (${(messages / seconds).toFixed(0)} msg/s), ${(bytes / 2 ** 20).toFixed(0)} MiB on disk`,
  );
  return (cached = { dir, messages, seconds, bytes });
}

function copyTemplate(ctx: BenchContext, t: Template): string {
  const dir = ctx.tmp.make('chatty-bench-startup1m-copy-');
  // only the database (a kept template also holds its size file)
  for (const f of readdirSync(t.dir)) if (f.startsWith('chatty.db')) cpSync(join(t.dir, f), join(dir, f));
  return dir;
}

async function timedHistory(peer: BenchPeer, room: string): Promise<number> {
  const t = wallNow();
  const page = (await peer.call('history', { room, limit: HISTORY_LIMIT })) as unknown[];
  const ms = wallNow() - t;
  if (page.length !== Math.min(HISTORY_LIMIT, Math.floor(cached!.messages / ROOMS.length)))
    throw new Error(`history of ${room} returned ${page.length} messages`);
  return ms;
}

interface StartFigures {
  ready: number;
  rss: number;
  firstHistory: number;
  /** First call of each room. */
  cold: number[];
  warm: number[];
}

async function measureStart(ctx: BenchContext, t: Template, wrap?: string[]): Promise<StartFigures> {
  const dataDir = copyTemplate(ctx, t);
  const peer = await startPeer('chatty', NICK, { dataDir, wrap });
  try {
    const ready = (peer.readyAt - peer.spawnedAt) / 1000;
    await sleep(2000);
    const rss = await rssMb(peer.pid);
    const cold: number[] = [];
    const warm: number[] = [];
    for (const room of ROOMS) {
      cold.push(await timedHistory(peer, room));
      for (let i = 0; i < WARM_CALLS; i++) warm.push(await timedHistory(peer, room));
    }
    return { ready, rss, firstHistory: cold[0]!, cold, warm };
  } finally {
    await stopPeer(peer);
  }
}

export async function runStartup1m(ctx: BenchContext): Promise<void> {
  const messages = envInt('BENCH_STARTUP_MESSAGES', 1_000_000);
  const t = await template(ctx, messages);
  const runs: StartFigures[] = [];
  for (let r = 0; r < ctx.repeat; r++) {
    const f = await measureStart(ctx, t);
    runs.push(f);
    ctx.log(
      `startup1m: ready after ${f.ready.toFixed(2)} s, VmRSS ${f.rss.toFixed(0)} MB; history first call ${f.firstHistory.toFixed(1)} ms, cold median ${percentile(f.cold, 50).toFixed(1)} ms [max ${Math.max(...f.cold).toFixed(1)}], warm median ${percentile(f.warm, 50).toFixed(2)} ms [p99 ${percentile(f.warm, 99).toFixed(2)}]`,
    );
  }
  const scenario = `start-up ${messages.toLocaleString('en-US')} msgs`;
  ctx.report.add({ scenario, metric: 'start → ready', unit: 's', chatty: runs.map((f) => f.ready), better: 'lower', target: '< 1 s' });
  ctx.report.add({ scenario, metric: 'idle RSS', unit: 'MB', chatty: runs.map((f) => f.rss), better: 'lower', target: '< 120 MB' });
  ctx.report.add({
    scenario,
    metric: 'history newest 100, first call after start',
    unit: 'ms',
    chatty: runs.map((f) => f.firstHistory),
    better: 'lower',
    target: '< 10 ms',
  });
  ctx.report.add({
    scenario,
    metric: 'history newest 100, cold (first of each room, median)',
    unit: 'ms',
    chatty: runs.map((f) => percentile(f.cold, 50)),
    better: 'lower',
    target: '< 10 ms',
  });
  ctx.report.add({
    scenario,
    metric: 'history newest 100, warm median',
    unit: 'ms',
    chatty: runs.map((f) => percentile(f.warm, 50)),
    better: 'lower',
    target: '< 10 ms',
  });
  const raw: Record<string, unknown> = {
    dataSet: { messages, rooms: ROOMS.length, writtenInProcessSeconds: t.seconds, bytes: t.bytes },
    runs,
  };
  if (process.env.BENCH_STARTUP_PROFILE === '1') {
    const dir = join(RESULTS_DIR, 'profiles', `${ctx.report.startedAt.toISOString().replace(/[:.]/g, '-')}-startup1m`);
    mkdirSync(dir, { recursive: true });
    const f = await measureStart(ctx, t, cpuProfWrap(dir));
    ctx.log(`startup1m (profiled): ready after ${f.ready.toFixed(2)} s, history first call ${f.firstHistory.toFixed(1)} ms`);
    const file = readdirSync(dir).filter((n) => n.endsWith('.cpuprofile'));
    if (file.length) {
      const summary = summarizeProfile(join(dir, file.sort().at(-1)!));
      console.log(formatSummary(summary, 'start-up on a big history (start, 2 s idle, history calls, shutdown)'));
      raw.profile = summary;
      ctx.report.note(`startup1m CPU profile: ${dir}`);
    }
  }
  ctx.report.raw.startup1m = raw;
}
