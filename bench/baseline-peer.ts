/**
 * The baseline: the practical limit of the transport here. One process per
 * peer, connected to the others by plain `ws` (no deflate), that sends each
 * message to every connected peer and reports what it receives — no signing,
 * no storage, no ordering, no relaying, no de-duplication.
 *
 * It speaks the same line protocol as `chatty --json` (JSON-RPC 2.0 on
 * stdin/stdout, requests handled one after another, `ready` first, a
 * `message` notification per received message) so the benchmarks drive both
 * alike. Methods: whoami, peers, connect {url}, send {room, text}, history
 * {room} (count only), shutdown. `message` notifications carry `recvAt`, the
 * receiving process' clock (fractional ms) when the frame arrived.
 *
 * Options: --port P (0 = any), --host H, --peer URL (repeatable; dialled
 * until connected, retried every 20 ms), --nick N, --fill N (hold N
 * synthetic messages, streamed in 500-message frames to every peer that
 * connects: the baseline of a catch-up).
 *
 * Plain Node + ws only (the run compiles it to JS so its start-up is not
 * charged with a TypeScript loader).
 */
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer, type RawData } from 'ws';

interface Msg {
  id: string;
  room: string;
  from: { peerId: string; nick: string };
  text: string;
  sentAt: number;
}

const wallNow = (): number => performance.timeOrigin + performance.now();

function parseArgs(argv: string[]): { port: number; host?: string; peers: string[]; nick: string; fill: number } {
  const out = { port: 0, host: undefined as string | undefined, peers: [] as string[], nick: 'baseline', fill: 0 };
  for (let i = 0; i < argv.length; i += 2) {
    const [a, v] = [argv[i], argv[i + 1] ?? ''];
    if (a === '--port') out.port = Number(v);
    else if (a === '--host') out.host = v;
    else if (a === '--peer') out.peers.push(v);
    else if (a === '--nick') out.nick = v;
    else if (a === '--fill') out.fill = Number(v);
    else throw new Error(`unknown option ${a}`);
  }
  return out;
}

const opts = parseArgs(process.argv.slice(2));
const peerId = randomBytes(16).toString('base64url');
/** Connected peers by id (one socket per pair: the first to complete a hello wins). */
const links = new Map<string, WebSocket>();
const received = new Map<string, number>();
let seq = 0;
let closing = false;

// --fill: the messages a long-lived peer would hold, kept in memory only.
const held: string[] = [];
for (let i = 0; i < opts.fill; i++) {
  const m: Msg = {
    id: `${peerId}:h${i}`,
    room: `r${i % 10}`,
    from: { peerId, nick: opts.nick },
    text: `held message ${i} ${'x'.repeat(40)}`,
    sentAt: Date.now(),
  };
  held.push(JSON.stringify(m));
}

function writeLine(obj: unknown): void {
  process.stdout.write(`${JSON.stringify(obj)}\n`);
}

function sendOn(ws: WebSocket, data: string): Promise<void> {
  if (ws.readyState !== WebSocket.OPEN) return Promise.resolve();
  return new Promise((resolve) => ws.send(data, () => resolve()));
}

async function replayTo(ws: WebSocket): Promise<void> {
  for (let i = 0; i < held.length && ws.readyState === WebSocket.OPEN; i += 500) {
    await sendOn(ws, `{"t":"msgs","m":[${held.slice(i, i + 500).join(',')}]}`);
  }
}

function onMessage(m: Msg, recvAt: number): void {
  received.set(m.room, (received.get(m.room) ?? 0) + 1);
  writeLine({ jsonrpc: '2.0', method: 'message', params: { ...m, recvAt } });
}

function attach(ws: WebSocket, onHello?: (id: string) => void): void {
  let remote = '';
  ws.on('message', (data: RawData) => {
    const recvAt = wallNow();
    const frame = JSON.parse(data.toString()) as { t: string; peerId?: string; m?: Msg | Msg[] };
    if (frame.t === 'hello' && frame.peerId) {
      remote = frame.peerId;
      if (!links.has(remote)) links.set(remote, ws);
      onHello?.(remote);
      if (held.length) void replayTo(ws);
    } else if (frame.t === 'msg' && frame.m && !Array.isArray(frame.m)) onMessage(frame.m, recvAt);
    else if (frame.t === 'msgs' && Array.isArray(frame.m)) for (const m of frame.m) onMessage(m, recvAt);
  });
  ws.on('close', () => {
    if (remote && links.get(remote) === ws) links.delete(remote);
  });
  ws.on('error', () => undefined);
}

function dial(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    ws.once('error', (err) => reject(err));
    ws.once('open', () => {
      attach(ws, resolve);
      ws.send(JSON.stringify({ t: 'hello', peerId }));
    });
  });
}

/** Dials until connected (peers started at the same moment are not listening yet). */
function dialUntilConnected(url: string): void {
  const attempt = (): void => {
    if (closing) return;
    dial(url).catch(() => setTimeout(attempt, 20));
  };
  attempt();
}

const server = new WebSocketServer({ port: opts.port, host: opts.host, perMessageDeflate: false, maxPayload: 16 * 1024 * 1024 });
server.on('connection', (ws) => {
  attach(ws);
  ws.send(JSON.stringify({ t: 'hello', peerId }));
});

async function handle(req: { id?: number; method: string; params?: Record<string, unknown> }): Promise<unknown> {
  const p = req.params ?? {};
  switch (req.method) {
    case 'whoami':
      return { peerId, nick: opts.nick, port: (server.address() as AddressInfo).port };
    case 'peers':
      return [...links.keys()].map((id) => ({ peerId: id, nick: '', connected: true, addresses: [] }));
    case 'connect':
      return { peerId: await dial(String(p.url)) };
    case 'join':
      return { room: p.room, members: [], history: [] };
    case 'history':
      return { count: received.get(String(p.room)) ?? 0 };
    case 'send': {
      const m: Msg = {
        id: `${peerId}:${++seq}`,
        room: String(p.room),
        from: { peerId, nick: opts.nick },
        text: String(p.text),
        sentAt: Date.now(),
      };
      const data = JSON.stringify({ t: 'msg', m });
      // Answer once every socket took the frame: the same backpressure point as a Chatty link.
      await Promise.all([...links.values()].map((ws) => sendOn(ws, data)));
      return m;
    }
    case 'shutdown':
      setImmediate(() => {
        closing = true;
        for (const ws of links.values()) ws.terminate();
        server.close();
        process.exit(0);
      });
      return {};
    default:
      throw new Error(`unknown method ${req.method}`);
  }
}

server.once('listening', () => {
  const port = (server.address() as AddressInfo).port;
  for (const url of opts.peers) dialUntilConnected(url);
  writeLine({ jsonrpc: '2.0', method: 'ready', params: { peerId, nick: opts.nick, port } });
  let buffer = '';
  let chain: Promise<void> = Promise.resolve();
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', (chunk: string) => {
    buffer += chunk;
    let nl: number;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, nl).trim();
      buffer = buffer.slice(nl + 1);
      if (!line) continue;
      const req = JSON.parse(line) as { id?: number; method: string; params?: Record<string, unknown> };
      chain = chain.then(async () => {
        try {
          const result = await handle(req);
          if (req.id !== undefined) writeLine({ jsonrpc: '2.0', id: req.id, result });
        } catch (err) {
          if (req.id !== undefined) writeLine({ jsonrpc: '2.0', id: req.id, error: { code: -32603, message: String(err) } });
        }
      });
    }
  });
  process.stdin.on('end', () => {
    void chain.then(() => process.exit(0));
  });
});
