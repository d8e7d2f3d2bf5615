/**
 * A hostile peer for tests: real sockets, the real handshake when asked to,
 * and then whatever it is told to send — forged events, garbage, floods.
 * It reuses the product's crypto and event code, so it forges exactly what
 * an attacker with its own key could.
 */
import { WebSocket } from 'ws';
import { generateKeyPair, LinkCipher, randomToken, signBytes, type KeyPair } from '../../src/peer/crypto.js';
import { createEvent, type EventDraft } from '../../src/peer/events.js';
import { DATA_FRAME_TAG, PROTOCOL_VERSION, type ChunkHeader, type SignedEvent } from '../../src/shared/wire.js';

export interface HandshakeTweaks {
  /** Claim this peer id in hello (default: our own key's). */
  claimId?: string;
  /** Sign the auth with this key pair instead of ours. */
  signWith?: KeyPair;
  /** Send this exact auth frame (e.g. one recorded earlier). */
  authFrame?: string;
  version?: number;
  /** Do not ask to join the overlay: the peer treats the link as a stranger's and closes it after its grace period. */
  stranger?: boolean;
}

export class HostilePeer {
  readonly key = generateKeyPair('ed25519');
  readonly dh = generateKeyPair('x25519');
  ws!: WebSocket;
  cipher?: LinkCipher;
  /** Frames received after the handshake, decrypted. */
  readonly received: { t: string; reason?: string; [k: string]: unknown }[] = [];
  /** Binary chunk frames received, decrypted. */
  readonly chunksReceived: { header: ChunkHeader; bytes: Buffer }[] = [];
  closeCode?: number;
  closed!: Promise<number>;
  lastAuthFrame?: string;
  private seq = 0;
  private prev: string | null = null;

  get peerId(): string {
    return this.key.publicRaw;
  }

  private onFrame?: (frame: { t: string; [k: string]: unknown }) => void;
  /** Told of every frame after the handshake (a hostile peer that answers, e.g. serving bad chunks). */
  private listeners: ((frame: { t: string; [k: string]: unknown }) => void)[] = [];

  onFrames(listener: (frame: { t: string; [k: string]: unknown }) => void): void {
    this.listeners.push(listener);
  }

  /** Opens a socket without any handshake; every frame received is recorded (decrypted once a cipher exists). */
  async open(url: string): Promise<void> {
    this.ws = new WebSocket(url, { perMessageDeflate: false, maxPayload: 64 * 1024 * 1024 });
    this.closed = new Promise((resolve) =>
      this.ws.on('close', (code) => {
        this.closeCode = code;
        resolve(code);
      }),
    );
    this.ws.on('error', () => undefined);
    // Attached before 'open': the server's hello can arrive in the same packet as the upgrade.
    this.ws.on('message', (data: Buffer, isBinary: boolean) => {
      const plain = isBinary ? (this.cipher?.open(data) ?? null) : data;
      if (plain === null) return;
      if (plain[0] === DATA_FRAME_TAG) {
        const headLength = plain.readUInt32BE(1);
        const header = JSON.parse(plain.toString('utf8', 5, 5 + headLength)) as ChunkHeader;
        this.chunksReceived.push({ header, bytes: plain.subarray(5 + headLength) });
        return;
      }
      const frame = JSON.parse(plain.toString('utf8')) as { t: string; [k: string]: unknown };
      this.received.push(frame);
      this.onFrame?.(frame);
      for (const l of this.listeners) l(frame);
    });
    await new Promise<void>((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('error', reject);
    });
  }

