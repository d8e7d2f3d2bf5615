/**
 * Who is typing. Others: each `typing` event shows its author in the room for 5 s, or until their
 * message comes. Me: the room is told at most once every 3 s while I write, and again after I sent.
 */
import { defineStore } from 'pinia';
import type { EventPayloads } from '../../../shared/api.js';
import { useConversationsStore } from './conversations';
import { useSessionStore } from './session';
import type { Conversation } from './timeline';

const TYPING_SHOW_MS = 5000;
const TYPING_SEND_MS = 3000;

export const useTypingStore = defineStore('typing', () => {
  const session = useSessionStore();
  const conversations = useConversationsStore();
  const typingSentAt = new Map<string, number>();
  let typingTimer: ReturnType<typeof setInterval> | undefined;

  function pruneTyping(): void {
    const now = Date.now();
    let any = false;
    for (const conv of conversations.byKey.values()) {
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

  function applyTyping(ev: EventPayloads['typing']): void {
    const conv = conversations.room(ev.room);
    if (!conv) return;
    const until = Date.now() + TYPING_SHOW_MS;
    conv.typing = [...conv.typing.filter((t) => t.peerId !== ev.peerId), { peerId: ev.peerId, nick: ev.nick, until }];
    typingTimer ??= setInterval(pruneTyping, 500);
  }

  /** Their message came: `peerId` is no longer typing in `conv`. */
  function stopped(conv: Conversation, peerId: string): void {
    if (conv.typing.some((t) => t.peerId === peerId)) conv.typing = conv.typing.filter((t) => t.peerId !== peerId);
  }

  /** Tells the room I am typing, at most once every 3 s. */
  function notifyTyping(conv: Conversation): void {
    const client = session.current();
    if (!client || conv.kind !== 'room' || !conv.joined || session.connection !== 'open') return;
    const now = Date.now();
    if (now - (typingSentAt.get(conv.key) ?? 0) < TYPING_SEND_MS) return;
    typingSentAt.set(conv.key, now);
    client.call('typing', { room: conv.id }).catch(() => {});
  }

  /** My message went: the next keystroke there tells the room again. */
  function sent(conv: Conversation): void {
    typingSentAt.delete(conv.key);
  }

  function dispose(): void {
    if (typingTimer) clearInterval(typingTimer);
    typingTimer = undefined;
  }

  return { applyTyping, stopped, notifyTyping, sent, dispose };
});
