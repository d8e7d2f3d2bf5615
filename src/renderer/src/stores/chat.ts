/**
 * The chat store: everything the UI shows, fed by API events (no polling).
 *
 * Message lists can hold 100k entries, so they are kept out of Vue's deep
 * reactivity (`markRaw`) and every change bumps the conversation's `version`;
 * components that render messages depend on that counter.
 */
import { defineStore } from 'pinia';
import { computed, markRaw, reactive, ref, shallowReactive, watch } from 'vue';
import {
  fingerprint,
  nickSchema,
  roomSchema,
  type EventPayloads,
  type Member,
  type Message,
  type PeerInfo,
  type Role,
  type RoomInfo,
  type WhoAmI,
} from '../../../shared/api.js';
import { RpcCallError } from '../../../shared/jsonrpc.js';
import type { NavigateTarget } from '../../../shared/ipc.js';
import type { ApiClient, ConnectionState } from '../api/client';
import { mentions } from '../lib/format';

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
  /** Room name, or the other peer's id for a DM. */
  id: string;
  /** Room name, or the other peer's nick. */
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
  banned: { peerId: string; nick: string }[];
  typing: TypingEntry[];
  loaded: boolean;
  loading: boolean;
  hasMore: boolean;
  loadingOlder: boolean;
  lastActivity: number;
  draft: string;
  replyTo: ChatItem | null;
}

export interface Toast {
  id: number;
  kind: 'error' | 'info' | 'warning';
  title: string;
  text?: string;
  /** An optional button ("Join"). */
  action?: { label: string; run: () => void };
}

export const PAGE = 100;
export const DM_PAGE = 200;
const TYPING_SHOW_MS = 5000;
const TYPING_SEND_MS = 3000;
const LS_ACTIVE = 'chatty.active';
const LS_NICK_CHOSEN = 'chatty.nickChosen';
/** Per conversation: the last message seen, so unread counts survive a restart. */
const LS_READ = 'chatty.read.';

export const roomKey = (room: string): string => `room:${room}`;
export const dmKey = (peerId: string): string => `dm:${peerId}`;

const ROLE_RANK: Record<Role, number> = { owner: 3, moderator: 2, member: 1 };

const FRIENDLY: Record<string, string> = {
  not_member: "You're not a member of that room",
  forbidden: "You don't have permission to do that",
  banned: 'You are banned from that room',
  unknown_peer: 'No such peer',
  too_large: "That's over the limit",
  rate_limited: "You're sending too fast — slow down a little",
  not_found: 'Not found',
  ambiguous: 'More than one peer has that nick',
  unreachable: "That peer can't be reached right now",
  shutting_down: 'Chatty is shutting down',
  invalid_params: "That isn't valid",
  parse_error: 'The request could not be read',
  internal: 'Something went wrong',
};

/** A readable title + detail for any error an API call can throw. */
export function describeError(err: unknown): { title: string; text?: string } {
  if (err instanceof RpcCallError) {
    const friendly = err.reason ? FRIENDLY[err.reason] : undefined;
    let text = err.message;
    if (err.reason === 'invalid_params') {
      const issues = err.data?.issues;
      if (Array.isArray(issues) && issues.length > 0) {
        text = issues.map((i: { message?: string }) => i.message ?? '').join('; ');
      }
    }
    return friendly ? { title: friendly, text } : { title: err.message };
  }
  if (err instanceof Error) return { title: err.message };
  return { title: String(err) };
}

function storageGet(key: string): string | null {
  try {
    return localStorage.getItem(key);
  } catch {
    return null;
  }
}

function storageSet(key: string, value: string): void {
  try {
    localStorage.setItem(key, value);
  } catch {
    /* storage disabled */
  }
}

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
    banned: [] as { peerId: string; nick: string }[],
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

