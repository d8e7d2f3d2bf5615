/**
 * One typed API client, two transports:
 * - IPC through `window.chatty` (desktop, exposed by the preload);
 * - WebSocket JSON-RPC to `ws://<host>/api?token=...` (browser mode, served by
 *   a headless peer), reconnecting with backoff.
 *
 * Files differ too, and the client hides it: the API sends a file by its path on
 * the peer's machine, so `stageFile` gives the path of a File the user picked
 * (the desktop knows it, or main writes a pasted picture's bytes; the browser
 * uploads it to the UI server), and `fileUrl` is where the page loads a file the
 * peer holds (`chatty-file://…` on the desktop, `/files/…` of the UI server).
 */
import type { EventName, EventPayloads, MethodName, MethodResults, ParamsOf } from '../../../shared/api.js';
import { RpcCallError, RpcClient } from '../../../shared/jsonrpc.js';
import { fileSchemeUrl, STAGE_MAX_BYTES, type ChattyBridge, type IpcResult, type NavigateTarget } from '../../../shared/ipc.js';

export type ConnectionState = 'connecting' | 'open' | 'closed';

export interface ApiClient {
  readonly kind: 'ipc' | 'ws';
  readonly state: ConnectionState;
  call<M extends MethodName>(method: M, params?: ParamsOf<M>): Promise<MethodResults[M]>;
  on<E extends EventName>(event: E, listener: (payload: EventPayloads[E]) => void): () => void;
  /** Connection changes; `open` again after a reconnect means "resynchronize". */
  onState(listener: (state: ConnectionState) => void): () => void;
  /** Reports the unread total (desktop badge); a no-op in the browser. */
  setUnread(count: number): void;
  /** Native notification clicks (desktop only). */
  onNavigate(listener: (target: NavigateTarget) => void): () => void;
  /** Puts a file the user picked where this machine's peer can read it; resolves with that path (for `sendFile`). */
  stageFile(file: File, onProgress?: (sentBytes: number) => void): Promise<string>;
  /** Where the page loads a file this peer holds from (an `<img>`, a link). */
  fileUrl(fileId: string): string;
  /** Whether held files open in the system's apps (desktop): `openFile` and `showFile` work; else open `fileUrl`. */
  readonly opensFiles: boolean;
  openFile(fileId: string): Promise<void>;
  showFile(fileId: string): Promise<void>;
  close(): void;
}

/** An IPC answer's value, or its error as an RpcCallError. */
function unwrap<T>(res: IpcResult<T>): T {
  if (res.ok) return res.result;
  throw new RpcCallError(res.error.code, res.error.message, res.error.data);
}

/** Desktop: the preload's bridge. Errors come back as data and become RpcCallError here. */
export class IpcApiClient implements ApiClient {
  readonly kind = 'ipc' as const;
  readonly state: ConnectionState = 'open';
  readonly opensFiles = true;

  constructor(private readonly bridge: ChattyBridge) {}

  async call<M extends MethodName>(method: M, params?: ParamsOf<M>): Promise<MethodResults[M]> {
    return unwrap(await this.bridge.call(method, params));
  }

  /** A file from disk is sent where it is; one without a path (pasted) is written by main first. */
  async stageFile(file: File, onProgress?: (sentBytes: number) => void): Promise<string> {
    const path = this.bridge.pathForFile(file);
    if (path) return path;
    if (file.size > STAGE_MAX_BYTES) throw new Error(`${file.name} is too big to paste: attach it from its folder instead`);
    const { path: staged } = unwrap(await this.bridge.stageFile(file.name, new Uint8Array(await file.arrayBuffer())));
    onProgress?.(file.size);
    return staged;
  }

  fileUrl(fileId: string): string {
    return fileSchemeUrl(fileId);
  }

  async openFile(fileId: string): Promise<void> {
    unwrap(await this.bridge.openFile(fileId));
  }

  async showFile(fileId: string): Promise<void> {
    unwrap(await this.bridge.showFile(fileId));
  }

  on<E extends EventName>(event: E, listener: (payload: EventPayloads[E]) => void): () => void {
    return this.bridge.on(event, listener);
  }

  onState(): () => void {
    return () => {};
  }

  setUnread(count: number): void {
    this.bridge.setUnread(count);
  }

  onNavigate(listener: (target: NavigateTarget) => void): () => void {
    return this.bridge.onNavigate(listener);
  }

  close(): void {}
}

export interface WsOptions {
  /** Smallest and largest reconnect delay (ms). */
  minDelay?: number;
  maxDelay?: number;
  WebSocketImpl?: typeof WebSocket;
  XMLHttpRequestImpl?: typeof XMLHttpRequest;
}

/** The UI server's answer to an upload: `{path}`, or `{error: {reason, message}}`. */
interface UploadAnswer {
  path?: unknown;
  error?: { reason?: unknown; message?: unknown };
}

/** Browser: JSON-RPC over a WebSocket with automatic reconnection. */
export class WsApiClient implements ApiClient {
  readonly kind = 'ws' as const;
  readonly opensFiles = false;
  state: ConnectionState = 'connecting';
  private ws: WebSocket | undefined;
  private queue: string[] = [];
  private attempt = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private closed = false;
  private readonly rpc: RpcClient;
  private readonly stateListeners = new Set<(s: ConnectionState) => void>();
  private readonly minDelay: number;
  private readonly maxDelay: number;
  private readonly WS: typeof WebSocket;
  private readonly XHR: typeof XMLHttpRequest;
  /** The UI server's origin and the session token, from the socket's URL. */
  private readonly origin: string;
  private readonly token: string;

