/**
 * The crypto limit of a signed broadcast on this machine (issue #17): how many messages a second
 * one core can sign once and check on each of `receivers` peers, with the peer's own functions
 * (`createEvent`: canonical JSON, SHA-256 id, Ed25519 signature; each receiver recomputes the id and
 * verifies the signature). No network, no storage: the ceiling a signed log cannot pass here.
 * `batch`: one signature in that many is verified (the hash chain authenticates the rest of a run,
 * as catch-up does); 1 is a live stream where every event arrives alone.
 */
import { generateKeyPair } from '../../src/peer/crypto.js';
import { createEvent, eventId, verifySignature } from '../../src/peer/events.js';
import type { SignedEvent } from '../../src/shared/wire.js';

const ROOM = `!${'r'.repeat(43)}`;

export function cryptoLimit(receivers: number, seconds: number, batch = 1): number {
  const key = generateKeyPair('ed25519');
  const end = performance.now() + seconds * 1000;
  let prev: string | null = null;
  let seq = 0;
  const started = performance.now();
  while (performance.now() < end) {
    // like the throughput workload: a short text in a room, a few deps
    const ev: SignedEvent = createEvent(
      {
        author: key.publicRaw,
        seq: ++seq,
        prev,
        room: ROOM,
        deps: [prev ?? 'd'.repeat(43)],
        depth: seq + 1,
        type: 'msg',
        body: { nick: 'bench', text: `message ${seq}` },
      },
      key.privateKey,
    );
    prev = ev.id;
    const { id, sig: _sig, ...content } = ev;
    for (let r = 0; r < receivers; r++) {
      if (eventId(content) !== id) throw new Error('id mismatch');
      if (seq % batch === 0 && !verifySignature(ev)) throw new Error('bad signature');
    }
  }
  return seq / ((performance.now() - started) / 1000);
}
