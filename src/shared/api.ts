/**
 * The control API, defined once. Electron IPC, the browser UI's WebSocket and
 * `chatty --json` all speak exactly these methods and events; docs/api.md and
 * docs/openrpc.json are generated from this file (`npm run docs:api`, built by
 * openrpc.ts). Params schemas validate every call that crosses a process
 * boundary; result and event schemas describe what the node builds and are not
 * checked at run time. Every TypeScript type is inferred from a schema, so the
 * code, the checks and the docs can never drift apart.
 */
import { z } from 'zod';

/** Version of the control API, not of the app: bump it whenever a method, param, result or event changes. */
export const API_VERSION = '2.3.0';

export const ROLES = ['owner', 'moderator', 'member'] as const;

/** Limits shared by the peer (enforcement) and the UI (hints). */
export const LIMITS = {
  nickMax: 32,
  roomMax: 64,
  textMax: 8000,
  reasonMax: 500,
  historyMax: 1000,
  searchMax: 200,
  /** Rooms this peer will create while it knows this many (a flood of rooms is refused). */
  roomsMax: 2000,
  /** Members of one room; joins beyond are refused by every peer alike. */
  membersMax: 1000,
  fileNameMax: 255,
  pathMax: 4096,
  /** A reaction: one emoji (or a short sequence of them, e.g. with a skin tone). */
  emojiMax: 32,
  statusTextMax: 100,
} as const;

/**
 * Files (docs/protocol.md, "Files"): a file is cut into at most `maxChunks` chunks of a power of
 * two bytes, 256 KiB for files up to 128 MiB and larger for larger files, so that its manifest,
 * one SHA-256 per chunk, always fits in the signed message.
 */
export const FILE_LIMITS = {
  /** The largest file the protocol describes; a peer's own limit (`--max-file`, default 2 GiB) is at most this. */
  maxSizeBytes: 4 * 1024 ** 3,
  defaultMaxSizeBytes: 2 * 1024 ** 3,
  minChunkBytes: 256 * 1024,
  maxChunkBytes: 8 * 1024 * 1024,
  maxChunks: 512,
  /** A thumbnail's data: URL, in characters (about 9 KB of JPEG). */
  thumbnailMaxChars: 12_000,
} as const;

// ---- building blocks ----------------------------------------------------------------------------

/** Base64url of a raw 32-byte Ed25519 public key. */
export const peerIdSchema = z
  .string()
  .regex(/^[A-Za-z0-9_-]{43}$/, 'must be a peer id (43 base64url characters)')
  .describe("Peer id: the peer's Ed25519 public key, base64url (43 characters)");

export const nickSchema = z
  .string()
  .trim()
  .min(1, 'nick must not be empty')
  .max(LIMITS.nickMax, `nick is at most ${LIMITS.nickMax} characters`)
  .regex(/^[^\p{C}]+$/u, 'nick must not contain control characters')
  .describe('Nickname (surrounding spaces are trimmed)');

/** Room names look like Slack channels: letters, digits, `-`, `_`, `.`. */
export const roomSchema = z
  .string()
  .trim()
  .regex(/^[\p{L}\p{N}][\p{L}\p{N}_.-]{0,63}$/u, 'room names are 1-64 letters, digits, "-", "_" or "." and start with a letter or digit')
  .describe('Room name: 1-64 letters, digits, "-", "_" or ".", starting with a letter or digit');

/**
 * A room's id: `!` and the hash of the event that created it. Names are for people and several
 * rooms may share one; the id is the same on every peer and names exactly one room.
 */
export const roomIdSchema = z
  .string()
  .regex(/^![A-Za-z0-9_-]{43}$/, 'must be a room id ("!" and 43 base64url characters)')
  .describe('Room id: "!" and the base64url hash of the event that created the room (44 characters)');

/** A room named in a call: its id, or a name only one known room has (ids start with `!`, names never do). */
export const roomRefSchema = z
  .union([roomIdSchema, roomSchema])
  .describe('Room id, or a room name that only one room this peer knows has (otherwise the call fails with `ambiguous`)');

export const textSchema = z
  .string()
  .min(1, 'text must not be empty')
  .max(LIMITS.textMax, `text is at most ${LIMITS.textMax} characters`)
  .describe('Message text');

const reasonSchema = z.string().max(LIMITS.reasonMax).optional().describe('Reason shown to everyone in the room');
const limitSchema = z
  .number()
  .int()
  .min(1)
  .max(LIMITS.historyMax)
  .optional()
  .describe('How many of the latest messages at most (1-1000; default: all)');
/** A peer named in a call: its id, or a nick only one known peer has. */
const peerRefSchema = z.string().min(1).max(64).describe('Peer id or nick (a nick must belong to exactly one known peer)');
const messageIdSchema = z
  .string()
  .regex(/^[A-Za-z0-9_-]{43}$/)
  .describe('Message id (base64url SHA-256 of the signed event, 43 characters)');
const emptySchema = z.object({});
export const fileIdSchema = z
  .string()
  .regex(/^[A-Za-z0-9_-]{43}$/, 'must be a file id (43 base64url characters)')
  .describe("File id: base64url SHA-256 of the file's manifest (43 characters), the same on every peer");
