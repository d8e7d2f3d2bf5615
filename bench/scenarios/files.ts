/**
 * Files (issue #15): one file of BENCH_FILE_MB MiB (default 1,024), random bytes written once to a
 * temporary dir (streamed), sent by one peer and fetched by one or five others on loopback.
 * Per repeat, fresh processes each time:
 *
 * - baseline 1→1: bench/file-baseline.ts, the bytes over one plain `ws` link between two Node
 *   processes (1 MiB binary messages with backpressure; the receiver writes them in order and
 *   fsyncs the file at the end);
 * - Chatty 1→1: two linked peers in an open room; A `sendFile`s (timed on its own: it hashes the
 *   file), B `download`s into a folder of its own;
 * - baseline 1→5: one plain-ws holder streaming five copies at once to five receivers;
 * - Chatty 1→5: six peers, five `download`s at once; then the same with every peer started with
 *   `--no-file-swarm` (only the author serves: it sends five copies itself);
 * - resume: Chatty 1→1 again, B killed (SIGKILL) once its transfer events pass 50 %, restarted on
 *   the same data dir; it should resume on its own (else `download` is called again, and noted).
 *
 * Every transfer is timed on the bench's clock the same way: from writing the request (`download`,
 * or `get` to the baseline receiver) to reading the line that says the file is complete (the
 * `transfer` event with state `done`, or the baseline's `done`; both fsync the file first). Every
 * Chatty copy is checked: its SHA-256, read streaming, equals the original's. VmRSS of every
 * process is sampled every 200 ms from /proc/PID/status while the transfers run, and its CPU time
 * (utime + stime) is taken before and after. Baseline and Chatty alternate which goes first; one
 * untimed plain-ws transfer comes before everything (the first GiB written is slow on this disk).
 * BENCH_FILE_DIR puts the file, the copies and the peers' data elsewhere (/dev/shm: no disk).
 *
 * BENCH_FILE_PROFILE=1 adds, after the repeats, one 1→1 and one 1→5 run with `--cpu-prof` on the
 * author and the first receiver (figures logged, not tabled; summaries printed, profiles kept under
 * bench/results/profiles/).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomFillSync } from 'node:crypto';
import { createReadStream, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { FILE_LIMITS, type Message, type Transfer } from '../../src/shared/api.js';
import { forEachLine } from '../../test/helpers/lines.js';
import type { BenchContext } from '../lib/context.js';
import {
  ChattyPeer,
  compileBenchScript,
  cpuProfWrap,
  killAll,
  RESULTS_DIR,
  ROOM,
  startCluster,
  startPeer,
  stopAll,
  stopPeer,
} from '../lib/peers.js';
import { fmtNum } from '../lib/report.js';
import { envInt, rssMb, sleep, spread, wallNow, withTimeout } from '../lib/util.js';
import { formatSummary, summarizeProfile } from '../profile-summary.js';

const MiB = 1024 * 1024;
/** Where the file, the copies and the peers' data go: BENCH_FILE_DIR (e.g. /dev/shm, to take the disk out), else the system's temporary directory. */
const tempDir = (ctx: BenchContext, prefix: string): string => ctx.tmp.make(prefix, process.env.BENCH_FILE_DIR || undefined);
/** A transfer whose `received` has not grown for this long is failed as stalled. */
const STALL_MS = 60_000;
const RSS_EVERY_MS = 200;

// ---- the file ---------------------------------------------------------------------------------------

interface TestFile {
  path: string;
  size: number;
  sha256Hex: string;
  /** As the manifest carries it. */
  sha256B64: string;
}

/** Writes `mib` MiB of random bytes, 1 MiB at a time through one reused buffer, hashing as it goes. */
async function makeFile(dir: string, mib: number): Promise<TestFile> {
  const path = join(dir, `bench-${mib}MiB.bin`);
  const buf = Buffer.allocUnsafe(MiB);
  const hash = createHash('sha256');
  const fh = await open(path, 'w');
  try {
    for (let i = 0; i < mib; i++) {
      randomFillSync(buf);
      hash.update(buf);
      await fh.write(buf, 0, MiB);
    }
    // On disk before anything is timed: the kernel's writeback of a fresh 1 GiB would compete with the first transfer.
    await fh.sync();
  } finally {
    await fh.close();
  }
  const digest = hash.digest();
  return { path, size: mib * MiB, sha256Hex: digest.toString('hex'), sha256B64: digest.toString('base64url') };
}

function sha256OfFile(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(path, { highWaterMark: MiB })
      .on('data', (b) => hash.update(b))
      .on('error', reject)
      .on('end', () => resolve(hash.digest('hex')));
  });
}

// ---- measuring --------------------------------------------------------------------------------------

