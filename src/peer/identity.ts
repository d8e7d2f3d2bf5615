/**
 * The peer's identity: an Ed25519 key pair (signatures; the public key is the
 * peer id) and an X25519 key pair (end-to-end encrypted DMs), created on first
 * start and kept in the peer's database.
 */
import { exportPrivateKey, generateKeyPair, importKeyPair, type KeyPair } from './crypto.js';
import type { Store } from './store.js';

export interface Identity {
  peerId: string;
  signing: KeyPair;
  dh: KeyPair;
}

function loadOrCreate(store: Store, key: string, kind: 'ed25519' | 'x25519'): KeyPair {
  const saved = store.getMeta(key);
  if (saved) return importKeyPair(saved);
  const pair = generateKeyPair(kind);
  store.setMeta(key, exportPrivateKey(pair.privateKey));
  return pair;
}

export function loadIdentity(store: Store): Identity {
  return store.transaction(() => {
    const signing = loadOrCreate(store, 'identity.ed25519', 'ed25519');
    const dh = loadOrCreate(store, 'identity.x25519', 'x25519');
    return { peerId: signing.publicRaw, signing, dh };
  });
}
