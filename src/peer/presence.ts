/**
 * Presence: who is online, away or busy, across the whole network and not only among neighbours.
 *
 * Each peer signs its status with its key and a sequence number that only grows, and sends it to
 * its overlay neighbours, again every minute while it runs (a heartbeat). Each peer keeps the
 * newest record of every other, passes a new one on to its other neighbours (flooding with
 * duplicate suppression: a record not newer than the one held goes no further), and hands all it
 * holds to a new neighbour. A peer not heard of for a few heartbeats is offline. Presence is
 * ephemeral: never in the log, so a million status changes leave no history behind.
 */
import canonicalizeModule from 'canonicalize';
import { EventEmitter } from 'node:events';
import type { Status } from '../shared/api.js';
import type { PresenceRecord } from '../shared/wire.js';
import { signBytes, verifyBytes } from './crypto.js';
import type { Identity } from './identity.js';
import type { Logger } from './log.js';
import type { Store } from './store.js';
import type { Link } from './transport.js';

const canonicalize = canonicalizeModule as unknown as (input: unknown) => string | undefined;

export interface PresenceConfig {
  /** How often a peer repeats its status. */
  heartbeatMs: number;
  /** A peer not heard of for this long is offline. */
  expiryMs: number;
}

/** Tests shorten the heartbeat (CHATTY_TEST_PRESENCE_MS) to see a peer go offline in seconds. */
const TEST_HEARTBEAT_MS = Number(process.env.CHATTY_TEST_PRESENCE_MS ?? 0);

export const PRESENCE_DEFAULTS: PresenceConfig = TEST_HEARTBEAT_MS
  ? { heartbeatMs: TEST_HEARTBEAT_MS, expiryMs: 2.5 * TEST_HEARTBEAT_MS }
  : { heartbeatMs: 60_000, expiryMs: 150_000 };

/** Records per `presence` frame (the schema's limit). */
const RECORDS_PER_FRAME = 256;
/** Heartbeats passed on within this window share one frame per link. */
const BATCH_MS = 2000;
/** Peers whose presence is remembered at most (a flood of made-up keys is bounded). */
const MAX_PEERS = 10_000;

const OWN_KEY = 'presence';

/** The bytes a presence record's signature covers. */
export function presenceSignedBytes(r: Omit<PresenceRecord, 'sig'>): Buffer {
  return Buffer.from(canonicalize({ t: 'chatty-presence', peerId: r.peerId, status: r.status, text: r.text ?? '', seq: r.seq })!);
}

export interface PresenceEvents {
  /** A peer's status changed, or it came online or went offline (its own status too). */
  change: [peerId: string];
}

export class Presence extends EventEmitter<PresenceEvents> {
  private readonly heard = new Map<string, { record: PresenceRecord; at: number }>();
  private own: PresenceRecord;
  private timer?: NodeJS.Timeout;
  /** Records to pass on, per neighbour they came from, sent together at the end of the turn. */
  private outbox: { record: PresenceRecord; from?: string }[] = [];
  private flushTimer?: NodeJS.Timeout;
  private flushSoon = false;

  constructor(
    private readonly identity: Identity,
    private readonly store: Store,
    private readonly neighbours: () => Link[],
    private readonly log: Logger,
    private readonly config: PresenceConfig = PRESENCE_DEFAULTS,
  ) {
    super();
    const saved = JSON.parse(store.getMeta(OWN_KEY) ?? '{}') as { status?: Status; text?: string; auto?: boolean };
    this.own = this.sign(saved.status ?? 'online', saved.text);
    this.auto = saved.auto === true;
  }

  /** Our status was set by an idle rule (kept with it; never sent to other peers). */
  private auto: boolean;

  start(): void {
    this.timer = setInterval(() => this.tick(), this.config.heartbeatMs);
    this.timer.unref();
  }

  /** This peer's status, as set (kept across restarts), and whether an idle rule set it. */
  get mine(): { status: Status; text?: string; auto?: true } {
    return { status: this.own.status, ...(this.own.text ? { text: this.own.text } : {}), ...(this.auto ? { auto: true as const } : {}) };
  }

  set(status: Status, text?: string, auto = false): void {
    const clean = text?.trim() || undefined;
    this.auto = auto;
    this.store.setMeta(OWN_KEY, JSON.stringify({ status, ...(clean ? { text: clean } : {}), ...(auto ? { auto } : {}) }));
    this.own = this.sign(status, clean);
    this.queue(this.own, undefined, true);
    this.emit('change', this.identity.peerId);
  }

