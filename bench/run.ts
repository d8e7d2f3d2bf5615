/**
 * `npm run bench`: every benchmark of Chatty against its plain-ws baseline
 * (and, for latency, throughput and scaling, against js-libp2p gossipsub:
 * bench/gossipsub-peer.ts), one table at the end, figures as JSON under
 * bench/results/ (git-ignored).
 *
 * Environment:
 *   BENCH_ONLY=latency,throughput   run a subset (names below); opt-in scenarios (startup1m) run only when named here
 *   BENCH_REPEAT=3                  repetitions (median and min–max are reported)
 *   BENCH_SECONDS=5                 length of each throughput phase
 *   BENCH_CATCHUP=100000            messages sent while a peer is offline (also the memory/UI data size)
 * and per scenario: BENCH_LATENCY_MSGS (200), BENCH_SCALING (2,4,8,16), BENCH_SCALING_MSGS (60),
 * BENCH_SCALING_SECONDS (2), BENCH_SCALING_REPEAT, BENCH_UI_MESSAGES (BENCH_CATCHUP),
 * BENCH_UI_SCROLL_SECONDS (30), BENCH_VERIFY_EVENTS (10000), BENCH_SWARM (30,60,100), BENCH_SWARM_MESH (30,60),
 * BENCH_FILE_MB (1024), BENCH_FILE_PROFILE (unset), BENCH_CONV_MESSAGES (20000), BENCH_CONV_PEERS (10),
 * BENCH_STARTUP_MESSAGES (1000000), BENCH_STARTUP_TEMPLATE (unset), BENCH_STARTUP_PROFILE (unset).
 *
 * Benchmarks measure; they never fail on a figure. The peer is built first
 * (tsc -p tsconfig.build.json) so the figures are those of the current source.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { relative, resolve } from 'node:path';
import type { BenchContext } from './lib/context.js';
import { killAll, removePeerDirs, RESULTS_DIR } from './lib/peers.js';
import { Report } from './lib/report.js';
import { envInt, envList, TempDirs } from './lib/util.js';
import { runCatchup, runMemory } from './scenarios/catchup.js';
import { runConversations } from './scenarios/conversations.js';
import { destroyActiveLan, runDiscovery } from './scenarios/discovery.js';
import { runFiles } from './scenarios/files.js';
import { runMessaging, runScaling } from './scenarios/messaging.js';
import { runProfile } from './scenarios/profile.js';
import { runStartup1m } from './scenarios/startup1m.js';
import { runSwarm } from './scenarios/swarm.js';
import { runUi } from './scenarios/ui.js';
import { runVerify } from './verify.js';

const ROOT = resolve(import.meta.dirname, '..');

/** Scenario names, in running order (latency and throughput share clusters). */
const SCENARIOS: { names: string[]; run: (ctx: BenchContext) => Promise<void>; optIn?: boolean }[] = [
  { names: ['latency', 'throughput'], run: runMessaging },
  { names: ['catchup', 'memory'], run: async (ctx) => (await runCatchup(ctx), await runMemory(ctx)) },
  { names: ['discovery'], run: runDiscovery },
  { names: ['scaling'], run: runScaling },
  { names: ['swarm'], run: runSwarm },
  { names: ['files'], run: runFiles },
  { names: ['conversations'], run: runConversations },
  { names: ['ui'], run: runUi },
  { names: ['verify'], run: runVerify },
  { names: ['profile'], run: runProfile },
  // Opt-in (optIn: true): too long for a plain `npm run bench`, run only when named in BENCH_ONLY.
  // startup1m writes a 1,000,000-message data set first (minutes), then restarts a peer on it.
  { names: ['startup1m'], run: runStartup1m, optIn: true },
];
const ALL = SCENARIOS.flatMap((s) => s.names);
/** What runs when BENCH_ONLY is unset: every scenario but the opt-in ones. */
const DEFAULT = SCENARIOS.filter((s) => !s.optIn).flatMap((s) => s.names);

