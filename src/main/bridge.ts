/**
 * The desktop IPC bridge's logic, kept free of Electron so it can be tested
 * on its own: validate every call with the API's schemas before the node sees
 * it, and turn every failure into a serializable JSON-RPC style error.
 */
import { ERROR_CODES, methodParams, type ChattyApi, type MethodName } from '../shared/api.js';
import { answerFramingCall, RPC, toRpcError } from '../shared/jsonrpc.js';
import type { IpcResult } from '../shared/ipc.js';

export function isMethod(name: unknown): name is MethodName {
  return typeof name === 'string' && Object.prototype.hasOwnProperty.call(methodParams, name);
}

/** Runs one `chatty:call` from the renderer against the node. Never throws. */
export async function handleIpcCall(service: ChattyApi | undefined, method: unknown, params: unknown): Promise<IpcResult> {
  // `rpc.discover` describes the API, not the node: answered here like on the other transports.
  const framing = answerFramingCall(method, params);
  if (framing) return framing;
  if (!isMethod(method)) {
    return {
      ok: false,
      error: { code: RPC.methodNotFound, message: `unknown method: ${String(method)}`, data: { reason: 'unknown_method' } },
    };
  }
  const parsed = methodParams[method].safeParse(params ?? {});
  if (!parsed.success) return { ok: false, error: toRpcError(parsed.error) };
  if (!service) {
    return { ok: false, error: { code: ERROR_CODES.shutting_down, message: 'the peer is not running', data: { reason: 'shutting_down' } } };
  }
  try {
    const fn = service[method] as (p: unknown) => Promise<unknown>;
    return { ok: true, result: await fn.call(service, parsed.data) };
  } catch (err) {
    return { ok: false, error: toRpcError(err) };
  }
}
