import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { ChattyError } from '../../src/shared/api.js';
import { fakeService, type FakeService } from '../helpers/fake-service.js';
import { startUiServer, type UiServer } from '../../src/cli/ui-server.js';

/** A minimal stand-in for the peer: this file tests the server, not the node. */
function makeService(): FakeService {
  const me = { peerId: 'A'.repeat(43), nick: 'alice', port: 7447, fingerprint: 'AAAA-AAAA', status: 'online' as const, readReceipts: true };
  return fakeService(
    {
      whoami: async () => me,
      setNick: async ({ nick }) => ({ peerId: me.peerId, nick }),
      peers: async () => [],
      rooms: async () => [],
      join: async ({ room }) => ({ room, id: room, name: room, owner: { peerId: me.peerId, nick: me.nick }, members: [], history: [] }),
      leave: async ({ room }) => ({ room }),
      send: async ({ room, text }) => ({ id: 'm1', room, from: { peerId: me.peerId, nick: me.nick }, text, sentAt: 1 }),
      history: async () => [],
      dmHistory: async () => [],
      kick: async () => {
        throw new ChattyError('forbidden', 'only owners and moderators can kick');
      },
      typing: async () => ({}),
      search: async () => [],
      shutdown: async () => ({}),
    },
    new ChattyError('not_found', 'not implemented in the fake'),
  );
}

interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** Raw HTTP GET: node's http client does not normalize `..` in the path. */
function get(port: number, rawPath: string, headers: Record<string, string> = {}): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: rawPath, method: 'GET', headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Opens a WebSocket; resolves with the socket, or with the HTTP status of the rejected upgrade. */
function openWs(url: string, origin?: string): Promise<{ ws?: WebSocket; status?: number }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, origin ? { origin } : {});
    ws.once('open', () => resolve({ ws }));
    ws.once('unexpected-response', (_req, res) => {
      resolve({ status: res.statusCode });
      ws.terminate();
    });
    ws.once('error', () => resolve({}));
  });
}

function nextMessage(ws: WebSocket): Promise<Record<string, unknown>> {
  return new Promise((resolve) => ws.once('message', (data) => resolve(JSON.parse(String(data)) as Record<string, unknown>)));
}

