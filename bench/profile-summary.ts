/**
 * Summarizes a V8 CPU profile (`node --cpu-prof` → .cpuprofile): the
 * functions with the most self time, and self time grouped by source file
 * or package, so "where does the time go" has a short answer.
 *
 *   node --import tsx bench/profile-summary.ts FILE.cpuprofile [--top 25]
 */
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileLine {
  name: string;
  where: string;
  selfMs: number;
  selfPct: number;
}

export interface ProfileSummary {
  file: string;
  totalMs: number;
  /** Samples that were not idle/GC/program bookkeeping. */
  busyMs: number;
  top: ProfileLine[];
  byFile: { where: string; selfMs: number; selfPct: number }[];
}

/** Short, stable location: package name for node_modules, path below out/ or src/ for our code. */
function shortUrl(url: string): string {
  if (!url) return '(native)';
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nm) return nm[1]!;
  const ours = /\/(out\/node|src|bench|test)\/(.*)$/.exec(url);
  if (ours) return `${ours[1]}/${ours[2]}`;
  if (url.startsWith('node:')) return url;
  return url.replace(/^file:\/\//, '');
}

export function summarizeProfile(file: string, topN = 25): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  // timeDeltas[i] is the time before sample i; charge each interval to the sample that ends it.
  for (let i = 0; i < profile.samples.length; i++)
    self.set(profile.samples[i]!, (self.get(profile.samples[i]!) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000);
  const totalMs = (profile.endTime - profile.startTime) / 1000;
  const byFunc = new Map<string, ProfileLine>();
  const byFile = new Map<string, number>();
  let busyMs = 0;
  for (const [id, ms] of self) {
    const node = byId.get(id);
    if (!node) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    const idle = functionName === '(idle)' || functionName === '(program)';
    if (!idle) busyMs += ms;
    const where = url ? `${shortUrl(url)}:${lineNumber + 1}` : shortUrl(url);
    const key = `${functionName}|${where}`;
    const line = byFunc.get(key) ?? { name: functionName || '(anonymous)', where, selfMs: 0, selfPct: 0 };
    line.selfMs += ms;
    byFunc.set(key, line);
    const fileKey = idle ? functionName : url ? shortUrl(url) : functionName || '(native)';
    byFile.set(fileKey, (byFile.get(fileKey) ?? 0) + ms);
  }
  const top = [...byFunc.values()]
    .filter((l) => l.name !== '(idle)' && l.name !== '(program)')
    .sort((a, b) => b.selfMs - a.selfMs)
    .slice(0, topN)
    .map((l) => ({ ...l, selfPct: (100 * l.selfMs) / busyMs }));
  const files = [...byFile.entries()]
    .filter(([k]) => k !== '(idle)' && k !== '(program)')
    .sort((a, b) => b[1] - a[1])
    .slice(0, 15)
    .map(([where, ms]) => ({ where, selfMs: ms, selfPct: (100 * ms) / busyMs }));
  return { file, totalMs, busyMs, top, byFile: files };
}

export function formatSummary(s: ProfileSummary, title: string): string {
  const out = [
    `${title}: ${s.file}`,
    `  wall ${(s.totalMs / 1000).toFixed(1)} s, busy (not idle) ${(s.busyMs / 1000).toFixed(1)} s`,
    '  top self time:',
  ];
  for (const l of s.top)
    out.push(`    ${l.selfPct.toFixed(1).padStart(5)}%  ${l.selfMs.toFixed(0).padStart(6)} ms  ${l.name}  (${l.where})`);
  out.push('  self time by file/package:');
  for (const f of s.byFile) out.push(`    ${f.selfPct.toFixed(1).padStart(5)}%  ${f.selfMs.toFixed(0).padStart(6)} ms  ${f.where}`);
  return out.join('\n');
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const args = process.argv.slice(2);
  const topAt = args.indexOf('--top');
  const top = topAt >= 0 ? Number(args.splice(topAt, 2)[1]) : 25;
  if (args.length === 0) {
    console.error('usage: node --import tsx bench/profile-summary.ts FILE.cpuprofile… [--top N]');
    process.exit(2);
  }
  for (const f of args) console.log(formatSummary(summarizeProfile(f, top), 'profile'));
}