/**
 * Max VmRSS of each process, sampled every 200 ms, and the CPU time (utime + stime) each used, from
 * construction to `stop()`. CPU time is the figure the machine's other load inflates least.
 */
class ProcSampler {
  private readonly max = new Map<number, number>();
  private readonly cpu0: number[];
  private readonly timer: NodeJS.Timeout;
  private busy = false;

  constructor(private readonly pids: readonly number[]) {
    this.cpu0 = pids.map(cpuSeconds);
    void this.sample();
    this.timer = setInterval(() => void this.sample(), RSS_EVERY_MS);
  }

  private async sample(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      const values = await Promise.all(this.pids.map((pid) => rssMb(pid)));
      values.forEach((v, i) => {
        if (Number.isFinite(v)) this.max.set(this.pids[i]!, Math.max(this.max.get(this.pids[i]!) ?? 0, v));
      });
    } finally {
      this.busy = false;
    }
  }

  /** Stops (after one last sample): max VmRSS in MB (kB / 1024) and CPU seconds, per pid in the order given. */
  async stop(): Promise<{ rss: number[]; cpu: number[] }> {
    clearInterval(this.timer);
    while (this.busy) await sleep(5);
    await this.sample();
    return { rss: this.pids.map((pid) => this.max.get(pid) ?? NaN), cpu: this.pids.map((pid, i) => cpuSeconds(pid) - this.cpu0[i]!) };
  }
}

/** utime + stime of a process so far (/proc/PID/stat, in ticks of 1/100 s), s; NaN when unavailable. */
function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // the fields after the command name (which may hold spaces) start with state, field 3; utime is 14, stime 15
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return NaN;
  }
}

const sum = (values: readonly number[]): number => values.reduce((a, b) => a + b, 0);

type TimedTransfer = Transfer & { at: number };

interface TransferWatch {
  /** Resolves with the `done` event (bench clock `at`); rejects on failed, cancelled, a stall or the peer's exit. */
  done: Promise<TimedTransfer>;
  /** Every event of this file, in order. */
  events: TimedTransfer[];
  /** Resolves with the first event whose received/total reaches `fraction`. */
  reached(fraction: number): Promise<TimedTransfer>;
  stop(): void;
}

/** Follows the `transfer` events of one file on one peer (with `earlier`, also those already received). */
function watchTransfer(peer: ChattyPeer, file: string, opts: { earlier?: boolean } = {}): TransferWatch {
  const events: TimedTransfer[] = [];
  const waiters: { fraction: number; resolve: (t: TimedTransfer) => void }[] = [];
  let settle!: { resolve: (t: TimedTransfer) => void; reject: (e: Error) => void };
  const done = new Promise<TimedTransfer>((resolve, reject) => (settle = { resolve, reject }));
  done.catch(() => undefined);
  let lastReceived = -1;
  let lastProgressAt = wallNow();
  const onEvent = (t: Transfer, at: number) => {
    if (t.file !== file) return;
    const ev = { ...t, at };
    events.push(ev);
    if (t.received !== lastReceived) {
      lastReceived = t.received;
      lastProgressAt = at;
    }
    for (const w of waiters.splice(0)) {
      if (t.total > 0 && t.received / t.total >= w.fraction) w.resolve(ev);
      else waiters.push(w);
    }
    if (t.state === 'done') settle.resolve(ev);
    else if (t.state !== 'running') settle.reject(new Error(`transfer ${t.state} at ${t.received} of ${t.total} bytes: ${t.error ?? ''}`));
  };
  if (opts.earlier) for (const t of peer.proc.eventsOf('transfer')) onEvent(t, wallNow());
  const off = peer.proc.rpc.on('transfer', (t) => onEvent(t, wallNow()));
  const stall = setInterval(() => {
    if (wallNow() - lastProgressAt > STALL_MS) {
      const last = events.at(-1);
      settle.reject(
        new Error(`transfer stalled: no progress for ${STALL_MS / 1000} s at ${last?.received ?? 0} of ${last?.total ?? '?'} bytes`),
      );
    }
  }, 1000);
  void peer.exited.then(() => settle.reject(new Error(`${peer.name} exited during the transfer: ${peer.proc.stderr.slice(-2000)}`)));
  const stop = () => {
    off();
    clearInterval(stall);
  };
  void done.then(stop, stop);
  return {
    done,
    events,
    reached: (fraction) =>
      new Promise((resolve) => {
        const hit = events.find((e) => e.total > 0 && e.received / e.total >= fraction);
        if (hit) resolve(hit);
        else waiters.push({ fraction, resolve });
      }),
    stop,
  };
}

// ---- the baseline: bench/file-baseline.ts -------------------------------------------------------------

interface BaselineLine {
  ev: string;
  at: number;
  port?: number;
  bytes?: number;
  firstAt?: number;
  writtenAt?: number;
  syncedAt?: number;
  message?: string;
}

