/**
 * Read receipts of direct messages: how far the other side of each DM has read my messages
 * (`Message.seen`, `seen` events), and whether mine are shared (`setReadReceipts`).
 */
import { defineStore } from 'pinia';
import { computed, shallowReactive } from 'vue';
import type { EventPayloads } from '../../../shared/api.js';
import { useNoticesStore } from './notices';
import { useSessionStore } from './session';
import { positionOf, type Conversation } from './timeline';

export const useReceiptsStore = defineStore('receipts', () => {
  const session = useSessionStore();
  const notices = useNoticesStore();
  /** Per peer: the last of my messages it has read, as `seen` events said. */
  const seenUpTo = shallowReactive(new Map<string, string>());
  const enabled = computed(() => session.me?.readReceipts ?? true);

  function apply(ev: EventPayloads['seen']): void {
    seenUpTo.set(ev.peer, ev.message);
  }

  /** In a DM: the id of my newest message the other side has read (where "Seen" goes), if any. */
  function lastSeen(conv: Conversation): string | undefined {
    if (conv.kind !== 'dm') return undefined;
    void conv.version;
    const me = session.me?.peerId;
    const upTo = positionOf(conv, seenUpTo.get(conv.id));
    for (let i = conv.messages.length - 1; i >= 0; i--) {
      const m = conv.messages[i]!;
      if (m.system || m.from.peerId !== me) continue;
      if (m.seen || i <= upTo) return m.id;
    }
    return undefined;
  }

  async function setEnabled(on: boolean): Promise<boolean> {
    try {
      const res = await session.api().call('setReadReceipts', { enabled: on });
      if (session.me) session.me = { ...session.me, readReceipts: res.enabled };
      return true;
    } catch (err) {
      notices.reportError(err);
      return false;
    }
  }

  return { seenUpTo, enabled, apply, lastSeen, setEnabled };
});
