/**
 * Peer-to-peer wire format: signed events (the replicated log) and the frames
 * peers exchange over their WebSocket links. Every frame received from the
 * network is parsed with these schemas before anything else looks at it.
 */
import { z } from 'zod';
import { FILE_LIMITS, LIMITS, nickSchema, peerIdSchema, roomSchema, ROLES, STATUSES } from './api.js';

/**
 * Version of the link protocol (frames, handshake, discovery records), bumped on any incompatible
 * change; peers refuse other versions with a clear `version` error. 3: the bounded overlay
 * (HyParView membership, Plumtree broadcast). 4: files (messages with a manifest, chunk frames).
 * 5: conversations (events of format 3: reactions, edits, deletes, read receipts; presence frames).
 */
export const PROTOCOL_VERSION = 5;
/**
 * Version of the signed event format (each event's `v`, the database's schema version). Separate
 * from the link protocol so that a change of frames does not set aside everyone's history.
 * 3: an event's id covers the erasable fields of its body by their hashes (ERASABLE_FIELDS), so a
 * deleted message can travel without them and still be checked. Events of format 2 stay valid.
 */
export const EVENT_FORMAT = 3;
/** Formats this peer reads: a database of format 2 is kept as it is when the peer moves to 3. */
export const EVENT_FORMATS = [2, 3] as const;
/**
 * Body fields a delete erases (format 3): the id covers each by its SHA-256, so the event stripped
 * of them (with their hashes in `redacted`) keeps its id, its signature and its place in the log.
 */
export const ERASABLE_FIELDS = ['text', 'ct', 'iv', 'file'] as const;
/** Events a delete strips: the message and its edits. */
export const ERASABLE_TYPES = ['msg', 'dm', 'edit'] as const;
/** DNS-SD service type (`_chatty._tcp`). */
export const SERVICE_TYPE = 'chatty';
export const DEFAULT_PORT = 7447;

export const WIRE_LIMITS = {
  /** Largest JSON frame accepted on a link (bytes). */
  maxFrameBytes: 4 * 1024 * 1024,
  /** Largest frame of any kind: a chunk of a file travels whole in one binary frame. */
  maxDataFrameBytes: FILE_LIMITS.maxChunkBytes + 64 * 1024,
  /** Events per `events` frame. */
  maxEventsPerFrame: 1000,
  /** Largest single event (bytes of JSON). */
  maxEventBytes: 64 * 1024,
  maxDeps: 32,
  maxAuthors: 100_000,
  /** Ids per `ihave` frame. */
  maxIhave: 1000,
  /** Peers per HyParView shuffle (ka + kp + 1 is 8 by default). */
  maxShufflePeers: 32,
  /** Chunks asked for in one `fget`. */
  maxChunksPerRequest: 16,
  /** Peers named in one `fhave` (the swarm of a file, as the sender knows it). */
  maxSwarmPeers: 16,
} as const;

/** An event fits in this many bytes of JSON (`WIRE_LIMITS.maxEventBytes`). */
const WIRE_LIMITS_EVENT_BYTES = 64 * 1024;
const hashSchema = z.string().regex(/^[A-Za-z0-9_-]{43}$/, 'must be a sha256 hash (base64url)');
const b64Schema = z.string().regex(/^[A-Za-z0-9_-]*$/, 'must be base64url');

/**
 * A room's id: `!` and the id of its `create` event. Authority in the room derives from that event
 * alone, so a second room of the same name is another room and can never change who owns this one.
 */
export const roomIdSchema = z.string().regex(/^![A-Za-z0-9_-]{43}$/, 'must be a room id ("!" and 43 base64url characters)');

export function roomIdOf(createEventId: string): string {
  return `!${createEventId}`;
}

export function isRoomId(ref: string): boolean {
  return roomIdSchema.safeParse(ref).success;
}

/** The room (or DM conversation) an event belongs to: a `create` event founds the room named after it. */
export function roomOfEvent(ev: { type: string; id: string; room: string | null }): string | null {
  return ev.type === 'create' ? roomIdOf(ev.id) : ev.room;
}

/** Conversation key of the DM thread between two peers (a "room" internal to the log). */
export function dmConversation(a: string, b: string): string {
  return a < b ? `@${a}:${b}` : `@${b}:${a}`;
}

