/**
 * Scenarios 1, 2 and 5: latency and throughput on loopback, Chatty against
 * the plain-ws baseline and against js-libp2p gossipsub (signed), for 5 peers
 * and then for 2, 4, 8 and 16 peers. Each repeat starts fresh processes; the
 * order of the kinds is reversed every other repeat so background load drifts
 * hit them alike. A kind that breaks is reported as skipped for that kind
 * (its later repeats of the same size too); the other kinds still run.
 */
import type { BenchContext } from '../lib/context.js';
import { cryptoLimit } from '../lib/crypto-limit.js';
import { measureLatency, measureThroughput } from '../lib/measure.js';
import { ChattyPeer, killAll, PEER_KINDS, startCluster, stopAll, type BenchPeer, type PeerKind } from '../lib/peers.js';
import { cpuSeconds, envInt, envList, summarize } from '../lib/util.js';

const KINDS: readonly PeerKind[] = PEER_KINDS;

interface Figures {
  latP50: number[];
  latP99: number[];
  latMax: number[];
  /** CPU milliseconds all the peers used per message of the idle latency phase (sender and receivers together). */
  latCpu: number[];
  tpRate: number[];
  tpP99: number[];
}
const empty = (): Figures => ({ latP50: [], latP99: [], latMax: [], latCpu: [], tpRate: [], tpP99: [] });
const emptyAll = (): Record<PeerKind, Figures> => ({ chatty: empty(), baseline: empty(), gossipsub: empty() });

/** One report row of a figure every kind of peer was measured on. */
function addRow(
  ctx: BenchContext,
  figs: Record<PeerKind, Figures>,
  row: { scenario: string; metric: string; unit: string; figure: keyof Figures; better: 'lower' | 'higher'; target?: string },
): void {
  const { figure, ...rest } = row;
  ctx.report.add({ ...rest, chatty: figs.chatty[figure], baseline: figs.baseline[figure], gossipsub: figs.gossipsub[figure] });
}

/**
 * Runs one repeat of every kind not broken yet, in this repeat's order; a kind that throws is reported as
 * skipped for `scenario` and left out of the later repeats (its figures so far are kept).
 */
async function repeatKinds(
  ctx: BenchContext,
  scenario: string,
  r: number,
  broken: Set<PeerKind>,
  run: (kind: PeerKind) => Promise<void>,
): Promise<void> {
  for (const kind of order(r)) {
    if (broken.has(kind)) continue;
    try {
      await run(kind);
    } catch (err) {
      killAll();
      broken.add(kind);
      const msg = err instanceof Error ? (err.stack ?? err.message) : String(err);
      ctx.report.skip(`${scenario} (${kind})`, `failed in repeat ${r + 1}: ${msg.split('\n').slice(0, 4).join(' | ')}`);
    }
  }
}

async function oneRun(
  ctx: BenchContext,
  kind: PeerKind,
  n: number,
  what: { latency: number; throughputSeconds: number },
  into: Figures,
  raw: unknown[],
): Promise<void> {
  const peers = await startCluster(kind, n);
  try {
    const entry: Record<string, unknown> = { kind, peers: n };
    if (what.latency) {
      const peersCpu = () => peers.reduce((sum, p) => sum + cpuSeconds(p.pid), 0);
      const cpuBefore = peersCpu();
      const lat = await measureLatency(peers, what.latency);
      const cpuMs = ((peersCpu() - cpuBefore) * 1000) / what.latency;
      const s = summarize(lat.e2e);
      into.latP50.push(s.p50);
      into.latP99.push(s.p99);
      into.latMax.push(s.max);
      into.latCpu.push(cpuMs);
      entry.latency = {
        e2e: s,
        fromSentAt: summarize(lat.fromSentAt),
        inProcess: summarize(lat.inProcess),
        lost: lat.lost,
        slow: lat.slow,
        cpuMsPerMessage: cpuMs,
      };
      const slow = lat.slow.map((x) => `#${x.message} ${x.sender}→${x.receiver} ${x.ms} ms`).join(', ');
      ctx.log(
        `${kind} x${n} latency p50 ${s.p50.toFixed(2)} p99 ${s.p99.toFixed(2)} max ${s.max.toFixed(2)} ms, CPU ${cpuMs.toFixed(2)} ms a message${lat.lost ? ` (${lat.lost} lost)` : ''}${slow ? `; slow: ${slow}` : ''}`,
      );
    }
    if (what.throughputSeconds) {
      const tp = await measureThroughput(peers, what.throughputSeconds);
      const s = summarize(tp.latency);
      into.tpRate.push(tp.rate);
      into.tpP99.push(s.p99);
      const { latency: _l, ...rest } = tp;
      // events each peer received a second time (a tree that thrashes, or catch-up streams beside it)
      const duplicates = kind === 'chatty' ? await duplicatesPerEvent(peers, tp.sent) : undefined;
      entry.throughput = { ...rest, latency: s, duplicates };
      ctx.log(
        `${kind} x${n} throughput ${tp.rate.toFixed(0)} msg/s to all (${tp.delivered}/${tp.sent} delivered, ${tp.errors} errors${tp.firstError ? `: ${tp.firstError}` : ''}), p99 ${s.p99.toFixed(1)} ms${duplicates === undefined ? '' : `, ${(duplicates * 100).toFixed(1)} % received twice`}`,
      );
    }
    // Links the peers dropped meanwhile (e.g. their per-link frame rate limit), from their warnings on stderr.
    const warnings = peers
      .flatMap((p) => (p instanceof ChattyPeer ? p.proc.stderr.split('\n') : []))
      .filter((l) => /rate_limited|too many frames/.test(l));
    if (warnings.length) ctx.log(`${kind} x${n}: ${warnings.length} rate-limit warnings on the peers' stderr (links dropped and resynced)`);
    entry.rateLimitWarnings = warnings.length;
    raw.push(entry);
  } finally {
    await stopAll(peers);
  }
}