const pathSchema = z.string().min(1).max(LIMITS.pathMax).describe('A path on the machine of this peer');

export const emojiSchema = z
  .string()
  .trim()
  .min(1, 'emoji must not be empty')
  .max(LIMITS.emojiMax, `an emoji is at most ${LIMITS.emojiMax} characters`)
  .regex(/^[^\p{C}\s]+$/u, 'an emoji has no spaces or control characters')
  .describe('The emoji of a reaction, as text (e.g. 👍)');

/** What a peer says of itself (`setStatus`); `offline` is what others see of a peer they cannot reach. */
export const STATUSES = ['online', 'away', 'busy'] as const;
export type Status = (typeof STATUSES)[number];
export const PRESENCES = [...STATUSES, 'offline'] as const;
export type Presence = (typeof PRESENCES)[number];
const statusTextSchema = z
  .string()
  .trim()
  .max(LIMITS.statusTextMax, `a status text is at most ${LIMITS.statusTextMax} characters`)
  .regex(/^[^\p{C}]*$/u, 'a status text has no control characters')
  .describe('A short status text ("in a meeting until 3")');
/** A status an idle rule set, not the user: whichever UI sees the user back may set `online` again. */
const autoStatusSchema = z
  .literal(true)
  .optional()
  .describe("Present when an idle rule set this status (the desktop app's or a browser UI's auto-away), not the user");
const presenceFields = {
  status: z
    .enum(PRESENCES)
    .describe('`online`, `away`, `busy` as the peer set it (`away` also after idle time), `offline` when it is not reachable now'),
  statusText: z.string().optional().describe('Its status text, if it set one'),
};

// ---- results and events: shared types (components of the OpenRPC document) ----------------------

export const roleSchema = z
  .enum(ROLES)
  .describe('Role in a room: owners and moderators kick, ban, unban and invite (moderators only members below them); owners change roles');
export type Role = z.infer<typeof roleSchema>;

export const peerSchema = z
  .object({
    peerId: peerIdSchema,
    nick: z.string().describe('Its nick as this peer last saw it'),
  })
  .describe('A peer: key and nick');
export type Peer = z.infer<typeof peerSchema>;

export const TRANSFER_STATES = ['running', 'done', 'failed', 'cancelled'] as const;
export type TransferState = (typeof TRANSFER_STATES)[number];

export const transferSchema = z
  .object({
    file: fileIdSchema,
    received: z.number().int().min(0).describe('Bytes of the file this peer holds, checked against the manifest'),
    total: z.number().int().min(0).describe('Size of the file'),
    state: z
      .enum(TRANSFER_STATES)
      .describe('`running` while chunks come in (also while no peer holding them is reachable), then `done`, `failed` or `cancelled`'),
    path: z.string().optional().describe('Where the file is (once `done`) or is being written'),
    error: z.string().optional().describe('Why it failed'),
  })
  .describe("A file's transfer to this peer, and this peer's copy of it");
export type Transfer = z.infer<typeof transferSchema>;

export const fileInfoSchema = z
  .object({
    id: fileIdSchema,
    name: z.string().describe('File name, as the author had it'),
    size: z.number().int().min(0).describe('Bytes'),
    mime: z.string().describe('MIME type, from the name'),
    sha256: z.string().describe('Base64url SHA-256 of the whole file'),
    image: z
      .object({
        width: z.number().int().describe('Width in pixels'),
        height: z.number().int().describe('Height in pixels'),
        thumbnail: z.string().optional().describe('A small JPEG made by the author, as a `data:` URL'),
      })
      .optional()
      .describe('For pictures: size in pixels and a thumbnail'),
    transfer: transferSchema
      .omit({ file: true })
      .optional()
      .describe("This peer's copy: absent until a download starts; the author's own file is `done`"),
  })
  .describe('A file attached to a message: its manifest travels in the signed message, its bytes from peer to peer');
export type FileInfo = z.infer<typeof fileInfoSchema>;

export const reactionSchema = z
  .object({
    emoji: z.string().describe('The emoji'),
    count: z.number().int().min(1).describe('How many peers reacted with it'),
    peers: z.array(peerSchema).describe('Who, in the order they reacted'),
    mine: z.boolean().describe('This peer is one of them'),
  })
  .describe('One emoji of the reactions to a message');
export type Reaction = z.infer<typeof reactionSchema>;

export const messageSchema = z
  .object({
    id: messageIdSchema,
    room: roomIdSchema.nullable().describe('Id of the room of the message; `null` for a direct message'),
    roomName: z.string().optional().describe('Name of the room (absent for a direct message)'),
    from: peerSchema.describe('Author'),
    to: peerSchema.optional().describe('Addressee of a direct message'),
    text: z.string().describe('The text, decrypted'),
    sentAt: z.number().describe("The author's clock when sent, ms since the epoch (display only: order is causal)"),
    replyTo: z.string().optional().describe('Id of the message this one answers (in the same room or DM)'),
    file: fileInfoSchema.optional().describe('An attached file (the text may then be empty)'),
    late: z.boolean().optional().describe('True when delivered after messages that sort after it (a healed partition, a catch-up)'),
    reactions: z.array(reactionSchema).optional().describe('Reactions, in the order each emoji was first used (absent when none)'),
    edited: z
      .number()
      .optional()
      .describe("The author's clock at its latest edit (ms); `text` is the edited text; `editHistory` has the versions"),
    deleted: z.boolean().optional().describe('Deleted: `text` is empty, the file gone, and the original text erased from every peer'),
    deletedBy: peerSchema.optional().describe('Who deleted it, when not its author (a moderator)'),
    seen: z
      .boolean()
      .optional()
      .describe('A direct message of this peer that the addressee has read (if the addressee shares read receipts)'),
  })
  .describe('A room message or a direct message');