/** The other end of a DM conversation for one of its ends (`me`); undefined if `me` is not one. */
export function dmOtherEnd(conversation: string, me: string): string | undefined {
  const ends = conversation.slice(1).split(':');
  if (!conversation.startsWith('@') || ends.length !== 2 || !ends.includes(me)) return undefined;
  return ends[0] === me ? ends[1] : ends[0];
}

const epochSchema = b64Schema.length(16);
/** A room key sealed for one member: AES-256-GCM under the X25519 key of the author and that member. */
const sealedSchema = z.object({ iv: b64Schema.length(16), ct: b64Schema.max(200) }).strict();
const sealedKeySchema = sealedSchema.extend({ epoch: epochSchema }).strict();

/**
 * A file's manifest: what a message carries instead of the file (docs/protocol.md, "Files").
 * `hashes` lists the SHA-256 of every chunk as it travels (the ciphertext, for an encrypted file),
 * so any peer that holds the manifest checks each chunk before it writes it; `sha256` is the
 * hash of the whole file as the author had it. `key` (AES-256-GCM, one per file) only ever
 * travels inside a sealed message: in DMs and invite-only rooms.
 */
export const fileManifestSchema = z
  .object({
    id: hashSchema,
    name: z
      .string()
      .min(1)
      .max(LIMITS.fileNameMax)
      .regex(/^[^\p{Cc}/\\]+$/u, 'a file name has no path separators or control characters')
      .refine((n) => n !== '.' && n !== '..', 'not a file name'),
    size: z.number().int().min(0).max(FILE_LIMITS.maxSizeBytes),
    mime: z
      .string()
      .regex(/^[a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+-]+$/i, 'must be a MIME type')
      .max(100),
    sha256: hashSchema,
    /** Bytes of the file per chunk (the last may be shorter): a power of two. */
    chunk: z
      .number()
      .int()
      .min(FILE_LIMITS.minChunkBytes)
      .max(FILE_LIMITS.maxChunkBytes)
      .refine((n) => (n & (n - 1)) === 0, 'chunk size is a power of two'),
    /** The chunks' SHA-256 digests, 32 raw bytes each, concatenated, base64url. */
    hashes: b64Schema.max(Math.ceil((FILE_LIMITS.maxChunks * 32 * 4) / 3)),
    key: b64Schema.length(43).optional(),
    image: z
      .object({
        width: z.number().int().min(1).max(1_000_000),
        height: z.number().int().min(1).max(1_000_000),
        thumbnail: z
          .string()
          .max(FILE_LIMITS.thumbnailMaxChars)
          .regex(/^data:image\/(jpeg|png);base64,[A-Za-z0-9+/=]+$/, 'a thumbnail is a data: URL of a JPEG or PNG')
          .optional(),
      })
      .strict()
      .optional(),
  })
  .strict()
  .refine((m) => fromB64Length(m.hashes) === 32 * chunkCount(m.size, m.chunk), 'hashes must hold one digest per chunk');
export type FileManifest = z.infer<typeof fileManifestSchema>;

/** How many chunks a file of `size` bytes has. */
export function chunkCount(size: number, chunk: number): number {
  return Math.ceil(size / chunk);
}

/** Bytes a base64url string decodes to (no padding). */
function fromB64Length(s: string): number {
  return Math.floor((s.length * 3) / 4);
}

/** What a sealed message with an attachment holds once opened (`attachment: true` in the body). */
export const sealedAttachmentSchema = z
  .object({ text: z.string().min(1).max(LIMITS.textMax).optional(), file: fileManifestSchema })
  .strict();

/** Room for a sealed text, or a sealed attachment with its manifest (base64url characters). */
const sealedCtMax = LIMITS.textMax * 6;
const sealedAttachmentCtMax = WIRE_LIMITS_EVENT_BYTES - 2048;

const annotationTarget = { message: hashSchema, to: peerIdSchema.optional() };
const sealedFields = { epoch: epochSchema.optional(), iv: b64Schema.length(16).optional(), ct: b64Schema.optional() };
/**
 * A body with one piece of content (a reaction's emoji, an edit's text): in clear in an open room,
 * sealed (`iv`, `ct`, and the room key's `epoch` in an invite-only room) elsewhere. In a DM
 * conversation `to` names the other side, as in a `dm`.
 */
