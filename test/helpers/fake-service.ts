/**
 * A stand-in for the peer node in tests that exercise something else (the UI server, the renderer):
 * the given methods, every other one refusing with `unmocked`, and an event hub the test drives.
 */
import {
  methodParams,
  type ChattyApi,
  type ChattyError,
  type ChattyService,
  type EventName,
  type EventPayloads,
} from '../../src/shared/api.js';

export type FakeService = ChattyService & {
  emit<E extends EventName>(event: E, payload: EventPayloads[E]): void;
  listenerCount(): number;
};

export function fakeService(api: Partial<ChattyApi>, unmocked: ChattyError): FakeService {
  const listeners = new Map<EventName, Set<(payload: unknown) => void>>();
  const refuse = async (): Promise<never> => {
    throw unmocked;
  };
  const methods = Object.fromEntries(Object.keys(methodParams).map((m) => [m, api[m as keyof ChattyApi] ?? refuse])) as ChattyApi;
  return {
    ...methods,
    on(event, listener) {
      let set = listeners.get(event);
      if (!set) listeners.set(event, (set = new Set()));
      set.add(listener as (payload: unknown) => void);
      return () => set.delete(listener as (payload: unknown) => void);
    },
    emit(event, payload) {
      for (const l of listeners.get(event) ?? []) l(payload);
    },
    listenerCount() {
      let n = 0;
      for (const s of listeners.values()) n += s.size;
      return n;
    },
  };
}
