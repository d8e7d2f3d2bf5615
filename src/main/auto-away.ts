/**
 * Auto-away for the desktop app: after 10 minutes without input to the system (Electron's
 * `powerMonitor.getSystemIdleTime()`, polled every 30 s) an `online` user becomes `away`, and
 * `online` again on return. Only a status the user left alone changes: `busy`, an `away` they chose
 * or a status with a text stays as it is. The `away` it sets is marked `auto` in the node (kept
 * across restarts), as is the browser UI's: whichever idle rule set it, the user's return to this
 * machine lifts it, and a status the user sets meanwhile (from any UI) ends that.
 * Kept free of Electron itself, so tests give it a stand-in `powerMonitor`.
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
  /** The node's status is an `away` an idle rule set (this one or a browser UI's): lifted on return. */
  let auto = false;
  let busy = false;

  async function set(next: Status): Promise<void> {
    const res = await opts.node.setStatus({ status: next, ...(next === 'away' ? { auto: true } : {}) });
    status = res.status;
    text = res.statusText;
    auto = res.auto === true;
  }

  async function check(): Promise<void> {
    if (busy) return;
    busy = true;
    try {
      if (status === undefined) {
        const me = await opts.node.whoami({});
        status = me.status;
        text = me.statusText;
        auto = me.statusAuto === true;
      }
      const idle = opts.idle.getSystemIdleTime() >= awayAfter;
      if (idle && status === 'online' && !text) await set('away');
      else if (!idle && auto && status === 'away') await set('online');
    } catch (err) {
      opts.onError?.(err);
    } finally {
      busy = false;
    }
  }

  function onStatus(ev: EventPayloads['status']): void {
    if (ev.peerId !== opts.peerId || ev.status === 'offline') return;
    status = ev.status;
    text = ev.statusText;
    auto = ev.auto === true;
  }

  void check();
  const timer = setInterval(() => void check(), opts.pollMs ?? POLL_MS);
  timer.unref?.();
  return { onStatus, check, stop: () => clearInterval(timer) };
}
