/**
 * LAN discovery with mDNS / DNS-SD (RFC 6762 / 6763): every peer publishes a `_chatty._tcp`
 * service (SRV → its WebSocket port, TXT `id`, `v`, `nick`) and browses the same type.
 *
 * Built on bonjour-service's multicast DNS socket and query responder, one per network
 * interface, so announcements and answers go out on every LAN the machine is on (a single
 * multicast socket only sends on the kernel's default multicast interface). The records are
 * made here rather than by `Bonjour.publish()`, because that one always announces every
 * address of the machine (we announce each interface's own addresses), probes with a
 * `console.log` on conflict (stdout is JSON-RPC in `--json` mode) and throws from socket
 * errors unless told otherwise. It relies on bonjour-service 1.x's internal `server`
 * (register/unregister/mdns), checked at construction so an upgrade that changes it fails loudly.
 * Each socket is created and bound here and sends nothing before its multicast interface is set.
 *
 * Browsing keeps its own small record cache instead of bonjour's Browser, which never
 * expires services (its PTR TTL is 8 h and nothing calls `expire()`) and misses address
 * changes. Liveness: a PTR query every `queryIntervalMs` (jittered; skipped when another
 * peer just asked the same question, as every answer is multicast and refreshes everyone),
 * and a peer not heard from for `staleAfterMs` is `down`. A goodbye (TTL 0) makes it
 * `down` at once.
 *
 * Interop: `avahi-browse -rt _chatty._tcp` lists peers with host, address, port and TXT.
 */
import dgram from 'node:dgram';
import { EventEmitter } from 'node:events';
import { createHash, randomInt } from 'node:crypto';
import os from 'node:os';
import { Bonjour } from 'bonjour-service';
import { LIMITS, peerIdSchema } from '../shared/api.js';
import { PROTOCOL_VERSION, SERVICE_TYPE } from '../shared/wire.js';
import { silentLogger, type Logger } from './log.js';

export interface DiscoveredPeer {
  peerId: string;
  /** `ws://ADDR:PORT`, IPv4 first (the address the peer's packets came from first of all), then IPv6. */
  urls: string[];
  version: number;
  nick?: string;
}

export interface DiscoveryOptions {
  peerId: string;
  /** The WebSocket port this peer listens on. */
  port: number;
  nick: string;
  logger?: Logger;
  /**
   * Addresses to announce; their interfaces are the ones listened and sent on (each needs an
   * IPv4 address; IPv6 ones are announced with it). Default: every non-internal IPv4 interface
   * with its IPv4 and non-link-local IPv6 addresses, re-scanned while running; loopback when
   * there is none.
   */
  interfaces?: string[];
  /** Period of the liveness query (default 15 s, jittered ±20 %). */
  queryIntervalMs?: number;
  /** A peer not heard from for this long is `down` (default 3 × queryIntervalMs + 5 s). */
  staleAfterMs?: number;
  /** UDP port of mDNS (default 5353). Tests use a private one. */
  mdnsPort?: number;
  // Without `interfaces` / `mdnsPort`, the environment may set them: CHATTY_MDNS_INTERFACES
  // (comma-separated addresses, e.g. "127.0.0.1" to keep discovery on this machine) and CHATTY_MDNS_PORT.
  /** Protocol version announced and accepted (default PROTOCOL_VERSION). Tests only. */
  version?: number;
}

export interface DiscoveryEvents {
  /** A peer appeared, or its addresses (or nick) changed. */
  up: [peer: DiscoveredPeer];
  /** A peer said goodbye, or was not heard from for `staleAfterMs`. */
  down: [peerId: string];
}

// ---- multicast-dns shapes (untyped package, used through bonjour-service) ----