async function main(): Promise<void> {
  const only = envList('BENCH_ONLY') ?? DEFAULT;
  const unknown = only.filter((n) => !ALL.includes(n));
  if (unknown.length) throw new Error(`unknown BENCH_ONLY name(s): ${unknown.join(', ')} (known: ${ALL.join(', ')})`);
  const tmp = new TempDirs();
  const started = Date.now();
  const ctx: BenchContext = {
    report: new Report(),
    tmp,
    repeat: envInt('BENCH_REPEAT', 3),
    seconds: envInt('BENCH_SECONDS', 5),
    catchup: envInt('BENCH_CATCHUP', 100_000),
    only: new Set(only),
    log: (text) => console.log(`  ${((Date.now() - started) / 1000).toFixed(0).padStart(4)}s ${text}`),
  };
  const cleanup = () => {
    killAll();
    tmp.cleanup();
    removePeerDirs();
  };
  let interrupted = false;
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.on(sig, () => {
      interrupted = true;
      console.error(`\n${sig}: stopping peers, removing namespaces and temporary files`);
      cleanup();
      void destroyActiveLan().finally(() => process.exit(130));
    });
  }

  console.log(`Chatty benchmarks: ${only.join(', ')} — repeat ${ctx.repeat}, ${ctx.seconds}s throughput phases, catch-up ${ctx.catchup}`);
  console.log(
    `machine: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, node ${process.version}`,
  );
  const libp2p = libp2pVersions();
  if (['latency', 'throughput', 'scaling'].some((n) => ctx.only.has(n))) {
    console.log(`gossipsub contestant: libp2p ${libp2p.libp2p ?? '?'}, @libp2p/gossipsub ${libp2p.gossipsub ?? '?'}`);
  }
  const commit = gitHead();
  const dirtySource = gitDirty();
  console.log(`building the peer (tsc -p tsconfig.build.json) at ${commit ?? 'an unknown commit'}…`);
  execFileSync(process.execPath, [resolve(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], {
    cwd: ROOT,
    stdio: 'inherit',
  });

  try {
    for (const s of SCENARIOS) {
      if (interrupted) break;
      if (!s.names.some((n) => ctx.only.has(n))) continue;
      console.log(`\n== ${s.names.filter((n) => ctx.only.has(n)).join(' + ')}`);
      const t = Date.now();
      try {
        await s.run(ctx);
      } catch (err) {
        // One broken scenario must not cost the others' figures.
        killAll();
        const msg = err instanceof Error ? (err.stack ?? err.message) : String(err);
        ctx.report.skip(s.names.join('+'), `failed: ${msg.split('\n').slice(0, 4).join(' | ')}`);
      }
      ctx.log(`${s.names.join(' + ')} took ${((Date.now() - t) / 1000).toFixed(0)} s`);
    }
  } finally {
    cleanup();
  }
  // Interrupted: the signal handler exits once the namespaces are gone; no report of a partial run.
  if (interrupted) return;

  const totalS = (Date.now() - started) / 1000;
  console.log(`\n${ctx.report.table()}\n`);
  for (const s of ctx.report.skipped) console.log(`skipped ${s.scenario}: ${s.reason}`);
  for (const n of ctx.report.notes) console.log(`note: ${n}`);
  const files = ctx.report.write(RESULTS_DIR, {
    repeat: ctx.repeat,
    seconds: ctx.seconds,
    catchup: ctx.catchup,
    only,
    totalSeconds: totalS,
    machine: { cpus: cpus().length, model: cpus()[0]?.model, memGiB: totalmem() / 2 ** 30, node: process.version },
    commit,
    dirtySource,
    libp2p,
  });
  console.log(`\nfigures: ${relative(ROOT, files.json)} (table: ${relative(ROOT, files.md)}); total ${totalS.toFixed(0)} s`);
  // Timers of abandoned waits (a race's losing side) must not keep the run alive.
  process.exit(0);
}

/** Uncommitted changes under src/ when the run started (the figures are of the working tree). */
function gitDirty(): boolean | undefined {
  try {
    return execFileSync('git', ['status', '--porcelain', '--', 'src'], { cwd: ROOT, encoding: 'utf8' }).trim() !== '';
  } catch {
    return undefined;
  }
}

/** Installed versions of the gossipsub contestant's main packages. */
function libp2pVersions(): { libp2p?: string; gossipsub?: string } {
  const version = (pkg: string): string | undefined => {
    try {
      return (JSON.parse(readFileSync(resolve(ROOT, 'node_modules', pkg, 'package.json'), 'utf8')) as { version?: string }).version;
    } catch {
      return undefined;
    }
  };
  return { libp2p: version('libp2p'), gossipsub: version('@libp2p/gossipsub') };
}

function gitHead(): string | undefined {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
  } catch {
    return undefined;
  }
}

main().catch((err: unknown) => {
  console.error(err);
  killAll();
  process.exit(1);
});
