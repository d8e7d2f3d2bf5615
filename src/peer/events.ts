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
  ANNOTATION_TYPES,
  ERASABLE_FIELDS,
  ERASABLE_TYPES,
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

function canonical(value: unknown): string {
  const text = canonicalize(value);
  if (text === undefined) throw new Error('event content cannot be canonicalized');
  return text;
}

type Redactions = Partial<Record<(typeof ERASABLE_FIELDS)[number], string>>;

/**
 * An event's id. Format 2: the hash of its canonical content. Format 3: the same, but each erasable
 * field of the body counts by its own hash (`{h}`), taken from `redacted` once the field is erased.
 */
export function eventId(content: EventContent & { redacted?: Redactions }): string {
  const { redacted, ...signed } = content;
  if (signed.v === 2) return sha256(canonical(signed));
  const body: Record<string, unknown> = { ...signed.body };
  for (const field of ERASABLE_FIELDS) {
    const h = redacted?.[field] ?? (body[field] !== undefined ? sha256(canonical(body[field])) : undefined);
    if (h !== undefined) body[field] = { h };
  }
  return sha256(canonical({ ...signed, body }));
}

/** The event stripped of its erasable content, justified by `deletion` (a signed delete of it or of its message). */
export function redact(ev: SignedEvent, deletion: SignedEvent): SignedEvent {
  if (ev.v === 2 || ev.redacted) return ev;
  const body = { ...ev.body };
  const redacted: Redactions = {};
  for (const field of ERASABLE_FIELDS) {
    if (body[field] === undefined) continue;
    redacted[field] = sha256(canonical(body[field]));
    delete body[field];
  }
  return { ...ev, body, redacted, redactedBy: deletion as unknown as Record<string, unknown> };
}

/** May this event's content be erased, and is it a redacted one? */
export function isErasable(ev: { type: string; v: number }): boolean {
  return ev.v !== 2 && (ERASABLE_TYPES as readonly string[]).includes(ev.type);
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
export type EventRejection =
  'malformed' | 'too_large' | 'bad_body' | 'bad_id' | 'bad_signature' | 'bad_chain' | 'bad_room' | 'bad_redaction';

export class EventError extends Error {
  constructor(
    readonly reason: EventRejection,
    message: string,
  ) {
    super(message);
  }
}

/** An event that passed `checkEvent`, with the JSON it is stored and relayed as. */
export interface CheckedEvent {
  ev: SignedEvent;
  json: string;
}

/**
 * Checks shape, body and id of one event (not its signature, not its chain).
 * Throws EventError with a specific reason.
 */
export function parseEvent(raw: unknown): SignedEvent {
  return checkEvent(raw).ev;
}

/** `parseEvent`, keeping the JSON its size was measured on (what the store writes). */
export function checkEvent(raw: unknown): CheckedEvent {
  const parsed = signedEventSchema.safeParse(raw);
  if (!parsed.success) {
    throw new EventError('malformed', `malformed event: ${parsed.error.issues[0]?.path.join('.')} ${parsed.error.issues[0]?.message}`);
  }
  const ev = parsed.data;
  if (ev.v === 2 && (ANNOTATION_TYPES.includes(ev.type) || ev.redacted || ev.redactedBy))
    throw new EventError('malformed', `a ${ev.type} event of format 2`);
  if (ev.redacted || ev.redactedBy) checkRedaction(ev);
  else {
    const body = eventBodies[ev.type].safeParse(ev.body);
    if (!body.success) throw new EventError('bad_body', `bad ${ev.type} body: ${body.error.issues[0]?.message}`);
  }
  const actual = ev.room === null ? 'none' : ev.room.startsWith('@') ? 'dm' : 'room';
  if (!ROOM_KINDS[ev.type].includes(actual)) throw new EventError('bad_room', `${ev.type} event has an invalid room`);
  if ((ev.seq === 1) !== (ev.prev === null)) throw new EventError('bad_chain', 'only the first event of a log has no prev');
  const { id, sig: _sig, redactedBy: _by, ...content } = ev;
  const json = JSON.stringify(ev);
  if (json.length > WIRE_LIMITS.maxEventBytes)
    throw new EventError('too_large', `event of ${json.length} bytes exceeds ${WIRE_LIMITS.maxEventBytes}`);
  if (eventId(content) !== id) throw new EventError('bad_id', 'event id does not match its content');
  return { ev, json };
}

/** Where each type of event lives: nowhere (profiles, creates), in a room, or in a DM conversation. */
const ROOM_KINDS: Record<EventType, readonly ('none' | 'room' | 'dm')[]> = {
  profile: ['none'],
  create: ['none'],
  join: ['room'],
  leave: ['room'],
  msg: ['room'],
  invite: ['room'],
  rekey: ['room'],
  kick: ['room'],
  ban: ['room'],
  unban: ['room'],
  role: ['room'],
  dm: ['dm'],
  react: ['room', 'dm'],
  unreact: ['room', 'dm'],
  edit: ['room', 'dm'],
  delete: ['room', 'dm'],
  read: ['dm'],
};

/**
 * A redacted event must come with the delete that justifies it: signed, in the same conversation,
 * naming this message (or, for an edit, its message). Who may delete is the room's rule, judged
 * when that delete is delivered; here a relay only proves that someone signed the deletion.
 */
function checkRedaction(ev: SignedEvent): void {
  const fail = (why: string) => {
    throw new EventError('bad_redaction', `redacted ${ev.type} event: ${why}`);
  };
  if (!isErasable(ev) || !ev.redacted || !ev.redactedBy) return fail('not erasable, or without its justification');
  if (ERASABLE_FIELDS.some((f) => ev.body[f] !== undefined && ev.redacted![f] !== undefined)) fail('a field both erased and present');
  let deletion: SignedEvent;
  try {
    deletion = parseEvent(ev.redactedBy);
  } catch (err) {
    return fail(`its delete is invalid (${(err as Error).message})`);
  }
  const target = ev.type === 'edit' ? ev.body.message : ev.id;
  if (deletion.type !== 'delete' || deletion.body.message !== target || deletion.room !== ev.room) fail('its delete is of another message');
  if (deletion.redactedBy) fail('its delete is redacted');
  if (ev.room?.startsWith('@') && !ev.room.includes(deletion.author)) fail('deleted by a third party');
  if (!verifySignature(deletion)) fail('its delete has an invalid signature');
  if (ev.type === 'edit' && typeof ev.body.message !== 'string') fail('an edit names no message');
}

export function verifySignature(ev: SignedEvent): boolean {
  return verifyBytes(ev.author, Buffer.from(ev.id, 'base64url'), ev.sig);
}
