/**
 * The two measurements every messaging scenario is built from, identical for
 * Chatty and the baseline:
 *
 * - latency: one message at a time (senders take turns); for each, the time
 *   from the bench writing the `send` request to the sender's stdin to the
 *   `message` notification line arriving from each other peer's stdout. Both
 *   ends are read on the bench's clock, so the figure is the end-to-end time a
 *   script sees (request pipe + author + network + receiver + notification
 *   pipe). The author-clock variant (receiver line arrival − `sentAt`, the
 *   author's Date.now() in whole ms) is kept alongside.
 * - throughput: every peer keeps `window` sends in flight for `seconds`
 *   (a new request as soon as one is answered: the peer's own backpressure
 *   decides the pace), then stops and drains. Throughput = messages delivered
 *   to every other peer / time from start to the last such delivery. Latency
 *   under load is line arrival − `sentAt` (queueing in the author's request
 *   pipe excluded; it is the window's doing).
 */
import type { BenchPeer } from './peers.js';
import { ROOM } from './peers.js';
import { sleep, wallNow } from './util.js';

export interface LatencyRun {
  /** Request written → notification read (bench clock), ms, one sample per (message, receiver). */
  e2e: number[];
  /** Notification read − author's sentAt, ms. */
  fromSentAt: number[];
  /** Receiver's own clock at arrival − sentAt (baseline only: Chatty's notifications carry no receive time). */
  inProcess: number[];
  lost: number;
  /** Samples over SLOW_MS (which message, from which sender to which receiver): where outliers come from. */
  slow: { message: number; sender: number; receiver: number; ms: number }[];
}

/** A latency sample above this is listed by message and peers in `LatencyRun.slow`. */
const SLOW_MS = 100;

let tagSeq = 0;

export async function measureLatency(
  peers: readonly BenchPeer[],
  count: number,
  opts: { gapMs?: number; timeoutMs?: number } = {},
): Promise<LatencyRun> {
  const tag = `lat${++tagSeq}-${process.pid}`;
  const out: LatencyRun = { e2e: [], fromSentAt: [], inProcess: [], lost: 0, slow: [] };
  let current: { i: number; text: string; sender: BenchPeer; t0: number; left: number; done: () => void } | undefined;
  const offs = peers.map((peer, receiver) =>
    peer.onMessage((m, at) => {
      const c = current;
      if (!c || m.text !== c.text || peer === c.sender) return;
      out.e2e.push(at - c.t0);
      if (at - c.t0 > SLOW_MS) out.slow.push({ message: c.i, sender: c.i % peers.length, receiver, ms: Math.round(at - c.t0) });
      out.fromSentAt.push(at - m.sentAt);
      if (m.recvAt !== undefined) out.inProcess.push(m.recvAt - m.sentAt);
      if (--c.left === 0) c.done();
    }),
  );
  try {
    for (let i = 0; i < count; i++) {
      const sender = peers[i % peers.length]!;
      const text = `${tag} ${i}`;
      let timer: NodeJS.Timeout | undefined;
      const all = new Promise<boolean>((resolve) => {
        current = { i, text, sender, t0: wallNow(), left: peers.length - 1, done: () => resolve(true) };
        timer = setTimeout(() => resolve(false), opts.timeoutMs ?? 5000);
      });
      const sent = sender.call('send', { room: ROOM, text });
      const [ok] = await Promise.all([all, sent]);
      clearTimeout(timer);
      if (!ok) out.lost += current!.left;
      current = undefined;
      if (opts.gapMs) await sleep(opts.gapMs);
    }
  } finally {
    for (const off of offs) off();
  }
  return out;
}

export interface ThroughputRun {
  /** Messages delivered to every other peer, per second (start → last full delivery). */
  rate: number;
  sent: number;
  delivered: number;
  /** Messages not delivered everywhere when the drain gave up. */
  undelivered: number;
  errors: number;
  firstError?: string;
  /** Time after the send phase until the last full delivery, ms. */
  drainMs: number;
  /** Notification read − sentAt, ms, per (message, receiver). */
  latency: number[];
  /** `send` answers per second during the send phase (all peers). */
  acceptedRate: number;
}

export async function measureThroughput(
  peers: readonly BenchPeer[],
  seconds: number,
  opts: { window?: number; drainTimeoutMs?: number; textBytes?: number } = {},
): Promise<ThroughputRun> {
  const tag = `tp${++tagSeq}-${process.pid}`;
  const window = opts.window ?? 16;
  const pad = 'x'.repeat(Math.max(0, (opts.textBytes ?? 64) - tag.length - 12));
  const need = peers.length - 1;
  const counts = new Map<string, number>();
  const latency: number[] = [];
  let delivered = 0;
  let lastFull = 0;
  let sent = 0;
  let errors = 0;
  let firstError: string | undefined;
  let onAllDelivered: (() => void) | undefined;
  const offs = peers.map((peer) =>
    peer.onMessage((m, at) => {
      if (!m.text.startsWith(tag) || m.from.peerId === peer.peerId) return;
      latency.push(at - m.sentAt);
      const c = (counts.get(m.text) ?? 0) + 1;
      counts.set(m.text, c);
      if (c === need) {
        delivered++;
        lastFull = at;
        if (delivered === sent && onAllDelivered) onAllDelivered();
      }
    }),
  );
  const t0 = wallNow();
  const tEnd = t0 + seconds * 1000;
  let accepted = 0;
  try {
    await Promise.all(
      peers.map(async (peer, pi) => {
        let k = 0;
        const lane = async (): Promise<void> => {
          while (wallNow() < tEnd) {
            const text = `${tag} ${pi} ${k++} ${pad}`;
            sent++;
            try {
              await peer.call('send', { room: ROOM, text });
              if (wallNow() <= tEnd) accepted++;
            } catch (err) {
              sent--;
              errors++;
              firstError ??= (err as Error).message;
              await sleep(50);
            }
          }
        };
        await Promise.all(Array.from({ length: window }, lane));
      }),
    );
    const sendEnd = wallNow();
    if (delivered < sent) {
      await Promise.race([new Promise<void>((r) => (onAllDelivered = r)), sleep(opts.drainTimeoutMs ?? 30_000)]);
    }
    const elapsed = ((delivered ? lastFull : wallNow()) - t0) / 1000;
    return {
      rate: delivered / elapsed,
      sent,
      delivered,
      undelivered: sent - delivered,
      errors,
      firstError,
      drainMs: Math.max(0, lastFull - sendEnd),
      latency,
      acceptedRate: accepted / seconds,
    };
  } finally {
    for (const off of offs) off();
  }
}
