/**
 * Turns a conversation's messages into the rows of the virtual list: day
 * dividers, messages grouped by author (a "head" row shows avatar and nick),
 * local notices. Appends are incremental so a 100k-message room stays cheap.
 */
import type { ChatItem } from '../stores/timeline';
import type { FileInfo } from '../../../shared/api.js';
import { pictureBox } from './files';
import { dayKey } from './format';

export type Row =
  | { kind: 'top'; key: string }
  | { kind: 'day'; key: string; at: number }
  | { kind: 'msg'; key: string; msg: ChatItem; head: boolean }
  | { kind: 'system'; key: string; msg: ChatItem }
  | { kind: 'new'; key: string };

/** Consecutive messages of one author closer than this share a header. */
export const GROUP_GAP_MS = 5 * 60 * 1000;

export class RowBuilder {
  private body: Row[] = [];
  private source: readonly ChatItem[] | null = null;
  private consumed = 0;
  private lastDay = -1;
  private lastAuthor = '';
  private lastAt = 0;
  private divider: string | undefined;

  /**
   * Rows for `messages`. When the whole history is there (`more` false) a
   * "beginning of the room" row comes first. While older history may follow,
   * there is no such row, so the first row is always a message: the list
   * anchors on it when older pages are prepended. A "New messages" row follows the message
   * `divider` (the last one read when the conversation was opened).
   */
  build(messages: readonly ChatItem[], more: boolean, divider?: string): Row[] {
    if (messages !== this.source || messages.length < this.consumed || divider !== this.divider) {
      this.divider = divider;
      this.reset(messages);
    }
    for (let i = this.consumed; i < messages.length; i++) this.push(messages[i] as ChatItem);
    this.consumed = messages.length;
    if (more) return this.body.slice();
    const rows = new Array<Row>(this.body.length + 1);
    rows[0] = { kind: 'top', key: 'top:start' };
    for (let i = 0; i < this.body.length; i++) rows[i + 1] = this.body[i] as Row;
    return rows;
  }

  private reset(messages: readonly ChatItem[]): void {
    this.body = [];
    this.source = messages;
    this.consumed = 0;
    this.lastDay = -1;
    this.lastAuthor = '';
    this.lastAt = 0;
  }

  private push(m: ChatItem): void {
    const day = dayKey(m.sentAt);
    let newDay = false;
    if (day !== this.lastDay) {
      // A late message from an earlier day does not open a new divider after today's.
      if (this.lastDay === -1 || day > this.lastDay) {
        this.body.push({ kind: 'day', key: `day:${day}:${m.id}`, at: m.sentAt });
        this.lastDay = day;
        newDay = true;
      }
    }
    if (m.system) {
      this.body.push({ kind: 'system', key: m.id, msg: m });
      this.lastAuthor = '';
      return;
    }
    const head =
      newDay ||
      m.from.peerId !== this.lastAuthor ||
      m.sentAt - this.lastAt > GROUP_GAP_MS ||
      m.sentAt < this.lastAt ||
      !!m.replyTo ||
      !!m.late;
    this.body.push({ kind: 'msg', key: m.id, msg: m, head });
    this.lastAuthor = m.from.peerId;
    this.lastAt = m.sentAt;
    if (m.id === this.divider) {
      this.body.push({ kind: 'new', key: `new:${m.id}` });
      this.lastAuthor = ''; // the next message starts a group of its own
    }
  }
}

/** Height a file adds under its message: a picture at its on-screen size with its caption, else a card. */
function fileHeight(file: FileInfo): number {
  return file.image ? pictureBox(file).height + 30 : 70;
}

export function estimateRow(row: Row | undefined): number {
  if (!row) return 40;
  switch (row.kind) {
    case 'top':
      return 175;
    case 'day':
      return 43;
    case 'new':
      return 26;
    case 'system':
      return 32;
    case 'msg':
      return (row.head ? (row.msg.replyTo ? 78 : 55) : 28) + (row.msg.file ? fileHeight(row.msg.file) : 0);
  }
}
