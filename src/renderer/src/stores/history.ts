/**
 * What fills the conversations' timelines: live messages (room and DM) as they come, the newest
 * page of history the first time one opens, older pages as the list scrolls up, a jump to one
 * message (loading back until it is there), the catch-up after a reconnect, and the DM
 * conversations found once per session by asking each peer for its last DM.
 */
import { defineStore } from 'pinia';
import { ref } from 'vue';
import type { Message, PeerInfo } from '../../../shared/api.js';
import { useConversationsStore } from './conversations';
import { useDirectoryStore } from './directory';
import { useNoticesStore } from './notices';
import { useSessionStore } from './session';
import { addMessages, DM_PAGE, markTimeline, PAGE, replaceWithHistory, type Conversation } from './timeline';
import { useTypingStore } from './typing';

export const useHistoryStore = defineStore('history', () => {
  const session = useSessionStore();
  const notices = useNoticesStore();
  const directory = useDirectoryStore();
  const conversations = useConversationsStore();
  const typing = useTypingStore();
  /** Asks the message list to scroll to and flash a message. */
  const focusRequest = ref<{ key: string; id: string; nonce: number } | null>(null);
  let dmDiscoveryDone = false;

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
      [...conversations.byKey.values()]
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
          const conv = conversations.ensureDm(p.peerId, p.nick);
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
    let conv = conversations.room(m.room);
    if (!conv) {
      // Only rooms this peer is in get a conversation (history fills in the rest on open).
      if (!directory.byId.get(m.room)?.joined) return null;
      conv = conversations.ensureRoom(m.room, m.roomName);
      conv.joined = true;
    }
    if (addMessages(conv, [m]).length === 0) return null;
    typing.stopped(conv, m.from.peerId);
    return conv;
  }

  /** A DM (either direction) into the conversation with the other peer; returns it when the message was new. */
  function receiveDm(m: Message): Conversation | null {
    const other = m.from.peerId === session.me?.peerId ? m.to : m.from;
    if (!other) return null;
    const conv = conversations.ensureDm(other.peerId, other.nick);
    return addMessages(conv, [m]).length > 0 ? conv : null;
  }

  return { focusRequest, loadConversation, loadOlder, jumpTo, catchUp, discoverDms, receiveMessage, receiveDm };
});
