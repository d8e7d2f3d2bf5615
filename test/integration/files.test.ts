/**
 * Files and pictures between real peer processes: a file reaches two others byte for byte, a
 * picture shows its thumbnail and comes on its own, DMs and invite-only rooms keep files from
 * everyone else, a peer serving corrupted chunks cannot corrupt a download, a download killed
 * midway resumes with what it holds, and bad input gets clear errors.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Jimp } from 'jimp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Message, Transfer } from '../../src/shared/api.js';
import { HostilePeer } from '../helpers/hostile-peer.js';
import { eventually, PeerProcess, reason, rejection } from '../helpers/peer-process.js';

const dir = mkdtempSync(join(tmpdir(), 'chatty-files-'));
let alice: PeerProcess, bob: PeerProcess, carol: PeerProcess;
let room: string;
const started: PeerProcess[] = [];
const hostiles: HostilePeer[] = [];

function sha256(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

/** A file of random bytes (with `marker` at its start, to look for it elsewhere). */
function randomFile(name: string, bytes: number, marker = ''): string {
  const path = join(dir, name);
  const data = randomBytes(bytes);
  data.write(marker);
  writeFileSync(path, data);
  return path;
}

function done(peer: PeerProcess, file: string, timeoutMs = 30_000): Promise<Transfer> {
  return peer.waitFor('transfer', (t) => t.file === file && (t.state === 'done' || t.state === 'failed'), timeoutMs);
}

async function start(nick: string, extra: Parameters<typeof PeerProcess.start>[0] = {}): Promise<PeerProcess> {
  const peer = await PeerProcess.start({ nick, ...extra });
  started.push(peer);
  return peer;
}

async function linked(a: PeerProcess, b: PeerProcess): Promise<void> {
  await eventually(async () => (await a.call('peers')).some((p) => p.peerId === b.peerId && p.connected), 10_000, `${a.opts.nick} linked`);
}

async function joinRoom(peer: PeerProcess, id: string): Promise<void> {
  await eventually(async () => (await peer.call('rooms')).some((r) => r.id === id), 10_000, `room known to ${peer.opts.nick}`);
  await peer.call('join', { room: id });
}

beforeAll(async () => {
  alice = await start('alice');
  bob = await start('bob', { peers: [alice.url] });
  carol = await start('carol', { peers: [alice.url] });
  await Promise.all([linked(bob, alice), linked(carol, alice)]);
  room = (await alice.call('join', { room: 'share' })).id;
  await Promise.all([joinRoom(bob, room), joinRoom(carol, room)]);
});

afterAll(async () => {
  for (const h of hostiles) h.close();
  await Promise.all(started.map((p) => p.stop()));
});