export type Message = z.infer<typeof messageSchema>;

export const memberSchema = z
  .object({
    peerId: peerIdSchema,
    nick: z.string().describe('Its nick'),
    role: roleSchema.describe('Its role in the room'),
    online: z
      .boolean()
      .describe(
        'Reachable now: linked, announced on the LAN by mDNS, or its presence heard through the overlay in the last minutes (always true for this peer itself)',
      ),
    ...presenceFields,
  })
  .describe('A member of a room');
export type Member = z.infer<typeof memberSchema>;

export const roomInfoSchema = z
  .object({
    id: roomIdSchema,
    room: roomIdSchema.describe('The room id again (every result names a room by its id in `room`)'),
    name: z.string().describe('Room name; several rooms may share one'),
    owner: peerSchema.describe('Its creator, owner for good: what tells same-named rooms apart'),
    joined: z.boolean().describe('This peer is a member'),
    private: z.boolean().describe('Invite-only room, its messages end-to-end encrypted for members'),
    banned: z.array(peerSchema).describe('Peers banned from the room'),
    members: z.array(memberSchema).describe('Current members'),
  })
  .describe('A room this peer knows of, joined or not');
export type RoomInfo = z.infer<typeof roomInfoSchema>;

export const PEER_STATES = ['connected', 'connecting', 'unreachable', 'offline'] as const;
export type PeerState = (typeof PEER_STATES)[number];
export const PEER_SOURCES = ['mdns', 'manual', 'exchange', 'remembered', 'inbound', 'scan'] as const;
export type PeerSource = (typeof PEER_SOURCES)[number];

export const peerInfoSchema = z
  .object({
    peerId: peerIdSchema,
    nick: z.string().describe('Its nick'),
    connected: z.boolean().describe('A link is up now (same as `state` = `connected`)'),
    addresses: z.array(z.string()).describe('Addresses known for it, as `ws://host:port` URLs'),
    state: z.enum(PEER_STATES).describe('Link state: `unreachable` after failed dials, `offline` when known only from the log'),
    source: z
      .enum(PEER_SOURCES)
      .optional()
      .describe('How it was found: mDNS, `--peer`/`connect`, from another peer, from the last run, it dialed us, the /24 scan'),
    lastError: z.string().optional().describe('Why the last dial or link failed'),
    fingerprint: z.string().describe('Short key fingerprint that tells two peers with the same nick apart'),
    ...presenceFields,
  })
  .describe('A peer this one knows of (itself excluded)');
export type PeerInfo = z.infer<typeof peerInfoSchema>;

export const whoAmISchema = z
  .object({
    peerId: peerIdSchema,
    nick: z.string().describe('Its nick'),
    port: z.number().int().describe('TCP port of its peer links'),
    fingerprint: z.string().describe('Short key fingerprint that tells two peers with the same nick apart'),
    status: z.enum(STATUSES).describe('Its status, as set with `setStatus` (kept across restarts)'),
    statusText: z.string().optional().describe('Its status text'),
    statusAuto: autoStatusSchema,
    readReceipts: z.boolean().describe('Whether the other side of a DM learns when this peer has read it'),
  })
  .describe('This peer');
export type WhoAmI = z.infer<typeof whoAmISchema>;

export const joinResultSchema = z
  .object({
    room: roomIdSchema.describe('Id of the room joined'),
    id: roomIdSchema.describe('The same id'),
    name: z.string().describe('Room name'),
    owner: peerSchema.describe('Its creator, owner for good'),
    members: z.array(memberSchema).describe('Current members, this peer included'),
    history: z.array(messageSchema).describe('The last messages (up to 1000), oldest first'),
  })
  .describe('A joined room and its recent history');
export type JoinResult = z.infer<typeof joinResultSchema>;

const counterSchema = z.number().int().min(0);
export const statsSchema = z
  .object({
    links: counterSchema.describe('Peer links up now'),
    frames: z
      .object({ sent: counterSchema.describe('Frames sent'), received: counterSchema.describe('Frames received') })
      .describe('Frames over peer links since start'),
    bytes: z
      .object({ sent: counterSchema.describe('Bytes sent'), received: counterSchema.describe('Bytes received') })
      .describe('Bytes over peer links since start (encrypted, as on the wire)'),
    events: z
      .object({
        relayed: counterSchema.describe('Events sent to neighbours (our own and others’)'),
        duplicates: counterSchema.describe(
          'Events received more than once: already held, or also sent by another neighbour at the same time',
        ),
        pauses: counterSchema.describe(
          'Times a link stopped reading because this peer had too many of its frames still to handle (a catch-up arriving faster than it is stored)',
        ),
      })
      .describe('Events through this peer since start'),
  })
  .describe('What this peer sent and received over its links since it started: the cost of broadcasts');