  constructor(
    private readonly url: string,
    opts: WsOptions = {},
  ) {
    this.minDelay = opts.minDelay ?? 500;
    this.maxDelay = opts.maxDelay ?? 10_000;
    this.WS = opts.WebSocketImpl ?? WebSocket;
    this.XHR = opts.XMLHttpRequestImpl ?? XMLHttpRequest;
    const http = new URL(url);
    http.protocol = http.protocol === 'wss:' ? 'https:' : 'http:';
    this.origin = http.origin;
    this.token = http.searchParams.get('token') ?? '';
    this.rpc = new RpcClient((text) => this.transmit(text));
    this.connect();
  }

  call<M extends MethodName>(method: M, params?: ParamsOf<M>): Promise<MethodResults[M]> {
    return this.rpc.call(method, params);
  }

  on<E extends EventName>(event: E, listener: (payload: EventPayloads[E]) => void): () => void {
    return this.rpc.on(event, listener);
  }

  onState(listener: (state: ConnectionState) => void): () => void {
    this.stateListeners.add(listener);
    return () => this.stateListeners.delete(listener);
  }

  setUnread(): void {}

  onNavigate(): () => void {
    return () => {};
  }

  /** Uploads the file to the UI server (streamed from disk by the browser), which answers its path on the peer's machine. */
  stageFile(file: File, onProgress?: (sentBytes: number) => void): Promise<string> {
    return new Promise((resolve, reject) => {
      const xhr = new this.XHR();
      xhr.open('POST', `${this.origin}/upload`);
      xhr.setRequestHeader('X-Chatty-Token', this.token);
      xhr.setRequestHeader('X-File-Name', encodeURIComponent(file.name || 'file'));
      xhr.setRequestHeader('Content-Type', 'application/octet-stream');
      xhr.upload.onprogress = (e: ProgressEvent) => onProgress?.(e.loaded);
      xhr.onload = () => {
        let answer: UploadAnswer = {};
        try {
          answer = JSON.parse(String(xhr.responseText)) as UploadAnswer;
        } catch {
          /* not JSON: the status says it */
        }
        if (xhr.status >= 200 && xhr.status < 300 && typeof answer.path === 'string') return resolve(answer.path);
        const message = typeof answer.error?.message === 'string' ? answer.error.message : `The upload failed (HTTP ${xhr.status})`;
        reject(new Error(message));
      };
      xhr.onerror = () => reject(new Error(`Could not upload ${file.name} to Chatty: the connection failed`));
      xhr.onabort = () => reject(new Error(`The upload of ${file.name} was stopped`));
      xhr.send(file);
    });
  }

  fileUrl(fileId: string): string {
    return `${this.origin}/files/${encodeURIComponent(fileId)}?token=${encodeURIComponent(this.token)}`;
  }

  openFile(_fileId: string): Promise<void> {
    return Promise.reject(new Error('Files open from their link in the browser'));
  }

  showFile(_fileId: string): Promise<void> {
    return Promise.reject(new Error('Only the desktop app shows files in their folder'));
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.ws?.close();
    this.rpc.failAll('The client was closed');
  }

  private setState(state: ConnectionState): void {
    if (this.state === state) return;
    this.state = state;
    for (const l of this.stateListeners) l(state);
  }

  private transmit(text: string): void {
    const ws = this.ws;
    if (ws && ws.readyState === this.WS.OPEN) ws.send(text);
    else if (ws && ws.readyState === this.WS.CONNECTING) this.queue.push(text);
    else throw new Error('Not connected to Chatty — reconnecting…');
  }

  private connect(): void {
    if (this.closed) return;
    this.setState('connecting');
    let ws: WebSocket;
    try {
      ws = new this.WS(this.url);
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      this.attempt = 0;
      const queued = this.queue;
      this.queue = [];
      for (const text of queued) ws.send(text);
      this.setState('open');
    };
    ws.onmessage = (e: MessageEvent) => {
      if (typeof e.data === 'string') this.rpc.receive(e.data);
    };
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = undefined;
      this.queue = [];
      this.rpc.failAll('The connection to Chatty was lost');
      this.setState('closed');
      this.scheduleReconnect();
    };
    ws.onerror = () => {
      /* onclose follows */
    };
  }

  private scheduleReconnect(): void {
    if (this.closed) return;
    const base = Math.min(this.maxDelay, this.minDelay * 2 ** this.attempt);
    this.attempt = Math.min(this.attempt + 1, 16);
    const delay = Math.round(base * (0.75 + Math.random() * 0.5));
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.connect(), delay);
  }
}

/** The session token: from the page URL (then remembered for reloads in this tab). */
export function pageToken(): string {
  const fromUrl = new URLSearchParams(location.search).get('token');
  if (fromUrl) {
    try {
      sessionStorage.setItem('chatty.token', fromUrl);
    } catch {
      /* storage disabled */
    }
    return fromUrl;
  }
  try {
    return sessionStorage.getItem('chatty.token') ?? '';
  } catch {
    return '';
  }
}

/** Picks the transport: the desktop bridge when present, else the page's own server. */
export function createApiClient(): ApiClient {
  const bridge = (window as { chatty?: ChattyBridge }).chatty;
  if (bridge) return new IpcApiClient(bridge);
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  return new WsApiClient(`${scheme}://${location.host}/api?token=${encodeURIComponent(pageToken())}`);
}
