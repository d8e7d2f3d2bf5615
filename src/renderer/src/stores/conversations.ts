/**
 * The conversations: one record per joined room (keyed by room id, never by name) and one per DM
 * peer, the sidebar's lists of them, how they and the people in them are named on screen, and my
 * role in a room. Peers' nicks and links are kept current in them here. What fills a record is
 * other stores' business: history (its timeline), membership (members, bans), typing, composer
 * (draft, reply), unread (its counts); navigation says which one is open.
 */
import { defineStore } from 'pinia';
import { computed, shallowReactive, watch } from 'vue';
import type { EventPayloads, Member, Role } from '../../../shared/api.js';
import { useDirectoryStore } from './directory';
import { usePeersStore } from './peers';
import { useSessionStore } from './session';
import { dmKey, makeConversation, roomKey, type Conversation } from './timeline';

const ROLE_RANK: Record<Role, number> = { owner: 3, moderator: 2, member: 1 };

export const useConversationsStore = defineStore('conversations', () => {
  const session = useSessionStore();
  const peers = usePeersStore();
  const directory = useDirectoryStore();
  const byKey = shallowReactive(new Map<string, Conversation>());

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

  // ------------------------------------------------------------ peers' names and links

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
    joinedRooms,
    dms,
    label,
    room,
    myRole,
    canModerate,
    nickOf,
    ensureRoom,
    ensureDm,
    renameDm,
    applyPeer,
  };
});
