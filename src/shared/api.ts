/**
 * The control API, defined once. Electron IPC, the browser UI's WebSocket and
 * `chatty --json` all speak exactly these methods and events (see
 * ../shared/control-api.md). Runtime schemas (zod) validate every call that
 * crosses a process boundary; the TypeScript types are inferred from them so
 * the two can never drift apart.
 */
import { z } from 'zod';

export const ROLES = ['owner', 'moderator', 'member'] as const;
export type Role = (typeof ROLES)[number];

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
} as const;

/** Base64url of a raw 32-byte Ed25519 public key. */
export const peerIdSchema = z.string().regex(/^[A-Za-z0-9_-]{43}$/, 'must be a peer id (43 base64url characters)');

export const nickSchema = z
  .string()
  .trim()
  .min(1, 'nick must not be empty')
  .max(LIMITS.nickMax, `nick is at most ${LIMITS.nickMax} characters`)
  .regex(/^[^\p{C}]+$/u, 'nick must not contain control characters');

/** Room names look like Slack channels: letters, digits, `-`, `_`, `.`. */
export const roomSchema = z
  .string()
  .trim()
  .regex(/^[\p{L}\p{N}][\p{L}\p{N}_.-]{0,63}$/u, 'room names are 1-64 letters, digits, "-", "_" or "." and start with a letter or digit');

export const textSchema = z.string().min(1, 'text must not be empty').max(LIMITS.textMax, `text is at most ${LIMITS.textMax} characters`);

const reasonSchema = z.string().max(LIMITS.reasonMax).optional();
const limitSchema = z.number().int().min(1).max(LIMITS.historyMax).optional();

export interface Peer {
  peerId: string;
  nick: string;
}

export interface Message {
  id: string;
  /** `null` for a direct message. */
  room: string | null;
  from: Peer;
  /** Addressee of a direct message. */
  to?: Peer;
  text: string;
  /** The author's clock, ms since the epoch. */
  sentAt: number;
  /** Id of the message this one answers, if any. */
  replyTo?: string;
  /** True when the message was delivered after messages that sort after it (healed partition, catch-up). */
  late?: boolean;
}

export interface Member {
  peerId: string;
  nick: string;
  role: Role;
  online: boolean;
}

export interface RoomInfo {
  room: string;
  joined: boolean;
  /** Invite-only, end-to-end encrypted room. */
  private: boolean;
  /** Peers banned from the room. */
  banned: Peer[];
  members: Member[];
}

export type PeerState = 'connected' | 'connecting' | 'unreachable' | 'offline';
export type PeerSource = 'mdns' | 'manual' | 'exchange' | 'remembered' | 'inbound' | 'scan';

export interface PeerInfo {
  peerId: string;
  nick: string;
  connected: boolean;
  addresses: string[];
  state: PeerState;
  source?: PeerSource;
  lastError?: string;
  /** Short key fingerprint that tells two peers with the same nick apart. */
  fingerprint: string;
}

export interface WhoAmI {
  peerId: string;
  nick: string;
  port: number;
  fingerprint: string;
}

export interface JoinResult {
  room: string;
  members: Member[];
  history: Message[];
}

/** Params schema of every method: the single source of truth for validation. */
export const methodParams = {
  whoami: z.object({}).strict(),
  setNick: z.object({ nick: nickSchema }).strict(),
  peers: z.object({}).strict(),
  connect: z.object({ url: z.string().regex(/^wss?:\/\/[^\s/]+(:\d+)?\/?$/, 'url must look like ws://host:port') }).strict(),
  rooms: z.object({}).strict(),
  /** `private: true` makes a new room invite-only, its messages end-to-end encrypted for members. */
  join: z.object({ room: roomSchema, private: z.boolean().optional() }).strict(),
  invite: z.object({ room: roomSchema, peer: z.string().min(1).max(64) }).strict(),
  leave: z.object({ room: roomSchema }).strict(),
  send: z.object({ room: roomSchema, text: textSchema, replyTo: z.string().max(64).optional() }).strict(),
  history: z.object({ room: roomSchema, limit: limitSchema, before: z.string().max(64).optional() }).strict(),
  dm: z.object({ to: z.string().min(1).max(64), text: textSchema }).strict(),
  dmHistory: z.object({ peer: z.string().min(1).max(64), limit: limitSchema }).strict(),
  kick: z.object({ room: roomSchema, peer: z.string().min(1).max(64), reason: reasonSchema }).strict(),
  ban: z.object({ room: roomSchema, peer: z.string().min(1).max(64), reason: reasonSchema }).strict(),
  unban: z.object({ room: roomSchema, peer: z.string().min(1).max(64), reason: reasonSchema }).strict(),
  setRole: z.object({ room: roomSchema, peer: z.string().min(1).max(64), role: z.enum(ROLES) }).strict(),
  typing: z.object({ room: roomSchema }).strict(),
  search: z
    .object({
      query: z.string().trim().min(1).max(200),
      room: roomSchema.optional(),
      limit: z.number().int().min(1).max(LIMITS.searchMax).optional(),
    })
    .strict(),
  shutdown: z.object({}).strict(),
} as const;

export type MethodName = keyof typeof methodParams;
export type ParamsOf<M extends MethodName> = z.input<(typeof methodParams)[M]>;

/** Result type of every method. */
export interface MethodResults {
  whoami: WhoAmI;
  setNick: Peer;
  peers: PeerInfo[];
  connect: { peerId: string };
  rooms: RoomInfo[];
  join: JoinResult;
  invite: Record<string, never>;
  leave: { room: string };
  send: Message;
  history: Message[];
  dm: Message;
  dmHistory: Message[];
  kick: Record<string, never>;
  ban: Record<string, never>;
  unban: Record<string, never>;
  setRole: Record<string, never>;
  typing: Record<string, never>;
  search: Message[];
  shutdown: Record<string, never>;
}

/** The API as a typed object: what the preload exposes and what the peer implements. */
export type ChattyApi = {
  [M in MethodName]: (params: z.output<(typeof methodParams)[M]>) => Promise<MethodResults[M]>;
};

export const MEMBER_CHANGES = ['joined', 'left', 'kicked', 'banned', 'unbanned', 'role', 'invited'] as const;
export type MemberChange = (typeof MEMBER_CHANGES)[number];

/** Notifications pushed by the peer. */
export interface EventPayloads {
  /** First line of `chatty --json`; `ui` is the browser UI URL (with its token) when served. */
  ready: WhoAmI & { ui?: string };
  message: Message;
  dm: Message;
  member: { room: string; peerId: string; nick: string; change: MemberChange; role?: Role; by?: string; reason?: string };
  peer: { peerId: string; nick: string; state: 'up' | 'down' };
  typing: { room: string; peerId: string; nick: string };
  /** A known nick appeared with a different key (trust on first use). */
  identity: { nick: string; peerId: string; knownPeerId: string };
}
export type EventName = keyof EventPayloads;
export const EVENT_NAMES: readonly EventName[] = ['ready', 'message', 'dm', 'member', 'peer', 'typing', 'identity'];

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
} as const;
export type ErrorReason = keyof typeof ERROR_CODES;

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
