/**
 * The baseline of the files scenario (bench/scenarios/files.ts): a file's bytes over one plain `ws`
 * link between two Node processes on loopback, with nothing else — no chunk hashes, no encryption,
 * no manifest, no bookkeeping. What a transfer costs here at best.
 *
 *   file-baseline.mjs serve --file PATH
 *     The holder: listens on 127.0.0.1 (a free port) and streams PATH to every client that sends
 *     the text frame `get`, reading it in 1 MiB pieces, each sent as one binary message, with at
 *     most 4 MiB handed to the socket and not yet flushed (backpressure: the send callback), then
 *     a text frame `end`. Clients are served concurrently, each from its own read of the file.
 *   file-baseline.mjs fetch --url URL --out PATH [--no-fsync]
 *     The receiver: connects; for each line `get` on stdin it asks the holder and writes what comes
 *     to PATH in order (the link is paused while more than 16 MiB wait for the disk), then fsyncs
 *     the file unless --no-fsync, and reports.
 *
 * Both write JSON lines to stdout: `{"ev":"ready","port":P}` (serve) or `{"ev":"ready"}` (fetch,
 * once connected), then (fetch) `{"ev":"done","bytes":N,"firstAt":T,"writtenAt":T,"syncedAt":T}`
 * per transfer, on the process' clock (performance.timeOrigin + performance.now(), fractional ms,
 * comparable with the bench's), or `{"ev":"error","message":…}`. Both exit when stdin closes.
 *
 * Plain Node + ws only; the run compiles it to JS, like bench/baseline-peer.ts.
 */
import { open, type FileHandle } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer, type RawData } from 'ws';

const PIECE = 1024 * 1024;
/** Bytes handed to `ws.send` whose callback has not fired yet (sender), and bytes waiting for the disk (receiver). */
const SEND_WINDOW = 4 * PIECE;
const WRITE_HIGH = 16 * PIECE;
const WRITE_LOW = 4 * PIECE;

const wallNow = (): number => performance.timeOrigin + performance.now();
const emit = (obj: Record<string, unknown>): void => void process.stdout.write(`${JSON.stringify(obj)}\n`);

function args(argv: string[]): { mode: string; opts: Map<string, string> } {
  const [mode = '', ...rest] = argv;
  const opts = new Map<string, string>();
  for (let i = 0; i < rest.length; i++) {
    const key = rest[i]!;
    if (key === '--no-fsync') opts.set(key, '1');
    else opts.set(key, rest[++i] ?? '');
  }
  return { mode, opts };
}

/** Streams the file to one client: 1 MiB binary messages, SEND_WINDOW bytes in flight at most. */
async function stream(ws: WebSocket, path: string): Promise<void> {
  const fh = await open(path, 'r');
  try {
    let inFlight = 0;
    let wake: (() => void) | undefined;
    let failed: Error | undefined;
    for (;;) {
      // A fresh buffer per piece: ws holds on to it until the socket took it.
      const buf = Buffer.allocUnsafe(PIECE);
      const { bytesRead } = await fh.read(buf, 0, PIECE, null);
      if (bytesRead === 0) break;
      while (inFlight >= SEND_WINDOW && !failed) await new Promise<void>((r) => (wake = r));
      if (failed) throw failed;
      inFlight += bytesRead;
      ws.send(buf.subarray(0, bytesRead), { binary: true }, (err) => {
        inFlight -= bytesRead;
        if (err) failed ??= err;
        wake?.();
        wake = undefined;
      });
    }
    ws.send('end');
  } finally {
    await fh.close();
  }
}

function serve(path: string): void {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
  wss.on('connection', (ws) => {
    ws.on('error', (err) => emit({ ev: 'error', message: String(err) }));
    ws.on('message', (data, isBinary) => {
      if (isBinary || data.toString() !== 'get') return;
      stream(ws, path).catch((err: unknown) => emit({ ev: 'error', message: String(err) }));
    });
  });
  wss.on('listening', () => emit({ ev: 'ready', port: (wss.address() as AddressInfo).port }));
}

function fetch(url: string, out: string, fsync: boolean): void {
  const ws = new WebSocket(url, { perMessageDeflate: false });
  let fh: FileHandle | undefined;
  let chain: Promise<unknown> = Promise.resolve();
  let pending = 0;
  let bytes = 0;
  let firstAt = 0;
  const fail = (err: unknown) => emit({ ev: 'error', message: String(err) });
  ws.on('open', () => emit({ ev: 'ready' }));
  ws.on('error', fail);
  ws.on('message', (data: RawData, isBinary) => {
    if (!fh) return;
    const file = fh;
    if (isBinary) {
      const buf = data as Buffer;
      firstAt ||= wallNow();
      bytes += buf.length;
      pending += buf.length;
      if (pending > WRITE_HIGH) ws.pause();
      chain = chain.then(async () => {
        await file.write(buf);
        pending -= buf.length;
        if (pending < WRITE_LOW && ws.isPaused) ws.resume();
      });
      return;
    }
    if (data.toString() !== 'end') return;
    fh = undefined;
    chain = chain
      .then(async () => {
        const writtenAt = wallNow();
        if (fsync) await file.sync();
        const syncedAt = wallNow();
        await file.close();
        emit({ ev: 'done', bytes, firstAt, writtenAt, syncedAt });
      })
      .catch(fail);
  });
  process.stdin.setEncoding('utf8');
  let line = '';
  process.stdin.on('data', (chunk: string) => {
    line += chunk;
    let nl: number;
    while ((nl = line.indexOf('\n')) >= 0) {
      const cmd = line.slice(0, nl).trim();
      line = line.slice(nl + 1);
      if (cmd !== 'get') continue;
      chain = chain
        .then(async () => {
          fh = await open(out, 'w');
          bytes = 0;
          firstAt = 0;
          ws.send('get');
        })
        .catch(fail);
    }
  });
}

const { mode, opts } = args(process.argv.slice(2));
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
if (mode === 'serve') serve(opts.get('--file') ?? '');
else if (mode === 'fetch') fetch(opts.get('--url') ?? '', opts.get('--out') ?? '', !opts.has('--no-fsync'));
else {
  process.stderr.write('usage: file-baseline serve --file PATH | fetch --url URL --out PATH [--no-fsync]\n');
  process.exit(2);
}
