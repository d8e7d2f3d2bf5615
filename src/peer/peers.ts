/**
 * Who we are connected to, and who we could reach: one link per pair of
 * peers, addresses learned from mDNS, `--peer`/`connect`, peer exchange and
 * earlier runs. In the full mesh every known peer is dialled, and redialled
 * with exponential backoff when it goes away; with the overlay (the default)
 * this is only the address book, and the overlay's membership decides which
 * links to hold (`dialPeer`, `link(...).close`).
 */
import { EventEmitter } from 'node:events';
import { fingerprint, type PeerInfo, type PeerSource, type PeerState } from '../shared/api.js';
import type { Logger } from './log.js';
import type { Store } from './store.js';
import { LinkError, type Link, type Transport } from './transport.js';

// LAN peers are cheap to retry; a short ceiling keeps reconnection after a healed partition quick.
const BACKOFF = { firstMs: 500, maxMs: 10_000 } as const;
const MAX_KNOWN_PEERS = 512;

interface KnownPeer {
  peerId: string;
  nick: string;
  urls: string[];
  source: PeerSource;
  state: PeerState;
  lastError?: string;
  link?: Link;
  attempts: number;
  timer?: NodeJS.Timeout;
  dialing: boolean;
  /** Announced on the LAN by mDNS right now (until its goodbye or expiry). */
  nearby: boolean;
}

export interface PeerManagerEvents {
  up: [Link];
  down: [Link];
  /** A peer's addresses were learned (overlay mode: the membership's passive view hears of it). */
  discovered: [string];
}

export class PeerManager extends EventEmitter<PeerManagerEvents> {
  private readonly peers = new Map<string, KnownPeer>();
  /** Addresses given by hand whose peer id we don't know yet. */
  private readonly pendingUrls = new Map<string, { timer?: NodeJS.Timeout; attempts: number }>();
  private closed = false;

  constructor(
    private readonly selfId: string,
    private readonly transport: Transport,
    private readonly store: Store,
    private readonly log: Logger,
    /** Full mesh: dial every known peer and keep redialling it; otherwise the overlay decides. */
    private readonly autoDial = true,
  ) {
    super();
    transport.on('link', (link) => this.onLink(link));
  }

  /** Addresses remembered from earlier runs are retried at start. */
  loadRemembered(): void {
    for (const p of this.store.rememberedPeers()) {
      if (p.peerId !== this.selfId) this.addAddresses(p.peerId, p.urls, 'remembered');
    }
  }

  /** A peer's addresses as learned from some source; dials it if not connected. */
  addAddresses(peerId: string, urls: string[], source: PeerSource, nick?: string): void {
    if (peerId === this.selfId || this.closed) return;
    let p = this.peers.get(peerId);
    if (!p && this.peers.size >= MAX_KNOWN_PEERS) return; // a flood of made-up peers must not grow this forever
    if (!p) {
      p = { peerId, nick: nick ?? '', urls: [], source, state: 'offline', attempts: 0, dialing: false, nearby: false };
      this.peers.set(peerId, p);
    }
    if (nick) p.nick = nick;
    const fresh = urls.filter((u) => !p.urls.includes(u));
    p.urls = [...urls, ...p.urls.filter((u) => !urls.includes(u))].slice(0, 8);
    if (source === 'mdns') p.nearby = true;
    if (!this.autoDial) {
      this.emit('discovered', peerId);
      return;
    }
    if (p.link) return;
    if (source === 'mdns' || fresh.length) {
      // A sighting is news: retry now rather than at the end of the backoff.
      p.source = source === 'exchange' && p.source === 'mdns' ? p.source : source;
      p.attempts = 0;
      this.scheduleDial(p, 0);
    } else if (!p.timer && !p.dialing) {
      this.scheduleDial(p, 0);
    }
  }