export type Stats = z.infer<typeof statsSchema>;

export const readMarkerSchema = z
  .object({
    room: roomIdSchema.optional().describe('The room (or `peer` for a DM conversation)'),
    peer: peerIdSchema.optional().describe('The other side of a DM conversation'),
    message: messageIdSchema.optional().describe('The last message read; absent when nothing was read yet'),
    unread: z.number().int().min(0).describe("Messages of others after it (this peer's own count as read)"),
    mentions: z
      .number()
      .int()
      .min(0)
      .describe("Of those, the ones that mention this user's nick (the whole word, with or without `@`); in a DM, all of them"),
  })
  .describe("How far this user has read a conversation: one marker per conversation, shared by all of this peer's UIs");
export type ReadMarker = z.infer<typeof readMarkerSchema>;

export const editVersionSchema = z
  .object({
    text: z.string().describe('The text of this version'),
    at: z.number().describe("The author's clock when it was written (ms)"),
  })
  .describe('One version of an edited message');
export type EditVersion = z.infer<typeof editVersionSchema>;

export const statusSchema = z
  .object({
    status: z.enum(STATUSES).describe('The status set'),
    statusText: z.string().optional().describe('The status text, if any'),
    auto: autoStatusSchema,
  })
  .describe("This peer's status");

/** The shared types, by the name the docs give them (`#/components/schemas/<name>`). */
export const API_TYPES = {
  Peer: peerSchema,
  Message: messageSchema,
  Member: memberSchema,
  Role: roleSchema,
  RoomInfo: roomInfoSchema,
  PeerInfo: peerInfoSchema,
  WhoAmI: whoAmISchema,
  JoinResult: joinResultSchema,
  Stats: statsSchema,
  FileInfo: fileInfoSchema,
  Transfer: transferSchema,
  Reaction: reactionSchema,
  ReadMarker: readMarkerSchema,
  EditVersion: editVersionSchema,
} as const;

// ---- methods ------------------------------------------------------------------------------------

/** Params schema of every method: the single source of truth for validation. */
export const methodParams = {
  whoami: z.object({}).strict(),
  setNick: z.object({ nick: nickSchema }).strict(),
  peers: z.object({}).strict(),
  connect: z
    .object({
      url: z
        .string()
        .regex(/^wss?:\/\/[^\s/]+(:\d+)?\/?$/, 'url must look like ws://host:port')
        .describe("A peer's link address, `ws://host:port`"),
    })
    .strict(),
  rooms: z.object({}).strict(),
  join: z
    .object({
      room: roomRefSchema.describe(
        'Room id, or a name: the room of that name (the one this peer is in, else the one with the most members), created if none exists',
      ),
      private: z
        .boolean()
        .optional()
        .describe('Create the room invite-only, its messages end-to-end encrypted (ignored for an existing room)'),
    })
    .strict(),
  invite: z.object({ room: roomRefSchema, peer: peerRefSchema }).strict(),
  leave: z.object({ room: roomRefSchema }).strict(),
  send: z
    .object({
      room: roomRefSchema,
      text: textSchema,
      replyTo: messageIdSchema.optional().describe('Id of a message of this room it answers'),
    })
    .strict(),
  react: z.object({ message: messageIdSchema.describe('The message reacted to'), emoji: emojiSchema }).strict(),
  unreact: z
    .object({ message: messageIdSchema.describe('The message'), emoji: emojiSchema.describe('The reaction to take back') })
    .strict(),
  edit: z.object({ message: messageIdSchema.describe('A message of this peer'), text: textSchema.describe('The new text') }).strict(),
  delete: z.object({ message: messageIdSchema.describe('A message of this peer, or any message of a room this peer moderates') }).strict(),
  editHistory: z.object({ message: messageIdSchema }).strict(),
  message: z.object({ id: messageIdSchema.describe('The message') }).strict(),
  setStatus: z
    .object({
      status: z.enum(STATUSES).describe('The new status'),
      text: statusTextSchema.optional(),
      auto: z
        .boolean()
        .optional()
        .describe('Set by an idle rule rather than the user (default false): any UI that sees the user back may lift it'),
    })
    .strict(),
  markRead: z
    .object({
      room: roomRefSchema.optional().describe('The room (or `peer`)'),
      peer: peerRefSchema.optional().describe('The other side of a DM conversation (or `room`)'),
      message: messageIdSchema.describe('The last message the user has seen; a marker never moves back'),
    })
    .strict()
    .refine((p) => (p.room === undefined) !== (p.peer === undefined), { message: 'give exactly one of room and peer', path: ['room'] }),
  readMarkers: z.object({}).strict(),
  setReadReceipts: z.object({ enabled: z.boolean().describe('Tell the other side of a DM when its messages were read') }).strict(),
  history: z
    .object({
      room: roomRefSchema,
      limit: limitSchema,
      before: z.string().max(64).optional().describe('Only messages before this message id (paging)'),
    })
    .strict(),
  dm: z
    .object({
      to: peerRefSchema,
      text: textSchema,
      replyTo: messageIdSchema.optional().describe('Id of a message of this DM conversation it answers'),
    })
    .strict(),
  sendFile: z
    .object({
      room: roomRefSchema.optional().describe('The room to send it to (or `to`)'),
      to: peerRefSchema.optional().describe('The peer to send it to as a direct message (or `room`)'),
      path: pathSchema.describe('The file to send, on the machine of this peer'),
      text: textSchema.optional().describe('A message to go with it'),
    })
    .strict()
    .refine((p) => (p.room === undefined) !== (p.to === undefined), { message: 'give exactly one of room and to', path: ['room'] }),
  download: z
    .object({
      file: fileIdSchema,
      path: pathSchema
        .optional()
        .describe(
          "Where to save it: a file, or an existing folder (default: the data directory's downloads folder); a taken name gets ` (1)`",
        ),
    })
    .strict(),
  cancelTransfer: z.object({ file: fileIdSchema }).strict(),
  dmHistory: z
    .object({
      peer: peerRefSchema,
      limit: limitSchema,
      before: messageIdSchema.optional().describe('Only messages before this message id (paging)'),
    })
    .strict(),
  kick: z.object({ room: roomRefSchema, peer: peerRefSchema, reason: reasonSchema }).strict(),
  ban: z.object({ room: roomRefSchema, peer: peerRefSchema, reason: reasonSchema }).strict(),
  unban: z.object({ room: roomRefSchema, peer: peerRefSchema, reason: reasonSchema }).strict(),
  setRole: z.object({ room: roomRefSchema, peer: peerRefSchema, role: roleSchema.describe('The new role') }).strict(),
  typing: z.object({ room: roomRefSchema }).strict(),
  search: z
    .object({
      query: z.string().trim().min(1).max(200).describe('Text to look for'),
      room: roomRefSchema.optional().describe('Only this room (default: every joined room and every DM)'),
      limit: z.number().int().min(1).max(LIMITS.searchMax).optional().describe('How many results at most (default 50)'),
    })
    .strict(),
  stats: z.object({}).strict(),
  shutdown: z.object({}).strict(),
} as const;

