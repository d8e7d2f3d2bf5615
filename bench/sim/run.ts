/**
 * The overlay simulation (issue #14): HyParView + Plumtree, the real modules of src/peer/overlay,
 * on a simulated LAN of 1,000 nodes (latency 0.5–5 ms, 1 % of messages lost), reproducing the
 * papers' experiments:
 *   (a) the overlay after sequential joins and shuffles;
 *   (b) broadcasts from random nodes: reliability, hops, LDH, RMR, messages per node;
 *   (c) a fraction of the nodes crashed at once: broadcasts right after, and after healing.
 *
 *   npx tsx bench/sim/run.ts [--nodes 1000] [--seed 1] [--loss 0.01] [--broadcasts 100]
 *                            [--fractions 20,40,50,60,80,90] [--trees shared|per-source]
 *
 * Prints the tables and writes every figure to bench/results/sim-<time>.json and sim-latest.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { BroadcastFigures, Distribution, OverlayShape } from './metrics.js';
import { buildOverlay, FAILURE_DEFAULTS, failureExperiment, steadyBroadcasts, type BuildOptions, type FailureResult } from './scenarios.js';
import type { SimConfig } from './network.js';

const RESULTS_DIR = resolve(import.meta.dirname, '..', 'results');

function args(): { nodes: number; seed: number; loss: number; broadcasts: number; fractions: number[]; perSourceTrees: boolean } {
  const argv = process.argv.slice(2);
  const value = (name: string, fallback: string): string => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1]! : fallback;
  };
  const known = new Set(['--nodes', '--seed', '--loss', '--broadcasts', '--fractions', '--trees']);
  for (let i = 0; i < argv.length; i += 2)
    if (!known.has(argv[i]!)) throw new Error(`unknown option ${argv[i]} (known: ${[...known].join(' ')})`);
  return {
    nodes: Number(value('nodes', '1000')),
    seed: Number(value('seed', '1')),
    loss: Number(value('loss', '0.01')),
    broadcasts: Number(value('broadcasts', '100')),
    fractions: value('fractions', '20,40,50,60,80,90')
      .split(',')
      .map((f) => Number(f) / 100),
    perSourceTrees: value('trees', 'shared') === 'per-source',
  };
}

const pct = (x: number, digits = 1) => (Number.isFinite(x) ? `${(100 * x).toFixed(digits)} %` : '—');
const num = (x: number, digits = 2) => (Number.isFinite(x) ? x.toFixed(digits) : '—');
const dist = (d: Distribution) => `${d.min} / ${num(d.mean)} / ${d.max}`;
const hist = (d: Distribution) =>
  Object.entries(d.histogram)
    .map(([v, c]) => `${v}:${c}`)
    .join(' ');

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(header), `| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`, ...rows.map(line)].join('\n');
}

function shapeRows(shapes: OverlayShape[]): string[][] {
  const row = (name: string, f: (s: OverlayShape) => string) => [name, ...shapes.map(f)];
  return [
    row('live nodes', (s) => String(s.live)),
    row('components (largest)', (s) => `${s.components} (${s.largestComponent})`),
    row('isolated nodes', (s) => String(s.isolated)),
    row('active view min / mean / max', (s) => dist(s.activeSize)),
    row('active view sizes (size:nodes)', (s) => hist(s.activeSize)),
    row('passive view min / mean / max', (s) => dist(s.passiveSize)),
    row('in-degree min / mean / max', (s) => dist(s.inDegree)),
    row('one-sided active entries', (s) => String(s.asymmetric)),
    row('clustering coefficient', (s) => num(s.clustering, 4)),
    row('average shortest path (hops)', (s) => num(s.averagePath)),
  ];
}

function broadcastRows(columns: { figures: BroadcastFigures; perNode?: Record<string, number> }[]): string[][] {
  const row = (name: string, f: (c: (typeof columns)[number]) => string) => [name, ...columns.map(f)];
  return [
    row('broadcasts', (c) => String(c.figures.broadcasts)),
    row('reliability: mean (min)', (c) => `${pct(c.figures.reliability, 2)} (${pct(c.figures.minReliability, 2)})`),
    row('broadcasts reaching every node', (c) => String(c.figures.complete)),
    row('hops p50 / p99', (c) => `${c.figures.hopsP50} / ${c.figures.hopsP99}`),
    row('LDH mean / max', (c) => `${num(c.figures.ldhMean, 1)} / ${c.figures.ldhMax}`),
    row('RMR', (c) => num(c.figures.rmrMean, 3)),
    row('latency p50 / p99 (ms)', (c) => `${num(c.figures.latencyP50, 0)} / ${num(c.figures.latencyP99, 0)}`),
    row('per node per broadcast: GOSSIP', (c) => (c.perNode ? num(c.perNode.gossip ?? 0, 3) : '—')),
    row('  IHAVE messages', (c) => (c.perNode ? num(c.perNode.ihave ?? 0, 3) : '—')),
    row('  GRAFT / PRUNE', (c) => (c.perNode ? `${num(c.perNode.graft ?? 0, 3)} / ${num(c.perNode.prune ?? 0, 3)}` : '—')),
  ];
}

function failureRows(results: { pure: FailureResult; helped?: FailureResult; label?: string }[]): string[][] {
  return results.map(({ pure, helped, label }) => [
    label ?? pct(pure.fraction, 0),
    String(pure.live),
    pct(pure.firstAfter.reliability),
    `${pct(pure.rightAfter.reliability)} (${pct(pure.rightAfter.minReliability)})`,
    `${pure.shapeAfter.components} / ${pure.shapeAfter.isolated}`,
    pure.connectedAfterMs === null ? 'not within 30 s' : `${num(pure.connectedAfterMs / 1000, 2)} s`,
    `${pct(pure.healed.reliability, 2)} (${pure.healed.complete}/${pure.healed.broadcasts})`,
    num(pure.shapeHealed.activeSize.mean),
    helped ? pct(helped.rightAfter.eventualReliability, 2) : '—',
    helped ? `${pct(helped.healed.eventualReliability, 2)} (${helped.rejoins})` : '—',
  ]);
}

function main(): void {
  const opts = args();
  const started = performance.now();
  const config: Partial<SimConfig> = { seed: opts.seed, loss: opts.loss, perSourceTrees: opts.perSourceTrees };
  const build: BuildOptions = { nodes: opts.nodes, joinGapMs: 10, settleMs: 30_000 };
  const log = (text: string) => console.log(`  ${((performance.now() - started) / 1000).toFixed(1).padStart(5)} s  ${text}`);
  console.log(
    `Overlay simulation: ${opts.nodes} nodes, seed ${opts.seed}, latency 0.5–5 ms, ${pct(opts.loss)} of messages lost, shuffle every 2 s`,
  );

  log('(a) building the overlay: sequential joins through random contacts, then 30 s of shuffles');
  const base = buildOverlay(config, build);
  log('(b) broadcasts from random nodes, 100 ms apart, Plumtree as in the paper');
  const steadyBase = steadyBroadcasts(base.net, opts.broadcasts, 20, 100);
  log('(b) again with the optimization (threshold 3)');
  const optimized = buildOverlay({ ...config, plumtree: { optimize: true } }, build);
  const steadyOpt = steadyBroadcasts(optimized.net, opts.broadcasts, 20, 100);

  const failures: { pure: FailureResult; helped?: FailureResult; label?: string }[] = [];
  for (const fraction of opts.fractions) {
    log(`(c) ${pct(fraction, 0)} of the nodes crash at once`);
    failures.push({
      pure: failureExperiment(config, build, { ...FAILURE_DEFAULTS, fraction }),
      helped: failureExperiment(config, build, { ...FAILURE_DEFAULTS, fraction, hostHelp: true }),
    });
  }
  log('(c) 50 % crash silently (power cut): noticed by the keep-alive after 4–6 s');
  failures.push({
    label: '50 % silent',
    pure: failureExperiment({ ...config, failureDetection: 'silent' }, build, { ...FAILURE_DEFAULTS, fraction: 0.5 }),
    helped: failureExperiment({ ...config, failureDetection: 'silent' }, build, { ...FAILURE_DEFAULTS, fraction: 0.5, hostHelp: true }),
  });
  log('done');

  const out = [
    '',
    `(a) The overlay (HyParView: active view 5, passive 30, ARWL 6, PRWL 3, shuffle ka 3 kp 4 TTL 6); membership traffic ${num(base.membershipPerNodePerSecond)} messages per node per second`,
    '',
    table(['', 'after the joins', 'after 30 s of shuffles'], shapeRows([base.afterJoins, base.settled])),
    '',
    `(b) Broadcasts from random nodes (${opts.broadcasts} measured after 20 that settle the tree; RMR = payload copies / nodes reached − 1)`,
    '',
    table(
      ['', 'first broadcast (flood)', 'settled', 'settled, optimization on'],
      broadcastRows([
        { figures: steadyBase.first },
        { figures: steadyBase.settled, perNode: steadyBase.messagesPerNodePerBroadcast },
        { figures: steadyOpt.settled, perNode: steadyOpt.messagesPerNodePerBroadcast },
      ]),
    ),
    '',
    '(c) Crashes: broadcasts at the crash and every 100 ms after it (10), then after 30 s of healing (20). Overlay alone (no',
    '    rejoin through discovery, no catch-up) unless "with host"; "eventual" counts what the catch-up model brought too.',
    '',
    table(
      [
        'crashed',
        'live',
        'first bcast',
        'first 10: mean (min)',
        'components / isolated at +1 s',
        'one component after',
        'healed: reliability (complete)',
        'healed active view',
        'with host: first 10 eventual',
        'with host: healed eventual (rejoins)',
      ],
      failureRows(failures),
    ),
    '',
  ].join('\n');
  console.log(out);

  mkdirSync(RESULTS_DIR, { recursive: true });
  const json = JSON.stringify(
    {
      startedAt: new Date().toISOString(),
      options: opts,
      build,
      overlay: { afterJoins: base.afterJoins, settled: base.settled, membershipPerNodePerSecond: base.membershipPerNodePerSecond },
      network: { sent: Object.fromEntries(base.net.sent), lost: base.net.lost, toDown: base.net.toDown, rejoins: base.net.rejoins },
      broadcasts: { base: steadyBase, optimized: steadyOpt },
      failures,
      table: out,
    },
    null,
    2,
  );
  const file = join(RESULTS_DIR, `sim-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, json);
  writeFileSync(join(RESULTS_DIR, 'sim-latest.json'), json);
  console.log(`Figures: ${file}`);
}

main();
