/**
 * The three kinds of peer a scenario runs side by side, behind one small interface:
 * - Chatty: a real `chatty --json` process, driven by the tests' PeerProcess;
 * - the baseline: bench/baseline-peer.ts (plain ws broadcast), same line protocol;
 * - gossipsub: bench/gossipsub-peer.ts (js-libp2p + gossipsub, signed), same line protocol.
 * A cluster starts N of one kind and connects them into a full mesh on loopback.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import ts from 'typescript';
import type { Message } from '../../src/shared/api.js';
import type { RpcClient } from '../../src/shared/jsonrpc.js';
import { rpcOverChild } from '../../test/helpers/child-rpc.js';
import { forEachLine } from '../../test/helpers/lines.js';
import { PeerProcess, type PeerProcessOptions } from '../../test/helpers/peer-process.js';
import { sleep, TempDirs, wallNow, withTimeout } from './util.js';

export const BENCH_DIR = resolve(import.meta.dirname, '..');
export const RESULTS_DIR = join(BENCH_DIR, 'results');

export type PeerKind = 'chatty' | 'baseline' | 'gossipsub';
export const PEER_KINDS: readonly PeerKind[] = ['chatty', 'baseline', 'gossipsub'];

/** A delivered message as the bench saw it: `at` is the bench's clock when the line arrived. */
export type Delivery = (m: Message & { recvAt?: number }, at: number) => void;

export interface BenchPeer {
  readonly kind: PeerKind;
  readonly name: string;
  readonly pid: number | undefined;
  readonly url: string;
  readonly peerId: string;
  /** Bench clock when the process was spawned, and when its `ready` line arrived. */
  readonly spawnedAt: number;
  readonly readyAt: number;
  /** Resolves when the process exited. */
  readonly exited: Promise<unknown>;
  call(method: string, params?: Record<string, unknown>): Promise<unknown>;
  onMessage(fn: Delivery): () => void;
  connectedCount(): Promise<number>;
  stop(): Promise<void>;
  kill(): void;
}

// ---- Chatty ------------------------------------------------------------------

export class ChattyPeer implements BenchPeer {
  readonly kind = 'chatty';
  private constructor(
    readonly proc: PeerProcess,
    readonly name: string,
    readonly spawnedAt: number,
    readonly readyAt: number,
  ) {}

  static async start(name: string, opts: PeerProcessOptions = {}): Promise<ChattyPeer> {
    const dataDir = opts.dataDir ?? peerDirs.make('chatty-bench-peer-');
    const spawnedAt = wallNow();
    const proc = await PeerProcess.start({ nick: name, ...opts, dataDir });
    return new ChattyPeer(proc, name, spawnedAt, wallNow());
  }

  get pid(): number | undefined {
    return this.proc.child.pid;
  }
  get url(): string {
    return this.proc.url;
  }
  get peerId(): string {
    return this.proc.peerId;
  }
  get dataDir(): string {
    return this.proc.dataDir;
  }
  get exited(): Promise<unknown> {
    return this.proc.exited;
  }

  call(method: string, params?: Record<string, unknown>): Promise<unknown> {
    return this.proc.rpc.call(method as never, params as never);
  }

  onMessage(fn: Delivery): () => void {
    return this.proc.rpc.on('message', (m) => fn(m, wallNow()));
  }

  async connectedCount(): Promise<number> {
    const peers = await this.proc.call('peers');
    return peers.filter((p) => p.connected).length;
  }

  async stop(): Promise<void> {
    await this.proc.stop();
  }

  kill(): void {
    this.proc.child.kill('SIGKILL');
  }
}

// ---- baseline and gossipsub: standalone scripts of this directory ----------------

type ScriptKind = 'baseline' | 'gossipsub';
const SCRIPTS: Record<ScriptKind, string> = { baseline: 'baseline-peer', gossipsub: 'gossipsub-peer' };
const compiled = new Map<string, string>();

/**
 * Compiles bench/<name>.ts to plain JS once per run (no loader at start-up, like the built peer). The output
 * stays under bench/, so its imports resolve from the project's node_modules.
 */
export function benchScript(kind: ScriptKind): string {
  return compileBenchScript(SCRIPTS[kind]);
}

/** Compiles bench/<name>.ts (a standalone script of this directory) once per run; returns the .mjs to run. */
export function compileBenchScript(name: string): string {
  const done = compiled.get(name);
  if (done) return done;
  const src = readFileSync(join(BENCH_DIR, `${name}.ts`), 'utf8');
  const out = ts.transpileModule(src, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } });
  const file = join(RESULTS_DIR, '.build', `${name}.mjs`);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, out.outputText);
  compiled.set(name, file);
  return file;
}

/** The baseline's compiled script. */
export function baselineScript(): string {
  return benchScript('baseline');
}

