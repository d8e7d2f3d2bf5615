/**
 * Peer links over WebSockets (`ws`): one server per peer, outgoing dials, and
 * a handshake that proves each side holds the key its peer id names and
 * agrees on ephemeral session keys; after it, every frame is encrypted and
 * authenticated (LinkCipher). Every frame is size-limited, decrypted, parsed
 * and schema-checked before anyone sees it; a peer that breaks the protocol
 * gets an `error` frame and is disconnected.
 */
import { EventEmitter } from 'node:events';
import { readFileSync, unwatchFile, watchFile } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import {
  chunkHeaderSchema,
  DATA_FRAME_TAG,
  frameSchema,
  PROTOCOL_VERSION,
  WIRE_LIMITS,
  type ChunkHeader,
  type Frame,
} from '../shared/wire.js';
import { generateKeyPair, LinkCipher, randomToken, signBytes, verifyBytes } from './crypto.js';
import type { Identity } from './identity.js';
import type { Logger } from './log.js';

export const TRANSPORT_LIMITS = {
  handshakeMs: 5000,
  /** Keep-alive ping period; a link silent for `deadAfterMs` is considered dead. */
  pingMs: 2000,
  deadAfterMs: 6000,
  maxLinks: 64,
  /** Token bucket per link: sustained frames/s and burst. */
  framesPerSecond: 500,
  frameBurst: 2000,
  /** A peer disconnected for misbehaving is refused for this long, doubling on each repeat. */
  penaltyMs: 30_000,
  maxPenaltyMs: 30 * 60_000,
  /** An address that fails this many handshakes within a minute is refused for `penaltyMs`. */
  failedHandshakesPerMinute: 30,
} as const;

/** What each side signs: the other's fresh nonce (no replay), both ids and both ephemeral keys (no man in the middle). */
function authPayload(nonce: string, signer: string, verifier: string, signerEph: string, verifierEph: string): Buffer {
  return Buffer.from(`chatty-auth-v${PROTOCOL_VERSION}|${nonce}|${signer}|${verifier}|${signerEph}|${verifierEph}`);
}

/** A closed link's reason, for the peer list and logs. */
export class LinkError extends Error {
  constructor(
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

export interface LinkEvents {
  /**
   * A JSON frame, and the bytes it was parsed from. Sync moves an `events` frame's bytes to the
   * worker that checks its events (see event-checker.ts): no other listener may keep them.
   */
  frame: [Exclude<Frame, { t: 'hello' | 'auth' }>, Buffer];
  /** A binary chunk frame: its header and the chunk's bytes. */
  data: [ChunkHeader, Buffer];
  close: [string];
}

/** An authenticated connection to one peer. */
/** Frames and bytes through this peer's established links since start (what the `stats` method reports). */
export interface Traffic {
  framesSent: number;
  framesReceived: number;
  bytesSent: number;
  bytesReceived: number;
}

export class Link extends EventEmitter<LinkEvents> {
  peerId = '';
  nick = '';
  /** The port the peer listens on (from its hello), to dial it back later. */
  listenPort = 0;
  private tokens: number = TRANSPORT_LIMITS.frameBurst;
  private lastRefill = Date.now();
  private lastSeen = Date.now();
  private pinger?: NodeJS.Timeout;
  closed = false;
  /** Set once the handshake succeeded: from then on every frame is sealed. */
  cipher?: LinkCipher;
  /** Why we dropped this peer, if it was for breaking the protocol. */
  failure?: string;
  /** The transport's counters, shared by its links once established. */
  traffic?: Traffic;

  constructor(
    readonly ws: WebSocket,
    readonly outbound: boolean,
    readonly remoteAddress: string,
    private readonly log: Logger,
  ) {
    super();
  }

  /** URL this peer can be dialled at, as seen from here. */
  get url(): string {
    const host = this.remoteAddress.includes(':') ? `[${this.remoteAddress}]` : this.remoteAddress;
    return `ws://${host}:${this.listenPort}`;
  }

  get bufferedAmount(): number {
    return this.ws.bufferedAmount;
  }

  send(frame: Frame): Promise<void> {
    return this.sendRaw(JSON.stringify(frame));
  }

  /** Sends a serialized frame; resolves once it was handed to the socket (backpressure point). */
  sendRaw(text: string): Promise<void> {
    if (this.closed || this.ws.readyState !== WebSocket.OPEN || !this.cipher)
      return Promise.reject(new LinkError('closed', 'link is closed'));
    const sealed = this.cipher.seal(text);
    if (this.traffic) {
      this.traffic.framesSent++;
      this.traffic.bytesSent += sealed.length;
    }
    return new Promise((resolve, reject) => this.ws.send(sealed, (err) => (err ? reject(err) : resolve())));
  }

  /**
   * Sends a binary data frame (a file's chunk): the bytes are sealed as they are, never turned into
   * JSON or base64. Resolves once the socket took it; `bufferedAmount` tells the sender to pause.
   */
  sendData(header: ChunkHeader, payload: Buffer): Promise<void> {
    if (this.closed || this.ws.readyState !== WebSocket.OPEN || !this.cipher)
      return Promise.reject(new LinkError('closed', 'link is closed'));
    const head = Buffer.from(JSON.stringify(header));
    const prefix = Buffer.alloc(5);
    prefix[0] = DATA_FRAME_TAG;
    prefix.writeUInt32BE(head.length, 1);
    const sealed = this.cipher.seal([prefix, head, payload]);
    if (this.traffic) {
      this.traffic.framesSent++;
      this.traffic.bytesSent += sealed.length;
    }
    return new Promise((resolve, reject) => this.ws.send(sealed, (err) => (err ? reject(err) : resolve())));
  }

  /** Sends an error frame, then closes: the peer learns why. */
  fail(reason: string, message: string): void {
    if (this.closed) return;
    this.failure = reason;
    this.log.warn({ peer: this.peerId || this.remoteAddress, reason }, message);
    if (this.ws.readyState === WebSocket.OPEN) {
      const text = JSON.stringify({ t: 'error', reason, message: message.slice(0, 500) });
      this.ws.send(this.cipher ? this.cipher.seal(text) : text);
    }
    this.close(`${reason}: ${message}`, 4000);
  }

  close(reason = 'closed', code = 1000): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.pinger);
    try {
      this.ws.close(code, reason.slice(0, 120));
    } catch {
      this.ws.terminate();
    }
    // A peer that never answers the close handshake must not hold the socket.
    setTimeout(() => this.ws.terminate(), 1000).unref();
    this.emit('close', reason);
  }