describe('files in a room', () => {
  it('reaches two others with its text, and both download it byte for byte', async () => {
    const path = randomFile('report.bin', 3_000_000);
    const sent = await alice.call('sendFile', { room: 'share', path, text: 'the report' });
    expect(sent.file).toMatchObject({ name: 'report.bin', size: 3_000_000, mime: 'application/octet-stream' });
    expect(sent.file?.transfer).toMatchObject({ state: 'done', path });
    const [atBob, atCarol] = await Promise.all([bob, carol].map((p) => p.waitFor('message', (m) => m.id === sent.id)));
    for (const m of [atBob, atCarol] as Message[]) {
      expect(m.text).toBe('the report');
      expect(m.file).toMatchObject({ id: sent.file!.id, name: 'report.bin', size: 3_000_000, sha256: sent.file!.sha256 });
      expect(m.file?.transfer).toBeUndefined(); // not a picture: fetched on request only
    }
    const expected = sha256(path);
    const transfers = await Promise.all([bob, carol].map((p) => p.call('download', { file: sent.file!.id })));
    expect(transfers.map((t) => t.state)).toEqual(['running', 'running']);
    const results = await Promise.all([bob, carol].map((p) => done(p, sent.file!.id)));
    for (const [i, t] of results.entries()) {
      expect(t.state).toBe('done');
      expect(t.received).toBe(3_000_000);
      expect(t.path).toBe(join([bob, carol][i]!.dataDir, 'downloads', 'report.bin'));
      expect(sha256(t.path!)).toBe(expected);
    }
    // the history tells the UI where the copy is
    const history = await bob.call('history', { room: 'share', limit: 5 });
    expect(history.find((m) => m.id === sent.id)?.file?.transfer).toMatchObject({ state: 'done', path: results[0]!.path });
    // a second download of a file held is a copy elsewhere, at once; a taken name gets a number
    const again = await bob.call('download', { file: sent.file!.id, path: join(bob.dataDir, 'downloads') });
    expect(again).toMatchObject({ state: 'done', path: join(bob.dataDir, 'downloads', 'report (1).bin') });
    expect(sha256(again.path!)).toBe(expected);
  });

  it('shows a picture as a thumbnail, and fetches it as it arrives', async () => {
    const image = new Jimp({ width: 640, height: 480, color: 0x2266aaff });
    for (let x = 0; x < 640; x += 4) for (let y = 0; y < 480; y += 4) image.setPixelColor(((x * y) % 256) * 0x10000 + 0xff, x, y);
    const path = join(dir, 'whiteboard.png');
    writeFileSync(path, await image.getBuffer('image/png'));
    const sent = await alice.call('sendFile', { room: 'share', path });
    expect(sent.text).toBe('');
    const atBob = await bob.waitFor('message', (m) => m.id === sent.id);
    expect(atBob.file?.mime).toBe('image/png');
    expect(atBob.file?.image).toMatchObject({ width: 640, height: 480 });
    expect(atBob.file?.image?.thumbnail).toMatch(/^data:image\/jpeg;base64,/);
    // no download asked: a picture of a few MB comes on its own
    const t = await done(bob, sent.file!.id);
    expect(t.state).toBe('done');
    expect(sha256(t.path!)).toBe(sha256(path));
  });

  it('keeps a file of an invite-only room from everyone but its members', async () => {
    const vault = (await alice.call('join', { room: 'vault', private: true })).id;
    await alice.call('invite', { room: vault, peer: 'bob' });
    await bob.waitFor('member', (e) => e.room === vault && e.change === 'invited' && e.peerId === bob.peerId);
    await bob.call('join', { room: vault });
    const marker = `TOP-SECRET-${Date.now()}`;
    const path = randomFile('plans-for-q3.bin', 700_000, marker);
    const sent = await alice.call('sendFile', { room: vault, path, text: 'the plans' });
    const atBob = await bob.waitFor('message', (m) => m.id === sent.id);
    expect(atBob.file?.name).toBe('plans-for-q3.bin');
    await bob.call('download', { file: sent.file!.id });
    const t = await done(bob, sent.file!.id);
    expect(sha256(t.path!)).toBe(sha256(path));
    // carol relays the room's events but cannot read the message, let alone find the file
    await eventually(async () => carol.storedBytes().includes(sent.id), 10_000, 'message relayed to carol');
    expect(carol.storedBytes()).not.toContain('plans-for-q3');
    expect(await reason(carol.call('download', { file: sent.file!.id }))).toBe('not_found');
    // what any peer can fetch from the author is ciphertext: a stranger asking for chunk 0 gets no plaintext
    const h = new HostilePeer();
    hostiles.push(h);
    expect(await h.handshake(alice.url, { stranger: true })).toBe(true);
    h.send({ t: 'fget', file: sent.file!.id, chunks: [0] });
    await eventually(async () => h.chunksReceived.length > 0, 10_000, 'chunk served');
    const chunk = h.chunksReceived[0]!.bytes;
    expect(chunk.length).toBe(256 * 1024 + 16); // a chunk and its GCM tag
    expect(chunk.includes(Buffer.from(marker))).toBe(false);
    expect(chunk.equals(readFileSync(path).subarray(0, 256 * 1024))).toBe(false);
  });

  it('sends a file as a direct message that only its addressee reads', async () => {
    const path = randomFile('for-bob-only.txt', 100_000);
    const sent = await alice.call('sendFile', { to: 'bob', path, text: 'just for you' });
    const atBob = await bob.waitFor('dm', (m) => m.id === sent.id);
    expect(atBob.file).toMatchObject({ name: 'for-bob-only.txt', mime: 'text/plain', size: 100_000 });
    await bob.call('download', { file: sent.file!.id });
    expect(sha256((await done(bob, sent.file!.id)).path!)).toBe(sha256(path));
    expect(carol.storedBytes()).not.toContain('for-bob-only');
  });
});

