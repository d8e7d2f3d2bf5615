/**
 * What the app tells the user outside the timeline: toasts (errors, warnings, offers such as an
 * invite's "Join") and system notifications in a browser tab. The bottom layer: it depends on no
 * other store, so every store can report through it.
 */
import { defineStore } from 'pinia';
import { ref } from 'vue';
import { RpcCallError } from '../../../shared/jsonrpc.js';

export interface Toast {
  id: number;
  kind: 'error' | 'info' | 'warning';
  title: string;
  text?: string;
  /** An optional button ("Join"). */
  action?: { label: string; run: () => void };
}

const FRIENDLY: Record<string, string> = {
  not_member: "You're not a member of that room",
  forbidden: "You don't have permission to do that",
  banned: 'You are banned from that room',
  unknown_peer: 'No such peer',
  too_large: "That's over the limit",
  rate_limited: "You're sending too fast — slow down a little",
  not_found: 'Not found',
  ambiguous: 'More than one peer has that nick',
  unreachable: "That peer can't be reached right now",
  shutting_down: 'Chatty is shutting down',
  invalid_params: "That isn't valid",
  parse_error: 'The request could not be read',
  internal: 'Something went wrong',
};

/** A readable title + detail for any error an API call can throw. */
export function describeError(err: unknown): { title: string; text?: string } {
  if (err instanceof RpcCallError) {
    let friendly = err.reason ? FRIENDLY[err.reason] : undefined;
    let text = err.message;
    if (err.reason === 'invalid_params') {
      const issues = err.data?.issues;
      if (Array.isArray(issues) && issues.length > 0) {
        text = issues.map((i: { message?: string }) => i.message ?? '').join('; ');
      }
    }
    // `ambiguous` names peers or rooms; room candidates carry an id.
    const candidates = err.data?.candidates;
    if (err.reason === 'ambiguous' && Array.isArray(candidates) && candidates.some((c) => typeof c?.id === 'string')) {
      friendly = 'More than one room has that name';
    }
    return friendly ? { title: friendly, text } : { title: err.message };
  }
  if (err instanceof Error) return { title: err.message };
  return { title: String(err) };
}

export const useNoticesStore = defineStore('notices', () => {
  const toasts = ref<Toast[]>([]);
  /** Whether this page shows system notifications itself: yes in a browser tab, no in the desktop app (its shell does it natively). */
  const systemNotifications = ref(false);
  /** The user is busy: no system notifications (set by the presence store). */
  const quiet = ref(false);
  let toastSeq = 0;

  function toast(kind: Toast['kind'], title: string, text?: string, ms?: number, action?: Toast['action']): number {
    const id = ++toastSeq;
    toasts.value = [...toasts.value.slice(-4), { id, kind, title, text, ...(action ? { action } : {}) }];
    setTimeout(() => dismissToast(id), ms ?? (kind === 'error' ? 9000 : 6000));
    return id;
  }

  function dismissToast(id: number): void {
    toasts.value = toasts.value.filter((t) => t.id !== id);
  }

  function reportError(err: unknown): void {
    const { title, text } = describeError(err);
    toast('error', title, text);
  }

  /** Runs a user's action: true once it succeeded, false after its error was shown. */
  async function attempt(action: () => Promise<unknown>): Promise<boolean> {
    try {
      await action();
      return true;
    } catch (err) {
      reportError(err);
      return false;
    }
  }

  /** A system notification, when allowed and the page is not in front; `tag` replaces an older one of the same conversation. */
  function notify(title: string, body: string, tag: string, onClick: () => void): void {
    if (!systemNotifications.value || quiet.value) return;
    if (typeof Notification === 'undefined' || Notification.permission !== 'granted') return;
    if (typeof document !== 'undefined' && !document.hidden && document.hasFocus()) return;
    try {
      const n = new Notification(title, { body: body.length > 200 ? body.slice(0, 199) + '…' : body, tag });
      n.onclick = () => {
        window.focus();
        onClick();
        n.close();
      };
    } catch {
      /* notifications unavailable */
    }
  }

  return { toasts, systemNotifications, quiet, toast, dismissToast, reportError, attempt, notify };
});
