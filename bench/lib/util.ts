/**
 * Small helpers shared by the benchmarks: clocks, environment knobs and statistics.
 *
 * Clock: every process of a run lives on this machine, so `wallNow()` (the
 * process' time origin plus its monotonic clock, in fractional ms) is
 * comparable across processes to well under a millisecond, and with the
 * authors' `Date.now()` (`sentAt`, whole ms).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const wallNow = (): number => performance.timeOrigin + performance.now();
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export function envInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number, got ${raw}`);
  return Math.round(n);
}

export function envList(name: string): string[] | undefined {
  const raw = process.env[name];
  if (!raw) return undefined;
  return raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

/** Nearest-rank percentile of an unsorted sample (p in 0..100); NaN for an empty sample. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1]!;
}

export interface LatencySummary {
  n: number;
  p50: number;
  p99: number;
  max: number;
}

export function summarize(values: readonly number[]): LatencySummary {
  let max = -Infinity;
  for (const v of values) if (v > max) max = v;
  return { n: values.length, p50: percentile(values, 50), p99: percentile(values, 99), max: values.length ? max : NaN };
}

/** Median and spread (min, max) of one figure over the repeats of a run. */
export interface Spread {
  median: number;
  min: number;
  max: number;
  runs: number[];
}

export function spread(runs: readonly number[]): Spread {
  const ok = runs.filter((v) => Number.isFinite(v));
  if (ok.length === 0) return { median: NaN, min: NaN, max: NaN, runs: [...runs] };
  const sorted = [...ok].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { median, min: sorted[0]!, max: sorted[sorted.length - 1]!, runs: [...runs] };
}

/** A temporary directory removed by `cleanup()`; every run keeps its files under one root. */
export class TempDirs {
  private readonly dirs: string[] = [];
  /** A new directory in `base` (the system's temporary directory by default). */
  make(prefix = 'chatty-bench-', base = tmpdir()): string {
    const dir = mkdtempSync(join(base, prefix));
    this.dirs.push(dir);
    return dir;
  }
  cleanup(): void {
    for (const d of this.dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  }
}

/** Runs `fn` with a deadline; rejects with a clear message when it is exceeded. */
export async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Linux reports CPU times in clock ticks of 1/100 s (USER_HZ, 100 on every Linux architecture Node runs on). */
const TICKS_PER_SECOND = 100;

/**
 * CPU seconds (user + system) a process has used so far, all its threads counted, the exited ones
 * too (an event-check worker that stopped), or only its main thread's; NaN when unavailable. Read synchronously, so a snapshot
 * taken in a notification's handler is of that very moment.
 */
export function cpuSeconds(pid: number | undefined, thread?: 'main'): number {
  if (pid === undefined) return NaN;
  try {
    // fields after the command name (which may hold spaces): state is the 1st, utime the 12th, stime the 13th
    const fields = readFileSync(thread ? `/proc/${pid}/task/${pid}/stat` : `/proc/${pid}/stat`, 'utf8')
      .split(') ')
      .at(-1)!
      .split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
  } catch {
    return NaN;
  }
}

/**
 * Seconds a process' main thread has spent runnable but waiting for a core (the scheduler's run
 * delay, /proc/PID/task/PID/schedstat); NaN when the kernel does not keep it.
 */
export function waitingForCpuSeconds(pid: number | undefined): number {
  if (pid === undefined) return NaN;
  try {
    const [, waitingNs] = readFileSync(`/proc/${pid}/task/${pid}/schedstat`, 'utf8').trim().split(' ');
    return Number(waitingNs) / 1e9;
  } catch {
    return NaN;
  }
}

/** CPU seconds the machine's cores have been busy since boot, all cores together (not idle, I/O wait or stolen by a hypervisor). */
export function machineBusySeconds(): number {
  const [, ...ticks] = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).map(Number);
  const [user, nice, system, , , irq, softirq] = ticks;
  return (user! + nice! + system! + irq! + softirq!) / TICKS_PER_SECOND;
}

/** VmRSS of a process in MB (from /proc/PID/status), or its peak so far (VmHWM); NaN when unavailable. */
export async function rssMb(pid: number | undefined, field: 'VmRSS' | 'VmHWM' = 'VmRSS'): Promise<number> {
  if (pid === undefined) return NaN;
  try {
    const { readFile } = await import('node:fs/promises');
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const m = new RegExp(`^${field}:\\s+(\\d+)\\s+kB`, 'm').exec(status);
    return m ? Number(m[1]) / 1024 : NaN;
  } catch {
    return NaN;
  }
}