describe('files from peer to peer', () => {
  it('comes from a peer that downloaded it when its author is gone', async () => {
    const hank = await start('hank');
    const ivy = await start('ivy', { peers: [hank.url] });
    await linked(ivy, hank);
    const id = (await hank.call('join', { room: 'relay' })).id;
    await joinRoom(ivy, id);
    const path = randomFile('minutes.bin', 1_500_000);
    const sent = await hank.call('sendFile', { room: id, path });
    await ivy.waitFor('message', (m) => m.id === sent.id);
    await ivy.call('download', { file: sent.file!.id });
    await done(ivy, sent.file!.id);
    await hank.kill9();
    // jack knows ivy only, and the file only from the message ivy relays
    const jack = await start('jack', { peers: [ivy.url] });
    await linked(jack, ivy);
    await joinRoom(jack, id);
    const atJack = await eventually(
      async () => (await jack.call('history', { room: id })).find((m) => m.id === sent.id),
      10_000,
      'message at jack',
    );
    await jack.call('download', { file: atJack.file!.id });
    const t = await done(jack, sent.file!.id);
    expect(t.state).toBe('done');
    expect(sha256(t.path!)).toBe(sha256(path));
  });
});

describe('files on an untrusted network', () => {
  it('drops corrupted chunks from a hostile peer and fetches them elsewhere', async () => {
    const h = new HostilePeer();
    hostiles.push(h);
    expect(await h.handshake(bob.url)).toBe(true); // a neighbour of bob's
    const asked: number[] = [];
    h.onFrames((frame) => {
      if (frame.t === 'fwant') h.send({ t: 'fhave', file: frame.file, all: true });
      if (frame.t === 'fget') {
        for (const i of frame.chunks as number[]) {
          asked.push(i);
          h.sendChunk({ t: 'chunk', file: frame.file as string, i }, randomBytes(256 * 1024)); // right size, wrong bytes
        }
      }
    });
    const path = randomFile('installer.bin', 8 * 1024 * 1024);
    const sent = await alice.call('sendFile', { room: 'share', path });
    await bob.waitFor('message', (m) => m.id === sent.id);
    await bob.call('download', { file: sent.file!.id });
    const t = await done(bob, sent.file!.id);
    expect(t.state).toBe('done');
    expect(sha256(t.path!)).toBe(sha256(path));
    expect(asked.length, `the hostile peer got: ${h.received.map((f) => f.t).join(' ')}`).toBeGreaterThan(0); // it was asked, and lied
    expect(bob.stderr, bob.stderr.slice(-3000)).toContain('fails its hash');
  });
});

describe('a download cut off midway', () => {
  it('resumes after kill -9 from the chunks it holds', async () => {
    // a slow server (50 ms a chunk), so the transfer can be killed midway
    const frank = await start('frank', { env: { CHATTY_TEST_SERVE_DELAY_MS: '50' } });
    let gina = await start('gina', { peers: [frank.url] });
    await linked(gina, frank);
    const id = (await frank.call('join', { room: 'slow' })).id;
    await joinRoom(gina, id);
    const size = 16 * 1024 * 1024; // 64 chunks of 256 KiB
    const path = randomFile('dataset.bin', size);
    const sent = await frank.call('sendFile', { room: id, path });
    await gina.waitFor('message', (m) => m.id === sent.id);
    await gina.call('download', { file: sent.file!.id });
    const half = await gina.waitFor('transfer', (t) => t.file === sent.file!.id && t.received >= size / 2, 30_000);
    await gina.kill9();
    started.splice(started.indexOf(gina), 1);
    gina = await gina.restart();
    started.push(gina);
    // it goes on by itself, from what it had
    const first = await gina.waitFor('transfer', (t) => t.file === sent.file!.id, 15_000);
    expect(first.state).toBe('running');
    expect(first.received).toBeGreaterThanOrEqual(half.received);
    const t = await done(gina, sent.file!.id);
    expect(t.state).toBe('done');
    expect(sha256(t.path!)).toBe(sha256(path));
    const { bytes } = await gina.call('stats');
    expect(bytes.received).toBeLessThan(size - half.received + 2 * 1024 * 1024);
  });
});

describe('a download cancelled and started again', () => {
  it('takes the answers to the cancelled requests as answers, not as misbehaviour', async () => {
    // a slow server: the chunks asked before the cancel come after the new download started
    const max = await start('max', { env: { CHATTY_TEST_SERVE_DELAY_MS: '60' } });
    const nia = await start('nia', { peers: [max.url] });
    await linked(nia, max);
    const id = (await max.call('join', { room: 'again' })).id;
    await joinRoom(nia, id);
    const path = randomFile('slides.bin', 6 * 1024 * 1024);
    const sent = await max.call('sendFile', { room: id, path });
    await nia.waitFor('message', (m) => m.id === sent.id);
    await nia.call('download', { file: sent.file!.id });
    await nia.waitFor('transfer', (t) => t.file === sent.file!.id && t.received > 0, 15_000);
    await nia.call('cancelTransfer', { file: sent.file!.id });
    await nia.call('download', { file: sent.file!.id });
    const t = await done(nia, sent.file!.id);
    expect(sha256(t.path!)).toBe(sha256(path));
    expect(nia.stderr).not.toContain('nobody asked it for');
    expect((await nia.call('peers')).find((p) => p.peerId === max.peerId)?.connected).toBe(true);
  });
});

