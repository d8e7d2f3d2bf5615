/**
 * How far this user has read each conversation. The marker lives in the peer, not in a UI, so the
 * desktop window and a browser on the same peer agree on what is unread. It only moves forward in
 * the conversation's order (depth, id). In a DM the other side may learn it: a signed `read` event
 * in the conversation (a read receipt), unless this user turned receipts off.
 */
import { mentions } from '../shared/mentions.js';
import type { Store } from './store.js';

interface Position {
  depth: number;
  id: string;
}

const RECEIPTS_KEY = 'readReceipts';

function after(a: Position, b: Position): boolean {
  return a.depth > b.depth || (a.depth === b.depth && a.id > b.id);
}

export class ReadMarkers {
  constructor(
    private readonly store: Store,
    private readonly peerId: string,
  ) {}

  /** The last message read in a conversation (a room id, or a DM conversation key). */
  marker(conversation: string): string | undefined {
    return this.store.getMeta(`read:${conversation}`);
  }

  /** Moves the marker to `message` if that is further on; false when it was already there or beyond. */
  move(conversation: string, message: Position): boolean {
    const current = this.position(this.marker(conversation));
    if (current && !after(message, current)) return false;
    this.store.setMeta(`read:${conversation}`, message.id);
    return true;
  }

  /** Messages of others after the marker, and how many of them mention `nick` (in a DM every one is for us). */
  counts(conversation: string, nick: string): { unread: number; mentions: number } {
    const at = this.position(this.marker(conversation)) ?? null;
    if (conversation.startsWith('@')) {
      const unread = this.store.unreadAfter(conversation, this.peerId, at);
      return { unread, mentions: unread };
    }
    const texts = this.store.unreadTexts(conversation, this.peerId, at);
    return { unread: texts.length, mentions: texts.filter((text) => mentions(text, nick)).length };
  }

  /** Where `reader` has read a DM conversation up to, as its latest receipt says. */
  readUpTo(conversation: string, reader: string): Position | undefined {
    return this.position(this.store.lastRead(conversation, reader));
  }

  /** Is `message` at or before a read position? */
  static covers(upTo: Position | undefined, message: Position): boolean {
    return upTo !== undefined && !after(message, upTo);
  }

  get receipts(): boolean {
    return this.store.getMeta(RECEIPTS_KEY) !== 'off';
  }

  set receipts(on: boolean) {
    this.store.setMeta(RECEIPTS_KEY, on ? 'on' : 'off');
  }

  /** Should a receipt for `message` be sent: receipts on, and our last one is before it? */
  receiptDue(conversation: string, message: Position): boolean {
    return this.receipts && !ReadMarkers.covers(this.readUpTo(conversation, this.peerId), message);
  }

  private position(id: string | undefined): Position | undefined {
    if (id === undefined) return undefined;
    const row = this.store.event(id);
    return row ? { depth: row.depth, id: row.id } : undefined;
  }
}