export type MethodName = keyof typeof methodParams;
export type ParamsOf<M extends MethodName> = z.input<(typeof methodParams)[M]>;

/** Result schema of every method (documentation and types; results are not validated at run time). */
export const methodResults = {
  whoami: whoAmISchema,
  setNick: peerSchema.describe('This peer with its new nick'),
  peers: z.array(peerInfoSchema).describe('Every known peer but this one'),
  connect: z.object({ peerId: peerIdSchema }).describe('The peer now connected'),
  rooms: z.array(roomInfoSchema).describe('Every room this peer knows of'),
  join: joinResultSchema,
  invite: emptySchema,
  leave: z.object({ room: roomIdSchema.describe('Id of the room left') }).describe('The room left'),
  send: messageSchema.describe('The message, durable on this peer'),
  react: messageSchema.describe('The message with its reactions'),
  unreact: messageSchema.describe('The message with its reactions'),
  edit: messageSchema.describe('The message as edited'),
  delete: messageSchema.describe('The message, deleted'),
  editHistory: z.array(editVersionSchema).describe('Every version, the original first; empty for a deleted message'),
  message: messageSchema.describe('The message as it is now'),
  setStatus: statusSchema,
  markRead: readMarkerSchema,
  readMarkers: z.array(readMarkerSchema).describe('A marker for every joined room and every DM conversation'),
  setReadReceipts: z.object({ enabled: z.boolean().describe('Read receipts are sent') }).describe('The setting now'),
  history: z.array(messageSchema).describe('Messages, oldest first'),
  dm: messageSchema.describe('The direct message, durable on this peer'),
  dmHistory: z.array(messageSchema).describe('Direct messages with that peer, oldest first'),
  sendFile: messageSchema.describe('The message with its `file`, durable on this peer'),
  download: transferSchema.describe('The transfer, as it starts (`done` at once if this peer holds the file)'),
  cancelTransfer: transferSchema.describe('The transfer, cancelled (a finished one is left as it is)'),
  kick: emptySchema,
  ban: emptySchema,
  unban: emptySchema,
  setRole: emptySchema,
  typing: emptySchema,
  search: z.array(messageSchema).describe('Matching messages'),
  stats: statsSchema,
  shutdown: emptySchema,
} as const satisfies Record<MethodName, z.ZodType>;

/** Result type of every method. */
export type MethodResults = { [M in MethodName]: z.output<(typeof methodResults)[M]> };

/** The API as a typed object: what the preload exposes and what the peer implements. */
export type ChattyApi = {
  [M in MethodName]: (params: z.output<(typeof methodParams)[M]>) => Promise<MethodResults[M]>;
};

// ---- events -------------------------------------------------------------------------------------

export const MEMBER_CHANGES = ['joined', 'left', 'kicked', 'banned', 'unbanned', 'role', 'invited'] as const;
export type MemberChange = (typeof MEMBER_CHANGES)[number];

