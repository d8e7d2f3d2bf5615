/**
 * Storage-bound figures of one in-process peer, no network: durable sends one at a time (one flush
 * each), pipelined sends (50 at a time, sharing group commits), and pages of history read back.
 * Whole-process CPU and memory are best taken from outside (`/usr/bin/time -v`), run by run.
 *
 *   node --import tsx bench/storage.ts
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../src/peer/log.js';
import { PeerNode } from '../src/peer/node.js';

const SEQUENTIAL = 1000;
const BATCHES = 100;
const BATCH = 50;
const PAGES = 200;

const perSecond = (count: number, since: number) => Math.round(count / ((performance.now() - since) / 1000));

const dir = mkdtempSync(join(tmpdir(), 'chatty-storage-bench-'));
const node = await PeerNode.start({ dataDir: dir, port: 0, mdns: false, nick: 'bench', logger: silentLogger });
try {
  const { room } = await node.join({ room: 'bench' });
  let t = performance.now();
  for (let i = 0; i < SEQUENTIAL; i++) await node.send({ room, text: `one ${i}` });
  const sequential = perSecond(SEQUENTIAL, t);
  t = performance.now();
  for (let b = 0; b < BATCHES; b++)
    await Promise.all(Array.from({ length: BATCH }, (_, i) => node.send({ room, text: `batch ${b} ${i}` })));
  const pipelined = perSecond(BATCHES * BATCH, t);
  t = performance.now();
  for (let i = 0; i < PAGES; i++) await node.history({ room, limit: 100 });
  const pages = perSecond(PAGES, t);
  console.log(
    JSON.stringify({
      node: process.version,
      sequentialSendsPerSec: sequential,
      pipelinedSendsPerSec: pipelined,
      historyPagesPerSec: pages,
    }),
  );
} finally {
  await node.close();
  rmSync(dir, { recursive: true, force: true });
}
