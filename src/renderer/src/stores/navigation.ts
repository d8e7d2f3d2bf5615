/**
 * Which conversation is open: opening one (its history loads the first time), Alt+Up/Down through
 * the sidebar's order, a room or DM named by the desktop shell (a notification clicked), moving on
 * when the open room is left, and coming back after a reload to the one open last time. A window
 * too narrow for both panes (a phone-sized window, 400 % zoom) shows either the list of
 * conversations or the open one: `listShown` says which.
 */
import { defineStore } from 'pinia';
import { computed, ref } from 'vue';
import type { NavigateTarget } from '../../../shared/ipc.js';
import { storageGet, storageSet } from '../lib/storage';
import { useConversationsStore } from './conversations';
import { useHistoryStore } from './history';
import { useSessionStore } from './session';
import { dmKey, roomKey, type Conversation } from './timeline';

/** The open conversation's key, so a reload comes back to it. Keys of old name-keyed builds match nothing and are ignored. */
const LS_ACTIVE = 'chatty.active';

export const useNavigationStore = defineStore('navigation', () => {
  const session = useSessionStore();
  const conversations = useConversationsStore();
  const history = useHistoryStore();
  const activeKey = ref<string | null>(null);
  /** One pane at a time: the list instead of the open conversation (until one is opened). */
  const listShown = ref(false);

  const active = computed(() => (activeKey.value ? (conversations.byKey.get(activeKey.value) ?? null) : null));
  /** Sidebar order, used by Alt+Up/Down. */
  const navOrder = computed(() => [...conversations.joinedRooms, ...conversations.dms].map((c) => c.key));

  function open(key: string | null): void {
    activeKey.value = key;
    listShown.value = false;
    if (!key) return;
    storageSet(LS_ACTIVE, key);
    const conv = conversations.byKey.get(key);
    if (conv && !conv.loaded) void history.loadConversation(conv);
  }

  function openTarget(target: NavigateTarget): void {
    const key = target.kind === 'room' ? roomKey(target.id) : dmKey(target.id);
    if (target.kind === 'dm') conversations.ensureDm(target.id);
    if (conversations.byKey.has(key)) open(key);
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
    open(navOrder.value.find((k) => k !== conv.key) ?? null);
  }

  /** After a load: stay where we are, else back to the conversation open last time, else the first. */
  function restoreActive(): void {
    const current = activeKey.value ? conversations.byKey.get(activeKey.value) : undefined;
    if (!current || (current.kind === 'room' && !current.joined)) {
      const saved = storageGet(LS_ACTIVE);
      const savedConv = saved ? conversations.byKey.get(saved) : undefined;
      open(savedConv && savedConv.joined ? savedConv.key : (navOrder.value[0] ?? null));
    } else if (!current.loaded) {
      void history.loadConversation(current);
    }
  }

  function startDm(peerId: string, nick?: string): void {
    if (peerId === session.me?.peerId) return;
    open(conversations.ensureDm(peerId, nick).key);
  }

  /** Back from the open conversation to the list (one pane at a time). */
  function showList(): void {
    listShown.value = true;
  }

  return { activeKey, active, listShown, navOrder, open, openTarget, move, leaveView, restoreActive, startDm, showList };
});
