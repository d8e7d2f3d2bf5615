/**
 * Where the peer's time goes: `node --cpu-prof` on one peer
 * - during the 5-peer throughput phase (peer 0: it sends, receives, relays), and
 * - during a catch-up (X restarting on the shared data set, until converged);
 * each profile is summarized (top self time by function and by file/package,
 * see profile-summary.ts), printed, and kept under bench/results/profiles/.
 */
import { mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { BenchContext } from '../lib/context.js';
import { measureThroughput } from '../lib/measure.js';
import { cpuProfWrap, RESULTS_DIR, startCluster, stopAll } from '../lib/peers.js';
import { summarize } from '../lib/util.js';
import { formatSummary, summarizeProfile, type ProfileSummary } from '../profile-summary.js';
import { restartX, startAuthors } from './catchup.js';

/**
 * The newest profile of one thread in `dir`. Node names them CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile;
 * the main thread is thread 0, and a catch-up's event-check worker writes a profile of its own.
 */
function newest(dir: string, thread: 'main' | 'worker'): string | undefined {
  const ofThread = (f: string) => (/\.\d+\.0\.\d+\.cpuprofile$/.test(f) ? 'main' : 'worker');
  const files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile') && ofThread(f) === thread);
  return files.length ? join(dir, files.sort().at(-1)!) : undefined;
}

function mainProfile(dir: string): string {
  const file = newest(dir, 'main');
  if (!file) throw new Error(`no main-thread .cpuprofile written in ${dir}`);
  return file;
}

export async function runProfile(ctx: BenchContext): Promise<void> {
  const stamp = ctx.report.startedAt.toISOString().replace(/[:.]/g, '-');
  const summaries: Record<string, ProfileSummary> = {};

  const tpDir = join(RESULTS_DIR, 'profiles', `${stamp}-throughput`);
  mkdirSync(tpDir, { recursive: true });
  const peers = await startCluster('chatty', 5, {}, (i) => (i === 0 ? { wrap: cpuProfWrap(tpDir) } : {}));
  try {
    const tp = await measureThroughput(peers, ctx.seconds);
    ctx.log(`profile (throughput, peer 0 profiled): ${tp.rate.toFixed(0)} msg/s to all, p99 ${summarize(tp.latency).p99.toFixed(0)} ms`);
  } finally {
    await stopAll(peers);
  }
  summaries.throughput = summarizeProfile(mainProfile(tpDir));
  console.log(formatSummary(summaries.throughput, 'throughput, peer 0'));

  const cuDir = join(RESULTS_DIR, 'profiles', `${stamp}-catchup`);
  mkdirSync(cuDir, { recursive: true });
  const authors = await startAuthors(ctx);
  try {
    const x = await restartX(ctx, authors, { wrap: cpuProfWrap(cuDir) });
    ctx.log(`profile (catch-up, X profiled): converged in ${x.total.toFixed(2)} s`);
  } finally {
    await stopAll(authors);
  }
  summaries.catchup = summarizeProfile(mainProfile(cuDir));
  console.log(formatSummary(summaries.catchup, 'catch-up, restarting peer, main thread'));
  const worker = newest(cuDir, 'worker');
  if (worker) {
    summaries.catchupWorker = summarizeProfile(worker);
    console.log(formatSummary(summaries.catchupWorker, 'catch-up, restarting peer, event-check worker'));
  }
  ctx.report.raw.profiles = summaries;
  ctx.report.note(`CPU profiles: ${tpDir} and ${cuDir} (open in Chrome DevTools; summaries in latest.json under raw.profiles)`);
}