describe('a download whose link is lost', () => {
  it('goes on when the link comes back', async () => {
    const cut = join(dir, 'partition.json');
    writeFileSync(cut, '[]');
    const kim = await start('kim', { env: { CHATTY_TEST_SERVE_DELAY_MS: '40' } });
    const lea = await start('lea', { peers: [kim.url], env: { CHATTY_TEST_PARTITION_FILE: cut } });
    await linked(lea, kim);
    const id = (await kim.call('join', { room: 'flaky' })).id;
    await joinRoom(lea, id);
    const size = 12 * 1024 * 1024;
    const path = randomFile('backup.bin', size);
    const sent = await kim.call('sendFile', { room: id, path });
    await lea.waitFor('message', (m) => m.id === sent.id);
    await lea.call('download', { file: sent.file!.id });
    const before = await lea.waitFor('transfer', (t) => t.file === sent.file!.id && t.received >= size / 4, 30_000);
    writeFileSync(cut, JSON.stringify([kim.peerId])); // the link goes down, and no new one comes up
    await eventually(async () => !(await lea.call('peers')).some((p) => p.peerId === kim.peerId && p.connected), 10_000, 'cut off');
    const stalled = lea
      .eventsOf('transfer')
      .filter((t) => t.file === sent.file!.id)
      .at(-1)!;
    expect(stalled.state).toBe('running');
    expect(stalled.received).toBeLessThan(size);
    writeFileSync(cut, '[]');
    const t = await done(lea, sent.file!.id, 60_000);
    expect(t.state).toBe('done');
    expect(sha256(t.path!)).toBe(sha256(path));
    expect(before.received).toBeGreaterThan(0);
  });
});

describe('bad input', () => {
  it('says clearly why a file cannot be sent or fetched', async () => {
    const missing = await rejection(alice.call('sendFile', { room: 'share', path: join(dir, 'nope.bin') }));
    expect(missing.reason).toBe('io_error');
    expect(missing.message).toContain('no such file');
    expect(await reason(alice.call('sendFile', { room: 'share', path: dir }))).toBe('io_error');
    expect(await reason(alice.call('download', { file: 'x'.repeat(43) }))).toBe('not_found');
    // a peer's size limit holds both ways
    const small = await start('small', { peers: [alice.url], extraArgs: ['--max-file', '1M'] });
    await linked(small, alice);
    await joinRoom(small, room);
    expect(await reason(small.call('sendFile', { room, path: randomFile('big.bin', 2 * 1024 * 1024) }))).toBe('too_large');
    const sent = await alice.call('sendFile', { room: 'share', path: randomFile('big-too.bin', 2 * 1024 * 1024) });
    await small.waitFor('message', (m) => m.id === sent.id);
    expect(await reason(small.call('download', { file: sent.file!.id }))).toBe('too_large');
    // params are checked before anything runs
    expect(await reason(alice.call('sendFile', { path: join(dir, 'report.bin') } as never))).toBe('invalid_params');
    expect(await reason(alice.call('sendFile', { room: 'share', to: 'bob', path: join(dir, 'report.bin') }))).toBe('invalid_params');
  });

  it('cancels a transfer, keeping its chunks for a later download', async () => {
    const path = randomFile('cancel-me.bin', 8 * 1024 * 1024);
    const sent = await alice.call('sendFile', { room: 'share', path });
    await carol.waitFor('message', (m) => m.id === sent.id);
    await carol.call('download', { file: sent.file!.id });
    const cancelled = await carol.call('cancelTransfer', { file: sent.file!.id });
    expect(['cancelled', 'done']).toContain(cancelled.state); // a fast LAN may have finished it already
    if (cancelled.state === 'cancelled') {
      await carol.waitFor('transfer', (t) => t.file === sent.file!.id && t.state === 'cancelled');
      await carol.call('download', { file: sent.file!.id });
    }
    const t = await done(carol, sent.file!.id);
    expect(sha256(t.path!)).toBe(sha256(path));
    expect(readdirSync(join(carol.dataDir, 'downloads')).filter((n) => n.endsWith('.chatty-part'))).toEqual([]);
  });
});
