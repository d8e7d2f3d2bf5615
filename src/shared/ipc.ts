/**
 * IPC between the Electron main process, the preload and the renderer.
 * Channel names and the shape of the `window.chatty` bridge live here so the
 * three sides cannot disagree. No runtime imports: the sandboxed preload
 * bundles this file and must stay dependency-free.
 */
import type { EventName, EventPayloads, MethodName, MethodResults, ParamsOf } from './api.js';

export const IPC = {
  /** invoke(method, params) -> IpcResult */
  call: 'chatty:call',
  /** main -> renderer: (event name, payload) for every API notification */
  event: 'chatty:event',
  /** renderer -> main: total unread count, for the dock/taskbar badge and tray */
  unread: 'chatty:unread',
  /** main -> renderer: open a conversation (a notification was clicked) */
  navigate: 'chatty:navigate',
} as const;

/** A JSON-RPC style error, serialized across IPC (Error objects lose their fields there). */
export interface IpcError {
  code: number;
  message: string;
  data?: Record<string, unknown>;
}

export type IpcResult<T = unknown> = { ok: true; result: T } | { ok: false; error: IpcError };

/**
 * Where a notification click should take the user: a room by its id (`!…`; names are shared by
 * same-named rooms, ids are not), or a DM by the other peer's id.
 */
export type NavigateTarget = { kind: 'room'; id: string } | { kind: 'dm'; id: string };

/** The one object the preload exposes to the renderer as `window.chatty`. */
export interface ChattyBridge {
  /** Calls an API method; never rejects for API errors, they come back as `{ ok: false, error }`. */
  call<M extends MethodName>(method: M, params?: ParamsOf<M>): Promise<IpcResult<MethodResults[M]>>;
  /** Subscribes to an API notification; returns the unsubscribe function. */
  on<E extends EventName>(event: E, listener: (payload: EventPayloads[E]) => void): () => void;
  /** Reports the number of unread messages (badge, tray). */
  setUnread(count: number): void;
  /** Called when the user clicked a native notification. */
  onNavigate(listener: (target: NavigateTarget) => void): () => void;
}
