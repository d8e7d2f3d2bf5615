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
      pathForFile: () => '',
      stageFile: async () => ({ ok: true, result: { path: '/x' } }),
      openFile: async () => ({ ok: true, result: {} }),
      showFile: async () => ({ ok: true, result: {} }),
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

/** An XMLHttpRequest double: records the request, answers when told. */
class FakeXhr {
  static last: FakeXhr | undefined;
  method = '';
  url = '';
  headers: Record<string, string> = {};
  body: unknown;
  status = 0;
  responseText = '';
  upload: { onprogress: ((e: { loaded: number }) => void) | null } = { onprogress: null };
  onload: (() => void) | null = null;
  onerror: (() => void) | null = null;
  onabort: (() => void) | null = null;
  constructor() {
    FakeXhr.last = this;
  }
  open(method: string, url: string): void {
    this.method = method;
    this.url = url;
  }
  setRequestHeader(name: string, value: string): void {
    this.headers[name] = value;
  }
  send(body: unknown): void {
    this.body = body;
  }
  answer(status: number, body: unknown): void {
    this.status = status;
    this.responseText = JSON.stringify(body);
    this.onload?.();
  }
}

describe('files through the clients', () => {
  it('browser: uploads to the UI server with the session token, reports progress, and builds /files/ URLs', async () => {
    const client = new WsApiClient('ws://127.0.0.1:7448/api?token=s3cret', {
      WebSocketImpl: FakeSocket as unknown as typeof WebSocket,
      XMLHttpRequestImpl: FakeXhr as unknown as typeof XMLHttpRequest,
    });
    expect(client.opensFiles).toBe(false);
    expect(client.fileUrl('F'.repeat(43))).toBe(`http://127.0.0.1:7448/files/${'F'.repeat(43)}?token=s3cret`);
    const file = new File(['hello'], 'été 1.txt');
    const progress: number[] = [];
    const staged = client.stageFile(file, (n) => progress.push(n));
    const xhr = FakeXhr.last!;
    expect([xhr.method, xhr.url]).toEqual(['POST', 'http://127.0.0.1:7448/upload']);
    expect(xhr.headers).toMatchObject({ 'X-Chatty-Token': 's3cret', 'X-File-Name': '%C3%A9t%C3%A9%201.txt' });
    expect(xhr.body).toBe(file); // the browser streams it from disk
    xhr.upload.onprogress?.({ loaded: 3 });
    xhr.answer(201, { path: '/data/uploads/ab/été 1.txt' });
    expect(await staged).toBe('/data/uploads/ab/été 1.txt');
    expect(progress).toEqual([3]);

    const refused = client.stageFile(new File(['x'], 'big.iso'));
    FakeXhr.last!.answer(413, { error: { reason: 'too_large', message: 'That file is over the limit of 2 GB for sending files' } });
    await expect(refused).rejects.toThrow('That file is over the limit of 2 GB for sending files');
    const broken = client.stageFile(new File(['x'], 'a.txt'));
    FakeXhr.last!.onerror?.();
    await expect(broken).rejects.toThrow('Could not upload a.txt to Chatty');
    await expect(client.openFile('x')).rejects.toThrow();
    client.close();
  });

  it('desktop: a file from disk goes by its path, a pasted one by its bytes; files load from chatty-file://', async () => {
    const staged: [string, number[]][] = [];
    const revealed: string[] = [];
    const bridge = {
      call: async () => ({ ok: true, result: {} }),
      on: () => () => {},
      setUnread: () => {},
      onNavigate: () => () => {},
      pathForFile: (f: File) => (f.name === 'on-disk.pdf' ? '/home/me/on-disk.pdf' : ''),
      stageFile: async (name: string, bytes: Uint8Array) => {
        staged.push([name, [...bytes]]);
        return { ok: true as const, result: { path: `/data/uploads/x/${name}` } };
      },
      openFile: async (id: string) => {
        revealed.push(`open ${id}`);
        return {
          ok: false as const,
          error: { code: 1002, message: 'Chatty does not run programs it received', data: { reason: 'forbidden' } },
        };
      },
      showFile: async (id: string) => {
        revealed.push(`show ${id}`);
        return { ok: true as const, result: {} };
      },
    } as unknown as ChattyBridge;
    const client = new IpcApiClient(bridge);
    expect(client.opensFiles).toBe(true);
    expect(await client.stageFile(new File(['%PDF'], 'on-disk.pdf'))).toBe('/home/me/on-disk.pdf');
    expect(staged).toEqual([]);
    expect(await client.stageFile(new File([new Uint8Array([1, 2, 3])], 'Pasted image.png'))).toBe('/data/uploads/x/Pasted image.png');
    expect(staged).toEqual([['Pasted image.png', [1, 2, 3]]]);
    expect(client.fileUrl('F'.repeat(43))).toBe(`chatty-file://file/${'F'.repeat(43)}`);
    await client.showFile('F'.repeat(43));
    const err = await client.openFile('F'.repeat(43)).catch((e: unknown) => e);
    expect((err as RpcCallError).reason).toBe('forbidden');
    expect(revealed).toEqual([`show ${'F'.repeat(43)}`, `open ${'F'.repeat(43)}`]);
  });
});
