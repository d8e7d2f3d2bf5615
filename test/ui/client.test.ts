import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { RpcCallError } from '../../src/shared/jsonrpc.js';
import { IpcApiClient, WsApiClient, type ConnectionState } from '../../src/renderer/src/api/client';
import type { ChattyBridge } from '../../src/shared/ipc.js';

/** A WebSocket double the test opens, feeds and closes by hand. */
class FakeSocket {
  static CONNECTING = 0;
  static OPEN = 1;
  static CLOSING = 2;
  static CLOSED = 3;
  static instances: FakeSocket[] = [];
  readyState = FakeSocket.CONNECTING;
  sent: string[] = [];
  onopen: (() => void) | null = null;
  onmessage: ((e: { data: unknown }) => void) | null = null;
  onclose: (() => void) | null = null;
  onerror: (() => void) | null = null;
  constructor(readonly url: string) {
    FakeSocket.instances.push(this);
  }
  send(text: string): void {
    this.sent.push(text);
  }
  close(): void {
    this.drop();
  }
  open(): void {
    this.readyState = FakeSocket.OPEN;
    this.onopen?.();
  }
  drop(): void {
    this.readyState = FakeSocket.CLOSED;
    this.onclose?.();
  }
  reply(data: unknown): void {
    this.onmessage?.({ data: JSON.stringify(data) });
  }
}

describe('WebSocket API client', () => {
  beforeEach(() => {
    vi.useFakeTimers();
    FakeSocket.instances = [];
  });
  afterEach(() => vi.useRealTimers());

  const make = () =>
    new WsApiClient('ws://127.0.0.1:1/api?token=t', {
      WebSocketImpl: FakeSocket as unknown as typeof WebSocket,
      minDelay: 100,
      maxDelay: 1000,
    });

  it('queues calls until open, then matches answers and errors', async () => {
    const client = make();
    const ws = FakeSocket.instances[0]!;
    const who = client.call('whoami');
    expect(ws.sent).toEqual([]);
    ws.open();
    expect(JSON.parse(ws.sent[0]!)).toMatchObject({ jsonrpc: '2.0', id: 1, method: 'whoami' });
    ws.reply({ jsonrpc: '2.0', id: 1, result: { nick: 'me' } });
    await expect(who).resolves.toEqual({ nick: 'me' });

    const kick = client.call('kick', { room: 'r', peer: 'p' });
    ws.reply({ jsonrpc: '2.0', id: 2, error: { code: 1002, message: 'no', data: { reason: 'forbidden' } } });
    const err = await kick.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RpcCallError);
    expect((err as RpcCallError).reason).toBe('forbidden');
  });

  it('delivers notifications to listeners', () => {
    const client = make();
    const ws = FakeSocket.instances[0]!;
    ws.open();
    const got: unknown[] = [];
    client.on('typing', (p) => got.push(p));
    ws.reply({ jsonrpc: '2.0', method: 'typing', params: { room: 'r', peerId: 'p', nick: 'n' } });
    expect(got).toEqual([{ room: 'r', peerId: 'p', nick: 'n' }]);
  });

  it('fails pending calls on disconnect and reconnects with growing backoff', async () => {
    // no jitter (±25 %), so the two waits are exactly 100 and 200 ms
    const random = vi.spyOn(Math, 'random').mockReturnValue(0.5);
    const client = make();
    const states: ConnectionState[] = [];
    client.onState((s) => states.push(s));
    FakeSocket.instances[0]!.open();
    const pending = client.call('rooms');
    FakeSocket.instances[0]!.drop();
    await expect(pending).rejects.toThrow('connection to Chatty was lost');
    await expect(client.call('rooms')).rejects.toThrow('Not connected');
    expect(states).toEqual(['open', 'closed']);

    vi.advanceTimersByTime(200); // first retry after ~100 ms
    expect(FakeSocket.instances).toHaveLength(2);
    FakeSocket.instances[1]!.drop();
    vi.advanceTimersByTime(150);
    expect(FakeSocket.instances).toHaveLength(2); // second retry waits ~200 ms
    vi.advanceTimersByTime(200);
    expect(FakeSocket.instances).toHaveLength(3);
    FakeSocket.instances[2]!.open();
    expect(states.at(-1)).toBe('open');
    client.close();
    random.mockRestore();
  });
});

describe('IPC API client', () => {
  it('unwraps results and turns serialized errors into RpcCallError', async () => {
    const bridge: ChattyBridge = {
      call: async (method) =>
        method === 'whoami'
          ? { ok: true, result: { peerId: 'p', nick: 'me', port: 1, fingerprint: 'f' } }
          : { ok: false, error: { code: 1001, message: 'not a member', data: { reason: 'not_member' } } },
      on: () => () => {},
      setUnread: vi.fn(),
      onNavigate: () => () => {},
    } as ChattyBridge;
    const client = new IpcApiClient(bridge);
    expect((await client.call('whoami')).nick).toBe('me');
    const err = await client.call('leave', { room: 'x' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RpcCallError);
    expect((err as RpcCallError).reason).toBe('not_member');
    client.setUnread(4);
    expect(bridge.setUnread).toHaveBeenCalledWith(4);
  });
});