export interface BaselineOptions {
  port?: number;
  host?: string;
  /** Addresses to dial until connected: ws:// URLs (baseline) or multiaddrs ending in /p2p/ID (gossipsub). */
  peers?: string[];
  /** Baseline only: messages held in memory and streamed to every peer that connects. */
  fill?: number;
  /** Gossipsub only: `tcp` (default) or `ws`. */
  transport?: 'tcp' | 'ws';
  /** Gossipsub only: peer exchange on prune. */
  px?: boolean;
  /** Gossipsub only: drop copies of a message by its signature before checking that signature. */
  fastMsgId?: boolean;
  /** Runs the command through a wrapper, e.g. `ip netns exec NS`. */
  wrap?: string[];
}

interface ScriptReady {
  peerId: string;
  port: number;
  /** Gossipsub: listen multiaddrs, each ending in /p2p/ID. */
  addresses?: string[];
}

/** What a gossipsub peer reports of its overlay for one room (`overlay`). */
export interface GossipsubOverlay {
  /** Peers with an open connection, and open connections. */
  links: number;
  connections: number;
  /** Connections opened and closed since the process started. */
  opened: number;
  closed: number;
  /** Peers known to be subscribed to the room's topic, and those of them in this peer's mesh. */
  topicPeers: number;
  mesh: number;
}

/** A process of baseline-peer.ts or gossipsub-peer.ts. */
export class ScriptPeer implements BenchPeer {
  readonly rpc: RpcClient;
  readonly exited: Promise<number | null>;
  ready!: ScriptReady;
  readyAt = 0;
  stderr = '';
  private onReady?: () => void;
  /** Messages that arrived before anyone listened (they can share a chunk with `ready`). */
  private early: { m: Message & { recvAt?: number }; at: number }[] | undefined = [];

  private constructor(
    readonly kind: ScriptKind,
    readonly child: ChildProcess,
    readonly name: string,
    readonly spawnedAt: number,
  ) {
    ({ rpc: this.rpc, exited: this.exited } = rpcOverChild(child, `${kind} process`));
    forEachLine(child.stdout!, (line) => {
      if (!this.readyAt) {
        const msg = JSON.parse(line) as { method?: string; params?: ScriptReady };
        if (msg.method === 'ready' && msg.params) {
          this.ready = msg.params;
          this.readyAt = wallNow();
          this.onReady?.();
          return;
        }
      }
      this.rpc.receive(line);
    });
    const offEarly = this.rpc.on('message', (m) => {
      if (this.early) this.early.push({ m, at: wallNow() });
      else offEarly();
    });
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (c: string) => (this.stderr = (this.stderr + c).slice(-10_000)));
  }

  static async start(kind: ScriptKind, name: string, opts: BaselineOptions = {}): Promise<ScriptPeer> {
    const args = [benchScript(kind), '--nick', name, '--port', String(opts.port ?? 0)];
    if (opts.host) args.push('--host', opts.host);
    for (const p of opts.peers ?? []) args.push('--peer', p);
    if (opts.fill && kind === 'baseline') args.push('--fill', String(opts.fill));
    if (opts.transport && kind === 'gossipsub') args.push('--transport', opts.transport);
    if (opts.px && kind === 'gossipsub') args.push('--px');
    if (opts.fastMsgId && kind === 'gossipsub') args.push('--fast-msg-id');
    const cmd = [...(opts.wrap ?? []), process.execPath, ...args];
    const spawnedAt = wallNow();
    const child = spawn(cmd[0]!, cmd.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
    const peer = new ScriptPeer(kind, child, name, spawnedAt);
    try {
      await withTimeout(
        Promise.race([
          new Promise<void>((r) => (peer.onReady = r)),
          peer.exited.then(() => Promise.reject(new Error(`${kind} ${name} exited: ${peer.stderr}`))),
        ]),
        20_000,
        `${kind} ${name} ready`,
      );
    } catch (err) {
      child.kill('SIGKILL');
      throw err;
    }
    return peer;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }
  /** What another peer of the same kind dials: ws://127.0.0.1:PORT (baseline), the first listen multiaddr (gossipsub). */
  get url(): string {
    return this.ready.addresses?.[0] ?? `ws://127.0.0.1:${this.ready.port}`;
  }
  get peerId(): string {
    return this.ready.peerId;
  }

  call(method: string, params?: Record<string, unknown>): Promise<unknown> {
    return this.rpc.call(method as never, params as never);
  }

  onMessage(fn: Delivery): () => void {
    const early = this.early ?? [];
    this.early = undefined;
    for (const e of early) fn(e.m, e.at);
    return this.rpc.on('message', (m) => fn(m, wallNow()));
  }

  async connectedCount(): Promise<number> {
    return ((await this.call('peers')) as unknown[]).length;
  }

  /** Gossipsub only: links, topic peers and mesh peers of a room. */
  async overlay(room: string): Promise<GossipsubOverlay> {
    return (await this.call('overlay', { room })) as GossipsubOverlay;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    await this.call('shutdown').catch(() => undefined);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 3000);
    await this.exited;
    clearTimeout(timer);
  }

  kill(): void {
    this.child.kill('SIGKILL');
  }
}

// ---- clusters ------------------------------------------------------------------

