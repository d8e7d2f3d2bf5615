/**
 * One typed API client, two transports:
 * - IPC through `window.chatty` (desktop, exposed by the preload);
 * - WebSocket JSON-RPC to `ws://<host>/api?token=...` (browser mode, served by
 *   a headless peer), reconnecting with backoff.
 */
import type { EventName, EventPayloads, MethodName, MethodResults, ParamsOf } from '../../../shared/api.js';
import { RpcCallError, RpcClient } from '../../../shared/jsonrpc.js';
import type { ChattyBridge, NavigateTarget } from '../../../shared/ipc.js';

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
  close(): void;
}

/** Desktop: the preload's bridge. Errors come back as data and become RpcCallError here. */
export class IpcApiClient implements ApiClient {
  readonly kind = 'ipc' as const;
  readonly state: ConnectionState = 'open';

  constructor(private readonly bridge: ChattyBridge) {}

  async call<M extends MethodName>(method: M, params?: ParamsOf<M>): Promise<MethodResults[M]> {
    const res = await this.bridge.call(method, params);
    if (res.ok) return res.result;
    throw new RpcCallError(res.error.code, res.error.message, res.error.data);
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
}

/** Browser: JSON-RPC over a WebSocket with automatic reconnection. */
export class WsApiClient implements ApiClient {
  readonly kind = 'ws' as const;
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

  constructor(
    private readonly url: string,
    opts: WsOptions = {},
  ) {
    this.minDelay = opts.minDelay ?? 500;
    this.maxDelay = opts.maxDelay ?? 10_000;
    this.WS = opts.WebSocketImpl ?? WebSocket;
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