/** Params of every notification pushed by the peer. */
export const eventPayloads = {
  ready: whoAmISchema
    .extend({ ui: z.string().optional().describe('URL of the browser UI, with its token, when served') })
    .describe('This peer, once started'),
  message: messageSchema,
  dm: messageSchema,
  member: z
    .object({
      room: roomIdSchema.describe('Room id'),
      roomName: z.string().describe('Room name'),
      peerId: peerIdSchema.describe('The member concerned'),
      nick: z.string().describe('Its nick'),
      change: z.enum(MEMBER_CHANGES).describe('What happened to it'),
      role: roleSchema.optional().describe('Its role, on `joined` and `role`'),
      by: peerIdSchema.optional().describe('Who did it, when not the member itself (kick, ban, unban, role, invite)'),
      reason: z.string().optional().describe('Reason given, if any'),
    })
    .describe('A membership change'),
  peer: z
    .object({
      peerId: peerIdSchema,
      nick: z.string().describe('Its nick (a new nick of a connected peer comes as another `up`)'),
      state: z.enum(['up', 'down']).describe('Link up or down'),
    })
    .describe('A link to a peer came up or went down'),
  typing: z
    .object({ room: roomIdSchema.describe('Room id'), peerId: peerIdSchema, nick: z.string().describe('Its nick') })
    .describe('Someone is typing'),
  identity: z
    .object({
      nick: z.string().describe('The nick both keys use'),
      peerId: peerIdSchema.describe('The new key'),
      knownPeerId: peerIdSchema.describe('The key that used the nick first'),
    })
    .describe('A nick already known appeared with another key'),
  transfer: transferSchema,
  update: messageSchema.describe('The message as it is now'),
  status: z
    .object({
      peerId: peerIdSchema,
      nick: z.string().describe('Its nick'),
      ...presenceFields,
      auto: autoStatusSchema.describe('Only for this peer itself: its status was set by an idle rule'),
    })
    .describe("A peer's presence changed (this peer's own included)"),
  read: readMarkerSchema.describe('The marker as it is now'),
  seen: z
    .object({
      peer: peerIdSchema.describe('The addressee'),
      message: messageIdSchema.describe('The last message of this peer it has read'),
    })
    .describe('The other side of a DM read it up to a message'),
} as const;

/** Notifications pushed by the peer. */
export type EventPayloads = { [E in keyof typeof eventPayloads]: z.output<(typeof eventPayloads)[E]> };
export type EventName = keyof EventPayloads;
export const EVENT_NAMES: readonly EventName[] = [
  'ready',
  'message',
  'dm',
  'member',
  'peer',
  'typing',
  'identity',
  'transfer',
  'update',
  'status',
  'read',
  'seen',
];

// ---- errors -------------------------------------------------------------------------------------

/** Application error reasons (JSON-RPC code >= 1000), stable for scripts. */
export const ERROR_CODES = {
  not_member: 1001,
  forbidden: 1002,
  banned: 1003,
  unknown_peer: 1004,
  too_large: 1005,
  rate_limited: 1006,
  not_found: 1007,
  ambiguous: 1008,
  unreachable: 1009,
  shutting_down: 1010,
  io_error: 1011,
} as const;
export type ErrorReason = keyof typeof ERROR_CODES;

/** What each application error means, for the docs. */
export const ERROR_DOCS: Record<ErrorReason, string> = {
  not_member: 'This peer (or the peer named) is not a member of the room',
  forbidden: "The room's rules refuse it: not owner or moderator, invite-only room, no key yet",
  banned: 'This peer (or the peer named) is banned from the room',
  unknown_peer: 'No known peer has that id or nick, or its key is not known yet',
  too_large: 'A limit is reached: rooms on the network, members of a room, a `--json` line over 1 MiB',
  rate_limited: 'Too many requests (reserved: the current peer does not raise it on the control API)',
  not_found: 'No such message (`replyTo`, `before`, the message of a reaction, edit or delete), ban or room id',
  ambiguous:
    'Several known peers have that nick, or several known rooms that name; `data.candidates` lists them (peers: `peerId`, `fingerprint`; rooms: `id`, `name`, `owner`, `members` count)',
  unreachable: 'The peer at that address could not be connected to',
  shutting_down: 'No peer is running to answer (over IPC: the app is starting or stopping)',
  io_error: 'A file cannot be read or written: missing, unreadable, a folder, or the disk refused; `data.path` names it',
};

/** JSON-RPC 2.0's own errors, with the `data.reason` this API adds to them. */
export const RPC_ERROR_CODES = {
  parse_error: -32700,
  invalid_request: -32600,
  unknown_method: -32601,
  invalid_params: -32602,
  internal: -32603,
} as const;
export type RpcErrorReason = keyof typeof RPC_ERROR_CODES;

export const RPC_ERROR_DOCS: Record<RpcErrorReason, string> = {
  parse_error: 'The request is not JSON',
  invalid_request: 'Not a JSON-RPC 2.0 request object',
  unknown_method: 'No such method',
  invalid_params: 'Params do not match the method; `data.issues` lists `{path, message}`',
  internal: 'A bug or an unexpected failure in the peer',
};

// ---- method and event docs -----------------------------------------------------------------------

export interface MethodDoc {
  summary: string;
  description?: string;
  /** Application errors the method itself may raise (besides `invalid_params` and `shutting_down`). */
  errors: readonly ErrorReason[];
}

