/**
 * Presence: the status each peer set (online, away, busy, with an optional text) or `offline`,
 * mine included, and the user's own choice of status. In the browser, the page also turns an
 * untouched status to `away` after 10 minutes without input and back on return (the desktop app
 * does this in its main process, from the system's idle time). Such an `away` is set with `auto`,
 * which the peer keeps with it: input in any UI of the peer lifts it, whichever rule set it.
 */
import { defineStore } from 'pinia';
import { computed, shallowReactive } from 'vue';
import { LIMITS, type EventPayloads, type Member, type PeerInfo, type Presence, type Status } from '../../../shared/api.js';
import { useNoticesStore } from './notices';
import { usePeersStore } from './peers';
import { useSessionStore } from './session';

export interface PresenceInfo {
  status: Presence;
  statusText?: string;
}

/** After this long without input in the page, an `online` user is shown `away` (browser UI). */
export const IDLE_AWAY_MS = 10 * 60 * 1000;
export const IDLE_POLL_MS = 30 * 1000;
const INPUT_EVENTS = ['pointerdown', 'pointermove', 'keydown', 'wheel', 'touchstart', 'focus'] as const;

export const STATUS_LABELS: Record<Presence, string> = { online: 'Online', away: 'Away', busy: 'Busy', offline: 'Offline' };

/** "Away: in a meeting", "Online". */
export function presenceLabel(p: PresenceInfo): string {
  return p.statusText ? `${STATUS_LABELS[p.status]}: ${p.statusText}` : STATUS_LABELS[p.status];
}

export const usePresenceStore = defineStore('presence', () => {
  const session = useSessionStore();
  const notices = useNoticesStore();
  const peers = usePeersStore();
  /** What `status` events said, newest wins over what lists (peers, members) carried. */
  const byPeer = shallowReactive(new Map<string, PresenceInfo>());
  let pending = false;
  let lastInput = Date.now();
  let idleTimer: ReturnType<typeof setInterval> | undefined;
  let stopIdle: (() => void) | undefined;

  const mine = computed<PresenceInfo>(() => {
    const me = session.me;
    if (!me) return { status: 'online' };
    return { status: me.status ?? 'online', ...(me.statusText ? { statusText: me.statusText } : {}) };
  });
  /** Busy: no system notifications and no sounds. */
  const quiet = computed(() => mine.value.status === 'busy');

  /** A peer's presence: mine, else the latest status event, else the peer list, else a member entry, else its link state. */
  function of(peerId: string, member?: Pick<Member, 'status' | 'statusText' | 'online'>): PresenceInfo {
    if (peerId === session.me?.peerId) return mine.value;
    const heard = byPeer.get(peerId);
    if (heard) return heard;
    const info = peers.byId.get(peerId);
    const src: { status?: Presence; statusText?: string } | undefined = info?.status ? info : member;
    if (src?.status) return { status: src.status, ...(src.statusText ? { statusText: src.statusText } : {}) };
    const online = member?.online ?? info?.connected ?? false;
    return { status: online ? 'online' : 'offline' };
  }

  /** A fresh `peers` answer: its presence replaces what events said before. */
  function applyPeers(list: readonly PeerInfo[]): void {
    for (const p of list) if (p.status) byPeer.set(p.peerId, { status: p.status, ...(p.statusText ? { statusText: p.statusText } : {}) });
  }

  function apply(ev: EventPayloads['status']): void {
    const info: PresenceInfo = { status: ev.status, ...(ev.statusText ? { statusText: ev.statusText } : {}) };
    if (ev.peerId === session.me?.peerId) {
      if (session.me && ev.status !== 'offline')
        session.me = { ...session.me, status: ev.status, statusText: ev.statusText, statusAuto: ev.auto };
      return;
    }
    byPeer.set(ev.peerId, info);
  }

  /** The user's own choice (or the page's idle rule, `auto`). */
  async function setStatus(status: Status, text?: string, auto = false): Promise<boolean> {
    const statusText = text?.trim().slice(0, LIMITS.statusTextMax) ?? '';
    pending = true;
    try {
      const rule = auto && status === 'away';
      const res = await session.api().call('setStatus', { status, ...(statusText ? { text: statusText } : {}), ...(rule ? { auto } : {}) });
      if (session.me) session.me = { ...session.me, status: res.status, statusText: res.statusText, statusAuto: res.auto };
      return true;
    } catch (err) {
      if (!auto) notices.reportError(err);
      return false;
    } finally {
      pending = false;
    }
  }

  /** One look at the clock: idle long enough while `online` sets `away`; input since then sets `online` again. */
  function checkIdle(now = Date.now()): void {
    if (pending || session.connection !== 'open' || !session.me) return;
    const idle = now - lastInput >= IDLE_AWAY_MS;
    if (idle && mine.value.status === 'online' && !mine.value.statusText) void setStatus('away', undefined, true);
    else if (!idle && session.me.statusAuto && mine.value.status === 'away') void setStatus('online', undefined, true);
  }

  function onInput(): void {
    const wasIdle = session.me?.statusAuto === true;
    lastInput = Date.now();
    if (wasIdle) checkIdle();
  }

  /** Browser UI only: follows the page's own input events. */
  function watchIdle(target: Window = window): void {
    if (stopIdle) return;
    lastInput = Date.now();
    for (const e of INPUT_EVENTS) target.addEventListener(e, onInput, { passive: true, capture: true });
    idleTimer = setInterval(() => checkIdle(), IDLE_POLL_MS);
    stopIdle = () => {
      for (const e of INPUT_EVENTS) target.removeEventListener(e, onInput, { capture: true });
      clearInterval(idleTimer);
      stopIdle = undefined;
    };
  }

  function dispose(): void {
    stopIdle?.();
  }

  return { byPeer, mine, quiet, of, applyPeers, apply, setStatus, checkIdle, watchIdle, dispose };
});