function contentBody(key: 'emoji' | 'text', clear: z.ZodString, ctMax: number) {
  return z
    .object({ ...annotationTarget, ...sealedFields, [key]: clear.optional() })
    .strict()
    .refine((body) => {
      const b = body as { iv?: string; ct?: string; epoch?: string; to?: string } & Record<string, unknown>;
      if (b[key] !== undefined) return b.iv === undefined && b.ct === undefined && b.epoch === undefined && b.to === undefined;
      return b.iv !== undefined && b.ct !== undefined && b.ct.length <= ctMax && (b.epoch === undefined) !== (b.to === undefined);
    }, `a ${key} in clear, or sealed (iv, ct, and epoch in a room or to in a DM)`);
}
const emojiWireSchema = z
  .string()
  .min(1)
  .max(LIMITS.emojiMax)
  .regex(/^[^\p{C}\s]+$/u, 'an emoji has no spaces or control characters');

export const eventBodies = {
  /** First event of every author, repeated on nick change: display name and DM key. */
  profile: z.object({ nick: nickSchema, dh: b64Schema.length(43) }).strict(),
  /**
   * Founds a room (its id is `!` + this event's id) and makes its author a member and its owner for
   * good. `private` and `epoch` make it invite-only, with the first key's epoch.
   */
  create: z
    .object({ name: roomSchema, nick: nickSchema, private: z.literal(true).optional(), epoch: epochSchema.optional() })
    .strict()
    .refine((b) => (b.private === true) === (b.epoch !== undefined), 'an invite-only room names its first epoch, an open one none'),
  join: z.object({ nick: nickSchema }).strict(),
  leave: z.object({}).strict(),
  /**
   * Plain `text` and/or a `file` manifest in open rooms; in invite-only rooms the text is sealed
   * under the room key of `epoch`, and `attachment` says the sealed content is a text and a file
   * manifest (JSON, `sealedAttachmentSchema`) rather than a bare text.
   */
  msg: z
    .object({
      nick: nickSchema,
      text: z.string().min(1).max(LIMITS.textMax).optional(),
      file: fileManifestSchema.optional(),
      epoch: epochSchema.optional(),
      iv: b64Schema.length(16).optional(),
      ct: b64Schema.max(sealedAttachmentCtMax).optional(),
      attachment: z.literal(true).optional(),
      replyTo: hashSchema.optional(),
    })
    .strict()
    .refine((b) => {
      const sealed = b.epoch !== undefined && b.iv !== undefined && b.ct !== undefined;
      if (!sealed)
        return (
          b.epoch === undefined &&
          b.iv === undefined &&
          b.ct === undefined &&
          b.attachment === undefined &&
          (b.text !== undefined || b.file !== undefined) &&
          b.file?.key === undefined
        );
      return b.text === undefined && b.file === undefined && (b.attachment === true || b.ct!.length <= sealedCtMax);
    }, 'a message has a text or a file in clear (a file without key), or a sealed content'),
  /** Lets `target` join an invite-only room, handing it every room key the inviter holds. */
  invite: z.object({ target: peerIdSchema, keys: z.array(sealedKeySchema).max(64) }).strict(),
  /** A new room key after someone was removed, sealed for each remaining member and invitee. */
  rekey: z.object({ epoch: epochSchema, keys: z.array(sealedSchema.extend({ target: peerIdSchema }).strict()).max(512) }).strict(),
  kick: z.object({ target: peerIdSchema, reason: z.string().max(LIMITS.reasonMax).optional() }).strict(),
  ban: z.object({ target: peerIdSchema, reason: z.string().max(LIMITS.reasonMax).optional() }).strict(),
  unban: z.object({ target: peerIdSchema, reason: z.string().max(LIMITS.reasonMax).optional() }).strict(),
  role: z.object({ target: peerIdSchema, role: z.enum(ROLES) }).strict(),
  /** End-to-end encrypted direct message: AES-256-GCM under an X25519-derived key. */
  dm: z
    .object({
      nick: nickSchema,
      to: peerIdSchema,
      iv: b64Schema.length(16),
      ct: b64Schema.max(sealedAttachmentCtMax),
      attachment: z.literal(true).optional(),
      replyTo: hashSchema.optional(),
    })
    .strict()
    .refine((b) => b.attachment === true || b.ct.length <= sealedCtMax, 'a sealed text is at most its limit'),
  /** Adds this author's reaction `emoji` to `message`; per author and emoji, the last react or unreact in the order wins. */
  react: contentBody('emoji', emojiWireSchema, 256),
  unreact: contentBody('emoji', emojiWireSchema, 256),
  /** A new text for one of the author's own messages. */
  edit: contentBody('text', z.string().min(1).max(LIMITS.textMax), sealedCtMax),
  /** Deletes a message (its author's, or any, by a moderator of the room): every peer erases its content. */
  delete: z.object({ message: hashSchema }).strict(),
  /** Read receipt in a DM conversation: the author has read up to `message`. */
  read: z.object({ message: hashSchema }).strict(),
} as const;

