/**
 * Scenario 8: a whole office on one machine. Real `chatty --json` processes on loopback, each told
 * one earlier peer's address, all in one room; every peer sends 2 messages at once (bench/spike-swarm.ts
 * does the run, in a process of its own so a 100-process swarm starts from a clean slate).
 *
 * Chatty's overlay (the default) against the same code with `--full-mesh` in the baseline column,
 * at 30 and 60 peers (the sizes of issue #14's table); the overlay alone at 100 (a full mesh of 100
 * would need 99 links per peer, over the 64 a peer accepts).
 *
 *   BENCH_SWARM=30,60,100        sizes
 *   BENCH_SWARM_MESH=30,60       sizes also run as a full mesh
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import type { BenchContext } from '../lib/context.js';
import { RESULTS_DIR } from '../lib/peers.js';
import { envList } from '../lib/util.js';

const execFileP = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '..', '..');

interface SwarmResult {
  capped: boolean;
  settleTimedOut?: boolean;
  messages: {
    allDelivered: boolean;
    secondsUntilAllDelivered: number | null;
    deliveries: number;
    deliveriesExpected: number;
    latencyMs: { p50: number; p99: number };
    framesPerMessage: number;
  };
  overlayAfter: { links: { max: number } };
  idle: { cpuPercentOfOneCore: number };
  loadAverageAtStart: number[];
}

async function swarm(ctx: BenchContext, peers: number, mesh: boolean): Promise<SwarmResult> {
  const args = ['--import', 'tsx', 'bench/spike-swarm.ts', '--kind', 'chatty', '--peers', String(peers), '--msgs', '2', '--cap', '600'];
  if (mesh) args.push('--full-mesh');
  ctx.log(`swarm of ${peers}${mesh ? ' (full mesh)' : ''}…`);
  const { stdout } = await execFileP(process.execPath, args, { cwd: ROOT, maxBuffer: 16 * 1024 * 1024 }).catch(
    (err: { stdout?: string; message: string }) => {
      throw new Error(`spike-swarm failed: ${err.message}\n${err.stdout ?? ''}`);
    },
  );
  for (const line of stdout.trim().split('\n').slice(-4)) ctx.log(`  ${line.trim()}`);
  return JSON.parse(readFileSync(join(RESULTS_DIR, `spike-chatty-${peers}${mesh ? '-mesh' : ''}.json`), 'utf8')) as SwarmResult;
}

export async function runSwarm(ctx: BenchContext): Promise<void> {
  const sizes = (envList('BENCH_SWARM') ?? ['30', '60', '100']).map(Number);
  const meshSizes = new Set((envList('BENCH_SWARM_MESH') ?? ['30', '60']).map(Number));
  const raw: Record<string, SwarmResult> = {};
  for (const n of sizes) {
    const overlay = await swarm(ctx, n, false);
    raw[`overlay-${n}`] = overlay;
    const mesh = meshSizes.has(n) ? await swarm(ctx, n, true) : undefined;
    if (mesh) raw[`mesh-${n}`] = mesh;
    const scenario = `swarm, ${n} peers${mesh ? ' (baseline: --full-mesh)' : ''}`;
    const pair = (f: (r: SwarmResult) => number) => ({ chatty: [f(overlay)], baseline: mesh ? [f(mesh)] : undefined });
    // an incomplete delivery counts as the whole wait, so it can never look fast
    const converged = (r: SwarmResult) => r.messages.secondsUntilAllDelivered ?? Infinity;
    ctx.report.add({
      scenario,
      metric: 'all 2×n messages on all peers after',
      unit: 's',
      ...pair(converged),
      better: 'lower',
      target: n === 100 ? '< 5 s' : '≥ 5× faster than the full mesh',
    });
    ctx.report.add({ scenario, metric: 'delivery latency p99', unit: 'ms', ...pair((r) => r.messages.latencyMs.p99), better: 'lower' });
    ctx.report.add({
      scenario,
      metric: 'frames per message / peers',
      unit: '×',
      ...pair((r) => r.messages.framesPerMessage / n),
      better: 'lower',
      target: '≤ 3',
    });
    ctx.report.add({
      scenario,
      metric: 'links per peer, max',
      unit: 'links',
      ...pair((r) => r.overlayAfter.links.max),
      better: 'lower',
      target: '≤ 8',
    });
    ctx.report.add({
      scenario,
      metric: 'idle CPU of the whole swarm',
      unit: '% of a core',
      ...pair((r) => r.idle.cpuPercentOfOneCore),
      better: 'lower',
      target: n === 100 ? '< 10 %' : undefined,
    });
    for (const [name, r] of Object.entries({ overlay, mesh })) {
      if (r && !r.messages.allDelivered)
        ctx.report.note(
          `swarm ${n} (${name}): ${r.messages.deliveries}/${r.messages.deliveriesExpected} deliveries${r.capped ? ', capped' : ''}`,
        );
    }
  }
  ctx.report.raw.swarm = raw;
}