  /** Rate limit: returns false when the peer exceeds its frame budget. */
  takeToken(): boolean {
    const now = Date.now();
    this.tokens = Math.min(TRANSPORT_LIMITS.frameBurst, this.tokens + ((now - this.lastRefill) / 1000) * TRANSPORT_LIMITS.framesPerSecond);
    this.lastRefill = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  startKeepAlive(): void {
    this.ws.on('pong', () => (this.lastSeen = Date.now()));
    this.pinger = setInterval(() => {
      // while we do not read (`pause`), the silence is ours
      if (!this.ws.isPaused && Date.now() - this.lastSeen > TRANSPORT_LIMITS.deadAfterMs) {
        this.log.info({ peer: this.peerId }, 'peer stopped answering keep-alives');
        this.ws.terminate();
        this.close('keep-alive timeout');
        return;
      }
      if (this.ws.readyState === WebSocket.OPEN) this.ws.ping();
    }, TRANSPORT_LIMITS.pingMs);
    this.pinger.unref();
  }

  touch(): void {
    this.lastSeen = Date.now();
  }

  /**
   * Stops reading from the socket: what the peer sends meanwhile waits in TCP, and its sends wait
   * for the window (its backpressure). A receiver that is behind then holds no more than it can
   * handle, instead of a whole catch-up parsed in memory. Keep pauses short: the peer's keep-alive
   * pings are not answered while paused.
   */
  pause(): void {
    if (!this.closed) this.ws.pause();
  }

  resume(): void {
    if (this.closed || !this.ws.isPaused) return;
    this.ws.resume();
    this.touch(); // our own silence, not the peer's
  }
}

export interface TransportOptions {
  identity: Identity;
  nick: () => string;
  port: number;
  host?: string;
  log: Logger;
}

export interface TransportEvents {
  link: [Link];
}

export class Transport extends EventEmitter<TransportEvents> {
  private server?: WebSocketServer;
  private readonly links = new Set<Link>();
  /** Misbehaving peers: refused until `until`. */
  private readonly penalties = new Map<string, { until: number; ms: number }>();
  private handshaking = 0;
  /** Failed inbound handshakes per remote address, over the current minute. */
  private readonly failedHandshakes = new Map<string, { count: number; since: number; blockedUntil: number }>();
  port = 0;
  readonly traffic: Traffic = { framesSent: 0, framesReceived: 0, bytesSent: 0, bytesReceived: 0 };

