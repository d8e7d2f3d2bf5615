/**
 * The gossipsub contestant: one process per peer running js-libp2p with
 * gossipsub (message signing on: StrictSign), one topic per room, so the
 * benchmarks can put the off-the-shelf overlay next to Chatty and next to the
 * plain-ws baseline.
 *
 * It speaks the same line protocol as `chatty --json` and baseline-peer.ts
 * (JSON-RPC 2.0 on stdin/stdout, requests handled one after another, `ready`
 * first, a `message` notification per received message, carrying `recvAt`,
 * this process' clock when gossipsub handed the message over). Methods:
 * whoami, peers, connect {url} (a multiaddr ending in /p2p/ID, as in `ready`),
 * join {room} (subscribe to the room's topic), leave {room}, send {room, text}
 * (publish; answered once gossipsub queued the message to its peers),
 * history {room} (count only), overlay {room} (links, connections opened and
 * closed so far, topic peers and mesh peers: for the scaling spike), shutdown.
 *
 * Stack: TCP (or WebSockets with --transport ws), noise, yamux, identify,
 * gossipsub with its defaults (D=6, Dlo=4, Dhi=12, heartbeat 1 s, flood
 * publish) except:
 * - `allowPublishToZeroTopicPeers`: a `send` with nobody else in the room
 *   succeeds, as it does in Chatty;
 * - with --px, peer exchange: a peer pruning another from its mesh hands it
 *   up to 16 signed peer records, which it dials (`doPX`, and
 *   `acceptPXThreshold` 0 since no application score is configured, so every
 *   peer's score is 0 and the default threshold of 10 would refuse them all);
 * - two loopback artifacts are lifted, since every peer here is the same host
 *   127.0.0.1 while on a LAN each has its own address: the connection
 *   manager's inbound rate limit per remote host (5/s), and the peer score's
 *   IP colocation penalty (more than 10 peers from one IP score negative: at
 *   11 peers nobody grafts a mesh, at 16 every peer is graylisted and even
 *   subscriptions are ignored), by whitelisting the loopback addresses.
 *
 * - with --fast-msg-id, a `fastMsgIdFn` (the message's signature): without
 *   one, gossipsub checks the signature of every copy of a message it
 *   receives (flood publish plus every mesh peer's forward: several per
 *   message) before it looks the message id up among those already seen.
 *
 * Options: --port P (0 = any), --host H (default 127.0.0.1), --peer MULTIADDR
 * (repeatable; dialled until connected, retried every 50 ms, then kept alive:
 * redialled by libp2p when the link drops), --nick N,
 * --transport tcp|ws, --px, --fast-msg-id.
 *
 * The run compiles it to plain JS (like the baseline) so its start-up is not
 * charged with a TypeScript loader.
 */
import { gossipsub, type GossipSub } from '@libp2p/gossipsub';
import { identify } from '@libp2p/identify';
import { noise } from '@libp2p/noise';
import { tcp } from '@libp2p/tcp';
import { webSockets } from '@libp2p/websockets';
import { yamux } from '@libp2p/yamux';
import { multiaddr } from '@multiformats/multiaddr';
import { createLibp2p } from 'libp2p';

interface Msg {
  id: string;
  room: string;
  from: { peerId: string; nick: string };
  text: string;
  sentAt: number;
}

interface Options {
  port: number;
  host: string;
  peers: string[];
  nick: string;
  transport: 'tcp' | 'ws';
  px: boolean;
  fastMsgId: boolean;
}

const wallNow = (): number => performance.timeOrigin + performance.now();

function parseArgs(argv: string[]): Options {
  const out: Options = { port: 0, host: '127.0.0.1', peers: [], nick: 'gossipsub', transport: 'tcp', px: false, fastMsgId: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--px' || a === '--fast-msg-id') {
      if (a === '--px') out.px = true;
      else out.fastMsgId = true;
      continue;
    }
    const v = argv[++i] ?? '';
    if (a === '--port') out.port = Number(v);
    else if (a === '--host') out.host = v;
    else if (a === '--peer') out.peers.push(v);
    else if (a === '--nick') out.nick = v;
    else if (a === '--transport' && (v === 'tcp' || v === 'ws')) out.transport = v;
    else throw new Error(`unknown option ${a} ${v}`);
  }
  return out;
}

const opts = parseArgs(process.argv.slice(2));
const topicOf = (room: string): string => `chatty/room/${room}`;
const roomOf = (topic: string): string | undefined => (topic.startsWith('chatty/room/') ? topic.slice('chatty/room/'.length) : undefined);

const node = await createLibp2p({
  addresses: { listen: [`/ip4/${opts.host}/tcp/${opts.port}${opts.transport === 'ws' ? '/ws' : ''}`] },
  transports: [opts.transport === 'ws' ? webSockets() : tcp()],
  connectionEncrypters: [noise()],
  streamMuxers: [yamux()],
  connectionManager: { inboundConnectionThreshold: 10_000 },
  services: {
    identify: identify(),
    pubsub: gossipsub({
      globalSignaturePolicy: 'StrictSign',
      allowPublishToZeroTopicPeers: true,
      scoreParams: { IPColocationFactorWhitelist: new Set(['127.0.0.1', '::1']) },
      ...(opts.px ? { doPX: true, scoreThresholds: { acceptPXThreshold: 0 } } : {}),
      // The signature is unique per message: a copy already seen is dropped before its signature is checked again.
      ...(opts.fastMsgId ? { fastMsgIdFn: (rpc: { signature?: Uint8Array }) => Buffer.from(rpc.signature ?? []).toString('base64') } : {}),
    }),
  },
});
const pubsub: GossipSub = node.services.pubsub;
const peerId = node.peerId.toString();
const encoder = new TextEncoder();
const decoder = new TextDecoder();
const received = new Map<string, number>();
let seq = 0;
let closing = false;
/** Connections opened and closed since start (the spike reports links dropped under load). */
let opened = 0;
let closed = 0;
node.addEventListener('connection:open', () => opened++);
node.addEventListener('connection:close', () => closed++);

