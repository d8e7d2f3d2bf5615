/**
 * A real LAN made of Linux network namespaces on one machine, for tests that need
 * multicast (mDNS) between several hosts without touching the machine's real network.
 *
 * Layout (nothing is created in the root namespace):
 *
 *   ns "<prefix>-<pid>-<run>-br"  : bridge br0 (+ brp1, brp2… while partitioned), ports h0, h1, …
 *   ns "<prefix>-<pid>-<run>-h<i>": lo up, eth0 (veth peer of h<i>) with 10.77.X.(i+10)/24,
 *                                   route 224.0.0.0/4 dev eth0 (multicast stays on this LAN)
 *
 * Interface names live inside their namespaces, so they are short and fixed (eth0, h3, br0).
 * Namespace names carry the creating process' pid, so a later run can remove what a crashed
 * run left behind (its pid is gone) without touching a run that is still going in parallel.
 *
 * Partitions move the bridge-side veth ends onto separate bridges (no nftables/iptables needed);
 * linkDown/linkUp take the bridge-side end down/up, which is a pulled cable for the host
 * (its eth0 loses carrier but keeps address and routes).
 *
 * Requires root and iproute2 (`ip`).
 */
import { execFile, execFileSync, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);

export interface LanHost {
  /** Short name, `h0`, `h1`… */
  name: string;
  /** Network namespace name, for `ip netns exec`. */
  ns: string;
  /** IPv4 address of the host's eth0. */
  ip: string;
  index: number;
}

export interface Lan {
  hosts: LanHost[];
  /** Namespace holding the bridge(s). */
  bridge: string;
  /** Interface name of the hosts' LAN interface inside their namespaces. */
  iface: string;
  subnet: string;
  /** Run `cmd args` inside the host's namespace (`ip netns exec NS cmd args`). Killed by destroy(). */
  spawn(host: LanHost, cmd: string, args: string[], opts?: SpawnOptions): ChildProcess;
  /** Run a command inside the host's namespace and wait for it (rejects on non-zero exit). */
  exec(
    host: LanHost,
    cmd: string,
    args: string[],
    opts?: { timeoutMs?: number; env?: NodeJS.ProcessEnv },
  ): Promise<{ stdout: string; stderr: string }>;
  /** Pull the host's cable: its bridge port goes down (the host's eth0 loses carrier). */
  linkDown(host: LanHost): Promise<void>;
  linkUp(host: LanHost): Promise<void>;
  /** Split the LAN: each group gets its own bridge; hosts in no group stay together on br0. */
  partition(groups: LanHost[][]): Promise<void>;
  /** Every host back on br0 and every link up (extra NICs stay where they are). */
  heal(): Promise<void>;
  /**
   * Give `host` one more interface (`eth1`, `eth2`…) with address `cidr` (e.g. "10.78.1.11/24"),
   * plugged into bridge `bridge` of the bridge namespace (created if missing; any name but br0
   * and brpN makes a separate LAN segment). Returns the interface name inside the host.
   */
  addNic(host: LanHost, bridge: string, cidr: string): Promise<string>;
  /** Kill spawned processes and delete every namespace. Idempotent, never throws. */
  destroy(): Promise<void>;
}

export interface CreateLanOptions {
  /** Namespace name prefix (letters, digits, dash), default "chatty". */
  prefix?: string;
  /** IPv4 /24 as "a.b.c.0/24"; default 10.77.X.0/24 with a random X. */
  subnet?: string;
}

const DEFAULT_PREFIX = 'chatty';
const HOST_IFACE = 'eth0';

async function ip(args: string[], timeoutMs = 10_000): Promise<string> {
  const { stdout } = await execFileP('ip', args, { timeout: timeoutMs });
  return stdout;
}

async function ipQuiet(args: string[]): Promise<void> {
  try {
    await ip(args);
  } catch {
    /* best effort */
  }
}

export interface NamespaceSupport {
  ok: boolean;
  reason?: string;
}

let supportCache: Promise<NamespaceSupport> | undefined;

/** Whether this process can build a namespace LAN, and if not, why. */
export function namespaceSupport(): Promise<NamespaceSupport> {
  supportCache ??= probeSupport();
  return supportCache;
}

async function probeSupport(): Promise<NamespaceSupport> {
  if (process.platform !== 'linux') return { ok: false, reason: `network namespaces need Linux (this is ${process.platform})` };
  if (typeof process.getuid === 'function' && process.getuid() !== 0) return { ok: false, reason: 'network namespaces need root' };
  try {
    await ip(['-V']);
  } catch {
    return { ok: false, reason: 'iproute2 (`ip`) is not installed: apt-get install -y iproute2' };
  }
  const probe = `${DEFAULT_PREFIX}-probe-${process.pid}-${randomBytes(3).toString('hex')}`;
  try {
    await ip(['netns', 'add', probe]);
  } catch (err) {
    return { ok: false, reason: `\`ip netns add\` failed: ${firstLine(err)}` };
  }
  try {
    await ip(['-n', probe, 'link', 'add', 'br0', 'type', 'bridge']);
    await ip(['-n', probe, 'link', 'add', 'v0', 'type', 'veth', 'peer', 'name', 'v1']);
    await ip(['-n', probe, 'link', 'set', 'v0', 'master', 'br0']);
    return { ok: true };
  } catch (err) {
    return { ok: false, reason: `bridge/veth in a namespace failed: ${firstLine(err)}` };
  } finally {
    await ipQuiet(['netns', 'del', probe]);
  }
}

