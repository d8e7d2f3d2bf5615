/**
 * What a screen reader hears of new messages in the open conversation. One message is read as
 * "bob: the text"; a busy room is not read message by message but summed up once it has been quiet
 * for a moment ("3 new messages from alice and bob"), and at the latest a few seconds after the
 * first of them, so a room that never stops still speaks now and then.
 */
import { whoList } from './emoji';

export interface Arrival {
  nick: string;
  /** The message as one line (its text, or what it carries). */
  text: string;
  /** A notice of the room ("bob joined"), read as it is. */
  system?: boolean;
}

/** How long the conversation must be quiet before what came is read out. */
export const QUIET_MS = 1500;
/** The longest anything waits, however busy the conversation. */
export const MAX_WAIT_MS = 6000;

/** The sentence for what arrived since the last one. */
export function announcementOf(batch: readonly Arrival[]): string {
  const [first] = batch;
  if (!first) return '';
  if (batch.length === 1) return first.system ? first.text : `${first.nick}: ${first.text}`;
  const nicks = [...new Set(batch.filter((a) => !a.system).map((a) => a.nick))];
  return `${batch.length} new messages${nicks.length ? ` from ${whoList(nicks)}` : ''}`;
}

export class Announcer {
  private batch: Arrival[] = [];
  private quietTimer: ReturnType<typeof setTimeout> | undefined;
  private maxTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly say: (text: string) => void,
    private readonly timing: { quietMs: number; maxWaitMs: number } = { quietMs: QUIET_MS, maxWaitMs: MAX_WAIT_MS },
  ) {}

  add(arrival: Arrival): void {
    this.batch.push(arrival);
    clearTimeout(this.quietTimer);
    this.quietTimer = setTimeout(() => this.flush(), this.timing.quietMs);
    this.maxTimer ??= setTimeout(() => this.flush(), this.timing.maxWaitMs);
  }

  /** Says what is waiting now. */
  flush(): void {
    const text = announcementOf(this.batch);
    this.clear();
    if (text) this.say(text);
  }

  /** Forgets what is waiting (a message deleted meanwhile must not be read out). */
  clear(): void {
    clearTimeout(this.quietTimer);
    clearTimeout(this.maxTimer);
    this.quietTimer = this.maxTimer = undefined;
    this.batch = [];
  }
}
