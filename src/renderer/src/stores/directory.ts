/**
 * Every room this peer knows of, joined or not, by id: what "browse rooms" and the quick switcher
 * list, and what decides how a room is named on screen (several rooms may share a name; see
 * shared/room-label.ts). Fed by `rooms` and kept current by member events between two loads.
 */
import { defineStore } from 'pinia';
import { computed, ref } from 'vue';
import type { EventPayloads, RoomInfo } from '../../../shared/api.js';
import { roomLabels } from '../../../shared/room-label.js';
import { useNoticesStore } from './notices';
import { usePeersStore } from './peers';
import { useSessionStore } from './session';
import { memberEntry } from './timeline';

/** A room first seen through a member event is fetched in full a little later (rooms often come in bursts). */
const REFRESH_DELAY_MS = 500;

export const useDirectoryStore = defineStore('directory', () => {
  const session = useSessionStore();
  const notices = useNoticesStore();
  const peers = usePeersStore();
  const rooms = ref<RoomInfo[]>([]);
  let refreshTimer: ReturnType<typeof setTimeout> | undefined;

  const byId = computed(() => new Map(rooms.value.map((r) => [r.id, r])));
  /** Display name of every known room: the name, with the owner where another room has the same one. */
  const labels = computed(() => roomLabels(rooms.value));

  /** How room `id` is named on screen; `fallback` (its name) while the directory does not have it yet. */
  function label(id: string, fallback?: string): string {
    return labels.value.get(id) ?? fallback ?? id;
  }

  /** The known rooms called exactly `name` (the peer matches names exactly too). */
  function named(name: string): RoomInfo[] {
    return rooms.value.filter((r) => r.name === name);
  }

  function apply(list: RoomInfo[]): void {
    clearTimeout(refreshTimer);
    rooms.value = list;
  }

  /** Reloads the list; null (and a toast) when that failed. */
  async function refresh(): Promise<RoomInfo[] | null> {
    try {
      const list = await session.api().call('rooms');
      apply(list);
      return list;
    } catch (err) {
      notices.reportError(err);
      return null;
    }
  }

  function refreshSoon(): void {
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(() => {
      session
        .current()
        ?.call('rooms')
        .then(apply)
        .catch(() => {}); // background: the next event or load tries again
    }, REFRESH_DELAY_MS);
  }

  function onMember(ev: EventPayloads['member']): void {
    const isMe = ev.peerId === session.me?.peerId;
    let info = byId.value.get(ev.room);
    if (!info) {
      // A room's first event is its creation, whose member is the creator: owner for good.
      const created = ev.change === 'joined' && ev.role === 'owner';
      const owner = created ? { peerId: ev.peerId, nick: ev.nick } : { peerId: '', nick: '' };
      info = { id: ev.room, room: ev.room, name: ev.roomName, owner, joined: false, private: false, members: [], banned: [] };
      rooms.value = [...rooms.value, info];
      refreshSoon(); // for what events do not say: invite-only or not, the owner if this was not the creation
    }
    const members = info.members.filter((m) => m.peerId !== ev.peerId);
    const prev = info.members.find((m) => m.peerId === ev.peerId);
    if (ev.change === 'joined' || ev.change === 'role') {
      members.push(memberEntry({ peerId: ev.peerId, nick: ev.nick }, ev.role ?? prev?.role ?? 'member', peers.isOnline(ev.peerId), prev));
    }
    let banned = info.banned;
    if (ev.change === 'banned' && !banned.some((b) => b.peerId === ev.peerId)) banned = [...banned, { peerId: ev.peerId, nick: ev.nick }];
    if (ev.change === 'unbanned') banned = banned.filter((b) => b.peerId !== ev.peerId);
    const joined = isMe ? ev.change === 'joined' || (ev.change === 'role' && info.joined) : info.joined;
    rooms.value = rooms.value.map((r) => (r.id === ev.room ? { ...r, joined, members, banned } : r));
  }

  function dispose(): void {
    clearTimeout(refreshTimer);
  }

  return { rooms, byId, labels, label, named, apply, refresh, onMember, dispose };
});