/** Event types that annotate a message (`body.message`): they wait for it and are judged against it. */
export const ANNOTATION_TYPES: readonly EventType[] = ['react', 'unreact', 'edit', 'delete', 'read'];

export type EventType = keyof typeof eventBodies;
export const STATE_EVENT_TYPES: readonly EventType[] = ['create', 'join', 'leave', 'kick', 'ban', 'unban', 'role', 'invite', 'rekey'];

/** The signed content of an event. `id` = sha256(JCS(content)); `sig` = Ed25519(id). */
export const eventContentSchema = z
  .object({
    v: z.union([z.literal(2), z.literal(3)]),
    author: peerIdSchema,
    /** Position in the author's log: 1, 2, 3… without gaps. */
    seq: z.number().int().min(1),
    /** Id of the author's event `seq - 1` (null for seq 1): the hash chain. */
    prev: hashSchema.nullable(),
    /** Room id, a DM conversation key (`@a:b`), or null for profile and create events. */
    room: z.union([roomIdSchema, z.string().regex(/^@[A-Za-z0-9_-]{43}:[A-Za-z0-9_-]{43}$/)]).nullable(),
    /** Heads of the room's DAG as the author had delivered them (causal dependencies). */
    deps: z.array(hashSchema).max(WIRE_LIMITS.maxDeps),
    /** Lamport depth: 1 + max depth of deps (1 without deps: only a `create` has none in a room). */
    depth: z.number().int().min(1),
    /** Author's clock (ms). Informational only; never used for ordering. */
    ts: z.number().int().min(0),
    type: z.enum(Object.keys(eventBodies) as [EventType, ...EventType[]]),
    body: z.record(z.string(), z.unknown()),
  })
  .strict();

export type EventContent = z.infer<typeof eventContentSchema>;

export const signedEventSchema = eventContentSchema
  .extend({
    id: hashSchema,
    sig: b64Schema.length(86),
    /**
     * A deleted message (or edit) travels stripped: `body` without its erasable fields, their
     * hashes here, and the signed delete that justifies it in `redactedBy` (not part of the id).
     */
    redacted: z.partialRecord(z.enum(ERASABLE_FIELDS), hashSchema).optional(),
    redactedBy: z.record(z.string(), z.unknown()).optional(),
  })
  .strict();
export type SignedEvent = z.infer<typeof signedEventSchema>;

/** Version vector: author → highest contiguous seq held. */
export const versionVectorSchema = z
  .record(peerIdSchema, z.number().int().min(0))
  .refine((v) => Object.keys(v).length <= WIRE_LIMITS.maxAuthors, `a version vector names at most ${WIRE_LIMITS.maxAuthors} authors`);
export type VersionVector = z.infer<typeof versionVectorSchema>;

const roundSchema = z.number().int().min(0).max(1000);
const peerListSchema = z.array(peerIdSchema).max(WIRE_LIMITS.maxShufflePeers);

