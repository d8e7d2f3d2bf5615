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
  /** invoke(name, bytes) -> IpcResult<{ path }>: a file without a path on disk (a pasted picture) written to the uploads folder */
  stageFile: 'chatty:stage-file',
  /** invoke(fileId) -> IpcResult<{}>: opens a file this peer holds with the system's app for it */
  openFile: 'chatty:open-file',
  /** invoke(fileId) -> IpcResult<{}>: shows a file this peer holds in the system's file manager */
  showFile: 'chatty:show-file',
} as const;

/**
 * The desktop's URL scheme for the files this peer holds: `chatty-file://file/<file id>` (the id
 * is in the path: a standard scheme lower-cases its host, and file ids are case-sensitive).
 */
export const FILE_SCHEME = 'chatty-file';

export function fileSchemeUrl(fileId: string): string {
  return `${FILE_SCHEME}://file/${encodeURIComponent(fileId)}`;
}

/** The most bytes `stageFile` carries over IPC (a pasted picture; a file picked from disk goes by its path). */
export const STAGE_MAX_BYTES = 64 * 1024 * 1024;

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
  /** Where a File the user picked or dropped is on disk (Electron's `webUtils.getPathForFile`); '' when it has none (pasted). */
  pathForFile(file: File): string;
  /** Writes bytes (at most STAGE_MAX_BYTES) to the uploads folder; resolves with the path the peer can send. */
  stageFile(name: string, bytes: Uint8Array): Promise<IpcResult<{ path: string }>>;
  /** Opens a file this peer holds with the system's app for it. */
  openFile(fileId: string): Promise<IpcResult<Record<string, never>>>;
  /** Shows a file this peer holds in its folder. */
  showFile(fileId: string): Promise<IpcResult<Record<string, never>>>;
}
