/**
 * The peer node: wires identity, storage, the replicated log, links, sync,
 * discovery and peer management together, and implements the control API on
 * top of them. Plain Node; Electron's main process and the CLI both host it.
 */
import { EventEmitter } from 'node:events';
import { userInfo } from 'node:os';
import {
  ChattyError,
  fingerprint,
  LIMITS,
  type ChattyService,
  type EventName,
  type EventPayloads,
  type Member,
  type MemberChange,
  type Message,
  type Peer,
  type MethodResults,
  type Role,
} from '../shared/api.js';
import {
  DEFAULT_PORT,
  dmConversation,
  dmOtherEnd,
  isRoomId,
  roomIdOf,
  roomOfEvent,
  WIRE_LIMITS,
  type EventType,
  type FileManifest,
  type SignedEvent,
} from '../shared/wire.js';
import { resolve as resolvePath } from 'node:path';
import { Annotations } from './annotations.js';
import { encryptDm } from './crypto.js';
import { FileStore } from './files/file-store.js';
import { FILE_DEFAULTS, Files, type FilesConfig } from './files/files.js';
import { Discovery } from './discovery.js';
import { loadIdentity, type Identity } from './identity.js';
import { createLogger, type Logger } from './log.js';
import { PeerManager } from './peers.js';
import { Presence, PRESENCE_DEFAULTS, type PresenceConfig } from './presence.js';
import { ReadMarkers } from './read-markers.js';
import { scanForPeers, SCAN_LIMITS } from './scan.js';
import { Replica, type Delivery } from './replica.js';
import { RoomKeys } from './room-keys.js';
import { canModerate, entitledReaders, roleOf, type RoomState } from './room-state.js';
import { EventChecker, type CheckerScript } from './event-checker.js';
import { MemoryReclaimer } from './memory.js';
import { bodyColumns, EventStatus, Store, type EventRow } from './store.js';
import { Sync } from './sync.js';
import { Transport, type Link } from './transport.js';
import { TreeBroadcast } from './overlay/broadcast.js';
import { Membership, type MembershipConfig } from './overlay/membership.js';

export interface PeerNodeOptions {
  dataDir: string;
  nick?: string;
  /** Port for peer links; default 7447, a free one if taken; 0 = any. */
  port?: number;
  host?: string;
  /** Peers to dial at start (`--peer ws://host:port`), for networks without multicast. */
  peers?: string[];
  /** mDNS discovery (default on). */
  mdns?: boolean;
  /** Fallback scan of the local /24 when no peer is connected (default off). */
  scan?: boolean;
  /**
   * How peers link: `overlay` (default) holds a bounded active view of neighbours and broadcasts
   * along a tree; `mesh` links every known peer (the design before the overlay, kept to compare).
   */
  topology?: 'overlay' | 'mesh';
  /** Overlay tuning: active view size (links held, default 5), shuffle and probe periods. */
  overlay?: Partial<MembershipConfig>;
  /** Files: size limit, pictures fetched on arrival and their quota, serving to other downloaders. */
  files?: Partial<FilesConfig>;
  /** Presence: how often a peer repeats its status, and when one not heard of is offline. */
  presence?: Partial<PresenceConfig>;
  logger?: Logger;
  /**
   * The worker that checks a catch-up's events off the main thread: by default the built module
   * beside the peer's (a bundler that moves the peer names its own); `null` checks them on the main thread.
   */
  eventCheckWorker?: CheckerScript | null;
}

/** How long a peer just started, with nobody found yet, waits for discovery before `join` founds a room of a name it does not know. */
const JOIN_SYNC_WAIT_MS = 3000;
/**
 * How long `join` waits at most for a first catch-up once linked, so a newcomer finds a room that
 * already exists instead of founding another (on a busy machine the overlay and the catch-up take
 * seconds; a peer alone still founds its room after JOIN_SYNC_WAIT_MS).
 */
const JOIN_CATCHUP_WAIT_MS = 15_000;
/** How long a peer with no connection waits before its first fallback scan. */
const SCAN_START_MS = 5000;
/** A typing notice relayed through the overlay is passed on once per typist and room in this window. */
const TYPING_RELAY_MS = 1000;
/** Invite-only rooms' keys are re-checked this long after the last change (catch-up delivers bursts). */
const KEY_REPAIR_DELAY_MS = 1500;
/** Rounds the repair waits for a caught-up picture before it runs anyway (20 × 1.5 s). */
const KEY_REPAIR_MAX_WAITS = 20;
/** At most one repairing rekey per room this often, whatever the views of several moderators. */
const KEY_REPAIR_REKEY_GAP_MS = 10_000;
/** Pictures are fetched on arrival only from messages this recent (a catch-up of old history fetches none). */
const AUTO_FETCH_RECENT_MS = 24 * 3600_000;
/** Room the envelope of a message takes besides its body (ids, signature, up to 32 dependencies). */
const EVENT_ENVELOPE_BYTES = 2500;

type Params<M extends keyof MethodResults> = Parameters<ChattyService[M]>[0];

export class PeerNode implements ChattyService {
  private readonly emitter = new EventEmitter();
  private discovery?: Discovery;
  private scanTimer?: NodeJS.Timeout;
  private keyRepairTimer?: NodeJS.Timeout;
  private keyRepairWaits = 0;
  private readonly lastRepairRekey = new Map<string, number>();
  private readonly startedAt = Date.now();
  private membership?: Membership;
  private tree?: TreeBroadcast;
  private readonly typingRelayed = new Map<string, number>();
  private closing?: Promise<void>;
  private nick: string;
  private files!: Files;
  private presence!: Presence;
  private readonly annotations: Annotations;
  private readonly markers: ReadMarkers;
  private readonly reclaimer: MemoryReclaimer;

  private constructor(
    private readonly store: Store,
    private readonly identity: Identity,
    private readonly replica: Replica,
    private readonly transport: Transport,
    private readonly sync: Sync,
    private readonly peerManager: PeerManager,
    private readonly log: Logger,
    /** Where keys, history, downloads and shared files' encrypted copies live. */
    readonly dataDir: string,
  ) {
    this.emitter.setMaxListeners(100);
    this.nick = replica.profiles.get(identity.peerId)?.nick ?? 'anonymous';
    this.annotations = new Annotations(store, identity.peerId, (peerId) => this.nickOf(peerId));
    this.markers = new ReadMarkers(store, identity.peerId);
    this.reclaimer = new MemoryReclaimer(log);
  }

