/**
 * Signature amortization, before and after: ingesting one author's log of
 * BENCH_VERIFY_EVENTS (10,000) events into a fresh replica
 *
 * - after (amortized): `Replica.ingest` of the whole log in one call — one
 *   contiguous run, so one signature is checked and the hash chain
 *   authenticates the rest; also in 500-event chunks, as sync sends them;
 * - before (every signature checked): `Replica.ingest` event by event, each
 *   call a run of one whose signature is checked — inside one outer
 *   transaction, so the difference is signatures and per-call overhead
 *   only — and each call its own durable commit, as a live stream costs;
 * - the parts: `verifySignature` and `parseEvent` (schema + canonical hash)
 *   over the same events.
 *
 * Standalone: `node --import tsx bench/verify.ts`; also the `verify` scenario of `npm run bench`.
 */
import { pathToFileURL } from 'node:url';
import { roomIdOf, type SignedEvent } from '../src/shared/wire.js';
import { parseEvent, verifySignature } from '../src/peer/events.js';
import { loadIdentity } from '../src/peer/identity.js';
import { silentLogger } from '../src/peer/log.js';
import { Replica } from '../src/peer/replica.js';
import { Store } from '../src/peer/store.js';
import type { BenchContext } from './lib/context.js';
import { Report } from './lib/report.js';
import { envInt, TempDirs } from './lib/util.js';

function authorLog(tmp: TempDirs, count: number): SignedEvent[] {
  const store = new Store(tmp.make('chatty-verify-author-'));
  try {
    const replica = new Replica(store, loadIdentity(store), silentLogger);
    const identity = loadIdentity(store);
    store.transaction(() => {
      replica.append('profile', null, { nick: 'author', dh: identity.dh.publicRaw });
      const room = roomIdOf(replica.append('create', null, { name: 'verify', nick: 'author' }).id);
      for (let i = 2; i < count; i++) replica.append('msg', room, { nick: 'author', text: `message ${i} ${'x'.repeat(40)}` });
    });
    return store.eventsAfter(identity.peerId, 0, count).map((r) => JSON.parse(r.json) as SignedEvent);
  } finally {
    store.close();
  }
}

function timed(tmp: TempDirs, events: readonly SignedEvent[], how: (replica: Replica, store: Store) => void): number {
  const store = new Store(tmp.make('chatty-verify-recv-'));
  try {
    const replica = new Replica(store, loadIdentity(store), silentLogger);
    const t = performance.now();
    how(replica, store);
    const ms = performance.now() - t;
    if (replica.seqOf(events[0]!.author) !== events.length) throw new Error('not every event was ingested');
    return ms;
  } finally {
    store.close();
  }
}

export interface VerifyFigures {
  batch: number[];
  chunked: number[];
  oneByOneTx: number[];
  oneByOneCommit: number[];
  verifyOnly: number[];
  parseOnly: number[];
}

export function measureVerify(
  repeat: number,
  count = envInt('BENCH_VERIFY_EVENTS', 10_000),
  log: (s: string) => void = () => undefined,
): VerifyFigures {
  const tmp = new TempDirs();
  const f: VerifyFigures = { batch: [], chunked: [], oneByOneTx: [], oneByOneCommit: [], verifyOnly: [], parseOnly: [] };
  try {
    const events = authorLog(tmp, count);
    // Fresh copies for every variant: as off the wire, never objects a replica already saw.
    const fresh = () => events.map((e) => structuredClone(e));
    for (let r = 0; r < repeat; r++) {
      let raws = fresh();
      f.batch.push(timed(tmp, events, (rep) => rep.ingest(raws)));
      raws = fresh();
      f.chunked.push(
        timed(tmp, events, (rep) => {
          for (let i = 0; i < raws.length; i += 500) rep.ingest(raws.slice(i, i + 500));
        }),
      );
      raws = fresh();
      f.oneByOneTx.push(timed(tmp, events, (rep, store) => store.transaction(() => raws.forEach((e) => rep.ingest([e])))));
      raws = fresh();
      f.oneByOneCommit.push(timed(tmp, events, (rep) => raws.forEach((e) => rep.ingest([e]))));
      raws = fresh();
      let t = performance.now();
      for (const e of raws) if (!verifySignature(e)) throw new Error('bad signature');
      f.verifyOnly.push(performance.now() - t);
      raws = fresh();
      t = performance.now();
      for (const e of raws) parseEvent(e);
      f.parseOnly.push(performance.now() - t);
      log(
        `verify ${count}: batch ${f.batch.at(-1)!.toFixed(0)} ms, 500-chunks ${f.chunked.at(-1)!.toFixed(0)} ms, one by one ${f.oneByOneTx.at(-1)!.toFixed(0)} ms (one tx) / ${f.oneByOneCommit.at(-1)!.toFixed(0)} ms (each committed); signatures alone ${f.verifyOnly.at(-1)!.toFixed(0)} ms, parse+hash alone ${f.parseOnly.at(-1)!.toFixed(0)} ms`,
      );
    }
    return f;
  } finally {
    tmp.cleanup();
  }
}

export function addVerifyRows(report: Report, f: VerifyFigures, count: number): void {
  const scenario = `ingest ${count.toLocaleString('en-US')}-event log`;
  const note = 'baseline column = event by event in one transaction (every signature checked)';
  report.add({ scenario, metric: 'one batch, amortized', unit: 'ms', chatty: f.batch, baseline: f.oneByOneTx, better: 'lower', note });
  report.add({
    scenario,
    metric: '500-event chunks (as sync)',
    unit: 'ms',
    chatty: f.chunked,
    baseline: f.oneByOneTx,
    better: 'lower',
    note,
  });
  report.add({ scenario, metric: 'event by event, each committed', unit: 'ms', chatty: f.oneByOneCommit, better: 'lower' });
  report.add({ scenario, metric: 'verifySignature alone ×N', unit: 'ms', chatty: f.verifyOnly, better: 'lower' });
  report.add({ scenario, metric: 'parseEvent (schema+hash) alone ×N', unit: 'ms', chatty: f.parseOnly, better: 'lower' });
  report.note('signature amortization rows: the baseline column is "before" (event by event in one transaction, every signature checked)');
}

export async function runVerify(ctx: BenchContext): Promise<void> {
  const count = envInt('BENCH_VERIFY_EVENTS', 10_000);
  const f = measureVerify(ctx.repeat, count, ctx.log);
  addVerifyRows(ctx.report, f, count);
  ctx.report.raw.verify = { events: count, ...f };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const count = envInt('BENCH_VERIFY_EVENTS', 10_000);
  const report = new Report();
  addVerifyRows(
    report,
    measureVerify(envInt('BENCH_REPEAT', 3), count, (s) => console.log(s)),
    count,
  );
  console.log(`\n${report.table()}`);
}