  /** mDNS says the peer left (goodbye): show it offline now. */
  markGone(peerId: string): void {
    const p = this.peers.get(peerId);
    if (!p) return;
    p.nearby = false;
    if (!p.link) p.state = 'offline';
  }

  /** Linked to us, or announced on the LAN right now. */
  isPresent(peerId: string): boolean {
    const p = this.peers.get(peerId);
    return p !== undefined && (p.link !== undefined || p.nearby);
  }

  /** The link to a peer, if there is one. */
  link(peerId: string): Link | undefined {
    return this.peers.get(peerId)?.link;
  }

  /** A peer's known addresses (the first few), for a message that names it. */
  addressesOf(peerId: string, max = 4): string[] {
    return this.peers.get(peerId)?.urls.slice(0, max) ?? [];
  }

  /** Peers we hold addresses for (the overlay's candidates). */
  dialable(): string[] {
    return [...this.peers.values()].filter((p) => p.urls.length).map((p) => p.peerId);
  }

  /** The link to a peer, dialling its known addresses in turn if there is none (overlay mode). */
  async dialPeer(peerId: string): Promise<Link> {
    const p = this.peers.get(peerId);
    if (!p) throw new LinkError('unreachable', 'no address known for this peer');
    if (p.link && !p.link.closed) return p.link;
    p.dialing = true;
    let lastError: unknown = new LinkError('unreachable', 'no address known for this peer');
    try {
      for (const url of p.urls) {
        try {
          const link = await this.transport.dial(url, peerId);
          return p.link && !p.link.closed ? p.link : link; // a simultaneous dial may have won
        } catch (err) {
          lastError = err;
          // dialled by the other side meanwhile: that link does as well
          if (p.link && !p.link.closed) return p.link;
        }
      }
    } finally {
      p.dialing = false;
    }
    p.state = 'unreachable';
    p.lastError = lastError instanceof LinkError ? `${lastError.reason}: ${lastError.message}` : String(lastError);
    throw lastError;
  }

  /** Dials a URL once and reports who answered, or why nobody did (manual connect, fallback scan). */
  async connect(url: string, source: PeerSource = 'manual'): Promise<string> {
    const link = await this.transport.dial(url);
    const p = this.peers.get(link.peerId);
    if (p) p.source = source;
    return link.peerId;
  }

  /** Keeps dialling a URL given by hand (`--peer`) until a peer answers there. */
  addManualUrl(url: string): void {
    const entry = this.pendingUrls.get(url) ?? { attempts: 0 };
    this.pendingUrls.set(url, entry);
    const attempt = () => {
      entry.timer = undefined;
      if (this.closed) return;
      this.transport.dial(url).then(
        (link) => {
          this.pendingUrls.delete(url);
          const p = this.peers.get(link.peerId);
          if (p) {
            p.source = 'manual';
            if (!p.urls.includes(url)) p.urls.unshift(url);
          }
        },
        (err: Error) => {
          entry.attempts++;
          this.log.debug({ url, err: err.message }, 'manual peer not reachable yet');
          entry.timer = setTimeout(attempt, backoff(entry.attempts));
        },
      );
    };
    attempt();
  }

  private scheduleDial(p: KnownPeer, delayMs: number): void {
    clearTimeout(p.timer);
    p.timer = setTimeout(() => void this.dial(p), delayMs);
    p.timer.unref();
    if (p.state !== 'unreachable') p.state = 'connecting';
  }

  private async dial(p: KnownPeer): Promise<void> {
    p.timer = undefined;
    if (p.link || p.dialing || this.closed) return;
    p.dialing = true;
    p.state = 'connecting';
    let lastError = 'no address';
    for (const url of p.urls) {
      try {
        await this.transport.dial(url, p.peerId);
        p.dialing = false;
        return;
      } catch (err) {
        lastError = err instanceof LinkError ? `${err.reason}: ${err.message}` : String(err);
      }
      if (p.link || this.closed) break;
    }
    p.dialing = false;
    if (p.link || this.closed) return;
    p.state = 'unreachable';
    p.lastError = lastError;
    p.attempts++;
    this.scheduleDial(p, backoff(p.attempts));
  }