  /** The full handshake, with optional misbehaviour. Resolves true when the peer accepted us. */
  async handshake(url: string, tweaks: HandshakeTweaks = {}): Promise<boolean> {
    const myNonce = randomToken();
    const eph = generateKeyPair('x25519');
    const claimId = tweaks.claimId ?? this.peerId;
    let theirHello: { nonce: string; peerId: string; eph: string } | undefined;
    await this.open(url);
    return new Promise<boolean>((resolve) => {
      void this.closed.then(() => resolve(false));
      const handle = (frame: { t: string; [k: string]: unknown }) => {
        if (frame.t === 'error') {
          this.onFrame = undefined;
          resolve(false);
        } else if (frame.t === 'hello' && !theirHello) {
          theirHello = frame as unknown as { nonce: string; peerId: string; eph: string };
          const payload = Buffer.from(
            `chatty-auth-v${PROTOCOL_VERSION}|${theirHello.nonce}|${claimId}|${theirHello.peerId}|${eph.publicRaw}|${theirHello.eph}`,
          );
          const auth = tweaks.authFrame ?? JSON.stringify({ t: 'auth', sig: signBytes((tweaks.signWith ?? this.key).privateKey, payload) });
          this.lastAuthFrame = auth;
          this.ws.send(auth);
        } else if (frame.t === 'auth' && theirHello) {
          this.cipher = LinkCipher.derive(
            eph.privateKey,
            theirHello.eph,
            `${myNonce}|${theirHello.nonce}|${claimId}|${theirHello.peerId}`,
            true,
          );
          // Ask to be a neighbour in the overlay (a JOIN is always accepted), as a real peer does: only
          // neighbours sync, and a link that is none is closed after a few seconds. Its auth proves
          // nothing about ours: we are in once its first sealed frame arrives (the peer list it sends
          // a new neighbour); a stranger gets none, so it takes the auth as the answer.
          if (tweaks.stranger) {
            this.onFrame = undefined;
            resolve(true);
          } else {
            this.send({ t: 'hv', m: { t: 'join' } });
          }
        } else if (this.cipher) {
          this.onFrame = undefined;
          resolve(true);
        }
      };
      // Our hello first; then the frames that came with the upgrade; then the rest as they arrive.
      this.ws.send(
        JSON.stringify({
          t: 'hello',
          v: tweaks.version ?? PROTOCOL_VERSION,
          peerId: claimId,
          nonce: myNonce,
          eph: eph.publicRaw,
          port: 0,
          nick: 'mallory',
        }),
      );
      for (const frame of [...this.received]) handle(frame);
      this.onFrame = handle;
    });
  }

  /** Sends a frame over the encrypted link. */
  /** Every event the peer sent us: catch-up batches (`events`) and the broadcast tree's pushes (`gossip`, `gossips`). */
  eventsReceived(): SignedEvent[] {
    return this.received.flatMap((f) =>
      f.t === 'events'
        ? (f.events as SignedEvent[])
        : f.t === 'gossip'
          ? [f.event as SignedEvent]
          : f.t === 'gossips'
            ? (f.items as { event: SignedEvent }[]).map((i) => i.event)
            : [],
    );
  }

  send(frame: unknown): void {
    this.ws.send(this.cipher!.seal(typeof frame === 'string' ? frame : JSON.stringify(frame)));
  }

  /** Sends a binary chunk frame, as a peer serving a file does (with whatever bytes we like). */
  sendChunk(header: ChunkHeader, bytes: Buffer): void {
    const head = Buffer.from(JSON.stringify(header));
    const prefix = Buffer.alloc(5);
    prefix[0] = DATA_FRAME_TAG;
    prefix.writeUInt32BE(head.length, 1);
    this.ws.send(this.cipher!.seal([prefix, head, bytes]));
  }

  sendSealed(buf: Buffer): void {
    this.ws.send(buf);
  }

  /** Creates the next event of our own log, signed by us (or forged, via overrides). */
  event(
    draft: Omit<EventDraft, 'author' | 'seq' | 'prev'> & Partial<Pick<EventDraft, 'author' | 'seq' | 'prev'>>,
    signWith = this.key,
  ): SignedEvent {
    const ev = createEvent({ author: this.peerId, seq: this.seq + 1, prev: this.prev, ...draft }, signWith.privateKey);
    if (ev.author === this.peerId) {
      this.seq = ev.seq;
      this.prev = ev.id;
    }
    return ev;
  }

  profile(nick = 'mallory'): SignedEvent {
    return this.event({ room: null, deps: [], depth: 1, type: 'profile', body: { nick, dh: this.dh.publicRaw } });
  }

  sendEvents(events: unknown[]): void {
    this.send({ t: 'events', events });
  }

  /** Waits until an error frame arrives or the socket closes; returns the error reason, if any. */
  async rejection(timeoutMs = 8000): Promise<{ reason?: string; code?: number }> {
    const end = Date.now() + timeoutMs;
    while (Date.now() < end) {
      const err = this.received.find((f) => f.t === 'error');
      if (err || this.closeCode !== undefined) {
        await Promise.race([this.closed, new Promise((r) => setTimeout(r, 1500))]);
        return { reason: err?.reason, code: this.closeCode };
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error('the peer neither refused nor closed');
  }

  close(): void {
    this.ws?.terminate();
  }
}