  constructor(private readonly opts: TransportOptions) {
    super();
    const partitionFile = process.env.CHATTY_TEST_PARTITION_FILE;
    if (partitionFile) this.followPartitionFile(partitionFile);
  }

  /**
   * Fault injection for tests on machines without network namespaces: the file lists peer ids
   * this peer must act as if it could not reach (a partition done inside the transport).
   */
  private blocked = new Set<string>();
  private followPartitionFile(file: string): void {
    const load = () => {
      try {
        this.blocked = new Set(JSON.parse(readFileSync(file, 'utf8')) as string[]);
      } catch {
        this.blocked = new Set();
      }
      for (const link of this.links) if (this.blocked.has(link.peerId)) link.close('partitioned');
    };
    load();
    watchFile(file, { interval: 100 }, load);
    this.unwatch = () => unwatchFile(file);
  }
  private unwatch?: () => void;

  /** Listens on the given port; if it is taken, falls back to a free one (several peers on one machine). */
  async listen(): Promise<number> {
    const tryListen = (port: number) =>
      new Promise<WebSocketServer>((resolve, reject) => {
        const server = new WebSocketServer({
          port,
          host: this.opts.host,
          maxPayload: WIRE_LIMITS.maxDataFrameBytes,
          perMessageDeflate: false,
        });
        server.once('listening', () => resolve(server));
        server.once('error', reject);
      });
    try {
      this.server = await tryListen(this.opts.port);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || this.opts.port === 0) throw err;
      this.opts.log.warn({ port: this.opts.port }, 'port in use, listening on a free port instead');
      this.server = await tryListen(0);
    }
    this.server.on('error', (err) => this.opts.log.error({ err }, 'peer server error'));
    this.server.on('connection', (ws, req) => {
      // half-open handshakes count too: a slow-handshake flood must not exhaust the peer
      if (this.links.size + this.handshaking >= TRANSPORT_LIMITS.maxLinks) {
        ws.close(1013, 'too many connections');
        return;
      }
      const addr = (req.socket.remoteAddress ?? '').replace(/^::ffff:/, '');
      const failures = this.failedHandshakes.get(addr);
      if (failures && failures.blockedUntil > Date.now()) {
        ws.close(1008, 'too many failed handshakes; try again later');
        return;
      }
      this.handshaking++;
      this.handshake(new Link(ws, false, addr, this.opts.log))
        .catch(() => this.noteFailedHandshake(addr))
        .finally(() => this.handshaking--);
    });
    this.port = (this.server.address() as AddressInfo).port;
    return this.port;
  }

  /** Dials a peer and completes the handshake; rejects with a LinkError saying why not. */
  dial(url: string, expectedPeerId?: string): Promise<Link> {
    const ws = new WebSocket(url, {
      maxPayload: WIRE_LIMITS.maxDataFrameBytes,
      // A zero mask, which ws then skips applying. Masking (RFC 6455) keeps a client's chosen bytes
      // from poisoning proxies' caches; it hides nothing (the key travels with each frame), every
      // frame after the handshake is sealed anyway, and masking in JavaScript cost a dialler 11 % of
      // its time while serving a file.
      generateMask: (mask: Buffer) => void mask.fill(0),
      handshakeTimeout: TRANSPORT_LIMITS.handshakeMs,
      perMessageDeflate: false,
    });
    const host = new URL(url).hostname.replace(/^\[|\]$/g, '');
    const link = new Link(ws, true, host, this.opts.log);
    return new Promise((resolve, reject) => {
      ws.once('error', (err) => reject(new LinkError('unreachable', err.message)));
      ws.once('open', () => {
        this.handshake(link, expectedPeerId).then(resolve, reject);
      });
    });
  }