describe('ui server', () => {
  let dir: string;
  let secretFile: string;
  let server: UiServer;
  const service = makeService();
  let origin: string;
  let wsUrl: string;

  beforeAll(async () => {
    const base = await mkdtemp(path.join(tmpdir(), 'chatty-ui-'));
    dir = path.join(base, 'renderer');
    await mkdir(path.join(dir, 'assets'), { recursive: true });
    await writeFile(path.join(dir, 'index.html'), '<!doctype html><title>Chatty</title>');
    await writeFile(path.join(dir, 'assets', 'app.js'), 'console.log(1)');
    await writeFile(path.join(dir, 'assets', 'app.css'), 'body{}');
    secretFile = path.join(base, 'secret.txt');
    await writeFile(secretFile, 'top secret');
    server = await startUiServer({ service, port: 0, staticDir: dir });
    origin = `http://127.0.0.1:${server.port}`;
    wsUrl = `ws://127.0.0.1:${server.port}/api?token=${server.token}`;
  });

  afterAll(async () => {
    await server.close();
    await rm(path.dirname(dir), { recursive: true, force: true });
  });

  it('returns a loopback URL carrying the token', () => {
    expect(server.url).toBe(`http://127.0.0.1:${server.port}/?token=${server.token}`);
    expect(server.token.length).toBeGreaterThanOrEqual(20);
  });

  it('serves static files with the right MIME types and falls back to index.html', async () => {
    const index = await get(server.port, '/?token=x');
    expect(index.status).toBe(200);
    expect(index.headers['content-type']).toMatch(/^text\/html/);
    expect(index.headers['content-security-policy']).toContain("default-src 'self'");
    expect(index.body).toContain('<title>Chatty</title>');
    const js = await get(server.port, '/assets/app.js');
    expect(js.status).toBe(200);
    expect(js.headers['content-type']).toMatch(/^text\/javascript/);
    const css = await get(server.port, '/assets/app.css');
    expect(css.headers['content-type']).toMatch(/^text\/css/);
    const spa = await get(server.port, '/rooms/general');
    expect(spa.status).toBe(200);
    expect(spa.body).toContain('<title>Chatty</title>');
    expect((await get(server.port, '/assets/missing.js')).status).toBe(404);
  });

  it('blocks directory traversal', async () => {
    for (const p of [
      '/../secret.txt',
      '/assets/../../secret.txt',
      '/..%2fsecret.txt',
      '/%2e%2e/secret.txt',
      '/assets/..%5c..%5csecret.txt',
      '/%00',
    ]) {
      const res = await get(server.port, p);
      expect(res.body, p).not.toContain('top secret');
      expect([400, 403, 404], p).toContain(res.status);
    }
  });

  it('rejects a foreign Host header (DNS rebinding)', async () => {
    const res = await get(server.port, '/', { Host: 'evil.example:80' });
    expect(res.status).toBe(403);
  });

  it('rejects a WebSocket without the right token', async () => {
    expect((await openWs(`ws://127.0.0.1:${server.port}/api`, origin)).status).toBe(401);
    expect((await openWs(`ws://127.0.0.1:${server.port}/api?token=wrong`, origin)).status).toBe(401);
  });

  it('rejects a WebSocket from another origin with 403', async () => {
    expect((await openWs(wsUrl, 'http://evil.example')).status).toBe(403);
    expect((await openWs(wsUrl, `http://127.0.0.1:${server.port + 1}`)).status).toBe(403);
    expect((await openWs(wsUrl)).status).toBe(403);
  });

  it('answers JSON-RPC calls, including errors, and survives bad frames', async () => {
    const { ws } = await openWs(wsUrl, origin);
    expect(ws).toBeDefined();
    const socket = ws!;
    try {
      let reply = nextMessage(socket);
      socket.send(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'whoami' }));
      expect(await reply).toMatchObject({ jsonrpc: '2.0', id: 1, result: { nick: 'alice' } });

      reply = nextMessage(socket);
      socket.send('{not json');
      expect(await reply).toMatchObject({ id: null, error: { code: -32700 } });

      reply = nextMessage(socket);
      socket.send(Buffer.from([1, 2, 3]), { binary: true });
      expect(await reply).toMatchObject({ error: { code: -32600 } });

      reply = nextMessage(socket);
      socket.send(JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'send', params: { room: '', text: 'x' } }));
      expect(await reply).toMatchObject({ id: 2, error: { code: -32602 } });

      reply = nextMessage(socket);
      socket.send(JSON.stringify({ jsonrpc: '2.0', id: 3, method: 'kick', params: { room: 'general', peer: 'bob' } }));
      expect(await reply).toMatchObject({ id: 3, error: { code: 1002, data: { reason: 'forbidden' } } });

      reply = nextMessage(socket);
      socket.send(JSON.stringify({ jsonrpc: '2.0', id: 4, method: 'send', params: { room: 'general', text: 'hi' } }));
      expect(await reply).toMatchObject({ id: 4, result: { id: 'm1', room: 'general', text: 'hi' } });
    } finally {
      socket.close();
    }
  });

  it('forwards every event as a JSON-RPC notification to every client', async () => {
    const a = (await openWs(wsUrl, origin)).ws!;
    const b = (await openWs(wsUrl, origin)).ws!;
    try {
      const got = [nextMessage(a), nextMessage(b)];
      const payload = { room: `!${'G'.repeat(43)}`, roomName: 'general', peerId: 'B'.repeat(43), nick: 'bob', change: 'joined' as const };
      service.emit('member', payload);
      for (const msg of await Promise.all(got)) {
        expect(msg).toEqual({ jsonrpc: '2.0', method: 'member', params: payload });
      }
      const typing = nextMessage(a);
      service.emit('typing', { room: 'general', peerId: 'B'.repeat(43), nick: 'bob' });
      expect(await typing).toMatchObject({ method: 'typing', params: { nick: 'bob' } });
    } finally {
      a.close();
      b.close();
    }
  });

  it('unsubscribes from the service on close', async () => {
    const other = await startUiServer({ service, port: 0, staticDir: dir, token: 'fixed-token' });
    expect(other.token).toBe('fixed-token');
    const before = service.listenerCount();
    await other.close();
    expect(service.listenerCount()).toBeLessThan(before);
  });
});