/** One process of file-baseline.mjs and its JSON lines. */
class BaselineProc {
  readonly lines: BaselineLine[] = [];
  readonly exited: Promise<unknown>;
  stderr = '';
  private waiters: (() => void)[] = [];

  private constructor(readonly child: ChildProcess) {
    forEachLine(child.stdout!, (text) => {
      this.lines.push({ ...(JSON.parse(text) as BaselineLine), at: wallNow() });
      for (const w of this.waiters.splice(0)) w();
    });
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (c: string) => (this.stderr = (this.stderr + c).slice(-5000)));
    this.exited = new Promise((r) => child.on('exit', r));
    void this.exited.then(() => this.waiters.splice(0).forEach((w) => w()));
  }

  static async start(args: string[]): Promise<BaselineProc> {
    const child = spawn(process.execPath, [compileBenchScript('file-baseline'), ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    const p = new BaselineProc(child);
    try {
      await p.next('ready', 20_000);
    } catch (err) {
      p.kill();
      throw err;
    }
    return p;
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** The first line of kind `ev` after `skip` of them; rejects on an `error` line, the exit or the timeout. */
  next(ev: string, timeoutMs: number, skip = 0): Promise<BaselineLine> {
    return withTimeout(
      new Promise((resolve, reject) => {
        const check = () => {
          const err = this.lines.find((l) => l.ev === 'error');
          if (err) return reject(new Error(`file baseline: ${err.message}`));
          const hit = this.lines.filter((l) => l.ev === ev)[skip];
          if (hit) return resolve(hit);
          if (this.child.exitCode !== null || this.child.signalCode !== null)
            return reject(new Error(`file baseline exited: ${this.stderr}`));
          this.waiters.push(check);
        };
        check();
      }),
      timeoutMs,
      `file baseline ${ev}`,
    );
  }

  send(line: string): void {
    this.child.stdin!.write(`${line}\n`);
  }

  async stop(): Promise<void> {
    this.child.stdin!.end();
    const timer = setTimeout(() => this.kill(), 3000);
    await this.exited;
    clearTimeout(timer);
  }

  kill(): void {
    this.child.kill('SIGKILL');
  }
}

interface BaselineRun {
  /** `get` written → last receiver's `done` read, s. */
  seconds: number;
  perReceiver: number[];
  /** Time of the final fsync in each receiver, ms. */
  fsyncMs: number[];
  rssSender: number;
  rssReceivers: number[];
  /** CPU seconds of each process during the transfers, sender first. */
  cpu: number[];
  /** 1-minute load average of the machine as the transfers ended. */
  load: number;
}

async function baselineRun(ctx: BenchContext, file: TestFile, receivers: number): Promise<BaselineRun> {
  const dir = tempDir(ctx, 'chatty-bench-files-base-');
  const procs: BaselineProc[] = [];
  try {
    const holder = await BaselineProc.start(['serve', '--file', file.path]);
    procs.push(holder);
    const url = `ws://127.0.0.1:${(await holder.next('ready', 1000)).port}`;
    const outs = Array.from({ length: receivers }, (_, i) => join(dir, `r${i}.bin`));
    const fetchers = await Promise.all(outs.map((out) => BaselineProc.start(['fetch', '--url', url, '--out', out])));
    procs.push(...fetchers);
    const sampler = new ProcSampler(procs.map((p) => p.pid));
    const t0 = wallNow();
    for (const f of fetchers) f.send('get');
    const dones = await Promise.all(fetchers.map((f) => f.next('done', transferCapMs(file.size, receivers))));
    const { rss, cpu } = await sampler.stop();
    const [rssSender, ...rssReceivers] = rss;
    for (const [i, out] of outs.entries()) {
      if (statSync(out).size !== file.size) throw new Error(`baseline receiver ${i} wrote ${statSync(out).size} of ${file.size} bytes`);
    }
    const perReceiver = dones.map((d) => (d.at - t0) / 1000);
    return {
      seconds: Math.max(...perReceiver),
      perReceiver,
      fsyncMs: dones.map((d) => d.syncedAt! - d.writtenAt!),
      rssSender: rssSender!,
      rssReceivers,
      cpu,
      load: loadavg()[0]!,
    };
  } finally {
    await Promise.all(procs.map((p) => p.stop()));
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A generous upper bound for one transfer (a stall is caught much earlier): 1 MiB/s per copy, at least 10 min. */
function transferCapMs(size: number, copies: number): number {
  return Math.max(600_000, (size * copies) / MiB) * 1000;
}

// ---- Chatty -----------------------------------------------------------------------------------------

/** The peer options of this scenario: no auto-fetch, room for the file, and the swarm on or off. */
function fileArgs(size: number, swarm: boolean): string[] {
  const maxFile = Math.max(FILE_LIMITS.defaultMaxSizeBytes, size);
  return ['--max-file', String(maxFile), '--auto-fetch', '0', ...(swarm ? [] : ['--no-file-swarm'])];
}

interface ChattyRun {
  /** `sendFile` call → answer (the author hashes the file), s. */
  sendFile: number;
  /** `download` written → last receiver's `done` read, s. */
  seconds: number;
  perReceiver: number[];
  rssSender: number;
  rssReceivers: number[];
  /** CPU seconds of each peer during the transfers, author first. */
  cpu: number[];
  /** 1-minute load average of the machine as the transfers ended. */
  load: number;
  /** VmRSS of the author while it hashed the file in `sendFile`. */
  rssSenderDuringSendFile: number;
  /** From `stats` after the transfers: bytes each peer sent and received over its links (author first). */
  bytesSent: number[];
  bytesReceived: number[];
  /** Transfer events per receiver. */
  events: number[];
  /** Per receiver: [s since the downloads started, MiB held] at each transfer event. */
  progress: [number, number][][];
  /** Per receiver: the longest time its `received` did not grow while the transfer ran, s. */
  longestStall: number[];
  warnings: string[];
}

/** Starts `n` linked peers in room ROOM on data dirs of their own (removed by `removeDirs`). */
async function startPeers(ctx: BenchContext, n: number, args: string[], wrap: (i: number) => string[] | undefined = () => undefined) {
  const dirs = Array.from({ length: n }, () => tempDir(ctx, 'chatty-bench-files-peer-'));
  const peers = (await startCluster('chatty', n, { extraArgs: args }, (i) => ({ dataDir: dirs[i], wrap: wrap(i) }))) as ChattyPeer[];
  return { peers, dirs };
}

function removeDirs(dirs: readonly string[]): void {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
}

/** The author sends the file to the room; resolves once every receiver has the message. */
async function sendTheFile(
  author: ChattyPeer,
  receivers: readonly ChattyPeer[],
  file: TestFile,
): Promise<{ message: Message; seconds: number; rss: number }> {
  const sampler = new ProcSampler([author.pid!]);
  const t0 = wallNow();
  const message = await withTimeout(author.proc.call('sendFile', { room: ROOM, path: file.path }), 600_000, 'sendFile');
  const seconds = (wallNow() - t0) / 1000;
  const rssMax = (await sampler.stop()).rss[0];
  const info = message.file;
  if (!info) throw new Error('sendFile answered a message without a file');
  if (info.size !== file.size) throw new Error(`the manifest says ${info.size} bytes, the file has ${file.size}`);
  if (info.sha256 !== file.sha256B64) throw new Error(`the manifest's sha256 ${info.sha256} is not the file's ${file.sha256B64}`);
  await Promise.all(receivers.map((r) => r.proc.waitFor('message', (m) => m.file?.id === info.id, 60_000)));
  return { message, seconds, rss: rssMax! };
}

/** Checks each received copy against the original, streaming; returns the paths checked. */
async function verifyCopies(file: TestFile, dones: readonly TimedTransfer[], folders: readonly string[]): Promise<void> {
  for (const [i, d] of dones.entries()) {
    const path = d.path ?? onlyFileIn(folders[i]!);
    const got = await sha256OfFile(path);
    if (got !== file.sha256Hex) throw new Error(`receiver ${i + 1}'s copy ${path} has SHA-256 ${got}, the original ${file.sha256Hex}`);
  }
}

function onlyFileIn(dir: string): string {
  const names = readdirSync(dir);
  if (names.length !== 1) throw new Error(`the transfer named no path and ${dir} holds ${names.length} files`);
  return join(dir, names[0]!);
}

/** Warnings and errors the peers logged on stderr (CHATTY_LOG=warn). */
function peerWarnings(peers: readonly ChattyPeer[]): string[] {
  return peers.flatMap((p) =>
    p.proc.stderr
      .split('\n')
      .filter((l) => l.trim())
      .map((l) => `${p.name}: ${l.slice(0, 300)}`),
  );
}

async function chattyRun(
  ctx: BenchContext,
  file: TestFile,
  receivers: number,
  opts: { swarm: boolean; profileDirs?: [string, string] },
): Promise<ChattyRun> {
  const prof = opts.profileDirs;
  const { peers, dirs } = await startPeers(ctx, receivers + 1, fileArgs(file.size, opts.swarm), (i) =>
    prof && i < 2 ? cpuProfWrap(prof[i]!) : undefined,
  );
  const folders: string[] = [];
  try {
    const [author, ...rest] = peers as [ChattyPeer, ...ChattyPeer[]];
    const sent = await sendTheFile(author, rest, file);
    const id = sent.message.file!.id;
    folders.push(...rest.map(() => tempDir(ctx, 'chatty-bench-files-dl-')));
    const watches = rest.map((r) => watchTransfer(r, id));
    const sampler = new ProcSampler(peers.map((p) => p.pid!));
    const t0 = wallNow();
    try {
      await Promise.all(rest.map((r, i) => withTimeout(r.proc.call('download', { file: id, path: folders[i] }), 60_000, 'download')));
      const dones = await withTimeout(Promise.all(watches.map((w) => w.done)), transferCapMs(file.size, receivers), 'transfers done');
      const { rss, cpu } = await sampler.stop();
      const [rssSender, ...rssReceivers] = rss;
      const stats = await Promise.all(peers.map((p) => p.proc.call('stats')));
      await verifyCopies(file, dones, folders);
      const perReceiver = dones.map((d) => (d.at - t0) / 1000);
      return {
        sendFile: sent.seconds,
        seconds: Math.max(...perReceiver),
        perReceiver,
        rssSender: rssSender!,
        rssReceivers,
        cpu,
        load: loadavg()[0]!,
        rssSenderDuringSendFile: sent.rss,
        bytesSent: stats.map((s) => s.bytes.sent),
        bytesReceived: stats.map((s) => s.bytes.received),
        events: watches.map((w) => w.events.length),
        progress: watches.map((w) => w.events.map((e) => [round2((e.at - t0) / 1000), round2(e.received / MiB)])),
        longestStall: watches.map((w) => longestStall(w.events, t0)),
        warnings: peerWarnings(peers),
      };
    } finally {
      for (const w of watches) w.stop();
      await sampler.stop();
    }
  } finally {
    await stopAll(peers);
    removeDirs([...dirs, ...folders]);
  }
}

interface ResumeRun {
  /** `received` of the event that triggered the kill, bytes. */
  receivedAtKill: number;
  /** `received` of the first transfer event after the restart: what the peer found it held. */
  heldAtRestart: number;
  /** Bytes the restarted peer received over its links until done (`stats`), and what it lacked. */
  receivedAfterRestart: number;
  missingAtRestart: number;
  /** Whether the transfer went on without a new `download` call. */
  resumedOnItsOwn: boolean;
  /** First `download` → `done` after the restart (kill and restart included), s; and restart spawn → done. */
  total: number;
  restartToDone: number;
  warnings: string[];
}

async function resumeRun(ctx: BenchContext, file: TestFile): Promise<ResumeRun> {
  const args = fileArgs(file.size, true);
  const { peers, dirs } = await startPeers(ctx, 2, args);
  const folder = tempDir(ctx, 'chatty-bench-files-dl-');
  const all: ChattyPeer[] = [...peers];
  try {
    const [author, b] = peers as [ChattyPeer, ChattyPeer];
    const sent = await sendTheFile(author, [b], file);
    const id = sent.message.file!.id;
    const first = watchTransfer(b, id);
    const t0 = wallNow();
    await withTimeout(b.proc.call('download', { file: id, path: folder }), 60_000, 'download');
    const half = await withTimeout(
      Promise.race([first.reached(0.5), first.done.then((d) => Promise.reject(new Error(`done before the kill (${d.received} bytes)`)))]),
      transferCapMs(file.size, 1),
      'transfer past 50 %',
    );
    first.stop();
    const port = b.proc.ready.port;
    b.kill();
    await b.exited;
    await stopPeer(b);

    const b2 = (await startPeer('chatty', 'c1', { dataDir: dirs[1], port, peers: [author.url], extraArgs: args })) as ChattyPeer;
    all.push(b2);
    const watch = watchTransfer(b2, id, { earlier: true });
    let resumedOnItsOwn = true;
    const firstEvent = await Promise.race([waitForFirst(watch), sleep(20_000).then(() => undefined)]);
    if (!firstEvent) {
      resumedOnItsOwn = false;
      await withTimeout(b2.proc.call('download', { file: id, path: folder }), 60_000, 'download again');
    }
    const held = firstEvent ?? (await withTimeout(waitForFirst(watch), 60_000, 'first transfer event after the restart'));
    const done = await withTimeout(watch.done, transferCapMs(file.size, 1), 'resumed transfer done');
    const stats = await b2.proc.call('stats');
    await verifyCopies(file, [done], [folder]);
    return {
      receivedAtKill: half.received,
      heldAtRestart: held.received,
      receivedAfterRestart: stats.bytes.received,
      missingAtRestart: file.size - held.received,
      resumedOnItsOwn,
      total: (done.at - t0) / 1000,
      restartToDone: (done.at - b2.spawnedAt) / 1000,
      warnings: peerWarnings([author, b2]),
    };
  } finally {
    await stopAll(all);
    removeDirs([...dirs, folder]);
  }
}

const round2 = (v: number): number => Math.round(v * 100) / 100;

/** The longest time between two events (or the start and the first) in which `received` did not grow, s. */
function longestStall(events: readonly TimedTransfer[], t0: number): number {
  let longest = 0;
  let since = t0;
  let held = -1;
  for (const e of events) {
    if (e.received === held) continue;
    longest = Math.max(longest, e.at - since);
    since = e.at;
    held = e.received;
  }
  return round2(longest / 1000);
}

function waitForFirst(watch: TransferWatch): Promise<TimedTransfer> {
  return watch.reached(0);
}

// ---- the scenario -------------------------------------------------------------------------------------

interface Figures {
  base1: BaselineRun[];
  base5: BaselineRun[];
  one: ChattyRun[];
  five: ChattyRun[];
  fiveNoSwarm: ChattyRun[];
  resume: ResumeRun[];
}

type Phase = 'baseline 1→1' | 'Chatty 1→1' | 'baseline 1→5' | 'Chatty 1→5' | 'Chatty 1→5 no swarm' | 'resume';

export async function runFiles(ctx: BenchContext): Promise<void> {
  const mib = envInt('BENCH_FILE_MB', 1024);
  if (mib * MiB > FILE_LIMITS.maxSizeBytes)
    throw new Error(`BENCH_FILE_MB=${mib}: the protocol's largest file is ${FILE_LIMITS.maxSizeBytes / MiB} MiB`);
  const load: { start: number[]; end?: number[] } = { start: loadavg() };
  const t = wallNow();
  const file = await makeFile(tempDir(ctx, 'chatty-bench-files-'), mib);
  ctx.log(
    `files: ${mib} MiB of random bytes written in ${((wallNow() - t) / 1000).toFixed(1)} s (load average ${load.start.map((l) => l.toFixed(2)).join(' ')})`,
  );
  // On this VM's disk the first GiB written after the file was made (and after the last run's deletions)
  // takes 2–3× as long as the next ones, whoever writes it: one untimed transfer first.
  const warm = await baselineRun(ctx, file, 1).then(
    (b) => `${b.seconds.toFixed(2)} s`,
    (err: unknown) => `failed: ${String(err)}`,
  );
  ctx.log(`files: warm-up, plain ws 1→1, untimed: ${warm}`);

  const figs: Figures = { base1: [], base5: [], one: [], five: [], fiveNoSwarm: [], resume: [] };
  const broken = new Set<Phase>();
  const phase = async <T>(name: Phase, r: number, run: () => Promise<T>, into: T[], describe: (v: T) => string) => {
    if (broken.has(name)) return;
    try {
      const v = await run();
      into.push(v);
      ctx.log(`files ${name}: ${describe(v)}`);
    } catch (err) {
      killAll();
      broken.add(name);
      const msg = err instanceof Error ? (err.stack ?? err.message) : String(err);
      ctx.report.skip(`files: ${name}`, `failed in repeat ${r + 1}: ${msg.split('\n').slice(0, 4).join(' | ')}`);
    }
  };
  const rate = (s: number) => `${fmtNum(mib / s)} MiB/s`;
  const describeBase = (b: BaselineRun) =>
    `${b.seconds.toFixed(2)} s (${rate(b.seconds)} per copy; fsync ${b.fsyncMs.map((f) => f.toFixed(0)).join('/')} ms), CPU ${sum(b.cpu).toFixed(1)} s, load ${b.load.toFixed(1)}, VmRSS sender ${b.rssSender.toFixed(0)} MB, receivers ≤ ${Math.max(...b.rssReceivers).toFixed(0)} MB`;
  const describeChatty = (c: ChattyRun) =>
    `sendFile ${c.sendFile.toFixed(2)} s; download → done ${c.seconds.toFixed(2)} s (${rate(c.seconds)} per copy; receivers ${c.perReceiver.map((s) => s.toFixed(1)).join(', ')} s), ` +
    `CPU ${sum(c.cpu).toFixed(1)} s (author ${c.cpu[0]!.toFixed(1)}), load ${c.load.toFixed(1)}, author sent ${(c.bytesSent[0]! / file.size).toFixed(2)} copies, longest stall ${Math.max(...c.longestStall).toFixed(1)} s, VmRSS author ${c.rssSender.toFixed(0)} MB, receivers ≤ ${Math.max(...c.rssReceivers).toFixed(0)} MB` +
    `${c.warnings.length ? `; ${c.warnings.length} lines on the peers' stderr` : ''}`;

  for (let r = 0; r < ctx.repeat; r++) {
    const ones = [
      () => phase('baseline 1→1', r, () => baselineRun(ctx, file, 1), figs.base1, describeBase),
      () => phase('Chatty 1→1', r, () => chattyRun(ctx, file, 1, { swarm: true }), figs.one, describeChatty),
    ];
    const fives = [
      () => phase('baseline 1→5', r, () => baselineRun(ctx, file, 5), figs.base5, describeBase),
      () => phase('Chatty 1→5', r, () => chattyRun(ctx, file, 5, { swarm: true }), figs.five, describeChatty),
      () => phase('Chatty 1→5 no swarm', r, () => chattyRun(ctx, file, 5, { swarm: false }), figs.fiveNoSwarm, describeChatty),
    ];
    // Alternate which kind goes first, so background load drifts hit both alike.
    for (const run of r % 2 === 0 ? ones : [...ones].reverse()) await run();
    for (const run of r % 2 === 0 ? fives : [...fives].reverse()) await run();
    await phase(
      'resume',
      r,
      () => resumeRun(ctx, file),
      figs.resume,
      (x) =>
        `killed at ${pct(x.receivedAtKill, file.size)}, held ${pct(x.heldAtRestart, file.size)} at restart, ` +
        `${(x.receivedAfterRestart / MiB).toFixed(0)} MiB received after it for ${(x.missingAtRestart / MiB).toFixed(0)} MiB missing` +
        `${x.resumedOnItsOwn ? '' : ' (did not resume on its own: download called again)'}; total ${x.total.toFixed(2)} s, restart → done ${x.restartToDone.toFixed(2)} s`,
    );
  }
  load.end = loadavg();
  report(ctx, mib, file, figs, load);
  if (process.env.BENCH_FILE_PROFILE) await profileRuns(ctx, file);
}

function pct(part: number, whole: number): string {
  return `${((part / whole) * 100).toFixed(0)} %`;
}

function report(ctx: BenchContext, mib: number, file: TestFile, f: Figures, load: { start: number[]; end?: number[] }): void {
  const scenario = `files, ${mib.toLocaleString('en-US')} MiB`;
  const add = (
    metric: string,
    unit: string,
    chatty: number[],
    better: 'lower' | 'higher',
    extra: { baseline?: number[]; target?: string } = {},
  ) => {
    if (chatty.length || extra.baseline?.length) ctx.report.add({ scenario, metric, unit, chatty, better, ...extra });
  };
  const secs = (runs: { seconds: number }[]) => runs.map((x) => x.seconds);
  const mibs = (runs: { seconds: number }[]) => runs.map((x) => mib / x.seconds);
  /** The median 1→5 time over the median 1→1 time (one 1→1 stall would make a per-repeat ratio meaningless). */
  const per = (five: { seconds: number }[], one: { seconds: number }[]) =>
    five.length && one.length ? [spread(secs(five)).median / spread(secs(one)).median] : [];
  const maxOf = (runs: { rssReceivers: number[] }[]) => runs.map((x) => Math.max(...x.rssReceivers));

  add('1→1: download → done', 's', secs(f.one), 'lower', { baseline: secs(f.base1) });
  add('1→1: throughput', 'MiB/s', mibs(f.one), 'higher', { baseline: mibs(f.base1), target: '≥ 0.7× baseline' });
  add(
    '1→1: sendFile (reads and hashes the file)',
    's',
    f.one.map((x) => x.sendFile),
    'lower',
  );
  const cpu = (runs: { cpu: number[] }[]) => runs.map((x) => sum(x.cpu));
  add('1→1: CPU time, sender + receiver', 's', cpu(f.one), 'lower', { baseline: cpu(f.base1) });
  add('1→5: download → all five done', 's', secs(f.five), 'lower', { baseline: secs(f.base5) });
  add('1→5 ÷ 1→1, medians (baseline: plain ws, five copies)', '×', per(f.five, f.one), 'lower', {
    baseline: per(f.base5, f.base1),
    target: '≤ 1.5×',
  });
  add('1→5 --no-file-swarm: download → all five done', 's', secs(f.fiveNoSwarm), 'lower', { baseline: secs(f.base5) });
  add('1→5 --no-file-swarm ÷ 1→1, medians', '×', per(f.fiveNoSwarm, f.one), 'lower', { baseline: per(f.base5, f.base1) });
  add('1→5: CPU time, all six processes', 's', cpu(f.five), 'lower', { baseline: cpu(f.base5) });
  add('1→5 --no-file-swarm: CPU time, all six processes', 's', cpu(f.fiveNoSwarm), 'lower', { baseline: cpu(f.base5) });
  add(
    "1→5: author's bytes sent, in copies of the file",
    'copies',
    f.five.map((x) => x.bytesSent[0]! / file.size),
    'lower',
  );
  add(
    "1→5 --no-file-swarm: author's bytes sent, in copies",
    'copies',
    f.fiveNoSwarm.map((x) => x.bytesSent[0]! / file.size),
    'lower',
  );
  const rss = '< 200 MB';
  add(
    'VmRSS max, sender 1→1',
    'MB',
    f.one.map((x) => x.rssSender),
    'lower',
    { baseline: f.base1.map((x) => x.rssSender), target: rss },
  );
  add('VmRSS max, receiver 1→1', 'MB', maxOf(f.one), 'lower', { baseline: maxOf(f.base1), target: rss });
  add(
    'VmRSS max, sender 1→5',
    'MB',
    f.five.map((x) => x.rssSender),
    'lower',
    { baseline: f.base5.map((x) => x.rssSender), target: rss },
  );
  add('VmRSS max, receivers 1→5 (max of five)', 'MB', maxOf(f.five), 'lower', { baseline: maxOf(f.base5), target: rss });
  add(
    'VmRSS max, sender 1→5 --no-file-swarm',
    'MB',
    f.fiveNoSwarm.map((x) => x.rssSender),
    'lower',
    { target: rss },
  );
  add('VmRSS max, receivers 1→5 --no-file-swarm', 'MB', maxOf(f.fiveNoSwarm), 'lower', { target: rss });
  add(
    'VmRSS max, sender in sendFile (hashing)',
    'MB',
    f.one.map((x) => x.rssSenderDuringSendFile),
    'lower',
    { target: rss },
  );
  add(
    'resume: held at restart (% of the file)',
    '%',
    f.resume.map((x) => (x.heldAtRestart / file.size) * 100),
    'higher',
  );
  add(
    'resume: received after restart ÷ missing at restart',
    '×',
    f.resume.map((x) => x.receivedAfterRestart / x.missingAtRestart),
    'lower',
    { target: '≈ 1×' },
  );
  add(
    'resume: download → done, kill and restart included',
    's',
    f.resume.map((x) => x.total),
    'lower',
  );
  add(
    'resume: restart (spawn) → done',
    's',
    f.resume.map((x) => x.restartToDone),
    'lower',
  );
  if (f.resume.some((x) => !x.resumedOnItsOwn)) {
    ctx.report.note(
      `files resume: the restarted peer did not resume on its own in ${f.resume.filter((x) => !x.resumedOnItsOwn).length} of ${f.resume.length} runs; download was called again`,
    );
  }
  const stalls = [...f.one, ...f.five, ...f.fiveNoSwarm].flatMap((x) => x.longestStall);
  const long = stalls.filter((s) => s >= 10);
  if (long.length) {
    ctx.report.note(
      `files: ${long.length} of ${stalls.length} downloads stood still for 10 s or more (longest ${Math.max(...long).toFixed(1)} s; raw.files.*.progress has each one's course)`,
    );
  }
  const warned =
    [...f.one, ...f.five, ...f.fiveNoSwarm].reduce((n, x) => n + x.warnings.length, 0) +
    f.resume.reduce((n, x) => n + x.warnings.length, 0);
  if (warned) ctx.report.note(`files: the peers wrote ${warned} lines to stderr (warnings or errors; see raw.files in the JSON)`);
  ctx.report.raw.files = { fileMiB: mib, dir: process.env.BENCH_FILE_DIR || tmpdir(), sha256: file.sha256Hex, loadAverage: load, ...f };
}

/** BENCH_FILE_PROFILE: one 1→1 and one 1→5 run with the author and the first receiver under `--cpu-prof`. */
async function profileRuns(ctx: BenchContext, file: TestFile): Promise<void> {
  const stamp = ctx.report.startedAt.toISOString().replace(/[:.]/g, '-');
  const summaries: Record<string, unknown> = {};
  for (const receivers of [1, 5]) {
    const dirs: [string, string] = [
      join(RESULTS_DIR, 'profiles', `${stamp}-files-1to${receivers}-author`),
      join(RESULTS_DIR, 'profiles', `${stamp}-files-1to${receivers}-receiver`),
    ];
    for (const d of dirs) mkdirSync(d, { recursive: true });
    const run = await chattyRun(ctx, file, receivers, { swarm: true, profileDirs: dirs });
    ctx.log(`files profiled 1→${receivers}: download → done ${run.seconds.toFixed(2)} s (with the profiler on)`);
    for (const [role, dir] of [
      ['author', dirs[0]],
      ['receiver', dirs[1]],
    ] as const) {
      const name = readdirSync(dir)
        .filter((n) => n.endsWith('.cpuprofile'))
        .sort()
        .at(-1);
      if (!name) continue;
      const s = summarizeProfile(join(dir, name));
      summaries[`1to${receivers}-${role}`] = s;
      console.log(formatSummary(s, `files 1→${receivers}, ${role}`));
    }
  }
  ctx.report.raw.filesProfiles = summaries;
  ctx.report.note(`files: CPU profiles under ${join(RESULTS_DIR, 'profiles')}/${stamp}-files-* (summaries in raw.filesProfiles)`);
}