interface MdnsRecord {
  name: string;
  type: string;
  ttl?: number;
  data?: unknown;
}
interface MdnsPacket {
  id?: number;
  type?: string;
  questions?: { name: string; type: string }[];
  answers?: MdnsRecord[];
  additionals?: MdnsRecord[];
}
interface RemoteInfo {
  address: string;
  port: number;
}
type SendCallback = (err?: Error | null) => void;
interface MulticastDns {
  on(event: 'query' | 'response', cb: (packet: MdnsPacket, rinfo: RemoteInfo) => void): void;
  on(event: 'error' | 'warning', cb: (err: Error) => void): void;
  on(event: 'ready', cb: () => void): void;
  query(packet: MdnsPacket, cb?: SendCallback): void;
  respond(packet: MdnsPacket, cb?: SendCallback): void;
}
interface BonjourServer {
  mdns: MulticastDns;
  register(records: MdnsRecord[]): void;
  unregister(records: MdnsRecord[]): void;
}

const TLD = 'local';
const SERVICE = `_${SERVICE_TYPE}._tcp.${TLD}`;
const SERVICE_LC = SERVICE.toLowerCase();
const SERVICES_ENUM = `_services._dns-sd._udp.${TLD}`;
/** RFC 6762 §10: host-name records 120 s, others 75 min. */
const TTL_HOST = 120;
const TTL_OTHER = 4500;
const MAX_URLS = 8;
/** Cap on remembered services, against a flood of fake announcements. */
const MAX_INSTANCES = 1024;
const GOODBYE_TIMEOUT_MS = 1000;
const RESCAN_MS = 5000;
/** Initial queries and announcements (ms after start), then periodic. */
const STARTUP_SCHEDULE = [0, 1000, 3000];

export function instanceName(peerId: string): string {
  return `chatty-${peerId.slice(0, 12)}`;
}

/** A DNS host name for the peer: letters/digits only (peer ids may hold `_`). */
function hostName(peerId: string): string {
  return `chatty-${createHash('sha256').update(peerId).digest('hex').slice(0, 12)}.${TLD}`;
}

function lc(s: string): string {
  return s.toLowerCase();
}

function isLinkLocal6(addr: string): boolean {
  return /^fe[89ab][0-9a-f]:/i.test(addr);
}

/**
 * WebSocket urls for a service's addresses: IPv4 first (`preferred`, the address its packets
 * came from, before the others), then IPv6 in brackets; link-local IPv6 is skipped, since an
 * A/AAAA record carries no scope (zone) to reach it with.
 */
export function urlsFor(addrs: string[], port: number, preferred?: string): string[] {
  const v4 = addrs.filter((a) => !a.includes(':'));
  const v6 = addrs.filter((a) => a.includes(':') && !isLinkLocal6(a) && !a.includes('%'));
  if (preferred && v4.includes(preferred)) v4.sort((a, b) => Number(b === preferred) - Number(a === preferred));
  return [...new Set([...v4.map((a) => `ws://${a}:${port}`), ...v6.map((a) => `ws://[${a}]:${port}`)])];
}

function txtDecode(data: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  const items = Array.isArray(data) ? data : [data];
  for (const item of items) {
    const s = Buffer.isBuffer(item) ? item.toString('utf8') : typeof item === 'string' ? item : '';
    if (!s) continue;
    const eq = s.indexOf('=');
    const key = (eq === -1 ? s : s.slice(0, eq)).toLowerCase();
    if (key && !(key in out)) out[key] = eq === -1 ? '' : s.slice(eq + 1);
  }
  return out;
}

/** Truncate to at most `max` UTF-8 bytes without splitting a character. */
function clipUtf8(s: string, max: number): string {
  let out = s;
  while (Buffer.byteLength(out) > max) out = Array.from(out).slice(0, -1).join('');
  return out;
}

interface IfaceSpec {
  /** Interface name (or the address itself when it is not a local interface). */
  key: string;
  /** IPv4 used as multicast interface. */
  mcast: string;
  /** Addresses announced in A/AAAA records. */
  addrs: string[];
}