export const ROOM = 'bench';

/** A wrapper that runs the peer's node with `--cpu-prof`; the profile is written to `dir` when it exits. */
export function cpuProfWrap(dir: string): string[] {
  return ['sh', '-c', `exec "$0" --cpu-prof --cpu-prof-dir='${dir}' "$@"`];
}

/** Every process a run started, so an interrupted run can still kill them all, and the data dirs made for them. */
const live = new Set<BenchPeer>();
const peerDirs = new TempDirs();
export function killAll(): void {
  for (const p of live) p.kill();
  live.clear();
}
export function removePeerDirs(): void {
  peerDirs.cleanup();
}

export async function startPeer(kind: PeerKind, name: string, opts: PeerProcessOptions & BaselineOptions = {}): Promise<BenchPeer> {
  const peer = kind === 'chatty' ? await ChattyPeer.start(name, opts) : await ScriptPeer.start(kind, name, opts);
  live.add(peer);
  return peer;
}

export async function stopPeer(peer: BenchPeer): Promise<void> {
  await peer.stop().catch(() => peer.kill());
  live.delete(peer);
}

export async function stopAll(peers: readonly BenchPeer[]): Promise<void> {
  await Promise.all(peers.map(stopPeer));
}

/** Waits until every peer is connected to `expected` others (polling `peers`). */
export async function waitMesh(peers: readonly BenchPeer[], expected: number, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const counts = await Promise.all(peers.map((p) => p.connectedCount()));
    if (counts.every((c) => c >= expected)) return;
    if (Date.now() > end) throw new Error(`mesh incomplete after ${timeoutMs} ms: connected counts ${counts.join(',')}`);
    await sleep(50);
  }
}

/**
 * N peers of one kind on loopback, fully meshed, all in room ROOM (Chatty:
 * the first peer creates it, the others join once they see it, and the run
 * waits until every peer lists every member).
 */
export async function startCluster(
  kind: PeerKind,
  n: number,
  opts: PeerProcessOptions = {},
  perPeer: (i: number) => PeerProcessOptions = () => ({}),
): Promise<BenchPeer[]> {
  const peers: BenchPeer[] = [];
  try {
    // Start in small parallel batches (16 Node processes starting at once on 2 cores are slow), then dial
    // each earlier peer once from each later one: a full mesh with one link per pair.
    for (let i = 0; i < n; i += 4) {
      peers.push(
        ...(await Promise.all(
          Array.from({ length: Math.min(4, n - i) }, (_, j) => startPeer(kind, `${kind[0]}${i + j}`, { ...opts, ...perPeer(i + j) })),
        )),
      );
    }
    for (let i = 1; i < n; i++) await Promise.all(peers.slice(0, i).map((p) => peers[i]!.call('connect', { url: p.url })));
    await waitMesh(peers, n - 1);
    if (kind === 'chatty') {
      await peers[0]!.call('join', { room: ROOM });
      for (const p of peers.slice(1)) {
        await waitFor(async () => ((await p.call('rooms')) as { name: string }[]).some((r) => r.name === ROOM), 15_000, 'room visible');
        await p.call('join', { room: ROOM });
      }
      await waitFor(
        async () => {
          const lists = (await Promise.all(peers.map((p) => p.call('rooms')))) as { name: string; members: unknown[] }[][];
          return lists.every((rooms) => rooms.find((r) => r.name === ROOM)?.members.length === n);
        },
        30_000,
        'every member everywhere',
      );
    }
    if (kind === 'gossipsub') {
      // Subscribe everywhere, then wait until every peer sees the others in the topic and has grafted a mesh
      // (at least Dlo = 4 peers, or all of them in a smaller cluster).
      await Promise.all(peers.map((p) => p.call('join', { room: ROOM })));
      await waitGossipsubMesh(peers as ScriptPeer[], ROOM, n - 1, Math.min(n - 1, 4), 30_000);
    }
    // Let joins, announcements and relays settle before anything is measured.
    await sleep(500);
    await waitMesh(peers, n - 1);
    return peers;
  } catch (err) {
    await stopAll(peers);
    throw err;
  }
}

export async function waitFor(fn: () => Promise<boolean>, timeoutMs: number, what: string, everyMs = 50): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** Waits until every gossipsub peer sees `topicPeers` others subscribed to `room` and has at least `mesh` of them in its mesh. */
export async function waitGossipsubMesh(
  peers: readonly ScriptPeer[],
  room: string,
  topicPeers: number,
  mesh: number,
  timeoutMs: number,
): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const views = await Promise.all(peers.map((p) => p.overlay(room)));
    if (views.every((v) => v.topicPeers >= topicPeers && v.mesh >= mesh)) return;
    if (Date.now() > end) {
      throw new Error(
        `gossipsub mesh incomplete after ${timeoutMs} ms: topic peers ${views.map((v) => v.topicPeers).join(',')}, mesh ${views.map((v) => v.mesh).join(',')}`,
      );
    }
    await sleep(50);
  }
}