  private handshake(link: Link, expectedPeerId?: string): Promise<Link> {
    const { identity } = this.opts;
    const ws = link.ws;
    const myNonce = randomToken();
    const eph = generateKeyPair('x25519');
    let theirHello: Extract<Frame, { t: 'hello' }> | undefined;
    let authed = false;
    return new Promise<Link>((resolve, reject) => {
      const done = (err?: LinkError) => {
        clearTimeout(timer);
        ws.off('message', onMessage);
        if (err) {
          link.fail(err.reason, err.message);
          reject(err);
          return;
        }
        this.established(link);
        resolve(link);
      };
      const timer = setTimeout(() => done(new LinkError('handshake_timeout', 'no valid handshake in time')), TRANSPORT_LIMITS.handshakeMs);
      ws.on('close', () => {
        if (!authed) done(new LinkError('closed', 'closed during handshake'));
      });
      ws.on('error', (err) => this.opts.log.debug({ err: err.message }, 'socket error'));
      const onMessage = (data: RawData, isBinary: boolean) => {
        if (isBinary) return done(new LinkError('bad_frame', 'binary frames are not part of the protocol'));
        let frame: Frame;
        try {
          const parsed = frameSchema.safeParse(JSON.parse(data.toString()));
          if (!parsed.success) return done(new LinkError('bad_frame', `invalid handshake frame: ${parsed.error.issues[0]?.message}`));
          frame = parsed.data;
        } catch {
          return done(new LinkError('bad_json', 'frame is not JSON'));
        }
        if (frame.t === 'hello' && !theirHello) {
          if (frame.v !== PROTOCOL_VERSION)
            return done(new LinkError('version', `protocol version ${frame.v} is not supported (this peer speaks ${PROTOCOL_VERSION})`));
          if (frame.peerId === identity.peerId) return done(new LinkError('self', 'connected to myself'));
          if (expectedPeerId && frame.peerId !== expectedPeerId)
            return done(new LinkError('wrong_peer', 'peer id differs from the one expected'));
          if (this.blocked.has(frame.peerId)) return done(new LinkError('partitioned', 'unreachable (test partition)'));
          const penalty = this.penalties.get(frame.peerId);
          if (penalty && penalty.until > Date.now()) {
            return done(
              new LinkError(
                'backoff',
                `refusing this peer for ${Math.ceil((penalty.until - Date.now()) / 1000)} s after it broke the protocol`,
              ),
            );
          }
          theirHello = frame;
          link.peerId = frame.peerId;
          link.nick = frame.nick;
          link.listenPort = frame.port;
          const sig = signBytes(
            identity.signing.privateKey,
            authPayload(frame.nonce, identity.peerId, frame.peerId, eph.publicRaw, frame.eph),
          );
          ws.send(JSON.stringify({ t: 'auth', sig }));
          return;
        }
        if (frame.t === 'auth' && theirHello && !authed) {
          if (
            !verifyBytes(
              theirHello.peerId,
              authPayload(myNonce, theirHello.peerId, identity.peerId, theirHello.eph, eph.publicRaw),
              frame.sig,
            )
          ) {
            return done(new LinkError('bad_auth', 'handshake signature does not match the peer id'));
          }
          authed = true;
          const [initNonce, respNonce] = link.outbound ? [myNonce, theirHello.nonce] : [theirHello.nonce, myNonce];
          const [initId, respId] = link.outbound ? [identity.peerId, theirHello.peerId] : [theirHello.peerId, identity.peerId];
          link.cipher = LinkCipher.derive(eph.privateKey, theirHello.eph, `${initNonce}|${respNonce}|${initId}|${respId}`, link.outbound);
          return done();
        }
        if (frame.t === 'error') return done(new LinkError(frame.reason, `peer refused: ${frame.message}`));
        return done(new LinkError('bad_frame', `unexpected ${frame.t} frame during handshake`));
      };
      ws.on('message', onMessage);
      ws.send(
        JSON.stringify({
          t: 'hello',
          v: PROTOCOL_VERSION,
          peerId: identity.peerId,
          nonce: myNonce,
          eph: eph.publicRaw,
          port: this.port,
          nick: this.opts.nick(),
        }),
      );
    });
  }

