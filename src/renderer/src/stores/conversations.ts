/**
 * The conversations: one per joined room (keyed by room id, never by name) and one per DM peer.
 * Which one is open, their timelines (fed by live events and paged history), their members and
 * who is typing, and what is written and sent in them. Unread counts live on each conversation
 * but are the unread store's business.
 */
import { defineStore } from 'pinia';
import { computed, ref, shallowReactive, watch } from 'vue';
import type { EventPayloads, Member, Message, PeerInfo, Role } from '../../../shared/api.js';
import { useDirectoryStore } from './directory';
import { useNoticesStore } from './notices';
import { usePeersStore } from './peers';
import { useSessionStore } from './session';
import {
  addMessages,
  DM_PAGE,
  dmKey,
  makeConversation,
  markTimeline,
  PAGE,
  replaceWithHistory,
  roomKey,
  type Conversation,
} from './timeline';

const ROLE_RANK: Record<Role, number> = { owner: 3, moderator: 2, member: 1 };

export const useConversationsStore = defineStore('conversations', () => {
  const session = useSessionStore();
  const notices = useNoticesStore();
  const peers = usePeersStore();
  const directory = useDirectoryStore();
  const byKey = shallowReactive(new Map<string, Conversation>());
  /** Asks the message list to scroll to and flash a message. */
  const focusRequest = ref<{ key: string; id: string; nonce: number } | null>(null);
  let dmDiscoveryDone = false;

  // ------------------------------------------------------------ getters

  const joinedRooms = computed(() =>
    [...byKey.values()]
      .filter((c) => c.kind === 'room' && c.joined)
      .map((c) => ({ c, label: label(c) }))
      .sort((a, b) => a.label.localeCompare(b.label) || a.c.id.localeCompare(b.c.id))
      .map(({ c }) => c),
  );
  const dms = computed(() =>
    [...byKey.values()].filter((c) => c.kind === 'dm').sort((a, b) => b.lastActivity - a.lastActivity || a.title.localeCompare(b.title)),
  );

  /** How the conversation is named on screen: a room's name, with its owner beside a same-named room; a peer's nick. */
  function label(conv: Conversation): string {
    return conv.kind === 'room' ? directory.label(conv.id, conv.title) : conv.title;
  }

  function room(id: string): Conversation | undefined {
    return byKey.get(roomKey(id));
  }

  function myRole(conv: Conversation | null | undefined): Role | null {
    const me = session.me;
    if (!conv || conv.kind !== 'room' || !me) return null;
    return conv.members.find((m) => m.peerId === me.peerId)?.role ?? null;
  }

  /** Whether I may kick/ban `target` in `conv` (owners and moderators, over lower roles). */
  function canModerate(conv: Conversation | null | undefined, target?: Member): boolean {
    const role = myRole(conv);
    if (role !== 'owner' && role !== 'moderator') return false;
    if (!target) return true;
    if (target.peerId === session.me?.peerId) return false;
    return ROLE_RANK[role] > ROLE_RANK[target.role];
  }

  function nickOf(peerId: string | undefined, conv?: Conversation | null): string {
    if (!peerId) return 'someone';
    if (peerId === session.me?.peerId) return session.me.nick;
    return conv?.members.find((m) => m.peerId === peerId)?.nick ?? peers.nickOf(peerId) ?? conv?.authors.get(peerId) ?? peerId;
  }

  // ------------------------------------------------------------ records

  function ensureRoom(id: string, name?: string): Conversation {
    let conv = byKey.get(roomKey(id));
    if (!conv) {
      conv = makeConversation('room', id, name ?? directory.byId.get(id)?.name ?? id);
      byKey.set(conv.key, conv);
    }
    return conv;
  }

  function ensureDm(peerId: string, nick?: string): Conversation {
    let conv = byKey.get(dmKey(peerId));
    if (!conv) {
      conv = makeConversation('dm', peerId, nick ?? peers.nickOf(peerId) ?? peerId.slice(0, 8));
      byKey.set(conv.key, conv);
    } else if (nick && conv.title !== nick) {
      conv.title = nick;
    }
    return conv;
  }

  // ------------------------------------------------------------ history

  async function loadConversation(conv: Conversation): Promise<void> {
    const client = session.current();
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
    } catch (err) {
      notices.reportError(err);
    } finally {
      conv.loading = false;
    }
  }

  async function loadOlder(conv: Conversation): Promise<number> {
    const client = session.current();
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
      notices.reportError(err);
      return 0;
    } finally {
      conv.loadingOlder = false;
    }
  }

  /** Scrolls to a message, loading older history until it is there. */
  async function jumpTo(conv: Conversation, id: string): Promise<boolean> {
    if (!conv.loaded) await loadConversation(conv);
    for (let i = 0; i < 100 && !conv.index.has(id) && conv.hasMore; i++) {
      if ((await loadOlder(conv)) === 0 && !conv.hasMore) break;
    }
    if (!conv.index.has(id)) {
      notices.toast('info', 'That message is not available here anymore');
      return false;
    }
    focusRequest.value = { key: conv.key, id, nonce: (focusRequest.value?.nonce ?? 0) + 1 };
    return true;
  }

  /** After a reconnect: what the loaded conversations missed. */
  async function catchUp(): Promise<void> {
    const client = session.current();
    if (!client) return;
    await Promise.all(
      [...byKey.values()]
        .filter((conv) => conv.loaded && conv.joined)
        .map(async (conv) => {
          const latest =
            conv.kind === 'room'
              ? await client.call('history', { room: conv.id, limit: PAGE })
              : await client.call('dmHistory', { peer: conv.id, limit: DM_PAGE });
          addMessages(conv, latest);
        }),
    );
  }

  /**
   * The API lists no DM conversations: once per session, ask each known peer for its last DM.
   * Returns the conversations found with that message (the unread store compares it to its mark).
   */
  async function discoverDms(list: readonly PeerInfo[]): Promise<{ conv: Conversation; last: Message }[]> {
    const client = session.current();
    if (!client || dmDiscoveryDone) return [];
    dmDiscoveryDone = true;
    const found: { conv: Conversation; last: Message }[] = [];
    const others = list.filter((p) => p.peerId !== session.me?.peerId).slice(0, 200);
    await Promise.all(
      others.map(async (p) => {
        try {
          const last = (await client.call('dmHistory', { peer: p.peerId, limit: 1 }))[0];
          if (!last) return;
          const conv = ensureDm(p.peerId, p.nick);
          conv.lastActivity = Math.max(last.sentAt, 1);
          found.push({ conv, last });
        } catch {
          /* unknown peer etc. */
        }
      }),
    );
    return found;
  }

  /** A room message into its timeline; returns its conversation when it was new there. */
  function receiveMessage(m: Message): Conversation | null {
    if (m.room === null) return null;
    let conv = room(m.room);
    if (!conv) {
      // Only rooms this peer is in get a conversation (history fills in the rest on open).
      if (!directory.byId.get(m.room)?.joined) return null;
      conv = ensureRoom(m.room, m.roomName);
      conv.joined = true;
    }
    if (addMessages(conv, [m]).length === 0) return null;
    if (conv.typing.some((t) => t.peerId === m.from.peerId)) conv.typing = conv.typing.filter((t) => t.peerId !== m.from.peerId);
    return conv;
  }

  /** A DM (either direction) into the conversation with the other peer; returns it when the message was new. */
  function receiveDm(m: Message): Conversation | null {
    const other = m.from.peerId === session.me?.peerId ? m.to : m.from;
    if (!other) return null;
    const conv = ensureDm(other.peerId, other.nick);
    return addMessages(conv, [m]).length > 0 ? conv : null;
  }

  function renameDm(peerId: string, nick: string): void {
    const dm = byKey.get(dmKey(peerId));
    if (dm && dm.title !== nick) dm.title = nick;
  }

  /** A peer's link went up or down: its presence and nick in member lists, the title of our DM. */
  function applyPeer(ev: EventPayloads['peer']): void {
    const connected = ev.state === 'up';
    for (const conv of byKey.values()) {
      if (conv.kind === 'room') {
        if (conv.members.some((m) => m.peerId === ev.peerId)) {
          conv.members = conv.members.map((m) => (m.peerId === ev.peerId ? { ...m, online: connected, nick: ev.nick || m.nick } : m));
        }
      } else if (conv.id === ev.peerId && ev.nick) {
        conv.title = ev.nick;
      }
    }
  }

  // My new nick in the member lists where I am.
  watch(
    () => session.me?.nick,
    (nick) => {
      const me = session.me?.peerId;
      if (!nick || !me) return;
      for (const conv of byKey.values()) {
        if (conv.members.some((m) => m.peerId === me && m.nick !== nick)) {
          conv.members = conv.members.map((m) => (m.peerId === me ? { ...m, nick } : m));
        }
      }
    },
  );

  return {
    byKey,
    focusRequest,
    joinedRooms,
    dms,
    label,
    room,
    myRole,
    canModerate,
    nickOf,
    ensureRoom,
    ensureDm,
    loadConversation,
    loadOlder,
    jumpTo,
    catchUp,
    discoverDms,
    receiveMessage,
    receiveDm,
    renameDm,
    applyPeer,
  };
});
