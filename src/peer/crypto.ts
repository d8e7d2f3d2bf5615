/**
 * The cryptographic primitives of Chatty, all from node:crypto:
 * Ed25519 for identities and signatures, SHA-256 for event ids,
 * X25519 + HKDF + AES-256-GCM for end-to-end encrypted DMs.
 */
import {
  hash,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  hkdfSync,
  randomBytes,
  sign,
  verify,
  createCipheriv,
  createDecipheriv,
  type KeyObject,
} from 'node:crypto';

export function b64u(buf: Uint8Array): string {
  return Buffer.from(buf).toString('base64url');
}

export function fromB64u(s: string): Buffer {
  return Buffer.from(s, 'base64url');
}

/** One-shot hashing (no Hash object per call): every event id is one or two of these. */
export function sha256(data: string | Uint8Array): string {
  return hash('sha256', data, 'base64url');
}

export function randomToken(bytes = 32): string {
  return b64u(randomBytes(bytes));
}

export interface KeyPair {
  publicKey: KeyObject;
  privateKey: KeyObject;
  /** base64url of the raw 32-byte public key */
  publicRaw: string;
}

/** JWK `x` of an OKP key is exactly the base64url raw public key. */
function rawOf(publicKey: KeyObject): string {
  const jwk = publicKey.export({ format: 'jwk' });
  if (typeof jwk.x !== 'string') throw new Error('not an OKP key');
  return jwk.x;
}

export function generateKeyPair(kind: 'ed25519' | 'x25519'): KeyPair {
  const { publicKey, privateKey } = kind === 'ed25519' ? generateKeyPairSync('ed25519') : generateKeyPairSync('x25519');
  return { publicKey, privateKey, publicRaw: rawOf(publicKey) };
}

/** Serializes a private key for storage (PKCS#8 DER, base64url). */
export function exportPrivateKey(key: KeyObject): string {
  return b64u(key.export({ format: 'der', type: 'pkcs8' }));
}

export function importKeyPair(privateB64: string): KeyPair {
  const privateKey = createPrivateKey({ key: fromB64u(privateB64), format: 'der', type: 'pkcs8' });
  const publicKey = createPublicKey(privateKey);
  return { publicKey, privateKey, publicRaw: rawOf(publicKey) };
}

/** Public-key objects are costly to build; peers are few, so a bounded cache pays off on every verify. */
const publicKeyCache = new Map<string, KeyObject>();
function publicKeyOf(raw: string, crv: 'Ed25519' | 'X25519'): KeyObject {
  const cacheKey = `${crv}:${raw}`;
  let key = publicKeyCache.get(cacheKey);
  if (!key) {
    key = createPublicKey({ key: { kty: 'OKP', crv, x: raw }, format: 'jwk' });
    if (publicKeyCache.size > 4096) publicKeyCache.clear();
    publicKeyCache.set(cacheKey, key);
  }
  return key;
}

export function signBytes(privateKey: KeyObject, data: Uint8Array): string {
  return b64u(sign(null, data, privateKey));
}

/** Verifies an Ed25519 signature by the peer whose id (raw public key) is given. Never throws. */
export function verifyBytes(peerId: string, data: Uint8Array, sig: string): boolean {
  try {
    return verify(null, data, publicKeyOf(peerId, 'Ed25519'), fromB64u(sig));
  } catch {
    return false;
  }
}

/** Key of the DM thread between two peers: static X25519 agreement, bound to the pair and the context. */
function dmKey(myDh: KeyObject, theirDhRaw: string, conversation: string): Buffer {
  const shared = diffieHellman({ privateKey: myDh, publicKey: publicKeyOf(theirDhRaw, 'X25519') });
  return Buffer.from(hkdfSync('sha256', shared, conversation, 'chatty dm v1', 32));
}

/** AES-256-GCM with a random 96-bit IV; the tag is appended to the ciphertext. */
export function seal(key: Uint8Array, text: string, aad?: string): { iv: string; ct: string } {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  if (aad) cipher.setAAD(Buffer.from(aad));
  const ct = Buffer.concat([cipher.update(text, 'utf8'), cipher.final(), cipher.getAuthTag()]);
  return { iv: b64u(iv), ct: b64u(ct) };
}

