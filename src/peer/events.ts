/**
 * Signed events: building them, hashing them, and checking what arrives from
 * the network. An event's id is the SHA-256 of its canonical JSON (RFC 8785),
 * and the author signs the id. Each event names the id of its author's
 * previous event, so an author's log is a hash chain: verifying the newest
 * signature of a contiguous run authenticates every event below it.
 */
import canonicalizeModule from 'canonicalize';
import type { KeyObject } from 'node:crypto';
import {
  eventBodies,
  EVENT_FORMAT,
  signedEventSchema,
  WIRE_LIMITS,
  type EventContent,
  type EventType,
  type SignedEvent,
} from '../shared/wire.js';
import { sha256, signBytes, verifyBytes } from './crypto.js';

// canonicalize is CommonJS whose typings declare an ES default export; at run time the module itself is the function.
const canonicalize = canonicalizeModule as unknown as (input: unknown) => string | undefined;

export function eventId(content: EventContent): string {
  const text = canonicalize(content);
  if (text === undefined) throw new Error('event content cannot be canonicalized');
  return sha256(text);
}

export interface EventDraft {
  author: string;
  seq: number;
  prev: string | null;
  room: string | null;
  deps: string[];
  depth: number;
  type: EventType;
  body: Record<string, unknown>;
  ts?: number;
}

export function createEvent(draft: EventDraft, privateKey: KeyObject): SignedEvent {
  const content: EventContent = {
    v: EVENT_FORMAT,
    author: draft.author,
    seq: draft.seq,
    prev: draft.prev,
    room: draft.room,
    deps: [...draft.deps].sort(),
    depth: draft.depth,
    ts: draft.ts ?? Date.now(),
    type: draft.type,
    body: draft.body,
  };
  const id = eventId(content);
  return { ...content, id, sig: signBytes(privateKey, Buffer.from(id, 'base64url')) };
}

/** Why an event from the network was refused; stable strings used in logs and tests. */
export type EventRejection = 'malformed' | 'too_large' | 'bad_body' | 'bad_id' | 'bad_signature' | 'bad_chain' | 'bad_room';

export class EventError extends Error {
  constructor(
    readonly reason: EventRejection,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Checks shape, body and id of one event (not its signature, not its chain).
 * Throws EventError with a specific reason.
 */
export function parseEvent(raw: unknown): SignedEvent {
  const parsed = signedEventSchema.safeParse(raw);
  if (!parsed.success) {
    throw new EventError('malformed', `malformed event: ${parsed.error.issues[0]?.path.join('.')} ${parsed.error.issues[0]?.message}`);
  }
  const ev = parsed.data;
  const body = eventBodies[ev.type].safeParse(ev.body);
  if (!body.success) throw new EventError('bad_body', `bad ${ev.type} body: ${body.error.issues[0]?.message}`);
  const expected = ev.type === 'profile' || ev.type === 'create' ? 'none' : ev.type === 'dm' ? 'dm' : 'room';
  const actual = ev.room === null ? 'none' : ev.room.startsWith('@') ? 'dm' : 'room';
  if (expected !== actual) throw new EventError('bad_room', `${ev.type} event has an invalid room`);
  if ((ev.seq === 1) !== (ev.prev === null)) throw new EventError('bad_chain', 'only the first event of a log has no prev');
  const { id, sig: _sig, ...content } = ev;
  const size = JSON.stringify(ev).length;
  if (size > WIRE_LIMITS.maxEventBytes) throw new EventError('too_large', `event of ${size} bytes exceeds ${WIRE_LIMITS.maxEventBytes}`);
  if (eventId(content) !== id) throw new EventError('bad_id', 'event id does not match its content');
  return ev;
}

export function verifySignature(ev: SignedEvent): boolean {
  return verifyBytes(ev.author, Buffer.from(ev.id, 'base64url'), ev.sig);
}
