/**
 * Keys of invite-only rooms. Each room has a sequence of symmetric keys
 * ("epochs"): the creator makes the first, a moderator makes a new one
 * whenever someone is removed. Keys travel only sealed for one member at a
 * time (X25519 of author and member + HKDF + AES-256-GCM), inside `invite`
 * and `rekey` events; messages are sealed under the current epoch's key.
 */
import { randomBytes } from 'node:crypto';
import { b64u, decryptDm, encryptDm, fromB64u, open, seal } from './crypto.js';
import type { Identity } from './identity.js';
import type { Store } from './store.js';

export interface Sealed {
  iv: string;
  ct: string;
}

const keyContext = (room: string, epoch: string) => `room-key|${room}|${epoch}`;
const textContext = (room: string, epoch: string) => `room-msg|${room}|${epoch}`;

export class RoomKeys {
  constructor(
    private readonly store: Store,
    private readonly identity: Identity,
    /** DM (X25519) public key of a peer, from its profile. */
    private readonly dhKeyOf: (peerId: string) => string | undefined,
  ) {}

  private metaKey(room: string, epoch: string): string {
    return `roomkey|${room}|${epoch}`;
  }

  /** A fresh epoch id (a room's creation names its first epoch before the room's id exists). */
  static newEpoch(): string {
    return b64u(randomBytes(12));
  }

  /** A fresh key for a room; returns its epoch id. */
  create(room: string, epoch = RoomKeys.newEpoch()): string {
    this.store.setMeta(this.metaKey(room, epoch), b64u(randomBytes(32)));
    return epoch;
  }

  has(room: string, epoch: string): boolean {
    return this.store.getMeta(this.metaKey(room, epoch)) !== undefined;
  }

  /** Every epoch of the room we hold a key for (handed on to an invitee so it can read the history). */
  epochs(room: string): string[] {
    const prefix = this.metaKey(room, '');
    return this.store.metaKeysWithPrefix(prefix).map((k) => k.slice(prefix.length));
  }

  /** Seals the key of `epoch` for `target`; undefined when we lack the key or the target's DM key. */
  sealFor(room: string, epoch: string, target: string): Sealed | undefined {
    const key = this.store.getMeta(this.metaKey(room, epoch));
    const dh = this.dhKeyOf(target);
    if (!key || !dh) return undefined;
    return encryptDm(this.identity.dh.privateKey, dh, keyContext(room, epoch), key);
  }

  /** Opens a key sealed for us by `author`; stores it. Returns false if it was not for us or is damaged. */
  accept(room: string, epoch: string, author: string, sealed: Sealed): boolean {
    const dh = this.dhKeyOf(author);
    if (!dh) return false;
    const key = decryptDm(this.identity.dh.privateKey, dh, keyContext(room, epoch), sealed.iv, sealed.ct);
    if (!key || fromB64u(key).length !== 32) return false;
    this.store.setMeta(this.metaKey(room, epoch), key);
    return true;
  }

  sealText(room: string, epoch: string, text: string): Sealed | undefined {
    const key = this.store.getMeta(this.metaKey(room, epoch));
    return key ? seal(fromB64u(key), text, textContext(room, epoch)) : undefined;
  }

  openText(room: string, epoch: string, sealed: Sealed): string | null {
    const key = this.store.getMeta(this.metaKey(room, epoch));
    return key ? open(fromB64u(key), sealed.iv, sealed.ct, textContext(room, epoch)) : null;
  }
}