export const useChatStore = defineStore('chat', () => {
  let client: ApiClient | null = null;
  const me = ref<WhoAmI | null>(null);
  const connection = ref<ConnectionState>('connecting');
  /** Connection attempts that failed in a row (the banner gets more helpful as it grows). */
  const failedConnects = ref(0);
  const synced = ref(false);
  const conversations = shallowReactive(new Map<string, Conversation>());
  const directory = ref<RoomInfo[]>([]);
  const peers = shallowReactive(new Map<string, PeerInfo>());
  const activeKey = ref<string | null>(null);
  const toasts = ref<Toast[]>([]);
  /** Asks the message list to scroll to and flash a message. */
  const focusRequest = ref<{ key: string; id: string; nonce: number } | null>(null);
  const pageVisible = ref(true);
  const nickChosen = ref(storageGet(LS_NICK_CHOSEN) === '1');
  const unsubscribers: (() => void)[] = [];
  const typingSentAt = new Map<string, number>();
  let typingTimer: ReturnType<typeof setInterval> | undefined;
  let toastSeq = 0;
  let systemSeq = 0;
  let dmDiscoveryDone = false;

  // ------------------------------------------------------------ getters

  const active = computed(() => (activeKey.value ? (conversations.get(activeKey.value) ?? null) : null));
  const joinedRooms = computed(() =>
    [...conversations.values()].filter((c) => c.kind === 'room' && c.joined).sort((a, b) => a.id.localeCompare(b.id)),
  );
  const dms = computed(() =>
    [...conversations.values()]
      .filter((c) => c.kind === 'dm')
      .sort((a, b) => b.lastActivity - a.lastActivity || a.title.localeCompare(b.title)),
  );
  /** Sidebar order, used by Alt+Up/Down. */
  const navOrder = computed(() => [...joinedRooms.value, ...dms.value].map((c) => c.key));
  const totalUnread = computed(() => {
    let n = 0;
    for (const c of conversations.values()) if (c.joined) n += c.unread;
    return n;
  });
  const peerList = computed(() =>
    [...peers.values()]
      .filter((p) => p.peerId !== me.value?.peerId)
      .sort((a, b) => Number(b.connected) - Number(a.connected) || a.nick.localeCompare(b.nick)),
  );

  function myRole(conv: Conversation | null | undefined): Role | null {
    if (!conv || conv.kind !== 'room' || !me.value) return null;
    return conv.members.find((m) => m.peerId === me.value?.peerId)?.role ?? null;
  }

  /** Whether I may kick/ban `target` in `conv` (owners and moderators, over lower roles). */
  function canModerate(conv: Conversation | null | undefined, target?: Member): boolean {
    const role = myRole(conv);
    if (role !== 'owner' && role !== 'moderator') return false;
    if (!target) return true;
    if (target.peerId === me.value?.peerId) return false;
    return ROLE_RANK[role] > ROLE_RANK[target.role];
  }

  function nickOf(peerId: string | undefined, conv?: Conversation | null): string {
    if (!peerId) return 'someone';
    if (peerId === me.value?.peerId) return me.value.nick;
    return conv?.members.find((m) => m.peerId === peerId)?.nick ?? peers.get(peerId)?.nick ?? conv?.authors.get(peerId) ?? peerId;
  }

  function isOnline(peerId: string): boolean {
    if (peerId === me.value?.peerId) return true;
    return peers.get(peerId)?.connected ?? false;
  }

  // ------------------------------------------------------------ toasts

  function toast(kind: Toast['kind'], title: string, text?: string, ms?: number, action?: Toast['action']): number {
    const id = ++toastSeq;
    toasts.value = [...toasts.value.slice(-4), { id, kind, title, text, ...(action ? { action } : {}) }];
    setTimeout(() => dismissToast(id), ms ?? (kind === 'error' ? 9000 : 6000));
    return id;
  }

  function dismissToast(id: number): void {
    toasts.value = toasts.value.filter((t) => t.id !== id);
  }

  function reportError(err: unknown): void {
    const { title, text } = describeError(err);
    toast('error', title, text);
  }

  // ------------------------------------------------------------ conversations

  function ensureRoom(room: string): Conversation {
    let conv = conversations.get(roomKey(room));
    if (!conv) {
      conv = makeConversation('room', room, room);
      conversations.set(conv.key, conv);
    }
    return conv;
  }

  function ensureDm(peerId: string, nick?: string): Conversation {
    let conv = conversations.get(dmKey(peerId));
    if (!conv) {
      conv = makeConversation('dm', peerId, nick ?? peers.get(peerId)?.nick ?? peerId.slice(0, 8));
      conversations.set(conv.key, conv);
    } else if (nick && conv.title !== nick) {
      conv.title = nick;
    }
    return conv;
  }

  function system(conv: Conversation, text: string): void {
    addMessages(conv, [
      {
        id: `sys:${++systemSeq}`,
        room: conv.kind === 'room' ? conv.id : null,
        from: { peerId: '', nick: '' },
        text,
        sentAt: Date.now(),
        system: true,
      },
    ]);
  }

  function isViewing(conv: Conversation): boolean {
    return activeKey.value === conv.key && pageVisible.value;
  }

  function markRead(conv: Conversation): void {
    conv.unread = 0;
    conv.mentions = 0;
    saveReadMark(conv);
  }

  function saveReadMark(conv: Conversation): void {
    for (let i = conv.messages.length - 1; i >= 0; i--) {
      const m = conv.messages[i]!;
      if (m.system) continue;
      storageSet(LS_READ + conv.key, JSON.stringify({ id: m.id, at: m.sentAt }));
      return;
    }
  }

  function readMark(key: string): { id: string; at: number } | null {
    try {
      const v = JSON.parse(storageGet(LS_READ + key) ?? 'null') as { id?: unknown; at?: unknown } | null;
      return v && typeof v.id === 'string' && typeof v.at === 'number' ? { id: v.id, at: v.at } : null;
    } catch {
      return null;
    }
  }

  /** Counts what arrived in a conversation since it was last seen (in an earlier session). */
  function unreadSinceMark(conv: Conversation): void {
    const mark = readMark(conv.key);
    if (!mark || activeKey.value === conv.key) return;
    const msgs = conv.messages.filter((m) => !m.system);
    const at = msgs.findIndex((m) => m.id === mark.id);
    const newer = at >= 0 ? msgs.slice(at + 1) : msgs.filter((m) => m.sentAt > mark.at);
    const fromOthers = newer.filter((m) => m.from.peerId !== me.value?.peerId);
    conv.unread = fromOthers.length;
    conv.mentions = conv.kind === 'dm' ? fromOthers.length : fromOthers.filter((m) => mentions(m.text, me.value?.nick)).length;
  }

  async function loadConversation(conv: Conversation): Promise<void> {
    if (!client || conv.loading) return;
    conv.loading = true;
    const mark = markTimeline(conv);
    try {
      if (conv.kind === 'room') {
        const history = await client.call('history', { room: conv.id, limit: PAGE });
        replaceWithHistory(conv, history, mark);
        conv.hasMore = history.length >= PAGE;
      } else {
        const history = await client.call('dmHistory', { peer: conv.id, limit: DM_PAGE });
        replaceWithHistory(conv, history, mark);
        conv.hasMore = history.length >= DM_PAGE;
      }
      conv.loaded = true;
      if (isViewing(conv)) saveReadMark(conv);
    } catch (err) {
      reportError(err);
    } finally {
      conv.loading = false;
    }
  }

  async function loadOlder(conv: Conversation): Promise<number> {
    if (!client || conv.loadingOlder || !conv.hasMore || !conv.loaded) return 0;
    const first = conv.messages.find((m) => !m.system);
    if (!first) {
      conv.hasMore = false;
      return 0;
    }
    conv.loadingOlder = true;
    try {
      if (conv.kind === 'room') {
        const older = await client.call('history', { room: conv.id, before: first.id, limit: PAGE });
        const added = addMessages(conv, older, 'prepend');
        conv.hasMore = older.length >= PAGE;
        return added.length;
      }
      const have = conv.messages.filter((m) => !m.system).length;
      const limit = Math.min(1000, have + DM_PAGE);
      const all = await client.call('dmHistory', { peer: conv.id, limit });
      const added = addMessages(
        conv,
        all.filter((m) => !conv.index.has(m.id)),
        'prepend',
      );
      conv.hasMore = all.length >= limit && limit < 1000;
      return added.length;
    } catch (err) {
      reportError(err);
      return 0;
    } finally {
      conv.loadingOlder = false;
    }
  }

  function open(key: string | null): void {
    activeKey.value = key;
    if (!key) return;
    storageSet(LS_ACTIVE, key);
    const conv = conversations.get(key);
    if (!conv) return;
    if (pageVisible.value) markRead(conv);
    if (!conv.loaded) void loadConversation(conv);
  }

  function openTarget(target: NavigateTarget): void {
    const key = target.kind === 'room' ? roomKey(target.id) : dmKey(target.id);
    if (target.kind === 'dm') ensureDm(target.id);
    if (conversations.has(key)) open(key);
  }

  /** Alt+Up/Down: the previous/next conversation in sidebar order. */
  function move(delta: number): void {
    const order = navOrder.value;
    if (order.length === 0) return;
    const at = activeKey.value ? order.indexOf(activeKey.value) : -1;
    const next = at === -1 ? (delta > 0 ? 0 : order.length - 1) : (at + delta + order.length) % order.length;
    open(order[next] ?? null);
  }

  function leaveView(conv: Conversation): void {
    if (activeKey.value !== conv.key) return;
    const next = navOrder.value.find((k) => k !== conv.key) ?? null;
    open(next);
  }

  // ------------------------------------------------------------ events

  function maybeNotify(title: string, body: string, key: string): void {
    if (!client || client.kind !== 'ws') return; // the desktop shell notifies natively
    if (typeof Notification === 'undefined' || Notification.permission !== 'granted') return;
    if (typeof document !== 'undefined' && !document.hidden && document.hasFocus()) return;
    try {
      const n = new Notification(title, { body: body.length > 200 ? body.slice(0, 199) + '…' : body, tag: key });
      n.onclick = () => {
        window.focus();
        open(key);
        n.close();
      };
    } catch {
      /* notifications unavailable */
    }
  }

  /** Live events carry the author's current nick: keep the peer list up to date with it. */
  function notePeerNick(peerId: string, nick: string): void {
    const p = peers.get(peerId);
    if (p && p.nick !== nick) peers.set(peerId, { ...p, nick });
    const dm = conversations.get(dmKey(peerId));
    if (dm && dm.title !== nick) dm.title = nick;
  }

  function onMessage(m: Message): void {
    if (m.room === null) {
      onDm(m);
      return;
    }
    let conv = conversations.get(roomKey(m.room));
    if (!conv) {
      // Only rooms this peer is in get a conversation (history fills in the rest on open).
      if (!directory.value.some((r) => r.room === m.room && r.joined)) return;
      conv = ensureRoom(m.room);
      conv.joined = true;
    }
    if (addMessages(conv, [m]).length === 0) return;
    if (!m.late) notePeerNick(m.from.peerId, m.from.nick);
    conv.typing = conv.typing.filter((t) => t.peerId !== m.from.peerId);
    if (isViewing(conv)) saveReadMark(conv);
    if (m.from.peerId === me.value?.peerId) return;
    const mentioned = mentions(m.text, me.value?.nick);
    if (!isViewing(conv)) {
      conv.unread++;
      if (mentioned) conv.mentions++;
    }
    if (mentioned) maybeNotify(`${m.from.nick} in #${m.room}`, m.text, conv.key);
  }

  function onDm(m: Message): void {
    const mine = m.from.peerId === me.value?.peerId;
    const other = mine ? m.to : m.from;
    if (!other) return;
    const conv = ensureDm(other.peerId, other.nick);
    if (addMessages(conv, [m]).length === 0) return;
    if (isViewing(conv)) saveReadMark(conv);
    if (!mine && !m.late) notePeerNick(m.from.peerId, m.from.nick);
    if (mine) return;
    if (!isViewing(conv)) {
      conv.unread++;
      conv.mentions++;
    }
    maybeNotify(`${m.from.nick} (direct message)`, m.text, conv.key);
  }

  function updateDirectory(ev: EventPayloads['member']): void {
    const isMe = ev.peerId === me.value?.peerId;
    let info = directory.value.find((r) => r.room === ev.room);
    if (!info) {
      info = { room: ev.room, joined: false, private: false, members: [], banned: [] };
      directory.value = [...directory.value, info];
    }
    const members = info.members.filter((m) => m.peerId !== ev.peerId);
    const prev = info.members.find((m) => m.peerId === ev.peerId);
    if (ev.change === 'joined' || ev.change === 'role') {
      members.push({ peerId: ev.peerId, nick: ev.nick, role: ev.role ?? prev?.role ?? 'member', online: isOnline(ev.peerId) });
    }
    const joined = isMe ? ev.change === 'joined' || (ev.change === 'role' && info.joined) : info.joined;
    directory.value = directory.value.map((r) => (r.room === ev.room ? { ...r, joined, members } : r));
  }

  function onMember(ev: EventPayloads['member']): void {
    updateDirectory(ev);
    if (ev.peerId !== me.value?.peerId && ev.nick) notePeerNick(ev.peerId, ev.nick);
    const isMe = ev.peerId === me.value?.peerId;
    if (ev.change === 'invited' && isMe) {
      const by = ev.by ? nickOf(ev.by) : 'Someone';
      toast('info', `${by} invited you to #${ev.room}`, 'An invite-only room, end-to-end encrypted.', 20000, {
        label: 'Join',
        run: () => void joinRoom(ev.room),
      });
      return;
    }
    let conv = conversations.get(roomKey(ev.room));
    if (!conv) {
      if (!(isMe && ev.change === 'joined')) return;
      conv = ensureRoom(ev.room);
    }
    const who = isMe ? 'You' : ev.nick;
    const by = ev.by ? nickOf(ev.by, conv) : undefined;
    const reason = ev.reason ? ` (${ev.reason})` : '';
    const existing = conv.members.find((m) => m.peerId === ev.peerId);
    const without = (): Member[] => conv.members.filter((m) => m.peerId !== ev.peerId);
    switch (ev.change) {
      case 'joined': {
        const wasMember = !!existing;
        conv.members = [
          ...without(),
          { peerId: ev.peerId, nick: ev.nick, role: ev.role ?? existing?.role ?? 'member', online: isOnline(ev.peerId) },
        ];
        conv.banned = conv.banned.filter((b) => b.peerId !== ev.peerId);
        if (isMe) {
          // Joined from elsewhere (another window, a script): fetch the room's roles and flags.
          if (!conv.joined) void refreshDirectory();
          conv.joined = true;
        } else if (!wasMember && conv.joined) {
          system(conv, `${ev.nick} joined #${ev.room}`);
        }
        break;
      }
      case 'left':
        conv.members = without();
        if (isMe) conv.joined = false;
        else if (conv.joined) system(conv, `${ev.nick} left #${ev.room}`);
        break;
      case 'kicked':
      case 'banned': {
        conv.members = without();
        const verb = ev.change === 'kicked' ? 'removed' : 'banned';
        if (ev.change === 'banned' && !conv.banned.some((b) => b.peerId === ev.peerId)) {
          conv.banned = [...conv.banned, { peerId: ev.peerId, nick: ev.nick }];
        }
        if (isMe) {
          const wasJoined = conv.joined;
          conv.joined = false;
          conv.typing = [];
          system(conv, `You were ${verb} from #${ev.room}${by ? ` by ${by}` : ''}${reason}`);
          if (wasJoined) {
            toast('warning', `You were ${verb} from #${ev.room}`, by ? `by ${by}${reason}` : reason.trim() || undefined, 12000);
            leaveView(conv);
          }
        } else {
          system(conv, `${who} was ${verb} from #${ev.room}${by ? ` by ${by}` : ''}${reason}`);
        }
        break;
      }
      case 'unbanned':
        conv.banned = conv.banned.filter((b) => b.peerId !== ev.peerId);
        if (conv.joined) system(conv, `${who} ${isMe ? 'were' : 'was'} unbanned from #${ev.room}${by ? ` by ${by}` : ''}`);
        break;
      case 'invited':
        if (conv.joined) system(conv, `${by ?? 'Someone'} invited ${ev.nick} to #${ev.room}`);
        break;
      case 'role':
        if (existing && ev.role) {
          conv.members = conv.members.map((m) => (m.peerId === ev.peerId ? { ...m, role: ev.role as Role, nick: ev.nick } : m));
        }
        if (ev.role && conv.joined) {
          const what = ev.role === 'member' ? 'a regular member' : `${ev.role === 'owner' ? 'an' : 'a'} ${ev.role}`;
          system(conv, `${by ?? 'Someone'} made ${isMe ? 'you' : ev.nick} ${what}`);
        }
        break;
    }
  }

  function onPeer(ev: EventPayloads['peer']): void {
    const prev = peers.get(ev.peerId);
    const connected = ev.state === 'up';
    peers.set(ev.peerId, {
      peerId: ev.peerId,
      nick: ev.nick || prev?.nick || ev.peerId.slice(0, 8),
      connected,
      addresses: prev?.addresses ?? [],
      state: connected ? 'connected' : 'offline',
      source: prev?.source,
      fingerprint: prev?.fingerprint ?? fingerprint(ev.peerId),
    });
    for (const conv of conversations.values()) {
      if (conv.kind === 'room') {
        if (conv.members.some((m) => m.peerId === ev.peerId)) {
          conv.members = conv.members.map((m) => (m.peerId === ev.peerId ? { ...m, online: connected, nick: ev.nick || m.nick } : m));
        }
      } else if (conv.id === ev.peerId && ev.nick) {
        conv.title = ev.nick;
      }
    }
  }

  function pruneTyping(): void {
    const now = Date.now();
    let any = false;
    for (const conv of conversations.values()) {
      if (conv.typing.length === 0) continue;
      const left = conv.typing.filter((t) => t.until > now);
      if (left.length !== conv.typing.length) conv.typing = left;
      if (left.length > 0) any = true;
    }
    if (!any && typingTimer) {
      clearInterval(typingTimer);
      typingTimer = undefined;
    }
  }

  function onTyping(ev: EventPayloads['typing']): void {
    if (ev.peerId === me.value?.peerId) return;
    if (ev.nick) notePeerNick(ev.peerId, ev.nick);
    const conv = conversations.get(roomKey(ev.room));
    if (!conv) return;
    const until = Date.now() + TYPING_SHOW_MS;
    conv.typing = [...conv.typing.filter((t) => t.peerId !== ev.peerId), { peerId: ev.peerId, nick: ev.nick, until }];
    typingTimer ??= setInterval(pruneTyping, 500);
  }

  function onIdentity(ev: EventPayloads['identity']): void {
    toast(
      'warning',
      `"${ev.nick}" has a new key`,
      `A peer calling itself ${ev.nick} (${fingerprint(ev.peerId)}) is not the ${ev.nick} you knew (${fingerprint(ev.knownPeerId)}). It may be someone else.`,
      15000,
    );
  }

  // ------------------------------------------------------------ sync

  function applyRooms(rooms: RoomInfo[]): void {
    directory.value = rooms;
    const joined = new Set<string>();
    for (const r of rooms) {
      if (!r.joined) continue;
      joined.add(r.room);
      const conv = ensureRoom(r.room);
      conv.joined = true;
      conv.private = !!r.private;
      conv.members = r.members;
      conv.banned = r.banned ?? [];
    }
    for (const conv of conversations.values()) {
      if (conv.kind === 'room' && conv.joined && !joined.has(conv.id)) conv.joined = false;
    }
  }

  async function discoverDms(list: PeerInfo[]): Promise<void> {
    if (!client || dmDiscoveryDone) return;
    dmDiscoveryDone = true;
    const c = client;
    const others = list.filter((p) => p.peerId !== me.value?.peerId).slice(0, 200);
    await Promise.all(
      others.map(async (p) => {
        try {
          const last = await c.call('dmHistory', { peer: p.peerId, limit: 1 });
          const m = last[0];
          if (!m) return;
          const conv = ensureDm(p.peerId, p.nick);
          conv.lastActivity = Math.max(m.sentAt, 1);
          const mark = readMark(conv.key);
          if (mark && m.id !== mark.id && m.sentAt > mark.at && m.from.peerId !== me.value?.peerId && conv.unread === 0) {
            conv.unread = 1;
            conv.mentions = 1;
          }
        } catch {
          /* unknown peer etc. */
        }
      }),
    );
  }

  /** Loads (or reloads after a reconnect) everything from the peer. */
  async function sync(): Promise<void> {
    if (!client) return;
    const c = client;
    try {
      const [who, rooms, peerInfos] = await Promise.all([c.call('whoami'), c.call('rooms'), c.call('peers')]);
      me.value = who;
      peers.clear();
      for (const p of peerInfos) peers.set(p.peerId, p);
      applyRooms(rooms);
      const firstSync = !synced.value;
      await discoverDms(peerInfos);
      if (firstSync) {
        // Preload the rooms (switching is then instant) and count what came in since last time.
        await Promise.all(
          [...conversations.values()]
            .filter((conv) => conv.kind === 'room' && conv.joined && !conv.loaded && readMark(conv.key))
            .map(async (conv) => {
              await loadConversation(conv);
              unreadSinceMark(conv);
            }),
        );
      }
      // Catch up the conversations already on screen with what was missed.
      await Promise.all(
        [...conversations.values()]
          .filter((conv) => conv.loaded && conv.joined)
          .map(async (conv) => {
            const latest =
              conv.kind === 'room'
                ? await c.call('history', { room: conv.id, limit: PAGE })
                : await c.call('dmHistory', { peer: conv.id, limit: DM_PAGE });
            addMessages(conv, latest);
          }),
      );
      synced.value = true;
      const current = activeKey.value ? conversations.get(activeKey.value) : undefined;
      if (!current || (current.kind === 'room' && !current.joined)) {
        const saved = storageGet(LS_ACTIVE);
        const savedConv = saved ? conversations.get(saved) : undefined;
        open(savedConv && savedConv.joined ? savedConv.key : (navOrder.value[0] ?? null));
      } else if (!current.loaded) {
        void loadConversation(current);
      }
    } catch (err) {
      reportError(err);
    }
  }

  function init(c: ApiClient): void {
    client = c;
    connection.value = c.state;
    unsubscribers.push(
      c.on('ready', (who) => (me.value = who)),
      c.on('message', onMessage),
      c.on('dm', onDm),
      c.on('member', onMember),
      c.on('peer', onPeer),
      c.on('typing', onTyping),
      c.on('identity', onIdentity),
      c.onState((state) => {
        const was = connection.value;
        connection.value = state;
        if (state === 'open') failedConnects.value = 0;
        else if (state === 'closed' && was === 'connecting') failedConnects.value++;
        if (state === 'open' && was !== 'open') void sync();
      }),
      c.onNavigate((target) => openTarget(target)),
    );
    if (typeof document !== 'undefined') {
      const onVisibility = (): void => {
        pageVisible.value = document.visibilityState !== 'hidden';
      };
      onVisibility();
      document.addEventListener('visibilitychange', onVisibility);
      unsubscribers.push(() => document.removeEventListener('visibilitychange', onVisibility));
    }
    if (c.state === 'open') void sync();
  }

  function dispose(): void {
    for (const u of unsubscribers.splice(0)) u();
    if (typingTimer) clearInterval(typingTimer);
    typingTimer = undefined;
    client = null;
  }

  watch([activeKey, pageVisible], () => {
    const conv = active.value;
    if (conv && pageVisible.value) markRead(conv);
  });

  watch(totalUnread, (n) => {
    client?.setUnread(n);
    if (typeof document !== 'undefined') document.title = n > 0 ? `(${n}) Chatty` : 'Chatty';
  });

  // ------------------------------------------------------------ actions

  function api(): ApiClient {
    if (!client) throw new Error('Not connected');
    return client;
  }

  async function setNick(nick: string): Promise<boolean> {
    const parsed = nickSchema.safeParse(nick);
    if (!parsed.success) {
      toast('error', 'That nickname is not valid', parsed.error.issues[0]?.message);
      return false;
    }
    try {
      const res = await api().call('setNick', { nick: parsed.data });
      if (me.value) me.value = { ...me.value, nick: res.nick };
      for (const conv of conversations.values()) {
        if (conv.members.some((m) => m.peerId === res.peerId)) {
          conv.members = conv.members.map((m) => (m.peerId === res.peerId ? { ...m, nick: res.nick } : m));
        }
      }
      chooseNickDone();
      return true;
    } catch (err) {
      reportError(err);
      return false;
    }
  }

  function chooseNickDone(): void {
    nickChosen.value = true;
    storageSet(LS_NICK_CHOSEN, '1');
  }

  async function refreshDirectory(): Promise<void> {
    try {
      applyRooms(await api().call('rooms'));
    } catch (err) {
      reportError(err);
    }
  }

  async function joinRoom(name: string, opts: { private?: boolean } = {}): Promise<boolean> {
    const raw = name.trim().replace(/^#/, '');
    const parsed = roomSchema.safeParse(raw);
    if (!parsed.success) {
      toast('error', 'That room name is not valid', parsed.error.issues[0]?.message);
      return false;
    }
    const existing = conversations.get(roomKey(parsed.data));
    const mark = existing ? markTimeline(existing) : undefined;
    try {
      const res = await api().call('join', { room: parsed.data, ...(opts.private ? { private: true } : {}) });
      const conv = ensureRoom(res.room);
      conv.joined = true;
      conv.private = !!opts.private || !!directory.value.find((r) => r.room === res.room)?.private;
      conv.members = res.members;
      replaceWithHistory(conv, res.history, mark);
      conv.hasMore = res.history.length > 0;
      conv.loaded = true;
      open(conv.key);
      void refreshDirectory();
      return true;
    } catch (err) {
      reportError(err);
      return false;
    }
  }

  async function leaveRoom(room: string): Promise<void> {
    try {
      await api().call('leave', { room });
      const conv = conversations.get(roomKey(room));
      if (conv) {
        conv.joined = false;
        conv.typing = [];
        markRead(conv);
        leaveView(conv);
      }
      void refreshDirectory();
    } catch (err) {
      reportError(err);
    }
  }

  function startDm(peerId: string, nick?: string): void {
    if (peerId === me.value?.peerId) return;
    const conv = ensureDm(peerId, nick);
    open(conv.key);
  }

  /** Sends the text to the active conversation. Returns false (and shows why) when it failed. */
  async function send(conv: Conversation, text: string): Promise<boolean> {
    const body = text.trim();
    if (!body) return false;
    try {
      if (conv.kind === 'room') {
        const replyTo = conv.replyTo?.system ? undefined : conv.replyTo?.id;
        const msg = await api().call('send', { room: conv.id, text: body, ...(replyTo ? { replyTo } : {}) });
        addMessages(conv, [msg]);
      } else {
        const msg = await api().call('dm', { to: conv.id, text: body });
        addMessages(conv, [msg]);
      }
      conv.replyTo = null;
      typingSentAt.delete(conv.key);
      if (isViewing(conv)) saveReadMark(conv);
      return true;
    } catch (err) {
      reportError(err);
      return false;
    }
  }

  /** Tells the room I am typing, at most once every 3 s. */
  function notifyTyping(conv: Conversation): void {
    if (!client || conv.kind !== 'room' || !conv.joined || connection.value !== 'open') return;
    const now = Date.now();
    if (now - (typingSentAt.get(conv.key) ?? 0) < TYPING_SEND_MS) return;
    typingSentAt.set(conv.key, now);
    client.call('typing', { room: conv.id }).catch(() => {});
  }

  async function moderate(action: 'kick' | 'ban' | 'unban', room: string, peer: string, reason?: string): Promise<boolean> {
    try {
      const r = reason?.trim();
      await api().call(action, { room, peer, ...(r ? { reason: r } : {}) });
      if (action === 'unban') {
        const conv = conversations.get(roomKey(room));
        if (conv) conv.banned = conv.banned.filter((b) => b.peerId !== peer);
      }
      return true;
    } catch (err) {
      reportError(err);
      return false;
    }
  }

  async function invite(room: string, peer: string): Promise<boolean> {
    try {
      await api().call('invite', { room, peer });
      return true;
    } catch (err) {
      reportError(err);
      return false;
    }
  }

  async function setRole(room: string, peer: string, role: Role): Promise<boolean> {
    try {
      await api().call('setRole', { room, peer, role });
      return true;
    } catch (err) {
      reportError(err);
      return false;
    }
  }

  async function search(conv: Conversation, query: string): Promise<Message[]> {
    const q = query.trim();
    if (!q) return [];
    try {
      if (conv.kind === 'room') return await api().call('search', { query: q, room: conv.id, limit: 100 });
      const all = await api().call('search', { query: q, limit: 200 });
      return all.filter((m) => m.room === null && (m.from.peerId === conv.id || m.to?.peerId === conv.id));
    } catch (err) {
      reportError(err);
      return [];
    }
  }

  /** Scrolls to a message, loading older history until it is there. */
  async function jumpTo(conv: Conversation, id: string): Promise<boolean> {
    if (!conv.loaded) await loadConversation(conv);
    for (let i = 0; i < 100 && !conv.index.has(id) && conv.hasMore; i++) {
      if ((await loadOlder(conv)) === 0 && !conv.hasMore) break;
    }
    if (!conv.index.has(id)) {
      toast('info', 'That message is not available here anymore');
      return false;
    }
    focusRequest.value = { key: conv.key, id, nonce: (focusRequest.value?.nonce ?? 0) + 1 };
    return true;
  }

  /**
   * Slash commands typed in the composer: /join room, /leave [room], /nick name,
   * /msg nick text, /help. Returns whether the command worked, or null when
   * `text` is not a command (`//text` sends "/text").
   */
  async function command(conv: Conversation, text: string): Promise<boolean | null> {
    const m = /^\/([a-z]+)(?:\s+([\s\S]*))?$/i.exec(text.trim());
    if (!m || text.trim().startsWith('//')) return null;
    const name = (m[1] ?? '').toLowerCase();
    const arg = (m[2] ?? '').trim();
    switch (name) {
      case 'join':
        return arg ? joinRoom(arg) : (toast('error', 'Which room?', 'Type /join room-name'), false);
      case 'leave': {
        const room = arg.replace(/^#/, '') || (conv.kind === 'room' ? conv.id : '');
        if (!room) return (toast('error', 'Which room?', 'Type /leave room-name'), false);
        await leaveRoom(room);
        return true;
      }
      case 'nick':
        return arg ? setNick(arg) : (toast('error', 'Which nickname?', 'Type /nick new-name'), false);
      case 'msg':
      case 'dm': {
        const [to = '', ...rest] = arg.split(/\s+/);
        const body = rest.join(' ').trim();
        if (!to || !body) return (toast('error', 'Usage', '/msg nick message'), false);
        try {
          const sent = await api().call('dm', { to: to.replace(/^@/, ''), text: body });
          if (sent.to) {
            const dm = ensureDm(sent.to.peerId, sent.to.nick);
            addMessages(dm, [sent]);
            open(dm.key);
          }
          return true;
        } catch (err) {
          reportError(err);
          return false;
        }
      }
      case 'help':
        toast('info', 'Commands', '/join room · /leave [room] · /nick name · /msg nick text · start with // to send a leading /', 12000);
        return true;
      default:
        toast('error', `Unknown command /${name}`, 'Type /help for the list, or start with // to send it as text.');
        return false;
    }
  }

  function setDraft(conv: Conversation, text: string): void {
    conv.draft = text;
  }

  function setReply(conv: Conversation, msg: ChatItem | null): void {
    conv.replyTo = msg && !msg.system ? msg : null;
  }

  async function connectTo(url: string): Promise<boolean> {
    try {
      const res = await api().call('connect', { url: url.trim() });
      toast('info', 'Connected', `Peer ${fingerprint(res.peerId)} at ${url.trim()}`);
      return true;
    } catch (err) {
      reportError(err);
      return false;
    }
  }

  return {
    // state
    me,
    connection,
    failedConnects,
    synced,
    conversations,
    directory,
    peers,
    activeKey,
    toasts,
    focusRequest,
    pageVisible,
    nickChosen,
    // getters
    active,
    joinedRooms,
    dms,
    navOrder,
    totalUnread,
    peerList,
    // helpers
    myRole,
    canModerate,
    nickOf,
    isOnline,
    // lifecycle
    init,
    dispose,
    sync,
    // event handlers (exposed for tests)
    onMessage,
    onDm,
    onMember,
    onPeer,
    onTyping,
    onIdentity,
    // actions
    toast,
    dismissToast,
    reportError,
    open,
    openTarget,
    move,
    loadConversation,
    loadOlder,
    setNick,
    chooseNickDone,
    refreshDirectory,
    joinRoom,
    leaveRoom,
    startDm,
    send,
    notifyTyping,
    moderate,
    invite,
    setRole,
    search,
    jumpTo,
    command,
    setDraft,
    setReply,
    connectTo,
  };
});

export type ChatStore = ReturnType<typeof useChatStore>;
