/**
 * Seeded fuzzing of a live peer: valid frames (past a real handshake, so the
 * mutations reach the parsers and the replica) are mutated at random for a
 * bounded time. The peer must never crash, keep its memory bounded, keep its
 * data and keep chatting with an honest peer. FUZZ_SEED replays a run.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { seededRandom } from '../../src/peer/overlay/random.js';
import { HostilePeer } from '../helpers/hostile-peer.js';
import { eventually, PeerProcess } from '../helpers/peer-process.js';

const SECONDS = Number(process.env.FUZZ_SECONDS ?? 8);
const SEED = Number(process.env.FUZZ_SEED ?? Date.now() % 1_000_000);

const random = seededRandom(SEED);
const int = (n: number) => Math.floor(random() * n);

const WEIRD: unknown[] = [
  null,
  true,
  -1,
  0,
  1e308,
  -0,
  '',
  'x'.repeat(70_000),
  [],
  {},
  [[[[[[[]]]]]]],
  { __proto__: { polluted: 1 } },
  '\u0000',
  'A'.repeat(43),
  2 ** 53 + 1,
];

/** One structural mutation somewhere inside a JSON value. */
function mutate(value: unknown, depth = 0): unknown {
  if (depth > 6 || value === null || typeof value !== 'object') return random() < 0.7 ? WEIRD[int(WEIRD.length)] : value;
  const copy: Record<string, unknown> | unknown[] = Array.isArray(value) ? [...value] : { ...(value as Record<string, unknown>) };
  const keys = Object.keys(copy);
  const op = int(4);
  if (op === 0 && keys.length) delete (copy as Record<string, unknown>)[keys[int(keys.length)]!];
  else if (op === 1)
    (copy as Record<string, unknown>)[random() < 0.5 && keys.length ? keys[int(keys.length)]! : `k${int(5)}`] = WEIRD[int(WEIRD.length)];
  else if (keys.length) {
    const k = keys[int(keys.length)]!;
    (copy as Record<string, unknown>)[k] = mutate((copy as Record<string, unknown>)[k], depth + 1);
  }
  return copy;
}

/** Byte-level damage to the serialized text. */
function damage(text: string): string {
  const chars = [...text];
  for (let i = 0, n = 1 + int(4); i < n && chars.length; i++) chars[int(chars.length)] = String.fromCharCode(int(128));
  return random() < 0.2 ? chars.slice(0, int(chars.length)).join('') : chars.join('');
}

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : 0;
}

let alice: PeerProcess;
let bob: PeerProcess;

beforeAll(async () => {
  alice = await PeerProcess.start({ nick: 'alice' });
  bob = await PeerProcess.start({ nick: 'bob', peers: [alice.url] });
  await alice.call('join', { room: 'general' });
  for (let i = 0; i < 20; i++) await alice.call('send', { room: 'general', text: `before fuzz ${i}` });
  await eventually(async () => (await bob.call('history', { room: 'general' })).length === 20, 10_000, 'bob synced');
  await bob.call('join', { room: 'general' });
});

afterAll(async () => {
  await Promise.all([alice?.stop(), bob?.stop()]);
});

it(`survives ${SECONDS}s of mutated frames (seed ${SEED})`, async () => {
  const before = (await alice.call('history', { room: 'general' })).map((m) => m.id);
  const end = Date.now() + SECONDS * 1000;
  let frames = 0;
  let connections = 0;
  const reasons = new Map<string, number>();
  while (Date.now() < end) {
    const h = new HostilePeer();
    connections++;
    if (alice.child.exitCode !== null || alice.child.signalCode !== null) throw new Error(`alice crashed:\n${alice.stderr}`);
    if (!(await h.handshake(alice.url).catch(() => false))) {
      await new Promise((r) => setTimeout(r, 50));
      continue;
    }
    h.send({ t: 'vv', have: {}, full: true, skip: {} });
    await new Promise((r) => setTimeout(r, 30));
    const seen = h.eventsReceived();
    const profile = h.profile('fuzzer');
    const heads = seen.filter((e) => e.room === 'general').slice(-1);
    const msg = h.event({
      room: 'general',
      deps: heads.map((e) => e.id),
      depth: (heads[0]?.depth ?? 0) + 1,
      type: 'msg',
      body: { nick: 'fuzzer', text: 'hi' },
    });
    const templates: unknown[] = [
      { t: 'vv', have: { [alice.peerId]: 1 }, full: false },
      { t: 'events', events: [profile, msg] },
      { t: 'events', events: seen.slice(0, 5) },
      { t: 'typing', room: 'general' },
      { t: 'peers', peers: [{ peerId: alice.peerId, urls: ['ws://127.0.0.1:1'] }] },
    ];
    for (let i = 0; i < 30 && h.ws.readyState === h.ws.OPEN; i++) {
      const template = templates[int(templates.length)];
      const text = random() < 0.7 ? JSON.stringify(mutate(template)) : damage(JSON.stringify(template));
      try {
        h.send(text);
        frames++;
      } catch {
        break;
      }
    }
    const outcome = await Promise.race([h.closed.then(() => 'closed'), new Promise((r) => setTimeout(() => r('open'), 200))]);
    const err = h.received.find((f) => f.t === 'error');
    const key = err?.reason ?? String(outcome);
    reasons.set(key, (reasons.get(key) ?? 0) + 1);
    h.close();
    expect(alice.child.exitCode, 'alice crashed').toBeNull();
  }
  await new Promise((r) => setTimeout(r, 200));
  if (alice.child.exitCode !== null || alice.child.signalCode !== null) throw new Error(`alice crashed:\n${alice.stderr}`);
  const rss = rssMb(alice.child.pid!);
  console.log(
    `[fuzz] seed=${SEED} connections=${connections} frames=${frames} rss=${rss.toFixed(0)}MB outcomes=${JSON.stringify(Object.fromEntries(reasons))}`,
  );
  expect(alice.child.exitCode).toBeNull();
  expect(rss).toBeLessThan(400);
  // nothing lost, and still chatting
  const after = (await alice.call('history', { room: 'general' })).map((m) => m.id);
  expect(after.slice(0, before.length)).toEqual(before);
  const m = await alice.call('send', { room: 'general', text: 'after the storm' });
  await bob
    .waitFor('message', (x) => x.id === m.id, 10_000)
    .catch((err: Error) => {
      throw new Error(`${err.message}\n--- alice ---\n${alice.stderr.slice(-3000)}\n--- bob ---\n${bob.stderr.slice(-3000)}`);
    });
  expect(frames).toBeGreaterThan(50);
}, 120_000);