/** True when namespaces can be created; prints the reason to stderr when not. */
export async function canCreateNamespaces(): Promise<boolean> {
  const s = await namespaceSupport();
  if (!s.ok) process.stderr.write(`[netns] network namespaces unavailable: ${s.reason}\n`);
  return s.ok;
}

function firstLine(err: unknown): string {
  const e = err as { stderr?: string; message?: string };
  return (e.stderr || e.message || String(err)).trim().split('\n')[0] ?? '';
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function listNamespaces(): Promise<string[]> {
  const out = await ip(['netns', 'list']).catch(() => '');
  return out
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0] ?? '')
    .filter(Boolean);
}

/** Kill whatever still runs inside a namespace (processes our own test runs started there), then delete it. */
async function deleteNamespace(ns: string): Promise<void> {
  try {
    const pids = (await ip(['netns', 'pids', ns]))
      .split(/\s+/)
      .map(Number)
      .filter((p) => Number.isInteger(p) && p > 0);
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone already */
      }
    }
  } catch {
    /* namespace may be gone */
  }
  await ipQuiet(['netns', 'del', ns]);
}

/** Remove namespaces left behind by crashed runs (same prefix, creating process no longer alive). */
export async function cleanupStaleNamespaces(prefix = DEFAULT_PREFIX): Promise<string[]> {
  const re = new RegExp(`^${escapeRe(prefix)}-(?:probe-)?(\\d+)-`);
  const removed: string[] = [];
  for (const ns of await listNamespaces()) {
    const m = re.exec(ns);
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid === process.pid || pidAlive(pid)) continue;
    await deleteNamespace(ns);
    removed.push(ns);
  }
  return removed;
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function parseSubnet(subnet: string | undefined): { base: string; cidr: string } {
  if (!subnet) {
    const x = 1 + Math.floor(Math.random() * 254);
    return { base: `10.77.${x}`, cidr: `10.77.${x}.0/24` };
  }
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.0\/24$/.exec(subnet);
  if (!m) throw new Error(`subnet must look like a.b.c.0/24, got ${subnet}`);
  return { base: `${m[1]}.${m[2]}.${m[3]}`, cidr: subnet };
}