/** Interfaces to use: explicit addresses, or every non-internal IPv4 interface (loopback if none). */
function scanInterfaces(explicit: string[] | undefined): IfaceSpec[] {
  const nets = os.networkInterfaces();
  const byAddr = new Map<string, string>();
  for (const [name, list] of Object.entries(nets)) for (const a of list ?? []) byAddr.set(a.address, name);
  const specs = new Map<string, IfaceSpec>();
  const addIface = (name: string, v4: string[]) => {
    const first = v4[0];
    if (!first || specs.has(name)) return;
    const v6 = (nets[name] ?? []).filter((a) => a.family === 'IPv6' && !isLinkLocal6(a.address)).map((a) => a.address);
    specs.set(name, { key: name, mcast: first, addrs: [...v4, ...v6] });
  };
  if (explicit) {
    // Exactly the given addresses, grouped by interface; the group's first IPv4 is its multicast interface.
    const groups = new Map<string, string[]>();
    for (const addr of explicit) {
      const key = byAddr.get(addr) ?? addr;
      groups.set(key, [...(groups.get(key) ?? []), addr]);
    }
    for (const [key, addrs] of groups) {
      const v4 = addrs.filter((a) => !a.includes(':'));
      if (v4[0]) specs.set(key, { key, mcast: v4[0], addrs: [...v4, ...addrs.filter((a) => a.includes(':'))] });
    }
    return [...specs.values()];
  }
  for (const [name, list] of Object.entries(nets)) {
    const v4 = (list ?? []).filter((a) => a.family === 'IPv4' && !a.internal).map((a) => a.address);
    addIface(name, v4);
  }
  if (specs.size === 0) specs.set('lo', { key: 'lo', mcast: '127.0.0.1', addrs: ['127.0.0.1'] });
  return [...specs.values()];
}

/** Logs a problem: the first time at `level`, repeats at debug (sockets retry every few seconds). */
type Reporter = (level: 'error' | 'warn', obj: object, msg: string) => void;

/** One multicast socket + responder, bound to one interface. */
class Responder {
  readonly bonjour: Bonjour;
  readonly server: BonjourServer;
  records: MdnsRecord[] = [];
  closed = false;
  /** The socket could not be bound (e.g. port 5353 held exclusively): replaced on the next rescan. */
  failed = false;
  /** Bound, and its multicast interface set: nothing is sent before (it could leave by another interface). */
  private ready = false;
  private pending: (() => void)[] = [];

  constructor(
    public spec: IfaceSpec,
    mdnsPort: number,
    private readonly report: Reporter,
    onPacket: (packet: MdnsPacket, rinfo: RemoteInfo, kind: 'query' | 'response') => void,
  ) {
    // Our own socket, bound by us: multicast-dns only sets the multicast interface when joining the
    // group worked, and would otherwise send by the default one. The bind address must be the
    // wildcard: a socket bound to the interface address receives no multicast on Linux.
    const socket = dgram.createSocket({ type: 'udp4', reuseAddr: true });
    this.bonjour = new Bonjour({ socket, bind: false, interface: spec.mcast, port: mdnsPort, loopback: true } as never, (err: Error) =>
      this.warn('responder', err),
    );
    const server = (this.bonjour as unknown as { server?: BonjourServer }).server;
    if (!server?.mdns || typeof server.register !== 'function' || typeof server.unregister !== 'function') {
      throw new Error('bonjour-service internals changed: Bonjour.server.{mdns,register,unregister} not found');
    }
    this.server = server;
    server.mdns.on('error', (err) => {
      this.failed = true;
      this.report('error', { iface: spec.key, mcast: spec.mcast, port: mdnsPort }, `mDNS socket error: ${err.message}`);
    });
    server.mdns.on('warning', (err) => this.warn('socket', err));
    server.mdns.on('query', (p, r) => onPacket(p, r, 'query'));
    server.mdns.on('response', (p, r) => onPacket(p, r, 'response'));
    // multicast-dns' own 'listening' handler (registered first) joins the group and sets TTL/loopback.
    socket.bind(mdnsPort, '0.0.0.0', () => {
      try {
        socket.setMulticastInterface(spec.mcast);
      } catch (err) {
        this.failed = true;
        this.report('error', { iface: spec.key, mcast: spec.mcast }, `cannot use ${spec.mcast} for multicast: ${String(err)}`);
        return;
      }
      this.ready = true;
      for (const fn of this.pending.splice(0)) fn();
    });
  }

  warn(what: string, err: unknown): void {
    this.report('warn', { iface: this.spec.key }, `mDNS ${what}: ${err instanceof Error ? err.message : String(err)}`);
  }