  private onLink(link: Link): void {
    let p = this.peers.get(link.peerId);
    if (!p) {
      p = {
        peerId: link.peerId,
        nick: link.nick,
        urls: [],
        source: link.outbound ? 'manual' : 'inbound',
        state: 'offline',
        attempts: 0,
        dialing: false,
        nearby: false,
      };
      this.peers.set(link.peerId, p);
    }
    p.nick = link.nick || p.nick;
    if (p.link && !p.link.closed) {
      // Both sides dialled at once: keep the link initiated by the smaller id, on both ends alike.
      const keepNew = link.outbound === this.selfId < link.peerId;
      if (!keepNew) {
        link.close('duplicate link');
        return;
      }
      // Replaced silently: its own close handler sees it is no longer this peer's link and stays quiet.
      const old = p.link;
      p.link = undefined;
      old.close('duplicate link');
    }
    p.link = link;
    p.state = 'connected';
    p.lastError = undefined;
    p.attempts = 0;
    clearTimeout(p.timer);
    p.timer = undefined;
    if (link.listenPort) {
      const url = link.url;
      p.urls = [url, ...p.urls.filter((u) => u !== url)].slice(0, 8);
    }
    this.store.rememberPeer(p.peerId, p.urls, p.source);
    link.on('close', (reason) => {
      if (p.link !== link) return;
      p.link = undefined;
      p.state = 'offline';
      p.lastError = reason;
      this.emit('down', link);
      if (!this.closed && this.autoDial) this.scheduleDial(p, BACKOFF.firstMs);
    });
    this.emit('up', link);
  }

  /** True while a first attempt to reach some peer is still under way (start-up). */
  firstDialsPending(): boolean {
    for (const e of this.pendingUrls.values()) if (e.attempts === 0) return true;
    for (const p of this.peers.values()) if (!p.link && (p.attempts === 0 || !this.autoDial) && (p.dialing || p.timer)) return true;
    return false;
  }

  links(): Link[] {
    return [...this.peers.values()].flatMap((p) => (p.link ? [p.link] : []));
  }

  /** The nick a peer announced in its hello or mDNS record, if any. */
  nickOf(peerId: string): string | undefined {
    return this.peers.get(peerId)?.nick || undefined;
  }

  isConnected(peerId: string): boolean {
    return this.peers.get(peerId)?.link !== undefined;
  }

  /**
   * Addresses for peer exchange: of connected peers (the mesh dials all it hears of), or of every
   * peer not known to be unreachable (the overlay dials only whom its views pick).
   */
  exchangeList(all = false): { peerId: string; urls: string[] }[] {
    return [...this.peers.values()]
      .filter((p) => p.urls.length && (p.link || (all && p.state !== 'unreachable')))
      .slice(0, 256)
      .map((p) => ({ peerId: p.peerId, urls: p.urls.slice(0, 8) }));
  }

  list(nickOf: (peerId: string) => string | undefined): Omit<PeerInfo, 'status' | 'statusText'>[] {
    return [...this.peers.values()].map((p) => ({
      peerId: p.peerId,
      nick: nickOf(p.peerId) ?? p.nick,
      connected: p.link !== undefined,
      addresses: p.urls,
      state: p.state,
      source: p.source,
      lastError: p.lastError,
      fingerprint: fingerprint(p.peerId),
    }));
  }

  close(): void {
    this.closed = true;
    for (const p of this.peers.values()) clearTimeout(p.timer);
    for (const e of this.pendingUrls.values()) clearTimeout(e.timer);
  }
}

function backoff(attempts: number): number {
  const base = Math.min(BACKOFF.maxMs, BACKOFF.firstMs * 2 ** Math.min(attempts, 10));
  return base / 2 + Math.random() * (base / 2);
}
