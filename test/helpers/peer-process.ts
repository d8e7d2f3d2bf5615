/**
 * Drives a real `chatty --json` process over its stdin/stdout, the way
 * scripts and acceptance checks do. Used by the integration, LAN and chaos
 * tests and by the benchmarks.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { EventName, EventPayloads, MethodName, MethodResults, ParamsOf } from '../../src/shared/api.js';
import { RpcCallError, type RpcClient, type RpcIncoming } from '../../src/shared/jsonrpc.js';
import { rpcOverChild } from './child-rpc.js';
import { forEachLine } from './lines.js';

export const CHATTY_BIN = resolve(import.meta.dirname, '../../bin/chatty.js');

export interface PeerProcessOptions {
  nick?: string;
  dataDir?: string;
  port?: number;
  peers?: string[];
  mdns?: boolean;
  ui?: boolean;
  extraArgs?: string[];
  /** Runs the command through a wrapper, e.g. `ip netns exec NS`. */
  wrap?: string[];
  env?: NodeJS.ProcessEnv;
}

export class PeerProcess {
  readonly rpc: RpcClient;
  ready!: EventPayloads['ready'];
  stderr = '';
  private readonly events: { name: EventName; params: unknown }[] = [];
  private waiters: (() => void)[] = [];
  readonly exited: Promise<number | null>;

  private constructor(
    readonly child: ChildProcess,
    readonly dataDir: string,
    readonly opts: PeerProcessOptions,
  ) {
    ({ rpc: this.rpc, exited: this.exited } = rpcOverChild(child, 'peer process'));
    forEachLine(child.stdout!, (line) => this.onLine(line));
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => {
      this.stderr = (this.stderr + chunk).slice(-20_000);
    });
  }

  private onLine(line: string): void {
    let msg: RpcIncoming;
    try {
      msg = JSON.parse(line) as RpcIncoming;
    } catch {
      throw new Error(`peer wrote a non-JSON line to stdout: ${line}`);
    }
    if (msg.method && msg.id === undefined) {
      this.events.push({ name: msg.method, params: msg.params });
      const waiters = this.waiters;
      this.waiters = [];
      for (const w of waiters) w();
    }
    this.rpc.receiveParsed(msg);
  }

  static async start(opts: PeerProcessOptions = {}): Promise<PeerProcess> {
    const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'chatty-peer-'));
    const args = [CHATTY_BIN, '--json', '--data-dir', dataDir, '--port', String(opts.port ?? 0)];
    if (opts.nick) args.push('--nick', opts.nick);
    for (const p of opts.peers ?? []) args.push('--peer', p);
    if (opts.mdns === false || opts.mdns === undefined) args.push('--no-mdns');
    if (opts.ui) args.push('--ui-port', '0');
    else args.push('--no-ui');
    args.push(...(opts.extraArgs ?? []));
    const cmd = opts.wrap ? [...opts.wrap, process.execPath, ...args] : [process.execPath, ...args];
    const spawnOpts: SpawnOptions = { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, CHATTY_LOG: 'warn', ...opts.env } };
    const child = spawn(cmd[0]!, cmd.slice(1), spawnOpts);
    const peer = new PeerProcess(child, dataDir, opts);
    peer.ready = await peer
      .waitFor('ready', () => true, 20_000)
      .catch((err: Error) => {
        child.kill('SIGKILL');
        throw new Error(`${err.message}\n--- stderr ---\n${peer.stderr}`);
      });
    return peer;
  }

  get peerId(): string {
    return this.ready.peerId;
  }

  get url(): string {
    return `ws://127.0.0.1:${this.ready.port}`;
  }

  call<M extends MethodName>(method: M, params?: ParamsOf<M>): Promise<MethodResults[M]> {
    return this.rpc.call(method, params);
  }

  /** Sends a raw line (for malformed-input tests) and returns the next answer with that id, if any. */
  writeRaw(line: string): void {
    this.child.stdin!.write(line.endsWith('\n') ? line : `${line}\n`);
  }

  eventsOf<E extends EventName>(name: E): EventPayloads[E][] {
    return this.events.filter((e) => e.name === name).map((e) => e.params as EventPayloads[E]);
  }

  /** Waits for a notification matching `pred` (already received ones count). */
  waitFor<E extends EventName>(name: E, pred: (p: EventPayloads[E]) => boolean, timeoutMs = 15_000): Promise<EventPayloads[E]> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const hit = this.eventsOf(name).find(pred);
        if (hit !== undefined) {
          clearTimeout(timer);
          resolve(hit);
          return true;
        }
        return false;
      };
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${name} on ${this.opts.nick ?? 'peer'}`)), timeoutMs);
      const loop = () => {
        if (!check()) this.waiters.push(loop);
      };
      void this.exited.then(() => {
        if (!check()) {
          clearTimeout(timer);
          reject(new Error(`peer ${this.opts.nick ?? ''} exited while waiting for ${name}`));
        }
      });
      loop();
    });
  }

  /** Raw bytes of the peer's database files, to prove what it does not store in clear. */
  storedBytes(): string {
    return ['chatty.db', 'chatty.db-wal']
      .map((f) => {
        try {
          return readFileSync(join(this.dataDir, f)).toString('latin1');
        } catch {
          return '';
        }
      })
      .join('');
  }

  kill9(): Promise<number | null> {
    this.child.kill('SIGKILL');
    return this.exited;
  }

  /** Asks the peer to shut down and waits for it to exit. */
  async stop(): Promise<number | null> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return this.child.exitCode;
    await this.call('shutdown').catch(() => undefined);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    const code = await this.exited;
    clearTimeout(timer);
    return code;
  }

  /** Starts a new process on the same data dir (a restart). */
  restart(extra: PeerProcessOptions = {}): Promise<PeerProcess> {
    return PeerProcess.start({ ...this.opts, ...extra, dataDir: this.dataDir, port: extra.port ?? this.ready.port });
  }
}

/** Polls until `fn` holds; the generic wait for conditions spanning several peers. */
export async function eventually<T>(
  fn: () => Promise<T | undefined | false>,
  timeoutMs = 15_000,
  what = 'condition',
  intervalMs = 100,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  let lastErr: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      lastErr = err;
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${lastErr ? `: ${String(lastErr)}` : ''}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** The error a call must fail with (a call that succeeds, or fails otherwise, fails the test). */
export async function rejection(promise: Promise<unknown>): Promise<RpcCallError> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof RpcCallError) return err;
    throw err;
  }
  throw new Error('expected the call to fail');
}

/** The `data.reason` a call must fail with. */
export async function reason(promise: Promise<unknown>): Promise<string | undefined> {
  return (await rejection(promise)).reason;
}
