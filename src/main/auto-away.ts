/**
 * Auto-away for the desktop app: after 10 minutes without input to the system (Electron's
 * `powerMonitor.getSystemIdleTime()`, polled every 30 s) an `online` user becomes `away`, and
 * `online` again on return. Only a status the user left alone changes: `busy`, an `away` they chose
 * or a status with a text stays as it is, and a status set meanwhile (from any UI) ends the rule's
 * hold on it. Kept free of Electron itself, so tests give it a stand-in `powerMonitor`.
 */
import type { ChattyApi, EventPayloads, Status } from '../shared/api.js';

export const AWAY_AFTER_S = 10 * 60;
export const POLL_MS = 30_000;

export interface IdleSource {
  /** Seconds since the last input to the system (keyboard, mouse). */
  getSystemIdleTime(): number;
}

export interface AutoAwayOptions {
  idle: IdleSource;
  node: Pick<ChattyApi, 'setStatus' | 'whoami'>;
  /** My peer id, to tell my own `status` events from others'. */
  peerId: string;
  awayAfterS?: number;
  pollMs?: number;
  onError?: (err: unknown) => void;
}

export interface AutoAway {
  /** Feeds it the node's `status` events: a status set elsewhere (a UI, a script) is the user's choice. */
  onStatus(ev: EventPayloads['status']): void;
  /** One look at the idle time (also what the timer does). */
  check(): Promise<void>;
  stop(): void;
}

export function startAutoAway(opts: AutoAwayOptions): AutoAway {
  const awayAfter = opts.awayAfterS ?? AWAY_AFTER_S;
  let status: Status | undefined;
  let text: string | undefined;
  /** The rule set `away` and will set `online` on return. */
  let holding = false;
  /** The status this module is setting right now: its own `status` event is not the user's choice. */
  let setting: Status | undefined;
  let busy = false;

  async function set(next: Status): Promise<void> {
    setting = next;
    try {
      const res = await opts.node.setStatus({ status: next });
      status = res.status;
      text = res.statusText;
      holding = next === 'away';
    } finally {
      setting = undefined;
    }
  }

  async function check(): Promise<void> {
    if (busy) return;
    busy = true;
    try {
      if (status === undefined) {
        const me = await opts.node.whoami({});
        status = me.status;
        text = me.statusText;
      }
      const idle = opts.idle.getSystemIdleTime() >= awayAfter;
      if (idle && status === 'online' && !text) await set('away');
      else if (!idle && holding && status === 'away') await set('online');
    } catch (err) {
      opts.onError?.(err);
    } finally {
      busy = false;
    }
  }

  function onStatus(ev: EventPayloads['status']): void {
    if (ev.peerId !== opts.peerId || ev.status === 'offline') return;
    if (setting === ev.status) return;
    if (ev.status === status && ev.statusText === text) return;
    status = ev.status;
    text = ev.statusText;
    holding = false;
  }

  void check();
  const timer = setInterval(() => void check(), opts.pollMs ?? POLL_MS);
  timer.unref?.();
  return { onStatus, check, stop: () => clearInterval(timer) };
}