/** HyParView's messages (src/peer/overlay/hyparview.ts), as they travel inside `hv` frames. */
const hyParViewMessageSchema = z.discriminatedUnion('t', [
  z.object({ t: z.literal('join') }).strict(),
  z.object({ t: z.literal('forwardJoin'), peer: peerIdSchema, ttl: z.number().int().min(0).max(16) }).strict(),
  z.object({ t: z.literal('forwardJoinReply') }).strict(),
  z.object({ t: z.literal('neighbor'), priority: z.enum(['high', 'low']) }).strict(),
  z.object({ t: z.literal('neighborReply'), accepted: z.boolean() }).strict(),
  z.object({ t: z.literal('disconnect') }).strict(),
  z.object({ t: z.literal('shuffle'), origin: peerIdSchema, peers: peerListSchema, ttl: z.number().int().min(0).max(16) }).strict(),
  z.object({ t: z.literal('shuffleReply'), peers: peerListSchema }).strict(),
]);

/** One peer's presence as it signed it: Ed25519 over `presenceSigned(record)`. */
export const presenceRecordSchema = z
  .object({
    peerId: peerIdSchema,
    status: z.enum(STATUSES),
    text: z
      .string()
      .max(LIMITS.statusTextMax)
      .regex(/^[^\p{C}]*$/u)
      .optional(),
    seq: z.number().int().min(0),
    sig: b64Schema.length(86),
  })
  .strict();
export type PresenceRecord = z.infer<typeof presenceRecordSchema>;