  /** A peer's status if it was heard of recently; undefined: offline (or never heard of). */
  statusOf(peerId: string): { status: Status; text?: string } | undefined {
    if (peerId === this.identity.peerId) return this.mine;
    const h = this.heard.get(peerId);
    if (!h || Date.now() - h.at > this.config.expiryMs) return undefined;
    return { status: h.record.status, ...(h.record.text ? { text: h.record.text } : {}) };
  }

  /** A new neighbour gets every record held, ours first, then takes part in passing them on. */
  attach(link: Link): void {
    const fresh = [this.own, ...[...this.heard.values()].filter((h) => Date.now() - h.at <= this.config.expiryMs).map((h) => h.record)];
    for (let i = 0; i < fresh.length; i += RECORDS_PER_FRAME) {
      void link.send({ t: 'presence', records: fresh.slice(i, i + RECORDS_PER_FRAME) }).catch(() => undefined);
    }
  }

  /** Records from a neighbour: keep and pass on those newer than what we hold. */
  receive(from: Link, records: readonly PresenceRecord[]): void {
    for (const record of records) {
      if (record.peerId === this.identity.peerId) continue;
      const held = this.heard.get(record.peerId);
      if (held && record.seq <= held.record.seq) {
        // the same record again (from another neighbour) keeps the peer fresh, but goes no further
        if (record.seq === held.record.seq && record.sig === held.record.sig) held.at = Date.now();
        continue;
      }
      const { sig, ...signed } = record;
      if (!verifyBytes(record.peerId, presenceSignedBytes(signed), sig)) {
        this.log.debug({ from: from.peerId, peerId: record.peerId }, 'presence record with a bad signature dropped');
        continue;
      }
      if (!held && this.heard.size >= MAX_PEERS) this.expire(true);
      const changed =
        !held || Date.now() - held.at > this.config.expiryMs || held.record.status !== record.status || held.record.text !== record.text;
      this.heard.set(record.peerId, { record, at: Date.now() });
      this.queue(record, from.peerId, changed);
      if (changed) this.emit('change', record.peerId);
    }
  }

  close(): void {
    clearInterval(this.timer);
    clearTimeout(this.flushTimer);
  }

  private tick(): void {
    this.own = this.sign(this.own.status, this.own.text);
    this.queue(this.own, undefined);
    this.expire(false);
  }

  /** Forgets peers not heard of in time, telling who went offline; when `crowded`, the older half as well. */
  private expire(crowded: boolean): void {
    const stale = Date.now() - this.config.expiryMs;
    const byAge = [...this.heard].sort((a, b) => a[1].at - b[1].at);
    byAge.forEach(([peerId, h], i) => {
      if (h.at >= stale && !(crowded && i < byAge.length / 2)) return;
      this.heard.delete(peerId);
      this.emit('change', peerId);
    });
  }

  private sign(status: Status, text: string | undefined): PresenceRecord {
    // grows across restarts too (a clock set back is covered by the +1)
    const seq = Math.max(Date.now(), (this.own?.seq ?? 0) + 1);
    const signed = { peerId: this.identity.peerId, status, ...(text ? { text } : {}), seq };
    return { ...signed, sig: signBytes(this.identity.signing.privateKey, presenceSignedBytes(signed)) };
  }

  /**
   * A change goes out at the end of the turn; heartbeats (nothing changed) wait to share a frame with
   * the others that come within a batch window, so an idle peer receives at most one presence frame
   * per link and window whatever the number of peers, instead of one per peer and heartbeat.
   */
  private queue(record: PresenceRecord, from: string | undefined, change = false): void {
    this.outbox.push({ record, from });
    if (change && !this.flushSoon) {
      this.flushSoon = true;
      clearTimeout(this.flushTimer);
      this.flushTimer = undefined;
      setImmediate(() => this.flush());
    } else if (!this.flushSoon && !this.flushTimer) {
      this.flushTimer = setTimeout(() => this.flush(), Math.min(BATCH_MS, this.config.heartbeatMs / 2));
      this.flushTimer.unref();
    }
  }

  private flush(): void {
    this.flushSoon = false;
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    const outbox = this.outbox;
    this.outbox = [];
    for (const link of this.neighbours()) {
      const records = outbox.filter((o) => o.from !== link.peerId).map((o) => o.record);
      for (let i = 0; i < records.length; i += RECORDS_PER_FRAME) {
        void link.send({ t: 'presence', records: records.slice(i, i + RECORDS_PER_FRAME) }).catch(() => undefined);
      }
    }
  }
}