  send(kind: 'query' | 'respond', packet: MdnsPacket, cb?: SendCallback): void {
    if (this.closed) {
      cb?.();
      return;
    }
    if (!this.ready) {
      if (this.failed || this.pending.length >= 16) cb?.(new Error('mDNS socket not ready'));
      else this.pending.push(() => this.send(kind, packet, cb));
      return;
    }
    const done: SendCallback = (err) => {
      if (err) this.warn(`send ${kind}`, err);
      cb?.(err);
    };
    try {
      if (kind === 'query') this.server.mdns.query(packet, done);
      else this.server.mdns.respond(packet, done);
    } catch (err) {
      done(err as Error);
    }
  }

  publish(records: MdnsRecord[]): void {
    if (this.records.length) this.server.unregister(this.records);
    this.records = records;
    this.server.register(records);
  }

  announce(): void {
    if (this.records.length) this.send('respond', { answers: this.records });
  }

  /** Stop answering, send the records with TTL 0 (goodbye), close the socket. */
  async close(goodbye: boolean): Promise<void> {
    if (this.closed) return;
    const records = this.records;
    if (records.length) this.server.unregister(records);
    this.records = [];
    if (goodbye && records.length) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, GOODBYE_TIMEOUT_MS);
        this.send('respond', { answers: records.map((r) => ({ ...r, ttl: 0 })) }, () => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    this.closed = true;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, GOODBYE_TIMEOUT_MS);
      try {
        this.bonjour.destroy(() => {
          clearTimeout(timer);
          resolve();
        });
      } catch (err) {
        this.warn('close', err);
        clearTimeout(timer);
        resolve();
      }
    });
  }
}

/** What we know of one `_chatty._tcp` instance, from its records. */
interface Instance {
  fqdn: string;
  lastSeen: number;
  ptrExpires: number;
  srv?: { target: string; port: number; expires: number };
  txt?: Record<string, string>;
  /** Source address of the packets that carried its records: reachable, so listed first. */
  via?: string;
  /** Last time we asked for its missing records. */
  resolvedAt?: number;
}

export class Discovery extends EventEmitter<DiscoveryEvents> {
  private readonly opts: DiscoveryOptions;
  private readonly log: Logger;
  private readonly version: number;
  private readonly queryIntervalMs: number;
  private readonly staleAfterMs: number;
  private readonly instance: string;
  private readonly fqdn: string;
  private readonly host: string;
  private nick: string;

  private responders = new Map<string, Responder>();
  private instances = new Map<string, Instance>();
  /** host name (lower case) → address → expiry (ms). */
  private hosts = new Map<string, Map<string, number>>();
  private current = new Map<string, DiscoveredPeer>();
  private ourQueryIds = new Set<number>();
  private loggedIncompatible = new Set<string>();
  private reported = new Set<string>();
  private readonly interfaces: string[] | undefined;
  private readonly mdnsPort: number;

  /** See Reporter. */
  private readonly report: Reporter = (level, obj, msg) => {
    const first = !this.reported.has(msg);
    if (first) {
      if (this.reported.size > 256) this.reported.clear();
      this.reported.add(msg);
    }
    this.log[first ? level : 'debug'](obj, msg);
  };
  private conflictLogged = false;
  private timers = new Set<NodeJS.Timeout>();
  private tick?: NodeJS.Timeout;
  private nextQueryAt = 0;
  private lastStaleQuery = 0;
  private lastRescan = 0;
  private state: 'idle' | 'running' | 'stopped' = 'idle';