export const frameSchema = z.discriminatedUnion('t', [
  /** First frame on a link, both directions. */
  z
    .object({
      t: z.literal('hello'),
      v: z.number().int(),
      peerId: peerIdSchema,
      nonce: b64Schema.length(43),
      /** Ephemeral X25519 public key: the link's session keys come from it (forward secrecy). */
      eph: b64Schema.length(43),
      port: z.number().int().min(0).max(65535),
      nick: z.string().max(LIMITS.nickMax),
    })
    .strict(),
  /** Proof of key possession: Ed25519 signature over the other side's nonce, both ids and both ephemeral keys. */
  z.object({ t: z.literal('auth'), sig: b64Schema.length(86) }).strict(),
  /**
   * What the sender holds; `full` replaces the receiver's picture of it, otherwise it updates it.
   * `skip` (replacing any earlier one): authors whose events up to that seq the sender is getting
   * from another neighbour, so this one need not push them too (catch-up pulls each range once).
   */
  z.object({ t: z.literal('vv'), have: versionVectorSchema, full: z.boolean(), skip: versionVectorSchema.optional() }).strict(),
  /** A batch of events, each author's in seq order. */
  z.object({ t: z.literal('events'), events: z.array(z.unknown()).max(WIRE_LIMITS.maxEventsPerFrame) }).strict(),
  /** Ephemeral typing notice, never stored; relayed hop by hop through the overlay (`from`: who types). */
  z.object({ t: z.literal('typing'), room: roomIdSchema, from: peerIdSchema }).strict(),
  /** Overlay membership (HyParView): join, random walks, neighbour requests, shuffles. */
  z
    .object({
      t: z.literal('hv'),
      m: hyParViewMessageSchema,
      /** Addresses of the peers the message names (a walk's new node, a shuffle's peers), so the receiver can dial them. */
      addrs: z
        .record(peerIdSchema, z.array(z.string().max(200)).max(4))
        .refine((a) => Object.keys(a).length <= WIRE_LIMITS.maxShufflePeers + 1, 'too many addresses')
        .optional(),
    })
    .strict(),
  /**
   * Tree broadcast (Plumtree): an event pushed eagerly along its author's tree; `round` counts its
   * hops. IHAVE, GRAFT and PRUNE name the tree by its `root` (the author).
   */
  z.object({ t: z.literal('gossip'), id: hashSchema, round: roundSchema, event: z.unknown() }).strict(),
  /**
   * Several GOSSIP at once (the events pushed on one link in one event-loop turn): each item is
   * handled as a `gossip` frame of its own. A busy room would otherwise cost a frame per event and
   * link, and trip the receiver's frame-rate limit.
   */
  z
    .object({
      t: z.literal('gossips'),
      items: z
        .array(z.object({ id: hashSchema, round: roundSchema, event: z.unknown() }).strict())
        .min(1)
        .max(WIRE_LIMITS.maxEventsPerFrame),
    })
    .strict(),
  /** Lazy push: ids of events the sender holds, batched. */
  z
    .object({
      t: z.literal('ihave'),
      ids: z.array(z.object({ id: hashSchema, round: roundSchema, root: peerIdSchema.optional() }).strict()).max(WIRE_LIMITS.maxIhave),
    })
    .strict(),
  /** Pull an announced event (null: only make the link eager again) and put the link into the tree. */
  z.object({ t: z.literal('graft'), id: hashSchema.nullable(), round: roundSchema, root: peerIdSchema.optional() }).strict(),
  /**
   * What the sender holds, to compare (the overlay's probe: partition merge, lost events); `reply`
   * asks for the receiver's own digest back.
   */
  z.object({ t: z.literal('digest'), have: versionVectorSchema, reply: z.boolean() }).strict(),
  /** Take the link out of the tree (the receiver sent a duplicate). */
  z.object({ t: z.literal('prune'), root: peerIdSchema.optional() }).strict(),
  /** Peer exchange: addresses of other peers the sender knows. */
  z
    .object({
      t: z.literal('peers'),
      peers: z.array(z.object({ peerId: peerIdSchema, urls: z.array(z.string().max(200)).max(8) }).strict()).max(256),
    })
    .strict(),
  /**
   * Files (src/peer/files/swarm.ts). FWANT: the sender is fetching `file` and holds the chunks of
   * `have`; the receiver answers with FHAVE. FHAVE: the chunks the sender holds (`have`: a bitfield,
   * chunk i is bit i % 8 of byte i / 8; `all`: every chunk; `add`: chunks gained since), and peers
   * it knows fetching or holding the file, with addresses. FGET asks for chunks, each answered by
   * a binary chunk frame or listed in FNONE (not held after all).
   */
  z
    .object({
      t: z.literal('fwant'),
      file: hashSchema,
      have: b64Schema.max(Math.ceil(FILE_LIMITS.maxChunks / 6) + 4),
    })
    .strict(),
  z
    .object({
      t: z.literal('fhave'),
      file: hashSchema,
      all: z.boolean().optional(),
      have: b64Schema.max(Math.ceil(FILE_LIMITS.maxChunks / 6) + 4).optional(),
      add: z.array(z.number().int().min(0).max(FILE_LIMITS.maxChunks)).max(WIRE_LIMITS.maxChunksPerRequest).optional(),
      peers: z
        .array(z.object({ peerId: peerIdSchema, urls: z.array(z.string().max(200)).max(4) }).strict())
        .max(WIRE_LIMITS.maxSwarmPeers)
        .optional(),
    })
    .strict(),
  z
    .object({
      t: z.literal('fget'),
      file: hashSchema,
      chunks: z.array(z.number().int().min(0).max(FILE_LIMITS.maxChunks)).min(1).max(WIRE_LIMITS.maxChunksPerRequest),
    })
    .strict(),
  z
    .object({
      t: z.literal('fnone'),
      file: hashSchema,
      chunks: z.array(z.number().int().min(0).max(FILE_LIMITS.maxChunks)).max(WIRE_LIMITS.maxChunksPerRequest),
    })
    .strict(),
  /**
   * Presence (src/peer/presence.ts): statuses signed by their peers, passed on through the overlay
   * and repeated while each peer runs; `seq` only grows for one peer.
   */
  z
    .object({
      t: z.literal('presence'),
      records: z.array(presenceRecordSchema).min(1).max(256),
    })
    .strict(),
  /** Sent before closing a link for a protocol violation. */
  z.object({ t: z.literal('error'), reason: z.string().max(64), message: z.string().max(500) }).strict(),
]);
export type Frame = z.infer<typeof frameSchema>;

/**
 * The header of a binary chunk frame. A frame's plaintext is JSON (a `Frame`), or, when its first
 * byte is DATA_FRAME_TAG, a data frame: a 4-byte big-endian header length, this header as JSON,
 * then the chunk's bytes, never base64'd.
 */
export const DATA_FRAME_TAG = 0x01;
export const chunkHeaderSchema = z
  .object({ t: z.literal('chunk'), file: hashSchema, i: z.number().int().min(0).max(FILE_LIMITS.maxChunks) })
  .strict();
export type ChunkHeader = z.infer<typeof chunkHeaderSchema>;
