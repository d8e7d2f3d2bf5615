/**
 * Searching one conversation's messages, for the search panel. A composable over the stores, not a
 * store: it holds no state of its own (the panel keeps the query and its results).
 */
import type { Message } from '../../../shared/api.js';
import { useNoticesStore } from './notices';
import { useSessionStore } from './session';
import type { Conversation } from './timeline';

export function useSearch() {
  const session = useSessionStore();
  const notices = useNoticesStore();

  /** The messages of `conv` that match `query`; a DM's are the DMs with its peer among all matches. */
  async function search(conv: Conversation, query: string): Promise<Message[]> {
    const q = query.trim();
    if (!q) return [];
    try {
      if (conv.kind === 'room') return await session.api().call('search', { query: q, room: conv.id, limit: 100 });
      const all = await session.api().call('search', { query: q, limit: 200 });
      return all.filter((m) => m.room === null && (m.from.peerId === conv.id || m.to?.peerId === conv.id));
    } catch (err) {
      notices.reportError(err);
      return [];
    }
  }

  return { search };
}