  constructor(opts: DiscoveryOptions) {
    super();
    if (!Number.isInteger(opts.port) || opts.port < 1 || opts.port > 65535) throw new Error(`Discovery: bad port ${opts.port}`);
    if (!opts.peerId) throw new Error('Discovery: peerId is required');
    this.opts = opts;
    this.log = (opts.logger ?? silentLogger).child({ mod: 'discovery' });
    this.version = opts.version ?? PROTOCOL_VERSION;
    this.queryIntervalMs = Math.max(200, opts.queryIntervalMs ?? 15_000);
    this.staleAfterMs = Math.max(this.queryIntervalMs + 500, opts.staleAfterMs ?? 3 * this.queryIntervalMs + 5000);
    const envIfaces = process.env.CHATTY_MDNS_INTERFACES?.split(',')
      .map((a) => a.trim())
      .filter(Boolean);
    this.interfaces = opts.interfaces ?? (envIfaces?.length ? envIfaces : undefined);
    const envPort = Number(process.env.CHATTY_MDNS_PORT);
    this.mdnsPort = opts.mdnsPort ?? (Number.isInteger(envPort) && envPort > 0 && envPort < 65536 ? envPort : 5353);
    this.instance = instanceName(opts.peerId);
    this.fqdn = `${this.instance}.${SERVICE}`;
    this.host = hostName(opts.peerId);
    this.nick = opts.nick;
  }

  /** Peers currently known to be up. */
  peers(): DiscoveredPeer[] {
    return [...this.current.values()].map((p) => ({ ...p, urls: [...p.urls] }));
  }

  /** Publish and browse. Idempotent; a stopped Discovery cannot be restarted. */
  start(): void {
    if (this.state !== 'idle') return;
    this.state = 'running';
    this.reconcileInterfaces(true);
    this.log.info(
      { instance: this.instance, port: this.opts.port, interfaces: [...this.responders.values()].map((r) => r.spec.addrs) },
      'mDNS discovery started',
    );
    for (const at of STARTUP_SCHEDULE) {
      this.later(at, () => {
        for (const r of this.responders.values()) r.announce();
        this.query();
      });
    }
    this.nextQueryAt = Date.now() + STARTUP_SCHEDULE[STARTUP_SCHEDULE.length - 1]! + this.jitteredInterval();
    this.tick = setInterval(() => this.onTick(), Math.min(1000, Math.floor(this.queryIntervalMs / 2)));
    this.tick.unref();
  }

  /** Say goodbye (TTL 0) so the others see us leave at once, then close the sockets. */
  async stop(): Promise<void> {
    if (this.state === 'stopped') return;
    this.state = 'stopped';
    if (this.tick) clearInterval(this.tick);
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    const responders = [...this.responders.values()];
    this.responders.clear();
    await Promise.all(responders.map((r) => r.close(true)));
    this.instances.clear();
    this.hosts.clear();
    this.current.clear();
    this.log.info('mDNS discovery stopped');
  }

  /** Change the nick in our TXT record and announce it. */
  setNick(nick: string): void {
    this.nick = nick;
    if (this.state !== 'running') return;
    for (const r of this.responders.values()) {
      r.publish(this.recordsFor(r.spec));
      r.announce();
    }
  }

  /** Ask the network now (e.g. after a network change). */
  refresh(): void {
    if (this.state === 'running') this.query();
  }

  // ---- publishing ----

  private recordsFor(spec: IfaceSpec): MdnsRecord[] {
    const txt = [`id=${this.opts.peerId}`, `v=${this.version}`, `nick=${clipUtf8(this.nick, 4 * LIMITS.nickMax)}`].map((s) =>
      Buffer.from(s),
    );
    return [
      { name: SERVICE, type: 'PTR', ttl: TTL_OTHER, data: this.fqdn },
      { name: SERVICES_ENUM, type: 'PTR', ttl: TTL_OTHER, data: SERVICE },
      { name: this.fqdn, type: 'SRV', ttl: TTL_HOST, data: { port: this.opts.port, target: this.host, priority: 0, weight: 0 } },
      { name: this.fqdn, type: 'TXT', ttl: TTL_OTHER, data: txt },
      ...spec.addrs.map((a) => ({ name: this.host, type: a.includes(':') ? 'AAAA' : 'A', ttl: TTL_HOST, data: a })),
    ];
  }

