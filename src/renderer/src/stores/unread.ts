/**
 * What the user has not seen yet: unread and mention counts per conversation, the read marks that
 * carry them across restarts (per conversation key, so per room id), the total on the badge and
 * the tab title, and the system notification for a mention or a DM. What is on screen while the
 * page is visible is read.
 */
import { defineStore } from 'pinia';
import { computed, watch } from 'vue';
import type { Message } from '../../../shared/api.js';
import { messageSummary } from '../lib/files';
import { mentions } from '../lib/format';
import { storageGet, storageSet } from '../lib/storage';
import { useConversationsStore } from './conversations';
import { useNoticesStore } from './notices';
import { useSessionStore } from './session';
import type { Conversation } from './timeline';

/** Per conversation: the last message seen. Marks of old name-keyed builds are never read again. */
const LS_READ = 'chatty.read.';

export const useUnreadStore = defineStore('unread', () => {
  const session = useSessionStore();
  const notices = useNoticesStore();
  const conversations = useConversationsStore();

  const total = computed(() => {
    let n = 0;
    for (const c of conversations.byKey.values()) if (c.joined) n += c.unread;
    return n;
  });

  function isViewing(conv: Conversation): boolean {
    return conversations.activeKey === conv.key && session.pageVisible;
  }

  function readMark(key: string): { id: string; at: number } | null {
    try {
      const v = JSON.parse(storageGet(LS_READ + key) ?? 'null') as { id?: unknown; at?: unknown } | null;
      return v && typeof v.id === 'string' && typeof v.at === 'number' ? { id: v.id, at: v.at } : null;
    } catch {
      return null;
    }
  }

  function saveReadMark(conv: Conversation): void {
    for (let i = conv.messages.length - 1; i >= 0; i--) {
      const m = conv.messages[i]!;
      if (m.system) continue;
      storageSet(LS_READ + conv.key, JSON.stringify({ id: m.id, at: m.sentAt }));
      return;
    }
  }

  function markRead(conv: Conversation): void {
    conv.unread = 0;
    conv.mentions = 0;
    saveReadMark(conv);
  }

  /** Counts what arrived in a loaded conversation since it was last seen (in an earlier session). */
  function countSinceMark(conv: Conversation): void {
    const mark = readMark(conv.key);
    if (!mark || conversations.activeKey === conv.key) return;
    const me = session.me;
    const msgs = conv.messages.filter((m) => !m.system);
    const at = msgs.findIndex((m) => m.id === mark.id);
    const newer = at >= 0 ? msgs.slice(at + 1) : msgs.filter((m) => m.sentAt > mark.at);
    const fromOthers = newer.filter((m) => m.from.peerId !== me?.peerId);
    conv.unread = fromOthers.length;
    conv.mentions = conv.kind === 'dm' ? fromOthers.length : fromOthers.filter((m) => mentions(m.text, me?.nick)).length;
  }

  /** A DM conversation found at start-up by its last message: unread if that came from the peer after the mark. */
  function countLastDm(conv: Conversation, last: Message): void {
    const mark = readMark(conv.key);
    if (mark && last.id !== mark.id && last.sentAt > mark.at && last.from.peerId !== session.me?.peerId && conv.unread === 0) {
      conv.unread = 1;
      conv.mentions = 1;
    }
  }

  /** A new message in `conv`: counted unless on screen; a mention (any DM is one) also notifies. */
  function arrived(conv: Conversation, m: Message): void {
    const me = session.me;
    if (m.from.peerId === me?.peerId) return;
    const dm = conv.kind === 'dm';
    const mentioned = dm || mentions(m.text, me?.nick);
    if (!isViewing(conv)) {
      conv.unread++;
      if (mentioned) conv.mentions++;
    }
    if (!mentioned) return;
    const title = dm ? `${m.from.nick} (direct message)` : `${m.from.nick} in #${conversations.label(conv)}`;
    notices.notify(title, messageSummary(m), conv.key, () => conversations.open(conv.key));
  }

  // Opening a conversation (or coming back to the page) reads it, at once: counts are shown right after.
  watch(
    [() => conversations.activeKey, () => session.pageVisible],
    () => {
      const conv = conversations.active;
      if (conv && session.pageVisible) markRead(conv);
    },
    { flush: 'sync' },
  );

  // What arrives, loads or is sent in the conversation on screen is read: remember the newest (once per tick).
  watch([() => conversations.active?.version, () => session.pageVisible], () => {
    const conv = conversations.active;
    if (conv && session.pageVisible) saveReadMark(conv);
  });

  watch(total, (n) => {
    session.current()?.setUnread(n);
    if (typeof document !== 'undefined') document.title = n > 0 ? `(${n}) Chatty` : 'Chatty';
  });

  return { total, readMark, markRead, countSinceMark, countLastDm, arrived };
});
