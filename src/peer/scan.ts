/**
 * Last-resort discovery for networks that block multicast: a bounded,
 * rate-limited probe of the local /24 on Chatty's port. Opt-in (`--scan`),
 * only on interfaces whose network is a /24 or smaller, and only while no
 * peer at all is connected.
 */
import { Socket } from 'node:net';
import { networkInterfaces } from 'node:os';
import type { Logger } from './log.js';

export const SCAN_LIMITS = { concurrency: 16, connectTimeoutMs: 400, minIntervalMs: 5 * 60_000 } as const;

/** Addresses of the /24 (or smaller) networks this machine is on, excluding its own. */
export function scanTargets(): string[] {
  const targets: string[] = [];
  for (const addrs of Object.values(networkInterfaces())) {
    for (const a of addrs ?? []) {
      if (a.family !== 'IPv4' || a.internal) continue;
      const prefix = Number(a.cidr?.split('/')[1] ?? 0);
      if (prefix < 24) continue; // larger networks are never swept
      const base = a.address.split('.').slice(0, 3).join('.');
      for (let i = 1; i < 255; i++) {
        const ip = `${base}.${i}`;
        if (ip !== a.address && !targets.includes(ip)) targets.push(ip);
      }
    }
  }
  return targets;
}

function portOpen(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = new Socket();
    const done = (open: boolean) => {
      socket.destroy();
      resolve(open);
    };
    socket.setTimeout(SCAN_LIMITS.connectTimeoutMs, () => done(false));
    socket.once('error', () => done(false));
    socket.connect(port, host, () => done(true));
  });
}

/** Probes every target at most `concurrency` at a time; returns the URLs where something listens. */
export async function scanForPeers(port: number, log: Logger, targets = scanTargets()): Promise<string[]> {
  const found: string[] = [];
  let next = 0;
  const worker = async () => {
    while (next < targets.length) {
      const host = targets[next++]!;
      if (await portOpen(host, port)) found.push(`ws://${host}:${port}`);
    }
  };
  await Promise.all(Array.from({ length: SCAN_LIMITS.concurrency }, worker));
  log.info({ probed: targets.length, found: found.length }, 'fallback scan done');
  return found;
}
