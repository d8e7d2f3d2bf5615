/**
 * JSON-RPC 2.0 framing of the control API, shared by every transport
 * (stdio, the UI WebSocket, tests). No Node or DOM imports: the renderer and
 * the CLI both use it. It answers `rpc.discover` itself (openrpc.ts): the
 * description of the API is no business of the node.
 */
import { z } from 'zod';
import {
  ChattyError,
  methodParams,
  RPC_ERROR_CODES,
  type ChattyApi,
  type EventName,
  type EventPayloads,
  type MethodName,
  type MethodResults,
  type ParamsOf,
} from './api.js';
import { DISCOVER_METHOD, openRpcDocument, type FramingResults } from './openrpc.js';

export const RPC = {
  parseError: RPC_ERROR_CODES.parse_error,
  invalidRequest: RPC_ERROR_CODES.invalid_request,
  methodNotFound: RPC_ERROR_CODES.unknown_method,
  invalidParams: RPC_ERROR_CODES.invalid_params,
  internalError: RPC_ERROR_CODES.internal,
} as const;

export type RpcId = string | number | null;

export interface RpcErrorObject {
  code: number;
  message: string;
  data?: Record<string, unknown>;
}

export type RpcResponse = { jsonrpc: '2.0'; id: RpcId; result: unknown } | { jsonrpc: '2.0'; id: RpcId; error: RpcErrorObject };

export interface RpcNotification<E extends EventName = EventName> {
  jsonrpc: '2.0';
  method: E;
  params: EventPayloads[E];
}

const requestSchema = z.object({
  jsonrpc: z.literal('2.0'),
  id: z.union([z.string().max(128), z.number(), z.null()]).optional(),
  method: z.string().max(64),
  params: z.union([z.record(z.string(), z.unknown()), z.array(z.unknown())]).optional(),
});

function errorResponse(id: RpcId, code: number, message: string, data?: Record<string, unknown>): RpcResponse {
  return { jsonrpc: '2.0', id, error: data ? { code, message, data } : { code, message } };
}

function isMethod(name: string): name is MethodName {
  return Object.prototype.hasOwnProperty.call(methodParams, name);
}

/** Turns a thrown value into the JSON-RPC error object a caller sees. */
export function toRpcError(err: unknown): RpcErrorObject {
  if (err instanceof ChattyError) {
    return { code: err.code, message: err.message, data: { reason: err.reason, ...err.details } };
  }
  if (err instanceof z.ZodError) {
    return invalidParams(err);
  }
  const message = err instanceof Error ? err.message : String(err);
  return { code: RPC.internalError, message: `internal error: ${message}`, data: { reason: 'internal' } };
}

function invalidParams(err: z.ZodError): RpcErrorObject {
  const issues = err.issues.map((i) => ({ path: i.path.join('.'), message: i.message }));
  const summary = issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message)).join('; ');
  return { code: RPC.invalidParams, message: `invalid params: ${summary}`, data: { reason: 'invalid_params', issues } };
}

export type FramingMethodName = keyof FramingResults;

/** An answer of the framing itself; the same shape as an IPC result. */
export type FramingAnswer = { ok: true; result: unknown } | { ok: false; error: RpcErrorObject };

/**
 * Answers the methods that describe the API rather than use the node (`rpc.discover`), so every
 * transport serves them alike, even while no node runs; `undefined` for any other method.
 */
export function answerFramingCall(method: unknown, params: unknown): FramingAnswer | undefined {
  if (method !== DISCOVER_METHOD) return undefined;
  const empty =
    params === undefined ||
    (Array.isArray(params) && params.length === 0) ||
    (typeof params === 'object' && params !== null && !Array.isArray(params) && Object.keys(params).length === 0);
  if (!empty) {
    return {
      ok: false,
      error: { code: RPC.invalidParams, message: `invalid params: ${method} takes none`, data: { reason: 'invalid_params' } },
    };
  }
  return { ok: true, result: openRpcDocument() };
}

/** Validates params against the method's schema, then calls it: every front end goes through here. */
export async function callValidated<M extends MethodName>(api: ChattyApi, method: M, params: unknown): Promise<MethodResults[M]> {
  const parsed = methodParams[method].parse(params ?? {});
  const fn = api[method] as (p: unknown) => Promise<MethodResults[M]>;
  return fn.call(api, parsed);
}

/**
 * Handles one raw JSON-RPC message against an API implementation.
 * Returns the response to send, or `null` for a notification (no id).
 */
export async function handleRpc(api: ChattyApi, raw: string | unknown): Promise<RpcResponse | null> {
  let msg: unknown = raw;
  if (typeof raw === 'string') {
    try {
      msg = JSON.parse(raw);
    } catch (err) {
      return errorResponse(null, RPC.parseError, `parse error: ${(err as Error).message}`, { reason: 'parse_error' });
    }
  }
  return handleParsedRpc(api, msg);
}

