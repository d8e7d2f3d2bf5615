/**
 * `chatty`: the headless peer. Starts a peer node, serves the browser UI on
 * 127.0.0.1, and talks either JSON-RPC on stdio (`--json`) or an
 * interactive terminal chat.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { notification } from '../shared/jsonrpc.js';
import { createLogger } from '../peer/log.js';
import { PeerNode } from '../peer/node.js';
import { parseOptions } from './options.js';
import { serveStdio, writeLine } from './stdio-rpc.js';
import { Terminal } from './terminal.js';
import { startUiServer, type UiServer } from './ui-server.js';

const here = dirname(fileURLToPath(import.meta.url));
/** The built renderer, beside the compiled CLI (out/node/cli → out/renderer). */
const RENDERER_DIR = join(here, '..', '..', 'renderer');

async function main(): Promise<void> {
  const opts = parseOptions(process.argv);
  // In interactive mode the logs would garble the prompt: keep warnings only unless asked.
  const log = createLogger('chatty', process.env.CHATTY_LOG ?? (opts.json ? 'info' : 'warn'));
  const node = await PeerNode.start({
    dataDir: opts.dataDir,
    nick: opts.nick,
    port: opts.port,
    host: opts.host,
    peers: opts.peer,
    mdns: opts.mdns,
    scan: opts.scan,
    topology: opts.fullMesh ? 'mesh' : 'overlay',
    overlay: { hyParView: { activeViewSize: opts.links } },
    files: { maxBytes: opts.maxFile, autoFetchBytes: opts.autoFetch, quotaBytes: opts.fileQuota, swarm: opts.fileSwarm },
    logger: log,
  });

  let ui: UiServer | undefined;
  if (opts.ui) {
    if (existsSync(join(RENDERER_DIR, 'index.html'))) {
      try {
        ui = await startUiServer({ service: node, port: opts.uiPort, staticDir: RENDERER_DIR, logger: log });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
        ui = await startUiServer({ service: node, port: 0, staticDir: RENDERER_DIR, logger: log });
      }
    } else {
      log.warn({ dir: RENDERER_DIR }, 'the browser UI is not built (npm run build); serving none');
    }
  }

  let stopping = false;
  const stop = async (code = 0) => {
    if (stopping) return;
    stopping = true;
    await ui?.close().catch(() => undefined);
    await node.close();
    process.exit(code);
  };
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());
  node.onShutdownRequest(() => void stop());

  const me = await node.whoami();
  if (opts.json) {
    writeLine(notification('ready', { ...me, ...(ui ? { ui: ui.url } : {}) }));
    await serveStdio(node);
    await stop();
  } else {
    const lines = [`Chatty — you are ${me.nick} [${me.fingerprint}], listening for peers on port ${me.port}`];
    if (ui) lines.push(`Browser UI: ${ui.url}`);
    new Terminal(node, () => void stop()).start(lines.join('\n'));
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`chatty: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