  static async start(opts: PeerNodeOptions): Promise<PeerNode> {
    const log = opts.logger ?? createLogger();
    const store = new Store(opts.dataDir);
    const identity = loadIdentity(store);
    const replica = new Replica(store, identity, log);
    // The transport's hello carries the current nick, which the node owns.
    const self: { node?: PeerNode } = {};
    const transport = new Transport({ identity, nick: () => self.node?.nick ?? '', port: opts.port ?? DEFAULT_PORT, host: opts.host, log });
    const mesh = opts.topology === 'mesh';
    const sync = new Sync(replica, store, log, !mesh, new EventChecker(log, opts.eventCheckWorker));
    const peerManager = new PeerManager(identity.peerId, transport, store, log, mesh);
    const started = new PeerNode(store, identity, replica, transport, sync, peerManager, log, opts.dataDir);
    if (mesh) {
      replica.on('shared', () => sync.broadcastOwn());
      peerManager.on('up', (link) => sync.attach(link));
    } else {
      started.startOverlay(opts.overlay ?? {});
    }
    started.startFiles({ ...FILE_DEFAULTS, ...opts.files });
    started.startPresence({ ...PRESENCE_DEFAULTS, ...opts.presence });
    self.node = started;
    const setAside = store.setAside;
    if (setAside !== undefined) {
      log.warn({ protocol: setAside }, 'history of an older, incompatible protocol set aside (kept in the database); starting a new log');
    }
    const saved =
      replica.profiles.get(identity.peerId)?.nick ?? (setAside !== undefined ? store.nickSetAside(setAside, identity.peerId) : undefined);
    const wanted = opts.nick?.trim() || saved || defaultNick();
    if (wanted !== saved) started.publishProfile(wanted);
    replica.on('delivered', (d) => started.onDelivered(d));
    replica.on('delivered', () => started.reclaimer.delivered());
    sync.onCaughtUp = (events) => started.reclaimer.caughtUp(events);
    replica.on('changed', (messages) => messages.forEach((m) => started.emitUpdate(m)));
    peerManager.on('up', (link) => started.onLinkUp(link));
    peerManager.on('down', (link) => started.emit('peer', { peerId: link.peerId, nick: started.nickOf(link.peerId), state: 'down' }));
    await transport.listen();
    peerManager.loadRemembered();
    for (const url of opts.peers ?? []) peerManager.addManualUrl(url);
    if (opts.mdns !== false) started.startDiscovery();
    if (opts.scan) started.startFallbackScan();
    started.files.resume();
    started.scheduleKeyRepair(); // a crash may have come between a kick and its rekey
    log.info({ peerId: identity.peerId, port: transport.port, nick: started.nick }, 'peer started');
    return started;
  }

  /** Links held by HyParView's active view, new events broadcast along Plumtree's tree, catch-up with neighbours. */
  private startOverlay(config: Partial<MembershipConfig>): void {
    const { replica, sync } = this;
    const tree = new TreeBroadcast(this.peerId, replica, this.store, sync, this.log);
    const membership = new Membership(this.peerId, this.peerManager, replica, (link) => sync.resync(link), this.log, config);
    membership.on('neighborUp', (link) => {
      sync.attach(link);
      tree.neighborUp(link);
      this.sendPeerList(link);
    });
    membership.on('neighborDown', (peerId) => tree.neighborDown(peerId));
    replica.on('shared', () => tree.shareOwn());
    sync.onHeld = (events) => tree.markHeld(events);
    membership.start();
    this.membership = membership;
    this.tree = tree;
  }

  /** Files travel between any two peers that hold them and want them, neighbours or not. */
  private startFiles(config: FilesConfig): void {
    const { peerManager } = this;
    const files = new Files(
      this.peerId,
      new FileStore(this.store),
      this.dataDir,
      {
        links: () => peerManager.links(),
        link: (peerId) => peerManager.link(peerId),
        dial: (peerId) => peerManager.dialPeer(peerId),
        keep: (peerId, on) => this.membership?.keep(peerId, on),
        addresses: (peerId) => peerManager.addressesOf(peerId),
        learnAddresses: (peerId, urls) => peerManager.addAddresses(peerId, urls, 'exchange'),
      },
      config,
      this.log,
    );
    this.replica.onAttachment = (ev, manifest, live) =>
      void files.learn(ev.id, manifest, ev.author, live && Math.abs(Date.now() - ev.ts) < AUTO_FETCH_RECENT_MS);
    this.replica.onErase = (message, erased) => {
      void files.forget(message);
      for (const id of erased) this.tree?.forget(id);
    };
    peerManager.on('up', (link) => files.attach(link));
    files.on('transfer', (t) => this.emit('transfer', t));
    this.files = files;
  }

  /** Statuses travel through the overlay's neighbours (in the mesh, to every link). */
  private startPresence(config: PresenceConfig): void {
    const neighbours = () => this.peerManager.links().filter((l) => this.membership?.isNeighbor(l.peerId) ?? true);
    const presence = new Presence(this.identity, this.store, neighbours, this.log, config);
    if (this.membership) this.membership.on('neighborUp', (link) => presence.attach(link));
    else this.peerManager.on('up', (link) => presence.attach(link));
    presence.on('change', (peerId) =>
      this.emit('status', {
        peerId,
        nick: this.nickOf(peerId),
        ...this.presenceOf(peerId),
        ...(peerId === this.peerId && presence.mine.auto ? { auto: true } : {}),
      }),
    );
    presence.start();
    this.presence = presence;
  }

  private presenceOf(peerId: string): Pick<Member, 'status' | 'statusText'> {
    const s = this.presence.statusOf(peerId);
    if (s) return { status: s.status, ...(s.text ? { statusText: s.text } : {}) };
    return { status: this.isOnline(peerId) ? 'online' : 'offline' };
  }

  /** The largest file this peer sends or fetches (the UI refuses bigger uploads early). */
  get maxFileBytes(): number {
    return this.files.config.maxBytes;
  }

  /** Where a complete file is on this machine (for hosts: the browser UI serves it, the desktop app opens it). */
  fileLocation(fileId: string): { path: string; name: string; mime: string } | undefined {
    return this.files.location(fileId);
  }

  private startDiscovery(): void {
    const discovery = new Discovery({ peerId: this.identity.peerId, port: this.transport.port, nick: this.nick, logger: this.log });
    discovery.on('up', (p) => this.peerManager.addAddresses(p.peerId, p.urls, 'mdns', p.nick));
    discovery.on('down', (peerId) => this.peerManager.markGone(peerId));
    discovery.start();
    this.discovery = discovery;
  }

  /** While no peer is connected, sweep the local /24 now and then (networks that block multicast). */
  private startFallbackScan(): void {
    let last = 0;
    const tick = async () => {
      if (this.peerManager.links().length || Date.now() - last < SCAN_LIMITS.minIntervalMs) return;
      last = Date.now();
      // Whatever listens there gets the handshake; only a Chatty peer completes it. Dialling ourselves fails cleanly ('self').
      for (const url of await scanForPeers(DEFAULT_PORT, this.log)) void this.peerManager.connect(url, 'scan').catch(() => undefined);
    };
    this.scanTimer = setInterval(() => void tick(), SCAN_START_MS);
    this.scanTimer.unref();
  }

  get peerId(): string {
    return this.identity.peerId;
  }

  get port(): number {
    return this.transport.port;
  }

  // ---- events ------------------------------------------------------------