  private established(link: Link): void {
    this.links.add(link);
    link.traffic = this.traffic;
    link.on('close', () => {
      this.links.delete(link);
      if (link.failure && link.failure !== 'backoff') this.penalize(link.peerId);
    });
    link.ws.on('close', (code, reason) => link.close(reason.toString() || `closed (${code})`));
    link.ws.on('message', (data: RawData, isBinary: boolean) => {
      link.touch();
      this.traffic.framesReceived++;
      this.traffic.bytesReceived += Buffer.isBuffer(data)
        ? data.length
        : Array.isArray(data)
          ? data.reduce((n, b) => n + b.length, 0)
          : data.byteLength;
      if (!link.takeToken()) return link.fail('rate_limited', 'too many frames');
      if (!isBinary) return link.fail('bad_frame', 'plaintext frame on an encrypted link');
      const plain = link.cipher!.open(Buffer.isBuffer(data) ? data : Buffer.concat(Array.isArray(data) ? data : [Buffer.from(data)]));
      if (plain === null) return link.fail('bad_frame', 'frame failed decryption (tampered, replayed or out of order)');
      if (plain[0] === DATA_FRAME_TAG) return this.receiveData(link, plain);
      // only chunks may be larger than a JSON frame
      if (plain.length > WIRE_LIMITS.maxFrameBytes) return link.fail('too_large', `JSON frame of ${plain.length} bytes`);
      let json: unknown;
      try {
        json = JSON.parse(plain.toString('utf8'));
      } catch {
        return link.fail('bad_json', 'frame is not JSON');
      }
      const parsed = frameSchema.safeParse(json);
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        return link.fail('bad_frame', `invalid frame: ${issue?.path.join('.')} ${issue?.message}`);
      }
      const frame = parsed.data;
      if (frame.t === 'hello' || frame.t === 'auth') return link.fail('bad_frame', `${frame.t} after the handshake`);
      if (frame.t === 'error') {
        this.opts.log.warn({ peer: link.peerId, reason: frame.reason }, `peer reported: ${frame.message}`);
        return link.close(`peer error: ${frame.reason}`);
      }
      try {
        link.emit('frame', frame, plain);
      } catch (err) {
        // A bug in handling one peer's frame must cost that link, never the process.
        this.opts.log.error({ err, peer: link.peerId, t: frame.t }, 'failed to handle a frame');
        link.fail('internal_error', `could not handle ${frame.t} frame`);
      }
    });
    link.startKeepAlive();
    this.emit('link', link);
  }

  /** A binary frame: a 4-byte header length, the JSON header, the chunk (see DATA_FRAME_TAG). */
  private receiveData(link: Link, plain: Buffer): void {
    const headLength = plain.length >= 5 ? plain.readUInt32BE(1) : -1;
    if (headLength < 2 || headLength > 1024 || 5 + headLength > plain.length)
      return link.fail('bad_frame', 'data frame with a bad header length');
    let header: unknown;
    try {
      header = JSON.parse(plain.toString('utf8', 5, 5 + headLength));
    } catch {
      return link.fail('bad_json', 'data frame header is not JSON');
    }
    const parsed = chunkHeaderSchema.safeParse(header);
    if (!parsed.success) return link.fail('bad_frame', `invalid data frame header: ${parsed.error.issues[0]?.message}`);
    try {
      link.emit('data', parsed.data, plain.subarray(5 + headLength));
    } catch (err) {
      this.opts.log.error({ err, peer: link.peerId }, 'failed to handle a data frame');
      link.fail('internal_error', 'could not handle a data frame');
    }
  }

  private noteFailedHandshake(addr: string): void {
    const now = Date.now();
    if (this.failedHandshakes.size > 10_000) this.failedHandshakes.clear();
    let f = this.failedHandshakes.get(addr);
    if (!f || now - f.since > 60_000) this.failedHandshakes.set(addr, (f = { count: 0, since: now, blockedUntil: 0 }));
    if (++f.count >= TRANSPORT_LIMITS.failedHandshakesPerMinute) {
      f.blockedUntil = now + TRANSPORT_LIMITS.penaltyMs;
      this.opts.log.warn({ addr }, 'too many failed handshakes from this address; refusing it for a while');
    }
  }

  private penalize(peerId: string): void {
    const now = Date.now();
    for (const [id, p] of this.penalties) if (p.until < now - TRANSPORT_LIMITS.maxPenaltyMs) this.penalties.delete(id);
    const prev = this.penalties.get(peerId);
    const ms = Math.min(TRANSPORT_LIMITS.maxPenaltyMs, prev ? prev.ms * 2 : TRANSPORT_LIMITS.penaltyMs);
    this.penalties.set(peerId, { until: Date.now() + ms, ms });
    this.opts.log.warn({ peer: peerId, seconds: ms / 1000 }, 'peer broke the protocol; refusing it for a while');
  }

  async close(): Promise<void> {
    this.unwatch?.();
    for (const link of this.links) link.close('shutting down', 1001);
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
