/**
 * Rows of events stored as waiting (for a causal dependency) that are kept in memory instead of
 * written. In a catch-up each author's log streams from another neighbour, and most events wait
 * a moment for an event of another stream: written as waiting and then updated, each cost two
 * writes and sent its pages through the write-ahead log twice (measured: three events in four of a
 * 100,000-event catch-up). Kept here, they are written once, with their verdict.
 *
 * They come from peers that hold them too, like everything received (relaxed commits): a crash
 * loses them, and the log prefix in the database is what the peer asks for again. An author's rows
 * here always continue that prefix (an author's events are stored, and written, in seq order).
 * Bounded (a hostile peer can send events that wait for ever): past `maxRows` rows or `maxChars` of
 * JSON, or `maxAgeMs`, the oldest are written as waiting, as before.
 */
export class WaitingRows<Row extends { id: string; author: string; seq: number; json: string }> {
  private readonly byId = new Map<string, { row: Row; at: number }>();
  private readonly byAuthor = new Map<string, Map<number, Row>>();
  /** The JSON held, in UTF-16 code units (events are mostly ASCII: about their bytes). */
  private chars = 0;

  constructor(readonly limits: { maxRows: number; maxAgeMs: number; maxChars: number }) {}

  get size(): number {
    return this.byId.size;
  }

  /** Past a bound: the oldest rows are due now. */
  get full(): boolean {
    return this.byId.size > this.limits.maxRows || this.chars > this.limits.maxChars;
  }

  add(row: Row, now = Date.now()): void {
    this.chars += row.json.length;
    this.byId.set(row.id, { row, at: now });
    let log = this.byAuthor.get(row.author);
    if (!log) this.byAuthor.set(row.author, (log = new Map()));
    log.set(row.seq, row);
  }

  get(id: string): Row | undefined {
    return this.byId.get(id)?.row;
  }

  /** The row at a position of its author's log. */
  at(author: string, seq: number): Row | undefined {
    return this.byAuthor.get(author)?.get(seq);
  }

  /** Removes and returns the row (it is about to be written). */
  take(id: string): Row | undefined {
    const entry = this.byId.get(id);
    if (!entry) return undefined;
    this.byId.delete(id);
    this.chars -= entry.row.json.length;
    const log = this.byAuthor.get(entry.row.author)!;
    log.delete(entry.row.seq);
    if (!log.size) this.byAuthor.delete(entry.row.author);
    return entry.row;
  }

  /** `author`'s rows after `seq`, in order, at most `limit`. */
  after(author: string, seq: number, limit: number): Row[] {
    const out: Row[] = [];
    const log = this.byAuthor.get(author);
    for (let s = seq + 1; log && out.length < limit; s++) {
      const row = log.get(s);
      if (!row) break;
      out.push(row);
    }
    return out;
  }

  /** Every row, oldest first (for rare questions, such as the edits of a deleted message). */
  rows(): Row[] {
    return [...this.byId.values()].map((e) => e.row);
  }

  /**
   * Removes and returns the rows to write now, oldest first: all of them with `all`, else those
   * past the age limit, and the oldest until half of each bound is left when one is passed.
   */
  due(opts: { all?: boolean; now?: number } = {}): Row[] {
    const now = opts.now ?? Date.now();
    const { maxRows, maxAgeMs, maxChars } = this.limits;
    const shrink = this.full;
    const out: Row[] = [];
    // a Map may delete the entry being visited: no copy of every row to take the few that are due
    for (const { row, at } of this.byId.values()) {
      const over = opts.all || (shrink && (this.size > maxRows / 2 || this.chars > maxChars / 2));
      if (!over && now - at < maxAgeMs) break;
      out.push(this.take(row.id)!);
    }
    return out;
  }

  /** When the oldest row comes of age (undefined: none is kept). */
  nextDue(): number | undefined {
    for (const { at } of this.byId.values()) return at + this.limits.maxAgeMs;
    return undefined;
  }
}