/** Like `handleRpc`, for a message already parsed from JSON. */
export async function handleParsedRpc(api: ChattyApi, msg: unknown): Promise<RpcResponse | null> {
  const parsed = requestSchema.safeParse(msg);
  if (!parsed.success) {
    const id = typeof msg === 'object' && msg !== null && 'id' in msg ? ((msg as { id: unknown }).id as RpcId) : null;
    const safeId = typeof id === 'string' || typeof id === 'number' ? id : null;
    return errorResponse(safeId, RPC.invalidRequest, 'invalid request: expected {"jsonrpc":"2.0","method":string,"id"?,"params"?}', {
      reason: 'invalid_request',
    });
  }
  const { id, method } = parsed.data;
  const isNotification = id === undefined;
  const reply = (r: RpcResponse): RpcResponse | null => (isNotification ? null : r);
  const framing = answerFramingCall(method, parsed.data.params);
  if (framing) {
    return reply(
      framing.ok ? { jsonrpc: '2.0', id: id ?? null, result: framing.result } : { jsonrpc: '2.0', id: id ?? null, error: framing.error },
    );
  }
  if (!isMethod(method)) {
    return reply(errorResponse(id ?? null, RPC.methodNotFound, `unknown method: ${method}`, { reason: 'unknown_method' }));
  }
  if (Array.isArray(parsed.data.params)) {
    return reply(errorResponse(id ?? null, RPC.invalidParams, 'invalid params: params must be an object', { reason: 'invalid_params' }));
  }
  try {
    const result = await callValidated(api, method, parsed.data.params);
    return reply({ jsonrpc: '2.0', id: id ?? null, result });
  } catch (err) {
    return reply({ jsonrpc: '2.0', id: id ?? null, error: toRpcError(err) });
  }
}

export function notification<E extends EventName>(method: E, params: EventPayloads[E]): RpcNotification<E> {
  return { jsonrpc: '2.0', method, params };
}

/** Error raised on the client side for an RPC error answer. */
export class RpcCallError extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly data?: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'RpcCallError';
  }
  get reason(): string | undefined {
    return typeof this.data?.reason === 'string' ? this.data.reason : undefined;
  }
}

type Listener<E extends EventName> = (payload: EventPayloads[E]) => void;

/** An answer or a notification, as the other end wrote it. */
export interface RpcIncoming {
  id?: unknown;
  result?: unknown;
  error?: RpcErrorObject;
  method?: EventName;
  params?: unknown;
}

/**
 * A transport-agnostic JSON-RPC client: give it a `send(text)` function and
 * feed it every incoming text with `receive`. Used by the browser UI and the
 * tests' drivers.
 */
export class RpcClient {
  private nextId = 1;
  private pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private listeners = new Map<EventName, Set<Listener<EventName>>>();

  constructor(private readonly send: (text: string) => void) {}

  call<M extends MethodName>(method: M, params?: ParamsOf<M>): Promise<MethodResults[M]>;
  /** A method of the framing itself, e.g. `rpc.discover`. */
  call<M extends FramingMethodName>(method: M): Promise<FramingResults[M]>;
  call(method: MethodName | FramingMethodName, params?: object): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      try {
        this.send(JSON.stringify({ jsonrpc: '2.0', id, method, params: params ?? {} }));
      } catch (err) {
        // A transport that cannot send (closed, exited) fails the call now; it would never be answered.
        this.pending.delete(id);
        reject(err instanceof Error ? err : new Error(String(err)));
      }
    });
  }

  on<E extends EventName>(event: E, listener: Listener<E>): () => void {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    set.add(listener as Listener<EventName>);
    return () => set.delete(listener as Listener<EventName>);
  }

  receive(text: string): void {
    let msg: RpcIncoming;
    try {
      msg = JSON.parse(text) as RpcIncoming;
    } catch {
      return;
    }
    this.receiveParsed(msg);
  }

  /** `receive` for a line its caller has parsed already (a test harness reading a peer's stdout looks at every line). */
  receiveParsed(msg: RpcIncoming): void {
    if (msg.method !== undefined && msg.id === undefined) {
      for (const l of this.listeners.get(msg.method) ?? []) l(msg.params as never);
      return;
    }
    if (typeof msg.id !== 'number') return;
    const p = this.pending.get(msg.id);
    if (!p) return;
    this.pending.delete(msg.id);
    if (msg.error) p.reject(new RpcCallError(msg.error.code, msg.error.message, msg.error.data));
    else p.resolve(msg.result);
  }

  /** Fails every call still waiting, e.g. when the transport closed. */
  failAll(reason: string): void {
    for (const p of this.pending.values()) p.reject(new Error(reason));
    this.pending.clear();
  }
}