function writeLine(obj: unknown): void {
  process.stdout.write(`${JSON.stringify(obj)}\n`);
}

pubsub.addEventListener('message', (evt) => {
  const recvAt = wallNow();
  const msg = evt.detail;
  const room = roomOf(msg.topic);
  if (room === undefined || msg.type !== 'signed') return;
  let m: Msg;
  try {
    m = JSON.parse(decoder.decode(msg.data)) as Msg;
  } catch {
    return;
  }
  // The signature covers the data and names its author: a message claiming another author is dropped.
  if (m.from?.peerId !== msg.from.toString() || m.room !== room) return;
  received.set(room, (received.get(room) ?? 0) + 1);
  writeLine({ jsonrpc: '2.0', method: 'message', params: { ...m, recvAt } });
});

/** Unique remote peers with an open connection. */
function linkedPeers(): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const c of node.getConnections()) {
    if (c.status !== 'open') continue;
    const id = c.remotePeer.toString();
    out.set(id, [...(out.get(id) ?? []), c.remoteAddr.toString()]);
  }
  return out;
}

async function dial(url: string): Promise<string> {
  const conn = await node.dial(multiaddr(url));
  return conn.remotePeer.toString();
}

/**
 * Dials until connected (peers started at the same moment are not listening yet), then tags the peer
 * keep-alive: libp2p's reconnect queue dials it again whenever the link drops, as Chatty does for the
 * peers it was given.
 */
function dialUntilConnected(url: string): void {
  const attempt = (): void => {
    if (closing) return;
    node
      .dial(multiaddr(url))
      .then((conn) => node.peerStore.merge(conn.remotePeer, { tags: { 'keep-alive-seed': { value: 1 } } }))
      .catch(() => setTimeout(attempt, 50));
  };
  attempt();
}

async function handle(req: { id?: number; method: string; params?: Record<string, unknown> }): Promise<unknown> {
  const p = req.params ?? {};
  switch (req.method) {
    case 'whoami':
      return { peerId, nick: opts.nick, port: listenPort(), addresses: listenAddrs() };
    case 'peers':
      return [...linkedPeers()].map(([id, addresses]) => ({ peerId: id, nick: '', connected: true, addresses }));
    case 'connect':
      return { peerId: await dial(String(p.url)) };
    case 'join':
      pubsub.subscribe(topicOf(String(p.room)));
      return { room: p.room, members: pubsub.getSubscribers(topicOf(String(p.room))).map(String), history: [] };
    case 'leave':
      pubsub.unsubscribe(topicOf(String(p.room)));
      return {};
    case 'history':
      return { count: received.get(String(p.room)) ?? 0 };
    case 'overlay': {
      const topic = topicOf(String(p.room));
      return {
        links: linkedPeers().size,
        connections: node.getConnections().length,
        opened,
        closed,
        topicPeers: pubsub.getSubscribers(topic).length,
        mesh: meshPeers(topic),
      };
    }
    case 'send': {
      const m: Msg = {
        id: `${peerId}:${++seq}`,
        room: String(p.room),
        from: { peerId, nick: opts.nick },
        text: String(p.text),
        sentAt: Date.now(),
      };
      // Resolves once the signed message is queued on every selected peer's stream (flood publish: all topic peers).
      await pubsub.publish(topicOf(m.room), encoder.encode(JSON.stringify(m)));
      return m;
    }
    case 'shutdown':
      setImmediate(() => {
        closing = true;
        void shutdown();
      });
      return {};
    default:
      throw new Error(`unknown method ${req.method}`);
  }
}

/** Mesh peers of a topic: the implementation has the accessor, the package's public interface does not (-1 if it is gone). */
function meshPeers(topic: string): number {
  const impl = pubsub as GossipSub & { getMeshPeers?: (topic: string) => string[] };
  return impl.getMeshPeers?.(topic).length ?? -1;
}

function listenAddrs(): string[] {
  return node.getMultiaddrs().map(String);
}

function listenPort(): number {
  const ma = node.getMultiaddrs()[0];
  const tcpPart = ma?.getComponents().find((c) => c.name === 'tcp');
  return Number(tcpPart?.value ?? 0);
}

async function shutdown(): Promise<never> {
  // A peer that is gone must not hold the bench up: stop, but exit even if a connection hangs.
  setTimeout(() => process.exit(0), 1000).unref();
  try {
    await node.stop();
  } catch {
    // exiting anyway
  }
  process.exit(0);
}

for (const url of opts.peers) dialUntilConnected(url);
writeLine({ jsonrpc: '2.0', method: 'ready', params: { peerId, nick: opts.nick, port: listenPort(), addresses: listenAddrs() } });

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
  closing = true;
  void chain.then(shutdown);
});
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => void shutdown());
