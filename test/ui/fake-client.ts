/** A scriptable ApiClient for store and component tests: answers calls from handlers, emits events on demand. */
import { createPinia, setActivePinia } from 'pinia';
import { afterAll, beforeAll } from 'vitest';
import type {
  EventName,
  EventPayloads,
  Member,
  Message,
  MethodName,
  MethodResults,
  ParamsOf,
  RoomInfo,
  WhoAmI,
} from '../../src/shared/api.js';
import type { ApiClient, ConnectionState } from '../../src/renderer/src/api/client';
import { useCommands } from '../../src/renderer/src/stores/commands';
import { useComposerStore } from '../../src/renderer/src/stores/composer';
import { useConversationsStore } from '../../src/renderer/src/stores/conversations';
import { useDirectoryStore } from '../../src/renderer/src/stores/directory';
import { useHistoryStore } from '../../src/renderer/src/stores/history';
import { useMembershipStore } from '../../src/renderer/src/stores/membership';
import { useMessageActionsStore } from '../../src/renderer/src/stores/messageActions';
import { useNavigationStore } from '../../src/renderer/src/stores/navigation';
import { useNoticesStore } from '../../src/renderer/src/stores/notices';
import { usePeersStore } from '../../src/renderer/src/stores/peers';
import { usePresenceStore } from '../../src/renderer/src/stores/presence';
import { useReceiptsStore } from '../../src/renderer/src/stores/receipts';
import { useSessionStore } from '../../src/renderer/src/stores/session';
import { useSyncStore } from '../../src/renderer/src/stores/sync';
import { useTypingStore } from '../../src/renderer/src/stores/typing';
import { useUnreadStore } from '../../src/renderer/src/stores/unread';

type Handler<M extends MethodName> = (params: ParamsOf<M>) => MethodResults[M] | Promise<MethodResults[M]>;

export const ME: WhoAmI = {
  peerId: 'M'.repeat(43),
  nick: 'me',
  port: 7447,
  fingerprint: 'MMMM-MMMM',
  status: 'online',
  readReceipts: true,
};
export const BOB = { peerId: 'B'.repeat(43), nick: 'bob' };
export const CAROL = { peerId: 'C'.repeat(43), nick: 'carol' };
export const MY = { peerId: ME.peerId, nick: ME.nick };

/** happy-dom does no layout: gives scrollers a viewport and rows a height while the calling describe runs. */
export function withFakeLayout(): void {
  const sizes: Record<string, number> = { clientHeight: 600, clientWidth: 800, offsetHeight: 40, offsetWidth: 800 };
  const saved = Object.keys(sizes).map((k) => [k, Object.getOwnPropertyDescriptor(HTMLElement.prototype, k)] as const);
  beforeAll(() => {
    for (const [k, v] of Object.entries(sizes)) Object.defineProperty(HTMLElement.prototype, k, { configurable: true, get: () => v });
  });
  afterAll(() => {
    for (const [k, d] of saved) if (d) Object.defineProperty(HTMLElement.prototype, k, d);
  });
}

/** A room id shaped like the peer's ('!' and 43 base64url characters), readable in test output. */
export function roomId(tag: string): string {
  return `!${tag}${'_'.repeat(43)}`.slice(0, 44);
}

export interface RoomRef {
  id: string;
  name: string;
}

/** A `rooms` entry; the id defaults to one derived from the name (pass `tag` for a same-named twin). */
export function roomInfo(
  name: string,
  members: Member[],
  opts: { tag?: string; owner?: { peerId: string; nick: string }; joined?: boolean; private?: boolean } = {},
): RoomInfo {
  const id = roomId(opts.tag ?? name);
  const owner = opts.owner ?? members.find((m) => m.role === 'owner') ?? members[0] ?? MY;
  return {
    id,
    room: id,
    name,
    owner: { peerId: owner.peerId, nick: owner.nick },
    joined: opts.joined ?? true,
    private: opts.private ?? false,
    members,
    banned: [],
  };
}

export const member = (p: { peerId: string; nick: string }, role: Member['role'] = 'member', online = true): Member => ({
  ...p,
  role,
  online,
  status: online ? 'online' : 'offline',
});

let seq = 0;
export function msg(room: RoomRef | null, from: { peerId: string; nick: string }, text: string, extra: Partial<Message> = {}): Message {
  seq++;
  return {
    id: `m${seq}`,
    room: room?.id ?? null,
    ...(room ? { roomName: room.name } : {}),
    from,
    text,
    sentAt: 1_700_000_000_000 + seq * 1000,
    ...extra,
  };
}

/** A member event of `room`. */
export function memberEvent(room: RoomRef, ev: Omit<EventPayloads['member'], 'room' | 'roomName'>): EventPayloads['member'] {
  return { room: room.id, roomName: room.name, ...ev };
}

export class FakeClient implements ApiClient {
  readonly kind = 'ws' as const;
  state: ConnectionState = 'open';
  calls: { method: MethodName; params: unknown }[] = [];
  unread: number[] = [];
  /** Whether files open in the system's apps (the desktop's client says yes). */
  opensFiles = false;
  /** Names of the files staged, in order. */
  staged: string[] = [];
  /** Stages a file: by default at once, at `/uploads/<name>`; replace to make it slow or fail. */
  stager: (file: File, onProgress?: (sent: number) => void) => Promise<string> = async (file) => `/uploads/${file.name}`;
  /** openFile / showFile calls, as [what, file id]. */
  revealed: ['open' | 'show', string][] = [];
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
    this.handle('readMarkers', () => []);
    this.handle('markRead', (p) => ({ ...(p.room ? { room: p.room } : { peer: p.peer }), message: p.message, unread: 0, mentions: 0 }));
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

  stageFile(file: File, onProgress?: (sent: number) => void): Promise<string> {
    this.staged.push(file.name);
    return this.stager(file, onProgress);
  }

  fileUrl(fileId: string): string {
    return `/files/${fileId}`;
  }

  async openFile(fileId: string): Promise<void> {
    this.revealed.push(['open', fileId]);
  }

  async showFile(fileId: string): Promise<void> {
    this.revealed.push(['show', fileId]);
  }

  close(): void {}
}

/** Lets pending promise callbacks run (microtasks only, so it also works under fake timers). */
export async function flush(times = 20): Promise<void> {
  for (let i = 0; i < times; i++) await Promise.resolve();
}

/** Every store of the renderer, on a fresh Pinia, started on `client` the way main.ts does it. */
export function startStores(client: FakeClient, opts: { keepStorage?: boolean } = {}) {
  setActivePinia(createPinia());
  if (!opts.keepStorage) localStorage.clear();
  const stores = {
    client,
    sync: useSyncStore(),
    session: useSessionStore(),
    notices: useNoticesStore(),
    peers: usePeersStore(),
    directory: useDirectoryStore(),
    conversations: useConversationsStore(),
    history: useHistoryStore(),
    navigation: useNavigationStore(),
    composer: useComposerStore(),
    typing: useTypingStore(),
    membership: useMembershipStore(),
    unread: useUnreadStore(),
    presence: usePresenceStore(),
    receipts: useReceiptsStore(),
    actions: useMessageActionsStore(),
    commands: useCommands(),
  };
  stores.sync.init(client);
  return stores;
}
