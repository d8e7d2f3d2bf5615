/**
 * What reactions, edits and deletes make of a message. Each is a signed event of the room (or DM)
 * naming the message, delivered in the log's total order (depth, id), which every peer shares and
 * which respects causality; so folding them in that order gives every peer the same message:
 * - reactions: per author and emoji, the last react or unreact wins (a set per emoji per author);
 * - edits: the last edit wins (only the author's are accepted by the rules);
 * - delete: any accepted delete empties the message for good (its content is erased, replica.ts).
 */
import type { EditVersion, Message, Peer, Reaction } from '../shared/api.js';
import type { AnnotationRow, Store } from './store.js';

export class Annotations {
  constructor(
    private readonly store: Store,
    private readonly peerId: string,
    private readonly nickOf: (peerId: string) => string,
  ) {}

  /** Applies to each message the annotations it has (one query for the whole list). */
  apply<M extends Message>(messages: M[]): M[] {
    if (messages.length === 0) return messages;
    const byMessage = new Map<string, AnnotationRow[]>();
    for (const row of this.store.annotationsOf(messages.map((m) => m.id))) {
      let list = byMessage.get(row.target);
      if (!list) byMessage.set(row.target, (list = []));
      list.push(row);
    }
    for (const m of messages) {
      const rows = byMessage.get(m.id);
      if (rows) this.fold(m, rows);
    }
    return messages;
  }

  /** The versions of a message's text, the original first (none once deleted). */
  versions(message: Message, original: string): EditVersion[] {
    if (message.deleted) return [];
    const edits = this.store.annotationsOf([message.id]).filter((r) => r.type === 'edit' && r.author === message.from.peerId && r.text);
    return [{ text: original, at: message.sentAt }, ...edits.map((r) => ({ text: r.text!, at: r.ts }))];
  }

  private fold(m: Message, rows: AnnotationRow[]): void {
    const deletion = rows.find((r) => r.type === 'delete');
    if (deletion) {
      m.deleted = true;
      m.text = '';
      delete m.file;
      if (deletion.author !== m.from.peerId) m.deletedBy = this.peer(deletion.author);
      return;
    }
    // an edit erased ahead of its delete (which is on its way) has no text: it is not a version
    const edit = rows.findLast((r) => r.type === 'edit' && r.author === m.from.peerId && r.text);
    if (edit) {
      m.text = edit.text!;
      m.edited = edit.ts;
    }
    const reactions = this.reactions(rows);
    if (reactions.length) m.reactions = reactions;
  }

  private reactions(rows: AnnotationRow[]): Reaction[] {
    // emoji (in order of first use) → author → on, in the order of their latest react
    const byEmoji = new Map<string, Map<string, boolean>>();
    for (const r of rows) {
      if ((r.type !== 'react' && r.type !== 'unreact') || !r.text) continue;
      let authors = byEmoji.get(r.text);
      if (!authors) byEmoji.set(r.text, (authors = new Map()));
      authors.delete(r.author);
      authors.set(r.author, r.type === 'react');
    }
    const out: Reaction[] = [];
    for (const [emoji, authors] of byEmoji) {
      const peers = [...authors].filter(([, on]) => on).map(([author]) => author);
      if (peers.length) out.push({ emoji, count: peers.length, peers: peers.map((p) => this.peer(p)), mine: peers.includes(this.peerId) });
    }
    return out;
  }

  /** Does this peer's reaction `emoji` stand on the message now? */
  hasMine(message: Message, emoji: string): boolean {
    return message.reactions?.some((r) => r.emoji === emoji && r.mine) ?? false;
  }

  private peer(peerId: string): Peer {
    return { peerId, nick: this.nickOf(peerId) };
  }
}
