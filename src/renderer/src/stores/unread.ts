/**
 * What the user has not read yet. The peer keeps one read marker per conversation, shared by all
 * of its UIs (the desktop app and browser tabs agree): loaded at start (`readMarkers`), followed by
 * `read` events, moved forward with `markRead` once the newest message of the open conversation is
 * on screen. Here too: the unread and mention counts shown meanwhile, the "New messages" divider
 * of a conversation just opened, the total on the badge and the tab title, and the system
 * notification for a mention or a DM.
 */
import { defineStore } from 'pinia';
import { computed, ref, shallowReactive, watch } from 'vue';
import type { Message, ReadMarker } from '../../../shared/api.js';
import { messageSummary } from '../lib/files';
import { mentions } from '../lib/format';
import { useConversationsStore } from './conversations';
import { useNavigationStore } from './navigation';
import { useNoticesStore } from './notices';
import { useSessionStore } from './session';
import { dmKey, newestMessage, positionOf, roomKey, type Conversation } from './timeline';

/** How long the newest message stays on screen before it is marked read (scrolling past does not count). */
export const MARK_READ_DELAY_MS = 400;

export const useUnreadStore = defineStore('unread', () => {
  const session = useSessionStore();
  const notices = useNoticesStore();
  const conversations = useConversationsStore();
  const navigation = useNavigationStore();
  /** The peer's marker of each conversation, by conversation key. */
  const markers = shallowReactive(new Map<string, ReadMarker>());
  /** Per conversation opened with unread messages: the last message read then (the divider goes after it). */
  const dividers = shallowReactive(new Map<string, string>());
  /** The message list is scrolled to its newest message (set by the list). */
  const atLatest = ref(true);
  const timers = new Map<string, ReturnType<typeof setTimeout>>();

  const total = computed(() => {
    let n = 0;
    for (const c of conversations.byKey.values()) if (c.joined) n += c.unread;
    return n;
  });

  function isViewing(conv: Conversation): boolean {
    return navigation.activeKey === conv.key && session.pageVisible;
  }

  /** A marker from the peer (the list at start, a `read` event): the counts follow it. */
  function applyMarker(marker: ReadMarker): void {
    let conv: Conversation | undefined;
    if (marker.room) conv = conversations.room(marker.room);
    else if (marker.peer && marker.peer !== session.me?.peerId) conv = conversations.ensureDm(marker.peer);
    if (!conv) return;
    const prev = markers.get(conv.key);
    // A marker never moves back: an older answer arriving late is ignored.
    const at = positionOf(conv, marker.message);
    if (at >= 0 && at < positionOf(conv, prev?.message)) return;
    markers.set(conv.key, marker);
    if (isViewing(conv)) {
      schedule(conv);
      return;
    }
    conv.unread = marker.unread;
    conv.mentions = marker.mentions;
  }

  function applyMarkers(list: readonly ReadMarker[]): void {
    for (const m of list) applyMarker(m);
  }

  /** A new message in `conv`: counted unless on screen; a mention (any DM is one) also notifies. */
  function arrived(conv: Conversation, m: Message): void {
    const me = session.me;
    if (isViewing(conv)) schedule(conv);
    if (m.from.peerId === me?.peerId) return;
    const dm = conv.kind === 'dm';
    const mentioned = dm || mentions(m.text, me?.nick);
    if (!isViewing(conv)) {
      conv.unread++;
      if (mentioned) conv.mentions++;
    }
    if (!mentioned) return;
    const title = dm ? `${m.from.nick} (direct message)` : `${m.from.nick} in #${conversations.label(conv)}`;
    notices.notify(title, messageSummary(m), conv.key, () => navigation.open(conv.key));
  }

  /** Read on screen: counts go at once; the peer's marker moves once the newest message has stayed in view. */
  function schedule(conv: Conversation): void {
    conv.unread = 0;
    conv.mentions = 0;
    if (!atLatest.value) return;
    clearTimeout(timers.get(conv.key));
    timers.set(
      conv.key,
      setTimeout(() => {
        timers.delete(conv.key);
        if (isViewing(conv) && atLatest.value) void markNewest(conv);
      }, MARK_READ_DELAY_MS),
    );
  }

  /** Moves the peer's marker to the newest loaded message, never back. */
  async function markNewest(conv: Conversation): Promise<void> {
    const client = session.current();
    const newest = newestMessage(conv);
    if (!client || !newest || session.connection !== 'open') return;
    const marker = markers.get(conv.key);
    if (marker?.message === newest.id && marker.unread === 0) return;
    if (marker?.message && positionOf(conv, marker.message) > positionOf(conv, newest.id)) return;
    try {
      const res = await client.call(
        'markRead',
        conv.kind === 'room' ? { room: conv.id, message: newest.id } : { peer: conv.id, message: newest.id },
      );
      applyMarker(res);
    } catch {
      /* the next message on screen tries again */
    }
  }

  /** The list reports whether its newest message is on screen. */
  function setAtLatest(conv: Conversation, value: boolean): void {
    atLatest.value = value;
    if (value && isViewing(conv)) schedule(conv);
  }

  /** Where the "New messages" divider of the open conversation goes, if anywhere. */
  function dividerOf(conv: Conversation): string | undefined {
    return dividers.get(conv.key);
  }

  // Opening a conversation with unread messages puts the divider after the last one read; leaving it removes the divider.
  watch(
    [() => navigation.activeKey, () => session.pageVisible],
    ([key], [oldKey]) => {
      if (oldKey && oldKey !== key) dividers.delete(oldKey);
      const conv = navigation.active;
      if (!conv || !session.pageVisible) return;
      const marker = markers.get(conv.key);
      if (key !== oldKey && conv.unread > 0 && marker?.message) dividers.set(conv.key, marker.message);
      schedule(conv);
    },
    { flush: 'sync' },
  );

  // What loads in the conversation on screen is read too.
  watch([() => navigation.active?.version, () => navigation.active?.loaded], () => {
    const conv = navigation.active;
    if (conv && session.pageVisible) schedule(conv);
  });

  watch(total, (n) => {
    session.current()?.setUnread(n);
    if (typeof document !== 'undefined') document.title = n > 0 ? `(${n}) Chatty` : 'Chatty';
  });

  /** Keys the conversations use, for the markers' owners. */
  function keyOf(marker: ReadMarker): string | undefined {
    return marker.room ? roomKey(marker.room) : marker.peer ? dmKey(marker.peer) : undefined;
  }

  function dispose(): void {
    for (const t of timers.values()) clearTimeout(t);
    timers.clear();
  }

  return { markers, dividers, atLatest, total, applyMarker, applyMarkers, arrived, markNewest, setAtLatest, dividerOf, keyOf, dispose };
});
