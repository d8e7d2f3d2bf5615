/**
 * A standard DNS-SD client inside a namespace LAN host: Avahi (`avahi-daemon` + `avahi-browse`),
 * as on any Linux desktop, to check that Chatty's services look right to other software.
 *
 * avahi-browse talks to avahi-daemon over the D-Bus *system* bus, so each observer gets its own
 * private dbus-daemon (socket in a temp dir, handed over with DBUS_SYSTEM_BUS_ADDRESS) and its
 * own avahi-daemon (no root drop, no chroot, its pid/socket dir on a private tmpfs via
 * `unshare -m`, so it never meets the machine's /run/avahi-daemon or another test's daemon).
 *
 * Debian packages: avahi-daemon avahi-utils dbus (and util-linux for `unshare`).
 */
import { execFile, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Lan, LanHost } from './netns.js';

const execFileP = promisify(execFile);

export interface AvahiService {
  iface: string;
  protocol: string;
  name: string;
  type: string;
  domain: string;
  host: string;
  address: string;
  port: number;
  txt: Record<string, string>;
}

export interface AvahiObserver {
  /** `avahi-browse -rtp TYPE`, resolved entries ('=' lines) parsed. */
  browse(type: string): Promise<AvahiService[]>;
  /** Raw output of `avahi-browse ARGS`. */
  run(args: string[]): Promise<string>;
  stop(): Promise<void>;
}

/** Why the avahi observer cannot run here, or undefined when it can. */
export async function avahiMissing(): Promise<string | undefined> {
  const missing: string[] = [];
  for (const [bin, pkg] of [
    ['avahi-daemon', 'avahi-daemon'],
    ['avahi-browse', 'avahi-utils'],
    ['dbus-daemon', 'dbus'],
    ['unshare', 'util-linux'],
  ] as const) {
    try {
      await execFileP('sh', ['-c', `command -v ${bin}`]);
    } catch {
      missing.push(`${bin} (${pkg})`);
    }
  }
  return missing.length ? `missing ${missing.join(', ')}: apt-get install -y avahi-daemon avahi-utils dbus` : undefined;
}

const DBUS_CONF = (socket: string) => `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=${socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_type="method_call"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
`;

const AVAHI_CONF = (iface: string) => `[server]
use-ipv4=yes
use-ipv6=no
allow-interfaces=${iface}
enable-dbus=yes
[wide-area]
enable-wide-area=no
[publish]
disable-publishing=yes
publish-hinfo=no
publish-workstation=no
[reflector]
enable-reflector=no
[rlimits]
`;

async function waitUntil(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Start a private dbus + avahi-daemon on `host`; resolves once avahi has finished starting. */
export async function startAvahi(lan: Lan, host: LanHost): Promise<AvahiObserver> {
  removeStaleDirs();
  const dir = mkdtempSync(join(tmpdir(), `chatty-avahi-${process.pid}-`));
  const socket = join(dir, 'bus');
  writeFileSync(join(dir, 'dbus.conf'), DBUS_CONF(socket));
  writeFileSync(join(dir, 'avahi.conf'), AVAHI_CONF(lan.iface));
  const env = { ...process.env, DBUS_SYSTEM_BUS_ADDRESS: `unix:path=${socket}` };
  const children: ChildProcess[] = [];
  let log = '';
  const stop = async () => {
    for (const c of children.splice(0)) {
      if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const dbus = lan.spawn(host, 'dbus-daemon', ['--config-file', join(dir, 'dbus.conf'), '--nofork', '--nopidfile'], { env });
    children.push(dbus);
    dbus.stderr?.on('data', (d: Buffer) => (log += `dbus: ${d}`));
    await waitUntil(() => existsSync(socket), 5000, 'the private dbus socket');
    const script = 'mkdir -p /run/avahi-daemon && mount -t tmpfs tmpfs /run/avahi-daemon && exec avahi-daemon "$@"';
    const avahi = lan.spawn(
      host,
      'unshare',
      [
        '-m',
        '--propagation',
        'private',
        'sh',
        '-c',
        script,
        'sh',
        '-f',
        join(dir, 'avahi.conf'),
        '--no-drop-root',
        '--no-chroot',
        '--no-rlimits',
      ],
      { env },
    );
    children.push(avahi);
    let exited = false;
    avahi.once('exit', () => (exited = true));
    avahi.stderr?.on('data', (d: Buffer) => (log += `avahi: ${d}`));
    avahi.stdout?.on('data', (d: Buffer) => (log += `avahi: ${d}`));
    await waitUntil(() => /Server startup complete/.test(log) || exited, 10_000, 'avahi-daemon to start');
    if (exited) throw new Error(`avahi-daemon exited:\n${log}`);
  } catch (err) {
    await stop();
    throw new Error(`${(err as Error).message}\n${log}`);
  }

  const run = async (args: string[]) => (await lan.exec(host, 'avahi-browse', args, { env, timeoutMs: 20_000 })).stdout;
  return {
    run,
    async browse(type) {
      return parseBrowse(await run(['-rtp', type]));
    },
    stop,
  };
}

/** Temp dirs of earlier runs whose process is gone. */
function removeStaleDirs(): void {
  for (const name of readdirSync(tmpdir())) {
    const m = /^chatty-avahi-(\d+)-/.exec(name);
    if (!m || Number(m[1]) === process.pid) continue;
    try {
      process.kill(Number(m[1]), 0);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ESRCH') rmSync(join(tmpdir(), name), { recursive: true, force: true });
    }
  }
}

/** Parse `avahi-browse -p` resolved lines: `=;iface;proto;name;type;domain;host;address;port;"k=v" "k=v"`. */
export function parseBrowse(out: string): AvahiService[] {
  const services: AvahiService[] = [];
  for (const line of out.split('\n')) {
    if (!line.startsWith('=;')) continue;
    const f = line.split(';');
    if (f.length < 10) continue;
    const txt: Record<string, string> = {};
    for (const m of f
      .slice(9)
      .join(';')
      .matchAll(/"((?:[^"\\]|\\.)*)"/g)) {
      const kv = (m[1] ?? '').replace(/\\(.)/g, '$1');
      const eq = kv.indexOf('=');
      if (eq > 0) txt[kv.slice(0, eq)] = kv.slice(eq + 1);
    }
    services.push({
      iface: f[1] ?? '',
      protocol: f[2] ?? '',
      name: unescapeAvahi(f[3] ?? ''),
      type: f[4] ?? '',
      domain: f[5] ?? '',
      host: f[6] ?? '',
      address: f[7] ?? '',
      port: Number(f[8]),
      txt,
    });
  }
  return services;
}

/** avahi-browse -p escapes special characters in names as \DDD (decimal). */
function unescapeAvahi(s: string): string {
  return s.replace(/\\(\d{3})/g, (_, d: string) => String.fromCharCode(Number(d))).replace(/\\(.)/g, '$1');
}