  /** Open a responder per interface in use, close those of vanished interfaces, update changed addresses. */
  private reconcileInterfaces(initial = false): void {
    this.lastRescan = Date.now();
    let specs: IfaceSpec[];
    try {
      specs = scanInterfaces(this.interfaces);
    } catch (err) {
      this.log.warn({ err: String(err) }, 'cannot list network interfaces');
      return;
    }
    const wanted = new Map(specs.map((s) => [s.key, s]));
    for (const [key, r] of this.responders) {
      const spec = wanted.get(key);
      if (spec && spec.mcast === r.spec.mcast && !r.failed) continue;
      this.responders.delete(key);
      if (!r.failed) this.log.info({ iface: key }, 'mDNS interface gone');
      void r.close(!r.failed);
    }
    for (const spec of specs) {
      const existing = this.responders.get(spec.key);
      if (existing) {
        if (existing.spec.addrs.join() === spec.addrs.join()) continue;
        // Same interface, other addresses: goodbye for the old address records, announce the new ones.
        const gone = existing.spec.addrs.filter((a) => !spec.addrs.includes(a));
        if (gone.length) {
          const bye = existing.records.filter((r) => (r.type === 'A' || r.type === 'AAAA') && gone.includes(String(r.data)));
          existing.send('respond', { answers: bye.map((r) => ({ ...r, ttl: 0 })) });
        }
        existing.spec = spec;
        existing.publish(this.recordsFor(spec));
        existing.announce();
        continue;
      }
      let r: Responder;
      try {
        r = new Responder(spec, this.mdnsPort, this.report, (p, ri, kind) => this.onPacket(p, ri, kind));
      } catch (err) {
        this.report('error', { iface: spec.key }, `cannot open mDNS socket: ${String(err)}`);
        continue;
      }
      r.publish(this.recordsFor(spec));
      this.responders.set(spec.key, r);
      if (!initial) {
        // An interface that appeared while running: announce and ask right away (start() schedules the first ones).
        this.log.info({ iface: spec.key, addrs: spec.addrs }, 'mDNS interface added');
        r.announce();
        this.later(1000, () => r.announce());
        this.query();
      }
    }
  }

  // ---- browsing ----

  private jitteredInterval(): number {
    return Math.round(this.queryIntervalMs * (0.8 + Math.random() * 0.4));
  }

  private query(): void {
    const id = randomInt(1, 0xffff);
    this.ourQueryIds.add(id);
    if (this.ourQueryIds.size > 64) this.ourQueryIds.delete(this.ourQueryIds.values().next().value!);
    for (const r of this.responders.values()) r.send('query', { id, questions: [{ name: SERVICE, type: 'PTR' }] });
  }

