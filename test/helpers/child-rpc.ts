/** A JSON-RPC client over a child process's stdin, failing calls once the process has exited. */
import type { ChildProcess } from 'node:child_process';
import { RpcClient } from '../../src/shared/jsonrpc.js';

export function rpcOverChild(child: ChildProcess, what: string): { rpc: RpcClient; exited: Promise<number | null> } {
  const gone = `${what} exited`;
  const rpc = new RpcClient((text) => {
    // a call made after the exit would never be answered: failAll has already run
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(gone);
    child.stdin?.write(`${text}\n`);
  });
  child.stdin?.on('error', () => undefined);
  const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
  void exited.then(() => rpc.failAll(gone));
  return { rpc, exited };
}