  on<E extends EventName>(event: E, listener: (payload: EventPayloads[E]) => void): () => void {
    this.emitter.on(event, listener);
    return () => this.emitter.off(event, listener);
  }

  private emit<E extends EventName>(event: E, payload: EventPayloads[E]): void {
    this.emitter.emit(event, payload);
  }

  /** Forwards delivered events to API listeners. */
  private onDelivered(d: Delivery): void {
    const ev = d.event;
    if (!d.accepted) return;
    if (ev.type === 'profile') {
      this.scheduleKeyRepair(); // a member's key may be known now
      this.checkNickCollision(ev.author, String(ev.body.nick));
      // a connected peer's new nick reaches the UI at once
      if (this.peerManager.isConnected(ev.author)) this.emit('peer', { peerId: ev.author, nick: String(ev.body.nick), state: 'up' });
      return;
    }
    if (ev.type === 'dm') {
      if (d.text !== undefined) this.emit('dm', this.messageOf(deliveredRow(d, d.text), carriesFile(ev)));
      return;
    }
    if (typeof ev.body.message === 'string') return this.onAnnotation(ev);
    const room = roomOfEvent(ev);
    if (room === null) return;
    if (ev.type === 'msg') {
      // a sealed message this peer holds no key for is not news it can show
      if (this.isMember(room) && d.text !== undefined) this.emit('message', this.messageOf(deliveredRow(d, d.text), carriesFile(ev)));
      return;
    }
    const state = this.replica.roomState(room);
    if (state.private) {
      // Someone left an invite-only room: its owner locks them out of what follows at once; any
      // moderator does it a little later if no owner did (see repairRoomKeys).
      if (ev.type === 'leave' && !d.late && ev.author !== this.peerId && roleOf(state, this.peerId) === 'owner')
        this.repairRoomKeys(room, true);
      this.scheduleKeyRepair();
    }
    const change = MEMBER_CHANGE[ev.type];
    if (!change) return;
    const target = typeof ev.body.target === 'string' ? ev.body.target : ev.author;
    this.emit('member', {
      room,
      roomName: state.name ?? room,
      peerId: target,
      nick: this.nickOf(target),
      change,
      ...(ev.type === 'role' ? { role: ev.body.role as Role } : {}),
      ...(ev.type === 'join' || ev.type === 'create' ? { role: roleOf(state, target) } : {}),
      ...(target !== ev.author ? { by: ev.author } : {}),
      ...(typeof ev.body.reason === 'string' ? { reason: ev.body.reason } : {}),
    });
  }

  /** A reaction, an edit or a delete changes a message its readers see: they get it anew; a read receipt says `seen`. */
  private onAnnotation(ev: SignedEvent): void {
    const message = String(ev.body.message);
    if (ev.type === 'read') {
      if (ev.author !== this.peerId) this.emit('seen', { peer: ev.author, message });
      return;
    }
    this.emitUpdate(message);
  }

  /** Tells the UIs a message changed, if it is one this peer reads. */
  private emitUpdate(message: string): void {
    const row = this.store.event(message);
    if (!row || row.text === null || row.status !== EventStatus.Accepted) return;
    if (row.type === 'msg' && !this.isMember(row.room!)) return;
    const [updated] = this.messages([row]);
    this.emit('update', updated!);
  }

  /** Trust on first use: a nick already held by another key is flagged, never merged. */
  private checkNickCollision(peerId: string, nick: string): void {
    const same = (a: string) => a.trim().toLowerCase() === nick.trim().toLowerCase();
    for (const [other, p] of this.replica.profiles) {
      if (other !== peerId && same(p.nick)) this.emit('identity', { nick, peerId, knownPeerId: other });
    }
  }

  private onLinkUp(link: Link): void {
    link.on('frame', (frame) => {
      if (frame.t === 'typing') this.onTyping(link, frame.room, frame.from);
      else if (frame.t === 'presence') this.presence.receive(link, frame.records);
      else if (frame.t === 'peers') {
        for (const p of frame.peers) this.peerManager.addAddresses(p.peerId, p.urls, 'exchange');
      }
    });
    if (!this.membership) this.sendPeerList(link);
    this.emit('peer', { peerId: link.peerId, nick: this.nickOf(link.peerId), state: 'up' });
  }

  /**
   * Peer exchange. The overlay sends it to neighbours only (not to the short-lived links of shuffles
   * and probes), with every address it knows: a shuffle brings ids, and a peer must reach them.
   */
  private sendPeerList(link: Link): void {
    const exchange = this.peerManager.exchangeList(this.membership !== undefined);
    void link.send({ t: 'peers', peers: exchange.filter((p) => p.peerId !== link.peerId) }).catch(() => undefined);
  }

  /**
   * A typing notice: shown if the typist is in a room we are in. In the mesh it came straight from
   * the typist; in the overlay it travels hop by hop, passed on once per typist and room a second.
   */
  private onTyping(link: Link, room: string, from: string): void {
    if (this.membership === undefined && from !== link.peerId) return;
    const key = `${from}|${room}`;
    const now = Date.now();
    if (from === this.peerId || now - (this.typingRelayed.get(key) ?? 0) < TYPING_RELAY_MS) return;
    if (this.typingRelayed.size > 10_000) this.typingRelayed.clear();
    this.typingRelayed.set(key, now);
    // (an unknown room id must not make the replica load, and keep, an empty timeline for it)
    if (!this.replica.hasRoom(room) || !this.replica.roomState(room).members.has(from)) return;
    if (this.isMember(room)) this.emit('typing', { room, peerId: from, nick: this.nickOf(from) });
    if (this.membership) this.sendToNeighbors({ t: 'typing', room, from }, link.peerId);
  }

  private sendToNeighbors(frame: Parameters<Link['send']>[0], except?: string): void {
    const links = this.peerManager.links().filter((l) => l.peerId !== except && (this.membership?.isNeighbor(l.peerId) ?? true));
    for (const link of links) void link.send(frame).catch(() => undefined);
  }

  // ---- helpers -----------------------------------------------------------

  nickOf(peerId: string): string {
    return this.replica.profiles.get(peerId)?.nick ?? this.peerManager.nickOf(peerId) ?? peerId.slice(0, 8);
  }

  private publishProfile(nick: string): void {
    this.replica.append('profile', null, { nick, dh: this.identity.dh.publicRaw });
    this.nick = nick;
    this.discovery?.setNick(nick);
  }