  private later(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      if (this.state === 'running') fn();
    }, ms);
    t.unref();
    this.timers.add(t);
  }

  private onTick(): void {
    if (this.state !== 'running') return;
    try {
      const now = Date.now();
      // Explicit interfaces are fixed, but a socket that failed to bind is retried all the same.
      const failed = [...this.responders.values()].some((r) => r.failed);
      if ((!this.interfaces || failed) && now - this.lastRescan >= RESCAN_MS) this.reconcileInterfaces();
      if (now >= this.nextQueryAt) {
        this.nextQueryAt = now + this.jitteredInterval();
        this.query();
      }
      // Someone quiet for half the staleness window: ask once more before giving up on it.
      const quiet = [...this.instances.values()].some((i) => now - i.lastSeen > this.staleAfterMs / 2);
      if (quiet && now - this.lastStaleQuery > this.staleAfterMs / 5) {
        this.lastStaleQuery = now;
        this.query();
      }
      this.expire(now);
      this.recompute();
    } catch (err) {
      this.log.error({ err: String(err) }, 'discovery tick failed');
    }
  }

  private onPacket(packet: MdnsPacket, rinfo: RemoteInfo, kind: 'query' | 'response'): void {
    if (this.state !== 'running') return;
    try {
      if (kind === 'query') this.onQuery(packet);
      else if (this.onResponse(packet, rinfo)) this.recompute();
    } catch (err) {
      this.log.warn({ err: String(err), from: rinfo.address }, 'bad mDNS packet ignored');
    }
  }

  /** Another peer just asked for the service: every answer is multicast, so our own periodic query can wait. */
  private onQuery(packet: MdnsPacket): void {
    if (packet.id && this.ourQueryIds.has(packet.id)) return;
    const asks = (packet.questions ?? []).some((q) => q.type === 'PTR' && lc(q.name) === SERVICE_LC);
    if (asks && (packet.answers ?? []).length === 0) this.nextQueryAt = Math.max(this.nextQueryAt, Date.now() + this.jitteredInterval());
  }

  /** Apply a response to the cache; true when it concerned our service type. */
  private onResponse(packet: MdnsPacket, rinfo: RemoteInfo): boolean {
    const now = Date.now();
    const all = [...(packet.answers ?? []), ...(packet.additionals ?? [])].filter((rr) => typeof rr?.name === 'string');
    const isAddr = (rr: MdnsRecord) => rr.type === 'A' || rr.type === 'AAAA';
    const ownFqdn = lc(this.fqdn);
    let relevant = false;
    const touched = new Set<Instance>();
    const instanceOf = (fqdn: string): Instance | undefined => {
      const key = lc(fqdn);
      let inst = this.instances.get(key);
      if (inst) return inst;
      if (this.instances.size >= MAX_INSTANCES) {
        this.report('warn', { max: MAX_INSTANCES }, 'too many _chatty._tcp services on the network, ignoring new ones');
        return undefined;
      }
      this.instances.set(key, (inst = { fqdn, lastSeen: now, ptrExpires: 0 }));
      return inst;
    };
    // Service records first, then addresses: an A record is kept only for a host some instance points to.
    for (const rr of [...all.filter((r) => !isAddr(r)), ...all.filter(isAddr)]) {
      const ttl = typeof rr.ttl === 'number' ? rr.ttl : 0;
      const name = lc(rr.name);
      if (rr.type === 'PTR' && name === SERVICE_LC && typeof rr.data === 'string') {
        relevant = true;
        const key = lc(rr.data);
        if (key === ownFqdn) continue;
        if (ttl === 0) {
          this.instances.delete(key);
          continue;
        }
        const inst = instanceOf(rr.data);
        if (!inst) continue;
        inst.ptrExpires = now + ttl * 1000;
        touched.add(inst);
      } else if ((rr.type === 'SRV' || rr.type === 'TXT') && name.endsWith(`.${SERVICE_LC}`)) {
        relevant = true;
        if (name === ownFqdn) {
          if (rr.type === 'SRV' && ttl > 0) this.checkConflict(rr.data);
          continue;
        }
        if (ttl === 0) {
          if (rr.type === 'SRV') this.instances.delete(name);
          continue;
        }
        const inst = instanceOf(rr.name);
        if (!inst) continue;
        if (rr.type === 'SRV') {
          const d = rr.data as { target?: unknown; port?: unknown } | undefined;
          if (typeof d?.target !== 'string' || typeof d.port !== 'number') continue;
          inst.srv = { target: d.target, port: d.port, expires: now + ttl * 1000 };
        } else {
          inst.txt = txtDecode(rr.data);
        }
        touched.add(inst);
      } else if (isAddr(rr) && typeof rr.data === 'string') {
        let addrs = this.hosts.get(name);
        if (ttl === 0) {
          if (addrs?.delete(rr.data)) relevant = true;
          continue;
        }
        if (!addrs && !this.isKnownTarget(name)) continue; // someone else's host: not our business
        if (!addrs) this.hosts.set(name, (addrs = new Map()));
        addrs.set(rr.data, now + ttl * 1000);
        relevant = true;
      }
    }
    for (const inst of touched) {
      inst.lastSeen = now;
      inst.via ??= rinfo.address;
    }
    if (touched.size) this.resolveMissing(touched, now);
    return relevant;
  }

  private isKnownTarget(hostLc: string): boolean {
    for (const inst of this.instances.values()) if (inst.srv && lc(inst.srv.target) === hostLc) return true;
    return false;
  }

  /** Instances whose SRV/TXT or addresses did not come along (e.g. other implementations): ask for them. */
  private resolveMissing(instances: Set<Instance>, now: number): void {
    const questions: { name: string; type: string }[] = [];
    for (const inst of instances) {
      const missing = !inst.srv || !inst.txt || !this.hosts.get(lc(inst.srv.target))?.size;
      if (!missing || now - (inst.resolvedAt ?? 0) < 1000) continue;
      inst.resolvedAt = now;
      if (!inst.srv) questions.push({ name: inst.fqdn, type: 'SRV' });
      if (!inst.txt) questions.push({ name: inst.fqdn, type: 'TXT' });
      if (inst.srv && !this.hosts.get(lc(inst.srv.target))?.size) questions.push({ name: inst.srv.target, type: 'A' });
    }
    if (!questions.length) return;
    const id = randomInt(1, 0xffff);
    this.ourQueryIds.add(id);
    for (const r of this.responders.values()) r.send('query', { id, questions });
  }

  private checkConflict(data: unknown): void {
    const srv = data as { target?: unknown; port?: unknown } | undefined;
    if (this.conflictLogged || (srv?.port === this.opts.port && typeof srv.target === 'string' && lc(srv.target) === lc(this.host))) return;
    this.conflictLogged = true;
    this.log.warn({ instance: this.instance, theirs: srv }, 'another process publishes our peer id (same identity running twice?)');
  }

  private expire(now: number): void {
    for (const [key, inst] of this.instances) {
      const srvGone = inst.srv !== undefined && inst.srv.expires < now;
      const ptrGone = inst.ptrExpires !== 0 && inst.ptrExpires < now;
      if (now - inst.lastSeen > this.staleAfterMs || srvGone || ptrGone) {
        this.instances.delete(key);
        this.log.debug({ instance: inst.fqdn }, 'mDNS instance expired');
      }
    }
    for (const [host, addrs] of this.hosts) {
      for (const [a, exp] of addrs) if (exp < now) addrs.delete(a);
      if (!addrs.size || !this.isKnownTarget(host)) this.hosts.delete(host);
    }
  }

  /** Derive the peer list from the cache and emit the differences. */
  private recompute(): void {
    const next = new Map<string, DiscoveredPeer>();
    for (const inst of this.instances.values()) {
      const txt = inst.txt;
      if (!txt || !inst.srv) continue;
      const peerId = txt.id ?? '';
      if (peerId === this.opts.peerId) continue;
      if (!peerIdSchema.safeParse(peerId).success) {
        this.logOnce(`bad:${inst.fqdn}`, { instance: inst.fqdn }, 'ignoring a _chatty._tcp service without a valid id');
        continue;
      }
      const version = Number(txt.v);
      if (version !== this.version) {
        this.logOnce(
          `v:${peerId}:${txt.v}`,
          { peerId, theirs: txt.v, ours: this.version },
          'ignoring a peer speaking another protocol version',
        );
        continue;
      }
      const urls = urlsFor([...(this.hosts.get(lc(inst.srv.target))?.keys() ?? [])], inst.srv.port, inst.via);
      const prev = next.get(peerId);
      const merged = prev ? [...new Set([...prev.urls, ...urls])] : urls;
      if (!merged.length) continue;
      const nick = txt.nick ? clipUtf8(txt.nick, 4 * LIMITS.nickMax) : undefined;
      next.set(peerId, { peerId, urls: merged.slice(0, MAX_URLS), version, ...(nick ? { nick } : {}) });
    }
    for (const [id, peer] of next) {
      const old = this.current.get(id);
      if (old && old.nick === peer.nick && sameSet(old.urls, peer.urls)) continue; // keeps the url order first reported
      this.log.debug({ peerId: id, urls: peer.urls }, old ? 'peer changed' : 'peer up');
      this.current.set(id, peer);
      this.emitSafe('up', { ...peer, urls: [...peer.urls] });
    }
    for (const id of [...this.current.keys()]) {
      if (next.has(id)) continue;
      this.current.delete(id);
      this.log.debug({ peerId: id }, 'peer down');
      this.emitSafe('down', id);
    }
  }

  private emitSafe<K extends keyof DiscoveryEvents>(event: K, ...args: DiscoveryEvents[K]): void {
    try {
      (this.emit as (e: K, ...a: DiscoveryEvents[K]) => boolean)(event, ...args);
    } catch (err) {
      this.log.error({ err: String(err), event }, 'discovery listener threw');
    }
  }

  private logOnce(key: string, obj: object, msg: string): void {
    if (this.loggedIncompatible.has(key)) return;
    this.loggedIncompatible.add(key);
    this.log.info(obj, msg);
  }
}

function sameSet(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((x) => b.includes(x));
}
