/**
 * The interactive terminal chat (no --json), driven line by line like a person at a prompt.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { CHATTY_BIN, eventually, PeerProcess } from '../helpers/peer-process.js';

let bob: PeerProcess;
beforeAll(async () => {
  bob = await PeerProcess.start({ nick: 'bob' });
  await bob.call('join', { room: 'general' });
});
afterAll(async () => {
  await bob?.stop();
});

it('chats from the terminal with slash commands and readable output', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'chatty-term-'));
  const child = spawn(
    process.execPath,
    [CHATTY_BIN, '--nick', 'alice', '--data-dir', dir, '--port', '0', '--no-mdns', '--no-ui', '--peer', bob.url],
    {
      stdio: ['pipe', 'pipe', 'pipe'],
    },
  );
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  const type = (line: string) => child.stdin.write(`${line}\n`);
  await eventually(async () => out.includes('Type /help'), 15_000, 'banner');
  type('/help');
  await eventually(async () => out.includes('/join ROOM'), 5000, 'help text');
  await eventually(async () => (await bob.call('peers')).some((p) => p.nick === 'alice' && p.connected), 10_000, 'alice connected to bob');
  type('/join general');
  await eventually(async () => out.includes('joined #general'), 10_000, 'join confirmation');
  type('hello from the terminal');
  const m = await bob.waitFor('message', (x) => x.text === 'hello from the terminal' && x.from.nick === 'alice');
  expect(m.roomName).toBe('general');
  await bob.call('send', { room: 'general', text: 'hi terminal' });
  await eventually(async () => /bob: hi terminal/.test(out), 10_000, 'incoming message printed');
  // conversations: react to the last message, edit and delete our own, a status
  type('/react 👍');
  await bob.waitFor('update', (u) => u.text === 'hi terminal' && u.reactions?.[0]?.emoji === '👍');
  type('/edit hello from the terminal, edited');
  await bob.waitFor('update', (u) => u.id === m.id && u.text === 'hello from the terminal, edited' && u.edited !== undefined);
  await bob.call('edit', { message: (await bob.call('history', { room: 'general' })).at(-1)!.id, text: 'hi terminal!' });
  await eventually(
    async () => out.includes("bob's message of") && out.includes('now reads: hi terminal! (edited)  👍 1'),
    10_000,
    'update shown',
  );
  type('/delete');
  await bob.waitFor('update', (u) => u.id === m.id && u.deleted === true);
  type('/status busy on a call');
  await bob.waitFor('status', (e) => e.nick === 'alice' && e.status === 'busy' && e.statusText === 'on a call');
  await bob.call('setStatus', { status: 'away', text: 'lunch' });
  await eventually(async () => out.includes('* bob is away: lunch'), 10_000, 'status shown');
  // files: /send a path (quoted, with spaces) and a text; /get what bob sent by the first characters of its id
  const shared = join(dir, 'meeting notes.txt');
  writeFileSync(shared, 'agenda: files in the terminal\n');
  type(`/send "${shared}" the notes`);
  const withFile = await bob.waitFor('message', (x) => x.file?.name === 'meeting notes.txt');
  expect(withFile.text).toBe('the notes');
  await eventually(async () => out.includes('[file: meeting notes.txt, 30 bytes at '), 5000, 'own file shown');
  const report = join(mkdtempSync(join(tmpdir(), 'chatty-term-bob-')), 'report.txt');
  writeFileSync(report, 'numbers\n');
  const sent = await bob.call('sendFile', { room: 'general', path: report });
  await eventually(async () => out.includes(`[file: report.txt, 8 bytes — /get ${sent.file!.id.slice(0, 8)}]`), 10_000, 'file offered');
  type(`/get ${sent.file!.id.slice(0, 8)}`);
  await eventually(async () => out.includes('* report.txt saved to '), 10_000, 'download announced');
  expect(readFileSync(join(dir, 'downloads', 'report.txt'), 'utf8')).toBe('numbers\n');
  type('/send /no/such/file.txt');
  await eventually(async () => out.includes('error: cannot read /no/such/file.txt: no such file'), 5000, 'clear file error');
  type('/kick bob');
  await eventually(async () => out.includes('error: you may not kick bob'), 5000, 'readable error');
  type('/who');
  await eventually(async () => /owner|member/.test(out) && out.includes('alice'), 5000, 'member list');
  // a room of the same name elsewhere: the terminal tells them apart by owner and lists ids to pick
  const carol = await PeerProcess.start({ nick: 'carol' });
  try {
    const twin = (await carol.call('join', { room: 'general' })).id;
    await carol.call('connect', { url: bob.url });
    await eventually(async () => (await bob.call('rooms')).some((r) => r.id === twin), 10_000, 'twin room synced');
    // alice's peer hears of the twin through bob: ask again until it has
    await eventually(
      async () => {
        type('/rooms');
        await new Promise((r) => setTimeout(r, 200));
        return out.includes(`#general · carol`) && out.includes(twin);
      },
      10_000,
      'twins listed apart',
    );
    type('/who general');
    await eventually(
      async () => out.includes('rooms are called "general"') && out.includes(`  ${twin}  #general · carol`),
      5000,
      'ambiguity explained',
    );
  } finally {
    await carol.stop();
  }
  type('/quit');
  expect(await exited).toBe(0);
});