  /** Waits (bounded) until first dials are done and we hold what connected peers hold. */
  private async settle(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    // Just after start, with mDNS on and nobody found yet, peers may simply not have answered:
    // creating a room that exists would contest it (and void its moderation) for everyone.
    const discovering = () =>
      this.discovery !== undefined && !this.peerManager.links().length && Date.now() - this.startedAt < JOIN_SYNC_WAIT_MS;
    // linked, but no neighbour has said what it holds yet (the overlay is still making one of the links)
    const linkedNotSynced = () => this.peerManager.links().length > 0 && !this.sync.heardFromNeighbour();
    while (Date.now() < deadline && (discovering() || this.peerManager.firstDialsPending() || linkedNotSynced() || !this.sync.caughtUp())) {
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  /**
   * A room given as its id, or as a name that only one known room has. Several rooms may share a
   * name (each is its creator's): a name that fits more than one is refused with the candidates.
   */
  private resolveRoom(ref: string): string {
    if (isRoomId(ref)) {
      if (!this.replica.hasRoom(ref)) throw new ChattyError('not_found', `no known room ${ref}`);
      return ref;
    }
    const ids = this.replica.roomsNamed(ref);
    if (ids.length === 1) return ids[0]!;
    if (ids.length > 1) {
      throw new ChattyError('ambiguous', `${ids.length} rooms are called "${ref}": give the room's id`, {
        candidates: ids.map((id) => this.roomSummary(id)),
      });
    }
    throw new ChattyError('not_member', `there is no room "${ref}" you are in; join it first`);
  }

  /** What tells same-named rooms apart: id, name, owner (the creator) and size. */
  private roomSummary(id: string): { id: string; name: string; owner: Peer; members: number } {
    const state = this.replica.roomState(id);
    return { id, name: state.name ?? id, owner: this.ownerOf(state), members: state.members.size };
  }

  private ownerOf(state: RoomState): Peer {
    const peerId = state.creator ?? '';
    return { peerId, nick: this.nickOf(peerId) };
  }

  /** `#name` for messages to the user. */
  private label(room: string): string {
    return `#${this.replica.roomState(room).name ?? room}`;
  }

  private isMember(room: string): boolean {
    return this.replica.roomState(room).members.has(this.peerId);
  }

  /** Linked, announced by mDNS, or its presence heard through the overlay lately. */
  private isOnline(peerId: string): boolean {
    return peerId === this.peerId || this.peerManager.isPresent(peerId) || this.presence.statusOf(peerId) !== undefined;
  }

  private members(state: RoomState): Member[] {
    return [...state.members.keys()].map((peerId) => ({
      peerId,
      nick: this.nickOf(peerId),
      role: roleOf(state, peerId),
      online: this.isOnline(peerId),
      ...this.presenceOf(peerId),
    }));
  }

  /** Messages as clients see them: with their reactions, edits and deletes, and for our DMs whether they were seen. */
  private messages(rows: MessageRow[]): Message[] {
    const list = this.annotations.apply(rows.map((r) => this.messageOf(r)));
    // how far the other end of each DM conversation has read, looked up once per conversation
    const readUpTo = new Map<string, ReturnType<ReadMarkers['readUpTo']>>();
    rows.forEach((row, i) => {
      const m = list[i]!;
      if (row.type !== 'dm' || row.author !== this.peerId || !row.target || !('depth' in row) || m.deleted) return;
      if (!readUpTo.has(row.room!)) readUpTo.set(row.room!, this.markers.readUpTo(row.room!, row.target));
      m.seen = ReadMarkers.covers(readUpTo.get(row.room!), { depth: row.depth as number, id: row.id });
    });
    return list;
  }

  /** `mayCarryFile`: false when the event is at hand and carries none, sparing a lookup per message of a catch-up. */
  private messageOf(row: MessageRow, mayCarryFile = true): Message {
    const room = row.type === 'dm' ? null : row.room;
    const m: Message = {
      id: row.id,
      room,
      ...(room !== null ? { roomName: this.replica.roomState(room).name ?? room } : {}),
      from: { peerId: row.author, nick: row.nick ?? this.nickOf(row.author) },
      text: row.text ?? '',
      sentAt: row.ts,
    };
    if (row.type === 'dm' && row.target) m.to = { peerId: row.target, nick: this.nickOf(row.target) };
    if (row.reply_to) m.replyTo = row.reply_to;
    if (mayCarryFile && (row.type === 'msg' || row.type === 'dm')) {
      const file = this.files.info(row.id);
      if (file) m.file = file;
    }
    if (row.late) m.late = true;
    return m;
  }

  /** Resolves a peer given as a peer id or a unique nick. */
  private resolvePeer(ref: string, candidates?: Iterable<string>): string {
    if (this.replica.profiles.has(ref) || this.peerManager.isConnected(ref)) return ref;
    const pool = candidates ? [...candidates] : [...this.replica.profiles.keys()];
    const matches = pool.filter((id) => id === ref || this.nickOf(id) === ref);
    if (matches.length === 1) return matches[0]!;
    if (matches.length > 1) {
      throw new ChattyError('ambiguous', `several peers are called "${ref}"; use a peer id`, {
        candidates: matches.map((id) => ({ peerId: id, fingerprint: fingerprint(id) })),
      });
    }
    throw new ChattyError('unknown_peer', `no known peer "${ref}"`);
  }

  private requireMember(room: string): RoomState {
    const state = this.replica.roomState(room);
    if (state.banned.has(this.peerId)) throw new ChattyError('banned', `you are banned from ${this.label(room)}`);
    if (!state.members.has(this.peerId)) throw new ChattyError('not_member', `you are not in ${this.label(room)}; join it first`);
    return state;
  }

  /** Appends an event of ours and checks the room's rules accepted it. */
  /** Appends an event of ours to a room; its stored row (read once: a `send` turns it into its answer). */
  private appendChecked(type: EventType, room: string, body: Record<string, unknown>): EventRow {
    const ev = this.replica.append(type, room, body);
    const row = this.store.event(ev.id);
    if (row?.status !== EventStatus.Accepted) throw new ChattyError('forbidden', `the room's rules refused this ${type}`);
    return row;
  }

  // ---- control API ---------------------------------------------------------

  async whoami(): Promise<MethodResults['whoami']> {
    const { status, text, auto } = this.presence.mine;
    return {
      peerId: this.peerId,
      nick: this.nick,
      port: this.port,
      fingerprint: fingerprint(this.peerId),
      status,
      ...(text ? { statusText: text } : {}),
      ...(auto ? { statusAuto: true } : {}),
      readReceipts: this.markers.receipts,
    };
  }

  async setNick({ nick }: Params<'setNick'>): Promise<MethodResults['setNick']> {
    if (nick !== this.nick) this.publishProfile(nick);
    await this.replica.durable();
    return { peerId: this.peerId, nick: this.nick };
  }

  async peers(): Promise<MethodResults['peers']> {
    const listed = this.peerManager.list((id) => this.replica.profiles.get(id)?.nick);
    const seen = new Set(listed.map((p) => p.peerId));
    // Authors we only know from the replicated log (never connected directly) are peers too.
    for (const [peerId, p] of this.replica.profiles) {
      if (peerId === this.peerId || seen.has(peerId)) continue;
      listed.push({ peerId, nick: p.nick, connected: false, addresses: [], state: 'offline', fingerprint: fingerprint(peerId) });
    }
    return listed.filter((p) => p.peerId !== this.peerId).map((p) => ({ ...p, ...this.presenceOf(p.peerId) }));
  }

  async connect({ url }: Params<'connect'>): Promise<MethodResults['connect']> {
    try {
      // (in the overlay, a link the user asked for becomes a neighbour: see Membership.onLinkUp)
      return { peerId: await this.peerManager.connect(url) };
    } catch (err) {
      throw new ChattyError('unreachable', `cannot connect to ${url}: ${(err as Error).message}`);
    }
  }

  async rooms(): Promise<MethodResults['rooms']> {
    return this.replica.roomIds().map((id) => {
      const state = this.replica.roomState(id);
      return {
        id,
        room: id,
        name: state.name ?? id,
        owner: this.ownerOf(state),
        joined: state.members.has(this.peerId),
        private: state.private,
        members: this.members(state),
        banned: [...state.banned].map((peerId) => ({ peerId, nick: this.nickOf(peerId) })),
      };
    });
  }

  /**
   * The room `join` means: the id given, or among the rooms of that name the one we are in, else the
   * one with the most members (then the lowest id, so every peer picks alike); undefined if none.
   */
  private roomToJoin(ref: string): string | undefined {
    if (isRoomId(ref)) return this.replica.hasRoom(ref) ? ref : undefined;
    const ids = this.replica.roomsNamed(ref);
    const size = (id: string) => this.replica.roomState(id).members.size;
    return ids.find((id) => this.isMember(id)) ?? ids.sort((a, b) => size(b) - size(a) || (a < b ? -1 : 1))[0];
  }

  async join({ room: ref, private: invitesOnly }: Params<'join'>): Promise<MethodResults['join']> {
    let room = this.roomToJoin(ref);
    // Not known (yet), or several to choose from by size: first hold what the connected peers hold.
    if (room === undefined || (!isRoomId(ref) && !this.isMember(room) && this.replica.roomsNamed(ref).length > 1)) {
      await this.settle(JOIN_CATCHUP_WAIT_MS);
      room = this.roomToJoin(ref);
    }
    if (room === undefined) {
      if (isRoomId(ref)) throw new ChattyError('not_found', `no known room ${ref}`);
      room = this.createRoom(ref, invitesOnly === true);
      await this.replica.durable();
    }
    const state = this.replica.roomState(room);
    if (state.banned.has(this.peerId)) throw new ChattyError('banned', `you are banned from ${this.label(room)}`);
    if (!state.members.has(this.peerId) && state.members.size >= LIMITS.membersMax)
      throw new ChattyError('too_large', `${this.label(room)} is full`);
    if (state.private && !state.invited.has(this.peerId))
      throw new ChattyError('forbidden', `${this.label(room)} is invite-only: ask a member to invite you`);
    if (!state.members.has(this.peerId)) {
      this.appendChecked('join', room, { nick: this.nick });
      await this.replica.durable();
    }
    return {
      room,
      id: room,
      name: state.name ?? room,
      owner: this.ownerOf(state),
      members: this.members(state),
      history: this.messages(this.store.messages(room, { limit: LIMITS.historyMax })),
    };
  }

  /** Founds a room named `name`, owned by us for good; an invite-only one starts with a key of ours alone. */
  private createRoom(name: string, invitesOnly: boolean): string {
    if (this.replica.roomIds().length >= LIMITS.roomsMax) {
      throw new ChattyError('too_large', `this network already has ${LIMITS.roomsMax} rooms; join an existing one`);
    }
    const epoch = invitesOnly ? RoomKeys.newEpoch() : undefined;
    const ev = this.replica.append('create', null, { name, nick: this.nick, ...(epoch ? { private: true, epoch } : {}) });
    const room = roomIdOf(ev.id);
    // (a crash before this line leaves the room without our key: the key repair then makes a new one)
    if (epoch) this.replica.roomKeys.create(room, epoch);
    return room;
  }

  async invite({ room: ref, peer }: Params<'invite'>): Promise<MethodResults['invite']> {
    const { room, state, target } = this.moderationTarget(ref, peer, 'known');
    if (!state.private) throw new ChattyError('forbidden', `${this.label(room)} is open to everyone; invites are for invite-only rooms`);
    if (roleOf(state, this.peerId) === 'member')
      throw new ChattyError('forbidden', `only owners and moderators may invite to ${this.label(room)}`);
    if (state.banned.has(target)) throw new ChattyError('banned', `${peer} is banned from ${this.label(room)}; unban first`);
    const keys = this.sealedKeysFor(room, target);
    if (!keys.length) throw new ChattyError('unknown_peer', `no key known yet for ${peer}; wait until it has been online`);
    this.appendChecked('invite', room, { target, keys });
    await this.replica.durable();
    return {};
  }

  /** A new key for an invite-only room, for its members and invitees only, so a removed peer reads nothing new. */
  private rekey(room: string): void {
    const state = this.replica.roomState(room);
    if (!state.private) return;
    const epoch = this.replica.roomKeys.create(room);
    const keys = [...entitledReaders(state)]
      .filter((p) => p !== this.peerId)
      .flatMap((target) => {
        const sealed = this.replica.roomKeys.sealFor(room, epoch, target);
        return sealed ? [{ target, ...sealed }] : [];
      });
    this.appendChecked('rekey', room, { epoch, keys });
  }

  /** Every key of the room we hold, sealed for `target` (an invitee reads the history too). */
  private sealedKeysFor(room: string, target: string): { epoch: string; iv: string; ct: string }[] {
    return this.replica.roomKeys.epochs(room).flatMap((epoch) => {
      const sealed = this.replica.roomKeys.sealFor(room, epoch, target);
      return sealed ? [{ epoch, ...sealed }] : [];
    });
  }

  /** Re-checks the invite-only rooms' keys soon; debounced, since catch-up delivers many events at once. */
  private scheduleKeyRepair(): void {
    if (this.keyRepairTimer || this.closing) return;
    this.keyRepairTimer = setTimeout(() => {
      this.keyRepairTimer = undefined;
      // Acting on a partial picture would rotate keys for nothing: wait until caught up, but not
      // forever (a peer that never tells what it holds must not hold the repair back).
      if (!this.sync.caughtUp() && ++this.keyRepairWaits < KEY_REPAIR_MAX_WAITS) return this.scheduleKeyRepair();
      this.keyRepairWaits = 0;
      for (const room of this.replica.roomIds()) this.repairRoomKeys(room);
    }, KEY_REPAIR_DELAY_MS);
    this.keyRepairTimer.unref();
  }

  /**
   * A moderator keeps an invite-only room's key where its events say it belongs. Someone who may
   * no longer read holds the current key (a leave, a crash between a kick and its rekey, a rekey
   * that lost a race to another), or we lack it: a new key. Members or invitees missed it (a rekey
   * made before their invite or their profile arrived): it is re-sent to them in an `invite`.
   */
  private repairRoomKeys(room: string, urgent = false): void {
    const state = this.replica.roomState(room);
    if (!state.private || !state.epoch || !state.members.has(this.peerId) || roleOf(state, this.peerId) === 'member') return;
    const readers = entitledReaders(state);
    try {
      const leaked = [...state.keyed].some((p) => !readers.has(p));
      if (leaked || !this.replica.roomKeys.has(room, state.epoch)) {
        const last = this.lastRepairRekey.get(room) ?? 0;
        if (!urgent && Date.now() - last < KEY_REPAIR_REKEY_GAP_MS) return this.scheduleKeyRepair();
        this.lastRepairRekey.set(room, Date.now());
        this.log.info({ room, leaked }, 'rotating the key of an invite-only room');
        return this.rekey(room);
      }
      for (const target of readers) {
        if (target === this.peerId || state.keyed.has(target)) continue;
        const keys = this.sealedKeysFor(room, target);
        if (keys.some((k) => k.epoch === state.epoch)) this.appendChecked('invite', room, { target, keys });
      }
    } catch (err) {
      this.log.warn({ room, err: (err as Error).message }, 'could not repair the keys of an invite-only room');
    }
  }

  async leave({ room: ref }: Params<'leave'>): Promise<MethodResults['leave']> {
    const room = this.resolveRoom(ref);
    this.requireMember(room);
    this.appendChecked('leave', room, {});
    await this.replica.durable();
    return { room };
  }

  // No await before the append: `chatty --json` pipelines these (see PIPELINED in stdio-rpc.ts).
  async send({ room: ref, text, replyTo }: Params<'send'>): Promise<MethodResults['send']> {
    const room = this.resolveRoom(ref);
    this.requireMember(room);
    if (replyTo !== undefined && this.store.event(replyTo)?.room !== room)
      throw new ChattyError('not_found', `no message ${replyTo} in ${this.label(room)}`);
    const content = this.sealedFor(room, 'text', text);
    const message = this.messageOf(this.appendChecked('msg', room, { nick: this.nick, ...content, ...(replyTo ? { replyTo } : {}) }));
    await this.replica.durable();
    return message;
  }

  // ---- conversations: reactions, edits, deletes, read markers, presence ------------------------

  async react({ message, emoji }: Params<'react'>): Promise<MethodResults['react']> {
    return this.toggleReaction(message, emoji, true);
  }

  async unreact({ message, emoji }: Params<'unreact'>): Promise<MethodResults['unreact']> {
    return this.toggleReaction(message, emoji, false);
  }

  /** Reacting twice (or taking back what is not there) changes nothing and costs no event. */
  private async toggleReaction(id: string, emoji: string, on: boolean): Promise<Message> {
    const { row, message } = this.annotatable(id);
    if (message.deleted) throw new ChattyError('forbidden', 'this message was deleted');
    if (this.annotations.hasMine(message, emoji) === on) return message;
    return this.annotate(on ? 'react' : 'unreact', row, this.sealedFor(row.room!, 'emoji', emoji));
  }

  async edit({ message: id, text }: Params<'edit'>): Promise<MethodResults['edit']> {
    const { row, message } = this.annotatable(id);
    if (row.author !== this.peerId) throw new ChattyError('forbidden', 'only its author may edit a message');
    if (message.deleted) throw new ChattyError('forbidden', 'this message was deleted');
    if (text === message.text) return message;
    return this.annotate('edit', row, this.sealedFor(row.room!, 'text', text));
  }

  async delete({ message: id }: Params<'delete'>): Promise<MethodResults['delete']> {
    const { row, message } = this.annotatable(id);
    if (message.deleted) return message;
    const room = row.room!;
    const allowed =
      row.author === this.peerId || (!room.startsWith('@') && canModerate(this.replica.roomState(room), this.peerId, row.author));
    if (!allowed)
      throw new ChattyError('forbidden', `only its author${room.startsWith('@') ? '' : " or the room's moderators"} may delete it`);
    return this.annotate('delete', row, {});
  }

  async editHistory({ message: id }: Params<'editHistory'>): Promise<MethodResults['editHistory']> {
    const { row, message } = this.annotatable(id, false);
    return this.annotations.versions(message, row.text ?? '');
  }

  async message({ id }: Params<'message'>): Promise<MethodResults['message']> {
    return this.annotatable(id, false).message;
  }

  /** A message this peer can read and may annotate: of a room it is in, or of one of its DMs. */
  private annotatable(id: string, write = true): { row: EventRow; message: Message } {
    const row = this.store.event(id);
    const readable = row && row.status === EventStatus.Accepted && (row.type === 'msg' || row.type === 'dm') && row.text !== null;
    const mine = readable && (row.type === 'dm' ? row.room!.includes(this.peerId) : true);
    if (!row || !readable || !mine) throw new ChattyError('not_found', `no message ${id}`);
    if (row.type === 'msg') {
      if (write) this.requireMember(row.room!);
      else if (!this.isMember(row.room!)) throw new ChattyError('not_member', `you are not in ${this.label(row.room!)}`);
    }
    return { row, message: this.messages([row])[0]! };
  }

  /** A text, a reaction's emoji or an edit's text, as the conversation wants it: clear, sealed under the room key, or for the DM's other end. */
  private sealedFor(conversation: string, key: 'emoji' | 'text', value: string): Record<string, unknown> {
    if (conversation.startsWith('@')) {
      const other = dmOtherEnd(conversation, this.peerId)!;
      const dh = this.replica.dhKeyOf(other);
      if (!dh) throw new ChattyError('unknown_peer', 'no key known for the other side of this conversation');
      return { to: other, ...encryptDm(this.identity.dh.privateKey, dh, conversation, value) };
    }
    if (!this.replica.roomState(conversation).private) return { [key]: value };
    const epoch = this.roomKeyOf(conversation);
    const sealed = epoch ? this.replica.roomKeys.sealText(conversation, epoch, value) : undefined;
    if (!sealed) throw new ChattyError('forbidden', `no key for ${this.label(conversation)} yet: wait for the invite to arrive`);
    return { epoch, ...sealed };
  }

  /** Appends an annotation of a message (checked by the rules like every event) and returns the message as it is now. */
  private async annotate(type: 'react' | 'unreact' | 'edit' | 'delete', row: EventRow, content: Record<string, unknown>): Promise<Message> {
    const room = row.room!;
    const body = { message: row.id, ...content };
    if (room.startsWith('@')) {
      const ev = this.replica.append(type, room, body);
      if (this.store.event(ev.id)?.status !== EventStatus.Accepted) throw new ChattyError('forbidden', `this ${type} was refused`);
    } else this.appendChecked(type, room, body);
    const [message] = this.messages([this.store.event(row.id)!]);
    await this.replica.durable();
    return message!;
  }

  async setStatus({ status, text, auto }: Params<'setStatus'>): Promise<MethodResults['setStatus']> {
    this.presence.set(status, text, auto);
    const mine = this.presence.mine;
    return { status: mine.status, ...(mine.text ? { statusText: mine.text } : {}), ...(mine.auto ? { auto: true } : {}) };
  }

  async markRead({ room: ref, peer, message }: Params<'markRead'>): Promise<MethodResults['markRead']> {
    let conversation: string;
    if (ref !== undefined) {
      conversation = this.resolveRoom(ref);
      if (!this.isMember(conversation)) throw new ChattyError('not_member', `you are not in ${this.label(conversation)}`);
    } else conversation = dmConversation(this.peerId, this.resolvePeer(peer!));
    const row = this.store.event(message);
    if (!row || row.room !== conversation) throw new ChattyError('not_found', `no message ${message} in this conversation`);
    if (this.markers.move(conversation, row)) {
      // the other end of a DM learns how far we read (a read receipt), once per step forward
      if (conversation.startsWith('@') && row.status === EventStatus.Accepted && this.markers.receiptDue(conversation, row)) {
        this.replica.append('read', conversation, { message: row.id });
        await this.replica.durable();
      }
      this.emit('read', this.readMarker(conversation));
    }
    return this.readMarker(conversation);
  }

  async readMarkers(): Promise<MethodResults['readMarkers']> {
    const rooms = this.replica.roomIds().filter((r) => this.isMember(r));
    return [...rooms, ...this.store.dmConversations(this.peerId)].map((c) => this.readMarker(c));
  }

  async setReadReceipts({ enabled }: Params<'setReadReceipts'>): Promise<MethodResults['setReadReceipts']> {
    this.markers.receipts = enabled;
    return { enabled };
  }

  private readMarker(conversation: string): MethodResults['markRead'] {
    const message = this.markers.marker(conversation);
    const where = conversation.startsWith('@') ? { peer: dmOtherEnd(conversation, this.peerId)! } : { room: conversation };
    return { ...where, ...(message ? { message } : {}), ...this.markers.counts(conversation, this.nick) };
  }

  async history({ room: ref, limit, before }: Params<'history'>): Promise<MethodResults['history']> {
    // A name no room has (yet: it may still be on its way) has no history, as a script polling it expects.
    if (!isRoomId(ref) && !this.replica.roomsNamed(ref).length) return [];
    const room = this.resolveRoom(ref);
    return this.messages(this.store.messages(room, { limit, before: this.pagingKey(room, before) }));
  }

  // No await before the append: `chatty --json` pipelines these (see PIPELINED in stdio-rpc.ts).
  async dm({ to, text, replyTo }: Params<'dm'>): Promise<MethodResults['dm']> {
    const peerId = this.resolvePeer(to);
    if (peerId === this.peerId) throw new ChattyError('unknown_peer', 'cannot send a direct message to yourself');
    const dh = this.replica.dhKeyOf(peerId);
    if (!dh) throw new ChattyError('unknown_peer', `no key known yet for ${to}; wait until it has been online`);
    const conversation = dmConversation(this.peerId, peerId);
    if (replyTo !== undefined && this.store.event(replyTo)?.room !== conversation)
      throw new ChattyError('not_found', `no message ${replyTo} in your conversation with ${to}`);
    const sealed = encryptDm(this.identity.dh.privateKey, dh, conversation, text);
    const ev = this.replica.append('dm', conversation, { nick: this.nick, to: peerId, ...sealed, ...(replyTo ? { replyTo } : {}) });
    const message = this.messageOf(this.store.event(ev.id)!);
    await this.replica.durable();
    return message;
  }

  async dmHistory({ peer, limit, before }: Params<'dmHistory'>): Promise<MethodResults['dmHistory']> {
    const conversation = dmConversation(this.peerId, this.resolvePeer(peer));
    return this.messages(this.store.messages(conversation, { limit, before: this.pagingKey(conversation, before) }));
  }

  /** Where a page of history ends: the message `before`, which must be of that conversation. */
  private pagingKey(conversation: string, before: string | undefined): { depth: number; id: string } | undefined {
    if (before === undefined) return undefined;
    const row = this.store.event(before);
    if (!row || row.room !== conversation) throw new ChattyError('not_found', `no message ${before} in this conversation`);
    return { depth: row.depth, id: row.id };
  }

  async sendFile({ room: ref, to, path, text }: Params<'sendFile'>): Promise<MethodResults['sendFile']> {
    const full = resolvePath(path);
    if (ref !== undefined) {
      const room = this.resolveRoom(ref);
      this.requireMember(room);
      const sealed = this.replica.roomState(room).private;
      if (sealed && !this.roomKeyOf(room))
        throw new ChattyError('forbidden', `no key for ${this.label(room)} yet: wait for the invite to arrive`);
      const manifest = await this.files.share(full, sealed);
      // hashing took a while: the room may have changed meanwhile
      const state = this.requireMember(room);
      let body: Record<string, unknown>;
      if (state.private) {
        if (!manifest.key) throw new ChattyError('forbidden', `no key for ${this.label(room)} yet: wait for the invite to arrive`);
        body = { nick: this.nick, ...this.sealedFor(room, 'text', this.attachmentContent(text, manifest)), attachment: true };
      } else {
        if (manifest.key) throw new ChattyError('forbidden', `${this.label(room)} became open while the file was prepared; send it again`);
        body = { nick: this.nick, ...(text ? { text } : {}), file: manifest };
      }
      this.checkEventSize(body);
      const message = this.messageOf(this.appendChecked('msg', room, body));
      await this.replica.durable();
      return message;
    }
    const peerId = this.resolvePeer(to!);
    if (peerId === this.peerId) throw new ChattyError('unknown_peer', 'cannot send a direct message to yourself');
    const dh = this.replica.dhKeyOf(peerId);
    if (!dh) throw new ChattyError('unknown_peer', `no key known yet for ${to}; wait until it has been online`);
    const manifest = await this.files.share(full, true);
    const conversation = dmConversation(this.peerId, peerId);
    const sealed = encryptDm(this.identity.dh.privateKey, dh, conversation, this.attachmentContent(text, manifest));
    const body = { nick: this.nick, to: peerId, ...sealed, attachment: true };
    this.checkEventSize(body);
    const ev = this.replica.append('dm', conversation, body);
    const message = this.messageOf(this.store.event(ev.id)!);
    await this.replica.durable();
    return message;
  }

  async download({ file, path }: Params<'download'>): Promise<MethodResults['download']> {
    return this.files.download(file, path === undefined ? undefined : resolvePath(path));
  }

  async cancelTransfer({ file }: Params<'cancelTransfer'>): Promise<MethodResults['cancelTransfer']> {
    return this.files.cancel(file);
  }

  /** The epoch of an invite-only room's current key, if we hold it. */
  private roomKeyOf(room: string): string | undefined {
    const epoch = this.replica.roomState(room).epoch;
    return epoch && this.replica.roomKeys.has(room, epoch) ? epoch : undefined;
  }

  /** What a sealed message with a file holds: its text and the manifest with the file's key. */
  private attachmentContent(text: string | undefined, file: FileManifest): string {
    return JSON.stringify({ ...(text ? { text } : {}), file });
  }

  /** A manifest, a thumbnail and a long text may not fit one event together: say so rather than make one peers refuse. */
  private checkEventSize(body: Record<string, unknown>): void {
    const size = Buffer.byteLength(JSON.stringify(body)) + EVENT_ENVELOPE_BYTES;
    if (size > WIRE_LIMITS.maxEventBytes)
      throw new ChattyError('too_large', 'this text is too long to go with a file in one message: send it as a message of its own', {
        size,
        max: WIRE_LIMITS.maxEventBytes,
      });
  }

  private moderationTarget(
    ref: string,
    peer: string,
    pool: 'members' | 'banned' | 'known',
  ): { room: string; state: RoomState; target: string } {
    const room = this.resolveRoom(ref);
    const state = this.requireMember(room);
    const candidates = pool === 'members' ? state.members.keys() : pool === 'banned' ? state.banned : undefined;
    const target = this.resolvePeer(peer, candidates);
    return { room, state, target };
  }

  async kick({ room: ref, peer, reason }: Params<'kick'>): Promise<MethodResults['kick']> {
    const { room, state, target } = this.moderationTarget(ref, peer, 'members');
    if (!state.members.has(target)) throw new ChattyError('not_member', `${peer} is not in ${this.label(room)}`);
    if (!canModerate(state, this.peerId, target)) throw new ChattyError('forbidden', `you may not kick ${peer} from ${this.label(room)}`);
    this.appendChecked('kick', room, { target, ...(reason ? { reason } : {}) });
    this.rekey(room);
    await this.replica.durable();
    return {};
  }

  async ban({ room: ref, peer, reason }: Params<'ban'>): Promise<MethodResults['ban']> {
    const { room, state, target } = this.moderationTarget(ref, peer, 'known');
    if (!canModerate(state, this.peerId, target)) throw new ChattyError('forbidden', `you may not ban ${peer} from ${this.label(room)}`);
    this.appendChecked('ban', room, { target, ...(reason ? { reason } : {}) });
    this.rekey(room);
    await this.replica.durable();
    return {};
  }

  async unban({ room: ref, peer, reason }: Params<'unban'>): Promise<MethodResults['unban']> {
    const { room, state, target } = this.moderationTarget(ref, peer, 'banned');
    if (roleOf(state, this.peerId) === 'member')
      throw new ChattyError('forbidden', `only owners and moderators may unban in ${this.label(room)}`);
    if (!state.banned.has(target)) throw new ChattyError('not_found', `${peer} is not banned from ${this.label(room)}`);
    this.appendChecked('unban', room, { target, ...(reason ? { reason } : {}) });
    await this.replica.durable();
    return {};
  }

  async setRole({ room: ref, peer, role }: Params<'setRole'>): Promise<MethodResults['setRole']> {
    const { room, state, target } = this.moderationTarget(ref, peer, 'known');
    if (roleOf(state, this.peerId) !== 'owner') throw new ChattyError('forbidden', `only owners may change roles in ${this.label(room)}`);
    if (target === this.peerId) throw new ChattyError('forbidden', 'owners cannot change their own role');
    if (target === state.creator) throw new ChattyError('forbidden', `${peer} created ${this.label(room)} and stays its owner`);
    this.appendChecked('role', room, { target, role });
    await this.replica.durable();
    return {};
  }

  async typing({ room: ref }: Params<'typing'>): Promise<MethodResults['typing']> {
    const room = this.resolveRoom(ref);
    this.requireMember(room);
    this.sendToNeighbors({ t: 'typing', room, from: this.peerId });
    return {};
  }

  async search({ query, room: ref, limit }: Params<'search'>): Promise<MethodResults['search']> {
    const room = ref !== undefined ? this.resolveRoom(ref) : undefined;
    const rooms = room !== undefined ? [room] : this.replica.roomIds().filter((r) => this.isMember(r));
    if (room === undefined) for (const p of this.replica.profiles.keys()) if (p !== this.peerId) rooms.push(dmConversation(this.peerId, p));
    if (room !== undefined && !this.isMember(room)) throw new ChattyError('not_member', `you are not in ${this.label(room)}`);
    // an edit's hit stands for its message, as it reads now (the text may have been edited away)
    const ids = [...new Set(this.store.search(query, rooms, limit ?? 50).map((r) => (r.type === 'edit' ? r.target! : r.id)))];
    const rows = ids.flatMap((id) => {
      const row = this.store.event(id);
      return row && row.status === EventStatus.Accepted && row.text !== null ? [row] : [];
    });
    const needle = query.toLowerCase();
    return this.messages(rows).filter((m) => !m.deleted && m.text.toLowerCase().includes(needle));
  }

  async stats(): Promise<MethodResults['stats']> {
    const t = this.transport.traffic;
    return {
      links: this.peerManager.links().length,
      frames: { sent: t.framesSent, received: t.framesReceived },
      bytes: { sent: t.bytesSent, received: t.bytesReceived },
      events: { ...this.sync.counts },
    };
  }

  async shutdown(): Promise<MethodResults['shutdown']> {
    // Answer first, then stop: the caller gets its reply before the process exits.
    setImmediate(() => this.emitter.emit('shutdown'));
    return {};
  }

  /** Called by the host when `shutdown` was requested. */
  onShutdownRequest(listener: () => void): void {
    this.emitter.once('shutdown', listener);
  }

  /** Stops discovery (sending mDNS goodbyes), links and storage. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      clearInterval(this.scanTimer);
      clearTimeout(this.keyRepairTimer);
      this.reclaimer.close();
      this.peerManager.close();
      this.membership?.close();
      this.tree?.close();
      await this.files.close();
      this.sync.close();
      await this.discovery?.stop().catch(() => undefined);
      await this.transport.close();
      this.store.close();
      this.log.info('peer stopped');
    })();
    return this.closing;
  }
}

const MEMBER_CHANGE: Partial<Record<EventType, MemberChange>> = {
  create: 'joined',
  join: 'joined',
  leave: 'left',
  kick: 'kicked',
  ban: 'banned',
  unban: 'unbanned',
  role: 'role',
  invite: 'invited',
};

/** The columns a `Message` is made of. */
type MessageRow = Pick<EventRow, 'id' | 'type' | 'room' | 'author' | 'nick' | 'text' | 'ts' | 'target' | 'reply_to' | 'late'>;

/** Does a message carry a file: in the clear (`file`), or sealed with its text (`attachment`)? */
function carriesFile(ev: SignedEvent): boolean {
  return ev.body.file !== undefined || ev.body.attachment === true;
}

/** What the store holds for a delivered event, from memory: notifications need no read back. */
function deliveredRow(d: Delivery, text: string): MessageRow {
  const { id, type, room, author, ts } = d.event;
  return { id, type, room, author, ts, text, ...bodyColumns(d.event), late: d.late ? 1 : 0 };
}

function defaultNick(): string {
  try {
    return userInfo().username.slice(0, LIMITS.nickMax) || 'anonymous';
  } catch {
    return 'anonymous';
  }
}