/** A room given by name may fit several rooms (`ambiguous`), an id none (`not_found`). */
const MEMBERSHIP = ['not_member', 'banned', 'ambiguous', 'not_found'] as const;
const PEER_REF = ['unknown_peer', 'ambiguous'] as const;

export const METHOD_DOCS: { readonly [M in MethodName]: MethodDoc } = {
  whoami: { summary: "This peer's id, nick, port and fingerprint", errors: [] },
  setNick: { summary: 'Changes the nick, for every peer and room', description: 'Remembered across restarts.', errors: [] },
  peers: { summary: 'Every peer known, connected or not', errors: [] },
  connect: {
    summary: 'Dials a peer by address',
    description: 'For networks without multicast. The address is remembered and passed on to other peers.',
    errors: ['unreachable'],
  },
  rooms: {
    summary: 'Every room known on the network, joined or not',
    description: 'Several rooms may share a name: each has its own id and owner (its creator).',
    errors: [],
  },
  join: {
    summary: 'Joins a room, creating it if no peer knows one of that name',
    description:
      'By id, that room. By name: the room of that name this peer is in, else the one with the most members; if none exists, a new room of that name is created and its creator is its owner for good. A peer that has just started, or that has several rooms of that name to choose from, first waits briefly for its first sync. Joining a room already joined only returns it.',
    errors: ['forbidden', 'banned', 'too_large', 'not_found'],
  },
  invite: {
    summary: 'Invites a peer to an invite-only room',
    description: 'Owners and moderators only. The invitee gets the room keys, and reads the history.',
    errors: [...MEMBERSHIP, ...PEER_REF, 'forbidden'],
  },
  leave: { summary: 'Leaves a room', errors: [...MEMBERSHIP, 'forbidden'] },
  send: {
    summary: 'Sends a message to a room',
    description: 'Returns once the message is durable on this peer; it then reaches every peer, even if this one crashes.',
    errors: [...MEMBERSHIP, 'not_found', 'forbidden'],
  },
  react: {
    summary: 'Reacts to a message with an emoji',
    description:
      'A signed event of the room (or DM) like any other. Each peer reacts at most once per emoji and message; reacting again with the same emoji changes nothing. Concurrent reactions merge. `update` events tell every peer.',
    errors: [...MEMBERSHIP, 'not_found', 'forbidden'],
  },
  unreact: {
    summary: 'Takes back a reaction',
    description: 'Of all the reacts and unreacts of one peer with one emoji, the causally last wins (ties: the total order of the log).',
    errors: [...MEMBERSHIP, 'not_found', 'forbidden'],
  },
  edit: {
    summary: 'Changes the text of one of your messages',
    description:
      'Only the author may edit, and every peer enforces it. Of concurrent edits the causally last wins, ties by the total order of the log, the same on every peer. Earlier versions stay available (`editHistory`) until the message is deleted.',
    errors: [...MEMBERSHIP, 'not_found', 'forbidden'],
  },
  delete: {
    summary: 'Deletes a message',
    description:
      "Its author may delete it, and so may the room's owners and moderators (a moderator not an owner's message). Every peer replaces it by an empty, deleted message in `history`, `search` and notifications, and erases its text, its edits and its file from its database: the event is kept, stripped of its content, for the log to stay whole.",
    errors: [...MEMBERSHIP, 'not_found', 'forbidden'],
  },
  editHistory: { summary: 'The versions of an edited message, the original first', errors: ['not_found'] },
  message: {
    summary: 'One message, as it is now',
    description: 'A room message of a room this peer is in, or one of its DMs (what a reply quotes, however old).',
    errors: ['not_found', 'not_member'],
  },
  setStatus: {
    summary: 'Sets this peer’s status: online, away or busy, with an optional text',
    description:
      'Signed and passed on through the overlay to every peer online, again every minute while the peer runs; kept across restarts. `busy` silences notifications in the apps. The desktop app sets `away` after 10 minutes without input, and `online` again on return; it and the browser UI set it with `auto`, kept with the status, so any UI of this peer that sees the user back (even after a restart) may set `online` again, and none lifts an `away` the user chose.',
    errors: [],
  },
  markRead: {
    summary: 'Moves the read marker of a conversation',
    description:
      "Per conversation, shared by all of this peer's UIs (a `read` event tells them). A marker only moves forward. In a DM, the other side learns it (`seen`) unless read receipts are off.",
    errors: [...MEMBERSHIP, ...PEER_REF],
  },
  readMarkers: { summary: 'The read marker and unread count of every conversation', errors: [] },
  setReadReceipts: {
    summary: 'Turns DM read receipts on or off (on by default)',
    description: 'Off: the other side of a DM is not told when its messages were read. Kept across restarts.',
    errors: [],
  },
  history: {
    summary: "A room's messages, oldest first",
    description:
      'The last `limit` messages, or the last `limit` before `before`. Works without joining; only messages this peer can read. A name no known room has gives `[]` (the room may not have arrived yet); an unknown id is `not_found`.',
    errors: ['not_found', 'ambiguous', 'not_member'],
  },
  dm: {
    summary: 'Sends an end-to-end encrypted direct message',
    description: 'Returns once durable on this peer. The addressee must have been seen once (its key is needed).',
    errors: [...PEER_REF, 'not_found'],
  },
  dmHistory: {
    summary: 'The direct messages with a peer, oldest first',
    description: 'The last `limit` messages, or the last `limit` before `before`.',
    errors: [...PEER_REF, 'not_found'],
  },
  sendFile: {
    summary: 'Sends a file to a room or as a direct message',
    description:
      'Reads the file once to hash it (and, for a DM or an invite-only room, to encrypt it with a key of its own that travels sealed in the message), makes a thumbnail of a picture, then sends a message that carries the manifest. The bytes stay on this peer, which serves them to whoever downloads, and every downloader serves what it holds in turn. Returns once the message is durable.',
    errors: [...MEMBERSHIP, ...PEER_REF, 'forbidden', 'too_large', 'io_error'],
  },
  download: {
    summary: 'Fetches an attached file',
    description:
      'Returns at once; `transfer` events report progress. Chunks come from every peer that holds them, several at once, each checked against the manifest before it is written; a restart or a lost link resumes from the chunks already held. Pictures of a few MB are fetched on arrival anyway (within a disk quota).',
    errors: ['not_found', 'io_error', 'too_large'],
  },
  cancelTransfer: {
    summary: 'Stops fetching a file',
    description: 'The chunks already held are kept, so a later `download` resumes.',
    errors: ['not_found'],
  },
  kick: {
    summary: 'Removes a member from a room (it may join again)',
    description: 'Owners, and moderators for plain members; nobody kicks the room creator.',
    errors: [...MEMBERSHIP, ...PEER_REF, 'forbidden'],
  },
  ban: {
    summary: 'Bans a peer from a room (removed, and refused until unbanned)',
    description: 'Owners, and moderators for plain members; nobody bans the room creator. The peer need not be a member.',
    errors: [...MEMBERSHIP, ...PEER_REF, 'forbidden'],
  },
  unban: { summary: 'Lifts a ban', description: 'Owners and moderators.', errors: [...MEMBERSHIP, ...PEER_REF, 'forbidden', 'not_found'] },
  setRole: {
    summary: "Changes a member's role",
    description: "Owners only, not their own role nor the room creator's (the creator stays owner).",
    errors: [...MEMBERSHIP, ...PEER_REF, 'forbidden'],
  },
  typing: {
    summary: 'Tells the peers online now that this peer is typing in a room',
    description: 'Not stored: relayed hop by hop through the overlay (once per typist and room a second), it reaches the peers online now.',
    errors: [...MEMBERSHIP],
  },
  search: {
    summary: 'Searches the text of messages',
    description: "Substring match, case-insensitive for ASCII, newest first by the authors' clocks.",
    errors: ['not_member', 'ambiguous', 'not_found'],
  },
  stats: {
    summary: 'Counts of frames, bytes and events through this peer since start',
    description: 'To measure what a broadcast costs: read it on every peer before and after, and sum the differences.',
    errors: [],
  },
  shutdown: { summary: 'Stops the peer', description: 'Answers first, then stops (the process exits for `chatty`).', errors: [] },
};

