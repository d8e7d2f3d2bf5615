/** A scriptable ApiClient for store and component tests: answers calls from handlers, emits events on demand. */
import type { EventName, EventPayloads, Message, MethodName, MethodResults, ParamsOf, WhoAmI } from '../../src/shared/api.js';
import type { ApiClient, ConnectionState } from '../../src/renderer/src/api/client';

type Handler<M extends MethodName> = (params: ParamsOf<M>) => MethodResults[M] | Promise<MethodResults[M]>;

export const ME: WhoAmI = { peerId: 'M'.repeat(43), nick: 'me', port: 7447, fingerprint: 'MMMM-MMMM' };
export const BOB = { peerId: 'B'.repeat(43), nick: 'bob' };
export const CAROL = { peerId: 'C'.repeat(43), nick: 'carol' };

let seq = 0;
export function msg(room: string | null, from: { peerId: string; nick: string }, text: string, extra: Partial<Message> = {}): Message {
  seq++;
  return { id: `m${seq}`, room, from, text, sentAt: 1_700_000_000_000 + seq * 1000, ...extra };
}

export class FakeClient implements ApiClient {
  readonly kind = 'ws' as const;
  state: ConnectionState = 'open';
  calls: { method: MethodName; params: unknown }[] = [];
  unread: number[] = [];
  private handlers = new Map<MethodName, Handler<MethodName>>();
  private listeners = new Map<EventName, Set<(p: unknown) => void>>();
  private stateListeners = new Set<(s: ConnectionState) => void>();

  constructor() {
    this.handle('whoami', () => ME);
    this.handle('rooms', () => []);
    this.handle('peers', () => []);
    this.handle('history', () => []);
    this.handle('dmHistory', () => []);
    this.handle('typing', () => ({}));
  }

  handle<M extends MethodName>(method: M, fn: Handler<M>): this {
    this.handlers.set(method, fn as unknown as Handler<MethodName>);
    return this;
  }

  async call<M extends MethodName>(method: M, params?: ParamsOf<M>): Promise<MethodResults[M]> {
    this.calls.push({ method, params });
    const h = this.handlers.get(method);
    if (!h) throw new Error(`no handler for ${method}`);
    return (await h(params as never)) as MethodResults[M];
  }

  callsOf(method: MethodName): unknown[] {
    return this.calls.filter((c) => c.method === method).map((c) => c.params);
  }

  on<E extends EventName>(event: E, listener: (payload: EventPayloads[E]) => void): () => void {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    set.add(listener as (p: unknown) => void);
    return () => set.delete(listener as (p: unknown) => void);
  }

  emit<E extends EventName>(event: E, payload: EventPayloads[E]): void {
    for (const l of this.listeners.get(event) ?? []) l(payload);
  }

  onState(listener: (s: ConnectionState) => void): () => void {
    this.stateListeners.add(listener);
    return () => this.stateListeners.delete(listener);
  }

  setState(state: ConnectionState): void {
    this.state = state;
    for (const l of this.stateListeners) l(state);
  }

  setUnread(count: number): void {
    this.unread.push(count);
  }

  onNavigate(): () => void {
    return () => {};
  }

  close(): void {}
}

/** Lets pending promise callbacks run (microtasks only, so it also works under fake timers). */
export async function flush(times = 20): Promise<void> {
  for (let i = 0; i < times; i++) await Promise.resolve();
}
