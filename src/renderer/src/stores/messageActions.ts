/**
 * What happens to a message after it was sent: reactions, edits (and their history), deletes,
 * and the originals that replies quote. Changes come back as whole messages (the call's answer,
 * or an `update` event from any peer) and replace the loaded message in place.
 */
import { defineStore } from 'pinia';
import { ref, shallowReactive } from 'vue';
import { LIMITS, type EditVersion, type Member, type Message } from '../../../shared/api.js';
import { useConversationsStore } from './conversations';
import { useNoticesStore } from './notices';
import { useSessionStore } from './session';
import { dmKey, replaceMessage, roomKey, type ChatItem, type Conversation } from './timeline';
import { useUiStore } from './ui';

export const useMessageActionsStore = defineStore('messageActions', () => {
  const session = useSessionStore();
  const notices = useNoticesStore();
  const conversations = useConversationsStore();
  const ui = useUiStore();
  /** The message being edited inline. */
  const editing = ref<{ key: string; id: string } | null>(null);
  /** Originals of replies that are not in their loaded timeline; null: searched and not found (yet). */
  const originals = shallowReactive(new Map<string, Message | null>());
  /** Originals being looked for. */
  const searching = shallowReactive(new Set<string>());

  function isMine(m: Message): boolean {
    return m.from.peerId === session.me?.peerId;
  }

  /** The loaded conversation a message belongs to. */
  function conversationOf(m: Message): Conversation | undefined {
    if (m.room !== null) return conversations.byKey.get(roomKey(m.room));
    const other = isMine(m) ? m.to?.peerId : m.from.peerId;
    return other ? conversations.byKey.get(dmKey(other)) : undefined;
  }

  /** A message as it is now (an answer or an `update` event), into its timeline and wherever it is quoted. */
  function applyUpdate(m: Message): void {
    const conv = conversationOf(m);
    if (conv) {
      replaceMessage(conv, m);
      if (conv.replyTo?.id === m.id) conv.replyTo = m.deleted ? null : m;
    }
    if (originals.has(m.id)) originals.set(m.id, m);
    if (m.deleted && editing.value?.id === m.id) editing.value = null;
  }

  async function run(action: () => Promise<Message>): Promise<boolean> {
    try {
      applyUpdate(await action());
      return true;
    } catch (err) {
      notices.reportError(err);
      return false;
    }
  }

  // ------------------------------------------------------------ reactions

  /** Adds my reaction with `emoji`, or takes it back when I had reacted so. */
  function toggleReaction(m: Message, emoji: string): Promise<boolean> {
    const mine = m.reactions?.find((r) => r.emoji === emoji)?.mine ?? false;
    return run(() => session.api().call(mine ? 'unreact' : 'react', { message: m.id, emoji }));
  }

  // ------------------------------------------------------------ edits

  function canEdit(m: ChatItem): boolean {
    return !m.system && !m.deleted && isMine(m);
  }

  function startEdit(conv: Conversation, m: ChatItem): void {
    if (canEdit(m)) editing.value = { key: conv.key, id: m.id };
  }

  function stopEdit(): void {
    editing.value = null;
    ui.focusComposer();
  }

  /** Up-arrow in an empty composer: my newest message here that can be edited. */
  function editLast(conv: Conversation): boolean {
    for (let i = conv.messages.length - 1; i >= 0; i--) {
      const m = conv.messages[i]!;
      if (canEdit(m)) {
        startEdit(conv, m);
        return true;
      }
    }
    return false;
  }

  /** Saves the edited text; an unchanged text just closes the editor, an emptied one asks to delete. */
  async function saveEdit(conv: Conversation, m: Message, text: string): Promise<boolean> {
    const body = text.trim();
    if (body === m.text.trim()) {
      stopEdit();
      return true;
    }
    if (!body) {
      editing.value = null;
      askDelete(conv, m);
      return false;
    }
    if (body.length > LIMITS.textMax) {
      notices.toast('error', 'That message is too long', `Messages are at most ${LIMITS.textMax} characters.`);
      return false;
    }
    const ok = await run(() => session.api().call('edit', { message: m.id, text: body }));
    if (ok) stopEdit();
    return ok;
  }

  async function editHistory(m: Message): Promise<EditVersion[]> {
    try {
      return await session.api().call('editHistory', { message: m.id });
    } catch (err) {
      notices.reportError(err);
      return [];
    }
  }

  // ------------------------------------------------------------ deletes

  /** Mine, or (in a room) a message of someone I moderate. */
  function canDelete(conv: Conversation, m: ChatItem): boolean {
    if (m.system || m.deleted) return false;
    if (isMine(m)) return true;
    if (conv.kind !== 'room') return false;
    const author: Member = conv.members.find((x) => x.peerId === m.from.peerId) ?? {
      ...m.from,
      role: 'member',
      online: false,
      status: 'offline',
    };
    return conversations.canModerate(conv, author);
  }

  function askDelete(conv: Conversation, m: Message): void {
    ui.deleting = { key: conv.key, message: m };
  }

  function remove(m: Message): Promise<boolean> {
    return run(() => session.api().call('delete', { message: m.id }));
  }

  // ------------------------------------------------------------ replies

  /** The message a reply quotes: loaded, found earlier, null when looked for in vain, undefined when not known yet. */
  function original(conv: Conversation, id: string): Message | null | undefined {
    return conv.index.get(id) ?? originals.get(id);
  }

  /** Fetches a reply's original however old it is (it may also just arrive later, and then shows). */
  async function findOriginal(conv: Conversation, id: string): Promise<void> {
    const client = session.current();
    if (!client || searching.has(id) || originals.has(id) || conv.index.has(id)) return;
    searching.add(id);
    try {
      originals.set(id, await client.call('message', { id }));
    } catch {
      // not here (yet): "loading…" until it arrives
      if (!conv.index.has(id)) originals.set(id, null);
    } finally {
      searching.delete(id);
    }
  }

  return {
    editing,
    originals,
    searching,
    conversationOf,
    applyUpdate,
    toggleReaction,
    canEdit,
    startEdit,
    stopEdit,
    editLast,
    saveEdit,
    editHistory,
    canDelete,
    askDelete,
    remove,
    original,
    findOriginal,
  };
});