export interface EventDoc {
  summary: string;
  description?: string;
}

export const EVENT_DOCS: { readonly [E in EventName]: EventDoc } = {
  ready: { summary: 'The peer is up', description: 'The first line of `chatty --json`; not sent on the other transports.' },
  message: {
    summary: 'A message was delivered in a room this peer is in',
    description: 'Its own messages included. The params are a `Message`.',
  },
  dm: { summary: 'A direct message to or from this peer was delivered', description: 'The params are a `Message`.' },
  member: { summary: 'Someone joined, left, was kicked, banned, unbanned, invited or got a new role' },
  peer: { summary: 'A link to a peer came up or went down' },
  typing: { summary: 'A connected peer is typing in a room' },
  transfer: {
    summary: "A file's transfer to this peer progressed or ended",
    description: 'At most about four a second per file while it runs, and one for every change of state.',
  },
  update: {
    summary: 'A message changed: a reaction, an edit or a delete',
    description: 'The params are the whole `Message` as it is now.',
  },
  status: { summary: 'A peer set its status, or came online or went offline' },
  read: { summary: 'A read marker of this peer moved (from any of its UIs)' },
  seen: { summary: 'The other side of a DM read it (read receipts)' },
  identity: {
    summary: 'A known nick appeared with a different key',
    description: 'Trust on first use: the two are different peers, never merged.',
  },
};

// ---- errors at run time and helpers -------------------------------------------------------------

/** An error the API reports to its caller with a stable reason. */
export class ChattyError extends Error {
  readonly code: number;
  constructor(
    readonly reason: ErrorReason,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'ChattyError';
    this.code = ERROR_CODES[reason];
  }
}

/** Short, human-comparable fingerprint of a peer id (first 8 chars, grouped). */
export function fingerprint(peerId: string): string {
  return `${peerId.slice(0, 4)}-${peerId.slice(4, 8)}`;
}

/** Subscription to the API's notifications; returns an unsubscribe function. */
export interface ChattyEventSource {
  on<E extends EventName>(event: E, listener: (payload: EventPayloads[E]) => void): () => void;
}

/** What every front end (IPC, UI server, stdio) is wired to. */
export type ChattyService = ChattyApi & ChattyEventSource;
