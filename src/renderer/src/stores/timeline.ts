/**
 * One conversation's data: its messages in delivery order, deduplicated by id, and how history
 * pages merge into it. Not a store: the records the conversations store keeps.
 *
 * Message lists can hold 100k entries, so they are kept out of Vue's deep reactivity (`markRaw`)
 * and every change bumps the conversation's `version`; components that render messages depend on
 * that counter.
 */
import { markRaw, reactive } from 'vue';
import type { Member, Message, Peer } from '../../../shared/api.js';

/** A message, or a local notice ("bob joined") shown in the timeline. */
export type ChatItem = Message & { system?: true };

export interface TypingEntry {
  peerId: string;
  nick: string;
  until: number;
}

export interface Conversation {
  key: string;
  kind: 'room' | 'dm';
  /** Room id (`!…`), or the other peer's id for a DM. */
  id: string;
  /** Room name (several rooms may share it: show `label` instead), or the other peer's nick. */
  title: string;
  /** Rooms: this peer is a member. DMs: always true. */
  joined: boolean;
  /** Invite-only, end-to-end encrypted room. */
  private: boolean;
  /** Ordered oldest first. Not deeply reactive: watch `version`. */
  messages: ChatItem[];
  index: Map<string, ChatItem>;
  /** peerId -> nick of everyone who wrote here (for nick collisions). */
  authors: Map<string, string>;
  version: number;
  unread: number;
  mentions: number;
  members: Member[];
  banned: Peer[];
  typing: TypingEntry[];
  loaded: boolean;
  loading: boolean;
  hasMore: boolean;
  loadingOlder: boolean;
  lastActivity: number;
  draft: string;
  replyTo: ChatItem | null;
}

/** Page sizes of room history and of DM history (which has no `before`, so it grows by re-asking). */
export const PAGE = 100;
export const DM_PAGE = 200;

/** Conversation keys: by room id (never by name, which twins share) and by peer id. */
export const roomKey = (roomId: string): string => `room:${roomId}`;
export const dmKey = (peerId: string): string => `dm:${peerId}`;

export function makeConversation(kind: 'room' | 'dm', id: string, title: string): Conversation {
  return reactive({
    key: kind === 'room' ? roomKey(id) : dmKey(id),
    kind,
    id,
    title,
    joined: kind === 'dm',
    private: false,
    messages: markRaw([] as ChatItem[]),
    index: markRaw(new Map<string, ChatItem>()),
    authors: markRaw(new Map<string, string>()),
    version: 0,
    unread: 0,
    mentions: 0,
    members: [] as Member[],
    banned: [] as Peer[],
    typing: [] as TypingEntry[],
    loaded: false,
    loading: false,
    hasMore: true,
    loadingOlder: false,
    lastActivity: 0,
    draft: '',
    replyTo: null,
  }) as Conversation;
}

/** Adds messages not seen yet (by id); returns the ones actually added. */
export function addMessages(conv: Conversation, msgs: readonly ChatItem[], where: 'append' | 'prepend' = 'append'): ChatItem[] {
  const fresh: ChatItem[] = [];
  for (const m of msgs) {
    if (conv.index.has(m.id)) continue;
    const item = markRaw(m);
    conv.index.set(m.id, item);
    if (!m.system) conv.authors.set(m.from.peerId, m.from.nick);
    fresh.push(item);
  }
  if (fresh.length === 0) return fresh;
  if (where === 'append') {
    for (const m of fresh) conv.messages.push(m);
  } else {
    conv.messages = markRaw(fresh.concat(conv.messages));
  }
  for (const m of fresh) if (!m.system && m.sentAt > conv.lastActivity) conv.lastActivity = m.sentAt;
  conv.version++;
  return fresh;
}

/** Where the timeline stood when a history request went out (see replaceWithHistory). */
export interface TimelineMark {
  messages: readonly ChatItem[];
  length: number;
}

export function markTimeline(conv: Conversation): TimelineMark {
  return { messages: conv.messages, length: conv.messages.length };
}

/**
 * Replaces the timeline with authoritative history. Live messages that arrived
 * while the request was in flight (after `mark`) and are not in it are kept
 * after it; anything older is dropped (it is older than the page, and comes
 * back with "load older").
 */
export function replaceWithHistory(conv: Conversation, history: readonly Message[], mark?: TimelineMark): void {
  const ids = new Set(history.map((m) => m.id));
  const arrived = !mark ? conv.messages : conv.messages === mark.messages ? conv.messages.slice(mark.length) : [];
  const later = arrived.filter((m) => !m.system && !ids.has(m.id));
  conv.messages = markRaw([]);
  conv.index = markRaw(new Map());
  conv.version++;
  addMessages(conv, [...history, ...later]);
}

/**
 * Puts the message as it is now (a reaction, an edit, a delete) in place of the loaded one with its
 * id; returns false when it is not loaded here. Rows look messages up by id (`index`), so a bump of
 * `version` is all the list needs.
 */
export function replaceMessage(conv: Conversation, m: Message): boolean {
  const old = conv.index.get(m.id);
  if (!old || old.system) return false;
  const item = markRaw(m);
  conv.index.set(m.id, item);
  for (let i = conv.messages.length - 1; i >= 0; i--) {
    if (conv.messages[i] === old) {
      conv.messages[i] = item;
      break;
    }
  }
  conv.version++;
  return true;
}

/** The newest message of the conversation that is not a local notice. */
export function newestMessage(conv: Conversation): ChatItem | undefined {
  for (let i = conv.messages.length - 1; i >= 0; i--) {
    const m = conv.messages[i]!;
    if (!m.system) return m;
  }
  return undefined;
}

/** Where a message stands in the timeline (-1 when not loaded); searched from the end, where markers usually are. */
export function positionOf(conv: Conversation, id: string | undefined): number {
  if (!id || !conv.index.has(id)) return -1;
  for (let i = conv.messages.length - 1; i >= 0; i--) if (conv.messages[i]!.id === id) return i;
  return -1;
}

/** A member entry made from an event: its presence as known before, else from its link. */
export function memberEntry(peer: Peer, role: Member['role'], online: boolean, prev?: Member): Member {
  const status = prev?.status ?? (online ? 'online' : 'offline');
  return { peerId: peer.peerId, nick: peer.nick, role, online, status, ...(prev?.statusText ? { statusText: prev.statusText } : {}) };
}