/** Build a LAN of `n` hosts (n ≤ 200). On any failure everything created so far is removed. */
export async function createLan(n: number, opts: CreateLanOptions = {}): Promise<Lan> {
  if (!Number.isInteger(n) || n < 1 || n > 200) throw new Error(`createLan: n must be 1..200, got ${n}`);
  const prefix = opts.prefix ?? DEFAULT_PREFIX;
  if (!/^[A-Za-z][A-Za-z0-9-]{0,20}$/.test(prefix)) throw new Error(`createLan: bad prefix ${prefix}`);
  const { base, cidr } = parseSubnet(opts.subnet);
  await cleanupStaleNamespaces(prefix);

  const run = `${prefix}-${process.pid}-${randomBytes(3).toString('hex')}`;
  const bridgeNs = `${run}-br`;
  const hosts: LanHost[] = Array.from({ length: n }, (_, i) => ({ name: `h${i}`, ns: `${run}-h${i}`, ip: `${base}.${i + 10}`, index: i }));
  const created: string[] = [];
  const children = new Set<ChildProcess>();
  const partitionBridges = new Set<string>();
  const bridges = new Set<string>(['br0']);
  const nics = new Map<number, number>();
  let destroyed = false;

  // Last resort when the test process exits without destroy() (e.g. process.exit in a failing run);
  // a crash without even this is handled by cleanupStaleNamespaces() on the next run.
  const onExit = () => {
    if (destroyed) return;
    for (const child of children) child.kill('SIGKILL');
    for (const ns of created) {
      try {
        execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore', timeout: 5000 });
      } catch {
        /* best effort */
      }
    }
  };
  process.once('exit', onExit);

  const destroy = async (): Promise<void> => {
    if (destroyed) return;
    destroyed = true;
    process.removeListener('exit', onExit);
    for (const child of children) {
      if (child.exitCode === null && child.signalCode === null) {
        try {
          child.kill('SIGKILL');
        } catch {
          /* ignore */
        }
      }
    }
    children.clear();
    for (const ns of created.reverse()) await deleteNamespace(ns);
    created.length = 0;
  };

  try {
    await ip(['netns', 'add', bridgeNs]);
    created.push(bridgeNs);
    const brIp = (...args: string[]) => ip(['-n', bridgeNs, ...args]);
    await brIp('link', 'set', 'lo', 'up');
    await addBridge(bridgeNs, 'br0');

    for (const h of hosts) {
      await ip(['netns', 'add', h.ns]);
      created.push(h.ns);
      const hIp = (...args: string[]) => ip(['-n', h.ns, ...args]);
      await brIp('link', 'add', h.name, 'type', 'veth', 'peer', 'name', HOST_IFACE, 'netns', h.ns);
      await brIp('link', 'set', h.name, 'master', 'br0');
      await brIp('link', 'set', h.name, 'up');
      await hIp('link', 'set', 'lo', 'up');
      await hIp('addr', 'add', `${h.ip}/24`, 'dev', HOST_IFACE);
      await hIp('link', 'set', HOST_IFACE, 'up');
      await hIp('route', 'add', '224.0.0.0/4', 'dev', HOST_IFACE);
    }
  } catch (err) {
    await destroy();
    throw err;
  }

  const assertAlive = () => {
    if (destroyed) throw new Error('LAN already destroyed');
  };

  return {
    hosts,
    bridge: bridgeNs,
    iface: HOST_IFACE,
    subnet: cidr,
    spawn(host, cmd, args, spawnOpts = {}) {
      assertAlive();
      const child = spawn('ip', ['netns', 'exec', host.ns, cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'], ...spawnOpts });
      children.add(child);
      child.once('exit', () => children.delete(child));
      return child;
    },
    async exec(host, cmd, args, execOpts = {}) {
      assertAlive();
      const { stdout, stderr } = await execFileP('ip', ['netns', 'exec', host.ns, cmd, ...args], {
        timeout: execOpts.timeoutMs ?? 30_000,
        env: execOpts.env ?? process.env,
        maxBuffer: 16 * 1024 * 1024,
      });
      return { stdout, stderr };
    },
    async linkDown(host) {
      assertAlive();
      await ip(['-n', bridgeNs, 'link', 'set', host.name, 'down']);
    },
    async linkUp(host) {
      assertAlive();
      await ip(['-n', bridgeNs, 'link', 'set', host.name, 'up']);
    },
    async partition(groups) {
      assertAlive();
      const seen = new Set<number>();
      for (const [g, group] of groups.entries()) {
        const br = `brp${g + 1}`;
        if (!partitionBridges.has(br)) {
          if (!bridges.has(br)) await addBridge(bridgeNs, br);
          bridges.add(br);
          partitionBridges.add(br);
        }
        for (const h of group) {
          if (seen.has(h.index)) throw new Error(`partition: ${h.name} is in two groups`);
          seen.add(h.index);
          await ip(['-n', bridgeNs, 'link', 'set', h.name, 'master', br]);
        }
      }
      for (const h of hosts) if (!seen.has(h.index)) await ip(['-n', bridgeNs, 'link', 'set', h.name, 'master', 'br0']);
    },
    async heal() {
      assertAlive();
      for (const h of hosts) {
        await ip(['-n', bridgeNs, 'link', 'set', h.name, 'master', 'br0']);
        await ip(['-n', bridgeNs, 'link', 'set', h.name, 'up']);
      }
      for (const br of partitionBridges) {
        await ipQuiet(['-n', bridgeNs, 'link', 'del', br]);
        bridges.delete(br);
      }
      partitionBridges.clear();
    },
    async addNic(host, bridge, cidr) {
      assertAlive();
      if (!/^[A-Za-z][A-Za-z0-9]{0,14}$/.test(bridge)) throw new Error(`addNic: bad bridge name ${bridge}`);
      const k = (nics.get(host.index) ?? 0) + 1;
      nics.set(host.index, k);
      if (!bridges.has(bridge)) {
        await addBridge(bridgeNs, bridge);
        bridges.add(bridge);
      }
      const port = `${host.name}x${k}`;
      const nic = `eth${k}`;
      await ip(['-n', bridgeNs, 'link', 'add', port, 'type', 'veth', 'peer', 'name', nic, 'netns', host.ns]);
      await ip(['-n', bridgeNs, 'link', 'set', port, 'master', bridge]);
      await ip(['-n', bridgeNs, 'link', 'set', port, 'up']);
      await ip(['-n', host.ns, 'addr', 'add', cidr, 'dev', nic]);
      await ip(['-n', host.ns, 'link', 'set', nic, 'up']);
      return nic;
    },
    destroy,
  };
}

async function addBridge(ns: string, name: string): Promise<void> {
  // No STP (ports forward at once) and no IGMP snooping (multicast is always flooded to every port).
  await ip(['-n', ns, 'link', 'add', name, 'type', 'bridge', 'stp_state', '0', 'mcast_snooping', '0']);
  await ip(['-n', ns, 'link', 'set', name, 'up']);
}
