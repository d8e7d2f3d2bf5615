/**
 * Command-line options of the headless peer, parsed with commander.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { FILE_LIMITS } from '../shared/api.js';
import { DEFAULT_PORT } from '../shared/wire.js';

export interface CliOptions {
  nick?: string;
  dataDir: string;
  port: number;
  host?: string;
  peer: string[];
  mdns: boolean;
  scan: boolean;
  links: number;
  fullMesh: boolean;
  json: boolean;
  ui: boolean;
  uiPort: number;
  maxFile: number;
  autoFetch: number;
  fileQuota: number;
  fileSwarm: boolean;
}

export const DEFAULT_UI_PORT = 7448;

/** Where data lives by default: $CHATTY_DATA_DIR, else the XDG data directory. */
export function defaultDataDir(): string {
  if (process.env.CHATTY_DATA_DIR) return process.env.CHATTY_DATA_DIR;
  const base = process.env.XDG_DATA_HOME || join(homedir(), '.local', 'share');
  return join(base, 'chatty');
}

function port(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('must be a port number (0-65535)');
  return n;
}

function linkCount(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 2 || n > 32) throw new InvalidArgumentError('must be a whole number from 2 to 32');
  return n;
}

/** A size: bytes, or a number with K, M or G (powers of 1024), e.g. `512M`, `2G`. */
export function size(value: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([KMG]i?B?|B)?$/i.exec(value.trim());
  if (!m) throw new InvalidArgumentError('must be a size such as 1048576, 512M or 2G');
  const unit = (m[2] ?? 'B')[0]!.toUpperCase();
  const bytes = Math.floor(Number(m[1]) * ({ B: 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 } as Record<string, number>)[unit]!);
  if (bytes > FILE_LIMITS.maxSizeBytes) throw new InvalidArgumentError(`must be at most 4G (the largest file the protocol describes)`);
  return bytes;
}

function peerUrl(value: string, previous: string[]): string[] {
  if (!/^wss?:\/\/[^\s/]+(:\d+)?\/?$/.test(value)) throw new InvalidArgumentError('must look like ws://host:port');
  return [...previous, value];
}

export function parseOptions(argv: string[]): CliOptions {
  const program = new Command('chatty')
    .description('Chatty: serverless chat for local networks (headless peer)')
    .option('--nick <name>', 'your nickname (kept for the next start)')
    .option('--data-dir <dir>', 'where keys and history are stored', defaultDataDir())
    .option('--port <port>', 'port for peer connections (a free one if taken)', port, DEFAULT_PORT)
    .option('--host <addr>', 'address to listen on for peers (default: all)')
    .option('--peer <url>', 'peer to connect to, e.g. ws://10.0.0.2:7447 (repeatable)', peerUrl, [])
    .option('--no-mdns', 'do not use mDNS discovery')
    .option('--scan', 'when no peer is found, probe the local /24 on port 7447 (bounded, rate-limited)', false)
    .addOption(
      new Option('--links <n>', 'neighbours to hold in the overlay (its active view); the others are reached through them')
        .argParser(linkCount)
        .default(5),
    )
    .option('--full-mesh', 'link every known peer instead of a bounded overlay (for comparison; fine up to ~20 peers)', false)
    .addOption(
      new Option('--max-file <size>', 'largest file to send or fetch, e.g. 512M')
        .argParser(size)
        .default(FILE_LIMITS.defaultMaxSizeBytes, '2G'),
    )
    .addOption(
      new Option('--auto-fetch <size>', 'fetch pictures up to this size as they arrive (0: never)')
        .argParser(size)
        .default(8 * 1024 ** 2, '8M'),
    )
    .addOption(new Option('--file-quota <size>', 'disk space for pictures fetched on arrival').argParser(size).default(1024 ** 3, '1G'))
    .option('--no-file-swarm', 'do not serve downloaded files to other downloaders (only authors serve; for comparison)')
    .option('--json', 'speak JSON-RPC 2.0 on stdin/stdout instead of the interactive chat', false)
    .addOption(new Option('--ui-port <port>', 'port of the local browser UI (127.0.0.1 only)').argParser(port).default(DEFAULT_UI_PORT))
    .option('--no-ui', 'do not serve the browser UI')
    .version(process.env.npm_package_version ?? '0.1.0')
    .showHelpAfterError()
    .parse(argv);
  return program.opts<CliOptions>();
}
