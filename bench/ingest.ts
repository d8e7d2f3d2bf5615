/**
 * The storage side of a catch-up, in process: no network, no worker, no notifications. The data
 * set of the catch-up scenario (four authors, ten rooms, BENCH_CATCHUP messages) is written once;
 * then, REPS times, a copy of the offline peer X takes in every author's log the way four
 * neighbours stream it (one frame of FRAME events per author per turn, all four in one
 * `ingestFrom`), with `Store.catchingUp` on while behind, and the final checkpoint included.
 * It isolates what a schema or ingest change does to the main thread's share of a catch-up.
 *
 * With INGEST_DATA=DIR the data set is kept in DIR and reused by later runs (it takes ~20 s to
 * write); with PROFILE=FILE the ingest of the first repeat alone is profiled (a .cpuprofile for
 * bench/profile-summary.ts).
 *
 *   BENCH_CATCHUP=100000 REPS=3 node --import tsx bench/ingest.ts
 */
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { join } from 'node:path';
import { silentLogger } from '../src/peer/log.js';
import { loadIdentity } from '../src/peer/identity.js';
import { Replica } from '../src/peer/replica.js';
import { Store } from '../src/peer/store.js';
import { copyDir, dataset } from './lib/dataset.js';
import { envInt, TempDirs } from './lib/util.js';

const FRAME = envInt('FRAME', 500);
const REPS = envInt('REPS', 3);
const tmp = new TempDirs();
const ctx = { tmp, catchup: envInt('BENCH_CATCHUP', 100_000), log: (line: string) => console.log(line) };

/** Every author's log in seq order (as the neighbours would stream it), and X's data dir as it was offline. */
function loadData(): { logs: unknown[][]; offlineDir: string } {
  const cache = process.env.INGEST_DATA;
  if (cache && existsSync(join(cache, 'logs.json')))
    return { logs: JSON.parse(readFileSync(join(cache, 'logs.json'), 'utf8')) as unknown[][], offlineDir: join(cache, 'X') };
  const data = dataset(ctx);
  const source = new Store(data.authorDirs[0]!);
  const logs = source
    .vector()
    .map(({ author }) => source.eventsAfter(author, 0, Number.MAX_SAFE_INTEGER).map((e) => JSON.parse(e.json) as unknown));
  source.close();
  if (!cache) return { logs, offlineDir: data.offlineDir };
  mkdirSync(cache, { recursive: true });
  cpSync(data.offlineDir, join(cache, 'X'), { recursive: true });
  writeFileSync(join(cache, 'logs.json'), JSON.stringify(logs));
  return { logs, offlineDir: join(cache, 'X') };
}

try {
  const { logs, offlineDir } = loadData();
  const total = logs.reduce((n, log) => n + log.length, 0);
  console.log(`${total} events by ${logs.length} authors, frames of ${FRAME}`);

  const times: number[] = [];
  for (let rep = 0; rep < REPS; rep++) {
    const dir = copyDir(ctx, offlineDir);
    const store = new Store(dir);
    const replica = new Replica(store, loadIdentity(store), silentLogger);
    const profiler = rep === 0 && process.env.PROFILE ? new Session() : undefined;
    if (profiler) {
      profiler.connect();
      await profiler.post('Profiler.enable');
      await profiler.post('Profiler.start');
    }
    const t0 = performance.now();
    for (let at = 0; logs.some((log) => at < log.length); at += FRAME) {
      const turn = new Map(logs.map((log, i) => [i, { raws: log.slice(at, at + FRAME) }]));
      for (const [i, result] of replica.ingestFrom(turn)) if (result.error) throw new Error(`author ${i}: ${result.error.message}`);
      store.catchingUp(true);
    }
    store.catchingUp(false);
    const ms = performance.now() - t0;
    times.push(ms);
    if (profiler) {
      const { profile } = await profiler.post('Profiler.stop');
      writeFileSync(process.env.PROFILE!, JSON.stringify(profile));
      profiler.disconnect();
    }
    console.log(`rep ${rep + 1}: ${Math.round(ms)} ms (${Math.round(total / (ms / 1000))} events/s)`);
    store.close();
    rmSync(dir, { recursive: true, force: true });
  }
  console.log(`ingest of ${total}: ${times.map((t) => Math.round(t)).join(' / ')} ms`);
} finally {
  tmp.cleanup();
}
