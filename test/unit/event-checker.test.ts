/**
 * The worker that checks a catch-up's events: a real worker thread (the TypeScript sources, run
 * through tsx), its verdicts against those of the main thread, its fallback and its stop.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { CHECKER_TUNING, checkFrame, EventChecker } from '../../src/peer/event-checker.js';
import { createEvent } from '../../src/peer/events.js';
import { generateKeyPair } from '../../src/peer/crypto.js';
import { pino } from 'pino';
import { WIRE_LIMITS, type SignedEvent } from '../../src/shared/wire.js';

const worker = { url: new URL('../../src/peer/event-check-worker.ts', import.meta.url), execArgv: ['--import', 'tsx'] };
const checkers: EventChecker[] = [];
afterEach(() => checkers.splice(0).forEach((c) => c.close()));

/** A checker whose warnings are kept. */
function checkerWith(script: ConstructorParameters<typeof EventChecker>[1]) {
  const warnings: string[] = [];
  const log = pino({ level: 'warn' }, { write: (line: string) => warnings.push(JSON.parse(line).msg as string) });
  const checker = new EventChecker(log, script);
  checkers.push(checker);
  return { checker, warnings };
}

/** A log of `n` messages, then the same with one event of each kind of fault. */
function frames(n: number) {
  const key = generateKeyPair('ed25519');
  const events: SignedEvent[] = [];
  for (let seq = 1; seq <= n; seq++) {
    const draft = { author: key.publicRaw, seq, prev: events.at(-1)?.id ?? null, room: null, deps: [], depth: 1 };
    events.push(createEvent({ ...draft, type: 'profile', body: { nick: `n${seq}`, dh: key.publicRaw } }, key.privateKey));
  }
  const faulty = (): unknown[] => [
    ...events.slice(0, 3),
    { ...events[3]!, body: { ...events[3]!.body, nick: 'mallory' } }, // bad_id
    { hello: 1 }, // malformed
    { ...events[4]!, body: { ...events[4]!.body, nick: 'x'.repeat(WIRE_LIMITS.maxEventBytes) } }, // bad body (a nick far too long)
  ];
  const bytes = (list: unknown[]) => Buffer.from(JSON.stringify({ t: 'events', events: list }));
  return { events, good: bytes(events), bad: () => bytes(faulty()) };
}

describe('EventChecker', () => {
  it('gives the verdicts of the main thread, from a worker thread', async () => {
    const { checker, warnings } = checkerWith(worker);
    const { events, good, bad: badFrame } = frames(CHECKER_TUNING.minEvents);
    const bad = badFrame();
    const verdicts = await checker.check(good);
    expect(verdicts).toEqual(events.map((ev) => JSON.stringify(ev)));
    expect(good.buffer.byteLength).toBe(0); // moved to the worker, not copied
    const here = checkFrame(bad);
    const refused = await checker.check(bad);
    expect(refused).toEqual(here);
    expect(refused!.slice(3).map((v) => typeof v === 'object' && v.reason)).toEqual(['bad_id', 'malformed', 'bad_body']);
    expect(checker.counts).toEqual({ worker: 2, here: 0 });
    expect(warnings).toEqual([]);
  });

  it('keeps the order of its answers with many frames in flight', async () => {
    const { checker } = checkerWith(worker);
    const all = Array.from({ length: 8 }, (_, i) => frames(i + 1));
    const answers = await Promise.all(all.map((f) => checker.check(f.good)));
    expect(answers.map((a) => a?.length)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(answers[7]).toEqual(all[7]!.events.map((ev) => JSON.stringify(ev)));
  });

  it('leaves frames to the main thread, with a warning, when its worker cannot start', async () => {
    const { checker, warnings } = checkerWith({ url: new URL('./no-such-worker.js', import.meta.url) });
    expect(await checker.check(frames(3).good)).toBeUndefined();
    expect(await checker.check(frames(3).good)).toBeUndefined();
    expect(checker.counts.here).toBe(2);
    expect(warnings).toEqual(['event checking worker failed; checking events on the main thread']);
  });

  it('stops its worker once released, and starts one again for the next frame', async () => {
    const { checker } = checkerWith(worker);
    await checker.check(frames(2).good);
    expect(checker.running).toBe(true);
    checker.release();
    expect(checker.running).toBe(false);
    expect(await checker.check(frames(2).good)).toHaveLength(2);
    expect(checker.counts).toEqual({ worker: 2, here: 0 });
  });

  it('starts its worker ahead of the frames when warmed, and stops it again if none comes', async () => {
    const idleMs = CHECKER_TUNING.idleMs;
    CHECKER_TUNING.idleMs = 100;
    try {
      const { checker } = checkerWith(worker);
      checker.warm();
      expect(checker.running).toBe(true);
      await new Promise((r) => setTimeout(r, 300));
      expect(checker.running).toBe(false);
      checker.warm();
      expect(await checker.check(frames(2).good)).toHaveLength(2); // the warm worker answers
      await new Promise((r) => setTimeout(r, 50));
      expect(checker.running).toBe(true); // a frame came: the idle clock starts again from its answer
      expect(checker.counts).toEqual({ worker: 1, here: 0 });
    } finally {
      CHECKER_TUNING.idleMs = idleMs;
    }
  });
});
