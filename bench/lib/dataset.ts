/**
 * The shared data set of the catch-up, memory and profile scenarios, made
 * once per run (lib/fixture.ts): four authors A–D and a fifth peer X join ten
 * rooms; X goes offline; A–D write BENCH_CATCHUP messages spread evenly over
 * the rooms, syncing every 1,000 messages; A finally writes one marker per
 * room, whose causal past is the whole room. The data directories are
 * templates, copied for every repeat (a peer never runs on a template).
 */
import { cpSync } from 'node:fs';
import type { BenchContext } from './context.js';
import { makeFixture } from './fixture.js';
import { wallNow } from './util.js';

export const ROOMS = Array.from({ length: 10 }, (_, i) => `room${i}`);

export interface Dataset {
  /** Template data dirs of A–D (everything) and of X (as it was when it went offline). */
  authorDirs: string[];
  offlineDir: string;
  messages: number;
  /** Marker message id per room: the last message of the room in history order. */
  markers: Map<string, string>;
  seconds: number;
}

let cached: Dataset | undefined;

export function dataset(ctx: Pick<BenchContext, 'tmp' | 'catchup' | 'log'>): Dataset {
  if (cached) return cached;
  const t0 = wallNow();
  const per = Math.ceil(ctx.catchup / ROOMS.length);
  const fx = makeFixture(ctx.tmp, {
    authors: ['A', 'B', 'C', 'D', 'X'],
    offline: ['X'],
    rooms: ROOMS.map((name) => ({ name, count: per })),
    markers: true,
  });
  const seconds = (wallNow() - t0) / 1000;
  ctx.log(`data set: ${fx.messages} messages by A–D in ${ROOMS.length} rooms (X offline) written in-process in ${seconds.toFixed(1)} s`);
  cached = {
    authorDirs: ['A', 'B', 'C', 'D'].map((n) => fx.dirs.get(n)!),
    offlineDir: fx.dirs.get('X')!,
    messages: fx.messages,
    markers: fx.markers,
    seconds,
  };
  return cached;
}

/** Copies a template data dir to a fresh temporary one. */
export function copyDir(ctx: Pick<BenchContext, 'tmp'>, template: string): string {
  const dir = ctx.tmp.make('chatty-bench-copy-');
  cpSync(template, dir, { recursive: true });
  return dir;
}