/** Opens what `seal` made; null when the key is wrong or anything was tampered with. */
export function open(key: Uint8Array, iv: string, ct: string, aad?: string): string | null {
  try {
    const data = fromB64u(ct);
    if (data.length < 16) return null;
    const decipher = createDecipheriv('aes-256-gcm', key, fromB64u(iv));
    if (aad) decipher.setAAD(Buffer.from(aad));
    decipher.setAuthTag(data.subarray(data.length - 16));
    return Buffer.concat([decipher.update(data.subarray(0, data.length - 16)), decipher.final()]).toString('utf8');
  } catch {
    return null;
  }
}

export function encryptDm(myDh: KeyObject, theirDhRaw: string, conversation: string, text: string): { iv: string; ct: string } {
  return seal(dmKey(myDh, theirDhRaw, conversation), text);
}

/** Returns the plaintext, or null when this key cannot open it (not ours, or tampered). */
export function decryptDm(myDh: KeyObject, theirDhRaw: string, conversation: string, iv: string, ct: string): string | null {
  try {
    return open(dmKey(myDh, theirDhRaw, conversation), iv, ct);
  } catch {
    return null; // an invalid public key
  }
}

/**
 * Encryption of one peer link: AES-256-GCM with one key per direction,
 * derived from an ephemeral X25519 agreement. Every frame carries a counter
 * that must be exactly the next one, so replayed, reordered or dropped
 * frames are detected, and GCM rejects any tampering.
 */
export class LinkCipher {
  private sendCounter = 0n;
  private recvCounter = 0n;

  private constructor(
    private readonly sendKey: Buffer,
    private readonly recvKey: Buffer,
  ) {}

  /** Both ends derive the same pair of keys; `initiator` tells which direction is whose. */
  static derive(myEph: KeyObject, theirEphRaw: string, transcript: string, initiator: boolean): LinkCipher {
    const shared = diffieHellman({ privateKey: myEph, publicKey: publicKeyOf(theirEphRaw, 'X25519') });
    const okm = Buffer.from(hkdfSync('sha256', shared, transcript, 'chatty link v1', 64));
    const a = okm.subarray(0, 32);
    const b = okm.subarray(32);
    return initiator ? new LinkCipher(a, b) : new LinkCipher(b, a);
  }

  /** Seals one frame: a JSON text, or the parts of a binary frame (sealed as their concatenation, without copying them first). */
  seal(data: string | readonly Buffer[]): Buffer {
    const counter = Buffer.alloc(8);
    counter.writeBigUInt64BE(this.sendCounter++);
    const iv = Buffer.concat([Buffer.alloc(4), counter]);
    const cipher = createCipheriv('aes-256-gcm', this.sendKey, iv);
    const parts = typeof data === 'string' ? [cipher.update(data, 'utf8')] : data.map((d) => cipher.update(d));
    return Buffer.concat([counter, ...parts, cipher.final(), cipher.getAuthTag()]);
  }

  /** Returns the plaintext, or null for a frame that is tampered, replayed or out of order. */
  open(frame: Buffer): Buffer | null {
    if (frame.length < 8 + 16) return null;
    const counter = frame.readBigUInt64BE(0);
    if (counter !== this.recvCounter) return null;
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.recvKey, Buffer.concat([Buffer.alloc(4), frame.subarray(0, 8)]));
      decipher.setAuthTag(frame.subarray(frame.length - 16));
      const plain = decipher.update(frame.subarray(8, frame.length - 16));
      decipher.final();
      this.recvCounter++;
      return plain;
    } catch {
      return null;
    }
  }
}

/**
 * A chunk of an encrypted file: AES-256-GCM under the file's own random key, the chunk's index as
 * the nonce (one key per file, so no nonce repeats), the tag appended. What travels and is stored
 * by every peer is this ciphertext; the manifest's chunk hashes are of it.
 */
export function sealChunk(key: Uint8Array, index: number, plain: Uint8Array): Buffer {
  const cipher = createCipheriv('aes-256-gcm', key, chunkNonce(index));
  return Buffer.concat([cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
}

/** Opens what `sealChunk` made; null if the key is wrong or the chunk was tampered with. */
export function openChunk(key: Uint8Array, index: number, sealed: Buffer): Buffer | null {
  if (sealed.length < 16) return null;
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, chunkNonce(index));
    decipher.setAuthTag(sealed.subarray(sealed.length - 16));
    return Buffer.concat([decipher.update(sealed.subarray(0, sealed.length - 16)), decipher.final()]);
  } catch {
    return null;
  }
}

function chunkNonce(index: number): Buffer {
  const nonce = Buffer.alloc(12);
  nonce.writeUInt32BE(index, 8);
  return nonce;
}
