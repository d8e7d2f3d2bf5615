/**
 * A bare Discovery in its own process, for the namespace LAN tests:
 *
 *   node --import tsx test/helpers/mdns-peer.ts --id PEERID --port 7447 [--nick N] [--query-ms 2000] [--stale-ms 7000]
 *        [--version 1] [--mdns-port 5353] [--interface 10.0.0.1]
 *
 * Prints one JSON object per line on stdout: {"ev":"started"}, {"ev":"up","peer":{…}},
 * {"ev":"down","peerId":"…"}, {"ev":"stopped"}. SIGTERM/SIGINT stop it gracefully (goodbye).
 * Logs (pino) go to stderr.
 */
import { parseArgs } from 'node:util';
import { Discovery } from '../../src/peer/discovery.js';
import { createLogger } from '../../src/peer/log.js';

const { values } = parseArgs({
  options: {
    id: { type: 'string' },
    port: { type: 'string', default: '7447' },
    nick: { type: 'string', default: 'peer' },
    'query-ms': { type: 'string' },
    'stale-ms': { type: 'string' },
    version: { type: 'string' },
    'mdns-port': { type: 'string' },
    interface: { type: 'string', multiple: true },
  },
});
if (!values.id) {
  process.stderr.write('--id is required\n');
  process.exit(2);
}
const num = (s: string | undefined) => (s === undefined ? undefined : Number(s));

const out = (obj: object) => process.stdout.write(`${JSON.stringify({ t: Date.now(), ...obj })}\n`);
const discovery = new Discovery({
  peerId: values.id,
  port: Number(values.port),
  nick: values.nick ?? 'peer',
  logger: createLogger('mdns-peer', process.env.CHATTY_LOG ?? 'warn'),
  ...(values.interface ? { interfaces: values.interface } : {}),
  ...(values['query-ms'] ? { queryIntervalMs: num(values['query-ms']) } : {}),
  ...(values['stale-ms'] ? { staleAfterMs: num(values['stale-ms']) } : {}),
  ...(values.version ? { version: num(values.version) } : {}),
  ...(values['mdns-port'] ? { mdnsPort: num(values['mdns-port']) } : {}),
});
discovery.on('up', (peer) => out({ ev: 'up', peer }));
discovery.on('down', (peerId) => out({ ev: 'down', peerId }));
discovery.start();
out({ ev: 'started', peerId: values.id });

let stopping = false;
const stop = () => {
  if (stopping) return;
  stopping = true;
  void discovery.stop().then(() => {
    out({ ev: 'stopped' });
    process.exit(0);
  });
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
// Keep running until signalled (the sockets keep the loop alive, but be explicit).
setInterval(() => {}, 1 << 30);
