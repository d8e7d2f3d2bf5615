/**
 * The in-transport partition used where network namespaces are unavailable
 * (CHATTY_TEST_PARTITION_FILE): blocked peers are cut off, and catch up once healed.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { eventually, PeerProcess } from '../helpers/peer-process.js';

const peers: PeerProcess[] = [];
afterAll(async () => {
  await Promise.all(peers.map((p) => p.stop()));
});

it('cuts a blocked peer off and lets it catch up after healing', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'chatty-partition-'));
  const file = join(dir, 'alice.json');
  writeFileSync(file, '[]');
  const alice = await PeerProcess.start({ nick: 'alice', env: { CHATTY_TEST_PARTITION_FILE: file } });
  const bob = await PeerProcess.start({ nick: 'bob', peers: [alice.url] });
  peers.push(alice, bob);
  await alice.call('join', { room: 'r' });
  await eventually(async () => (await bob.call('rooms')).length === 1, 10_000, 'room synced');
  await bob.call('join', { room: 'r' });
  writeFileSync(file, JSON.stringify([bob.peerId]));
  await alice.waitFor('peer', (e) => e.peerId === bob.peerId && e.state === 'down', 5000);
  const m = await alice.call('send', { room: 'r', text: 'during the partition' });
  await new Promise((r) => setTimeout(r, 1500));
  expect(bob.eventsOf('message').some((x) => x.id === m.id)).toBe(false);
  writeFileSync(file, '[]');
  await bob.waitFor('message', (x) => x.id === m.id, 20_000);
});