/** Duplicates the peers counted (`stats`), per event each of them had to receive. */
async function duplicatesPerEvent(peers: readonly BenchPeer[], sent: number): Promise<number> {
  const stats = (await Promise.all(peers.map((p) => p.call('stats')))) as { events: { duplicates: number } }[];
  const received = sent * (peers.length - 1);
  return received ? stats.reduce((sum, st) => sum + st.events.duplicates, 0) / received : 0;
}

function order(r: number): readonly PeerKind[] {
  return r % 2 === 0 ? KINDS : [...KINDS].reverse();
}

/** Scenarios 1 and 2 (5 peers): `latency` and/or `throughput`, sharing each repeat's clusters. */
export async function runMessaging(ctx: BenchContext): Promise<void> {
  const latency = ctx.only.has('latency') ? envInt('BENCH_LATENCY_MSGS', 200) : 0;
  const throughputSeconds = ctx.only.has('throughput') ? ctx.seconds : 0;
  if (!latency && !throughputSeconds) return;
  const figs = emptyAll();
  const raw: unknown[] = [];
  const broken = new Set<PeerKind>();
  const name = [latency ? 'latency' : '', throughputSeconds ? 'throughput' : ''].filter(Boolean).join('+');
  for (let r = 0; r < ctx.repeat; r++) {
    await repeatKinds(ctx, name, r, broken, (kind) => oneRun(ctx, kind, 5, { latency, throughputSeconds }, figs[kind], raw));
  }
  ctx.report.raw.messaging = raw;
  if (latency) {
    const scenario = 'latency, 5 peers';
    addRow(ctx, figs, { scenario, metric: 'p50', unit: 'ms', figure: 'latP50', better: 'lower' });
    addRow(ctx, figs, { scenario, metric: 'p99', unit: 'ms', figure: 'latP99', better: 'lower', target: '≤ 2× baseline' });
    addRow(ctx, figs, { scenario, metric: 'max', unit: 'ms', figure: 'latMax', better: 'lower' });
    // Five processes and the bench share the cores: what each message costs them all is what queues the next.
    addRow(ctx, figs, { scenario, metric: 'CPU per message, all peers', unit: 'ms', figure: 'latCpu', better: 'lower' });
  }
  if (throughputSeconds) {
    const scenario = 'throughput, 5 peers';
    addRow(ctx, figs, {
      scenario,
      metric: 'delivered to all',
      unit: 'msg/s',
      figure: 'tpRate',
      better: 'higher',
      target: '≥ 0.5× baseline',
    });
    addRow(ctx, figs, { scenario, metric: 'latency p99 under load', unit: 'ms', figure: 'tpP99', better: 'lower' });
    // The ceiling of a signed broadcast here: sign once, check on 4 receivers (issue #17), measured in this run.
    const limit = Array.from({ length: ctx.repeat }, () => cryptoLimit(4, 2));
    const amortized = Array.from({ length: ctx.repeat }, () => cryptoLimit(4, 2, 500));
    ctx.log(`crypto limit: ${limit.map((x) => x.toFixed(0)).join(', ')} msg/s; amortized ${amortized.map((x) => x.toFixed(0)).join(', ')}`);
    ctx.report.add({
      scenario,
      metric: 'delivered to all, against the crypto limit',
      unit: 'msg/s',
      chatty: figs.chatty.tpRate,
      baseline: limit,
      better: 'higher',
      target: '≥ 0.7× the limit',
      note: 'baseline: messages a second one core signs once and checks on 4 receivers (id and signature), no network, no storage',
    });
    ctx.report.add({
      scenario,
      metric: 'crypto limit, 1 signature in 500 checked (catch-up)',
      unit: 'msg/s',
      chatty: amortized,
      better: 'higher',
      note: 'the hash chain authenticates the rest of a run: the ceiling for catch-up',
    });
  }
}

/** Scenario 5: latency and throughput for 2, 4, 8 and 16 peers (shorter phases than scenarios 1-2). */
export async function runScaling(ctx: BenchContext): Promise<void> {
  const sizes = (envList('BENCH_SCALING') ?? ['2', '4', '8', '16']).map(Number);
  const latency = envInt('BENCH_SCALING_MSGS', 60);
  const throughputSeconds = Math.min(ctx.seconds, envInt('BENCH_SCALING_SECONDS', 2));
  const repeat = envInt('BENCH_SCALING_REPEAT', ctx.repeat);
  const raw: unknown[] = [];
  for (const n of sizes) {
    const figs = emptyAll();
    const broken = new Set<PeerKind>();
    const scenario = `scaling, ${n} peers`;
    for (let r = 0; r < repeat; r++) {
      await repeatKinds(ctx, scenario, r, broken, (kind) => oneRun(ctx, kind, n, { latency, throughputSeconds }, figs[kind], raw));
    }
    addRow(ctx, figs, { scenario, metric: 'latency p99', unit: 'ms', figure: 'latP99', better: 'lower' });
    addRow(ctx, figs, { scenario, metric: 'throughput to all', unit: 'msg/s', figure: 'tpRate', better: 'higher' });
    addRow(ctx, figs, { scenario, metric: 'latency p99 under load', unit: 'ms', figure: 'tpP99', better: 'lower' });
  }
  ctx.report.raw.scaling = raw;
}
