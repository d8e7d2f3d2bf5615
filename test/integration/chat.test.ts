/**
 * Several real `chatty --json` processes on loopback, driven through the
 * control API exactly as scripts use it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { forEachLine } from '../helpers/lines.js';
import { eventually, PeerProcess, rejection } from '../helpers/peer-process.js';

const peers: PeerProcess[] = [];
async function start(nick: string, connectTo?: PeerProcess): Promise<PeerProcess> {
  const p = await PeerProcess.start({ nick, peers: connectTo ? [connectTo.url] : [] });
  peers.push(p);
  return p;
}

async function connectedTo(p: PeerProcess, others: PeerProcess[]): Promise<void> {
  await eventually(
    async () => {
      const list = await p.call('peers');
      return others.every((o) => list.some((x) => x.peerId === o.peerId && x.connected));
    },
    15_000,
    `${p.opts.nick} connected to ${others.map((o) => o.opts.nick).join(',')}`,
  );
}

const historyTexts = async (p: PeerProcess, room: string) => (await p.call('history', { room })).map((m) => m.text);

/** Sends a raw line on stdin and returns the answer carrying `id`. */
async function rawAnswer(p: PeerProcess, line: string, id: string | null) {
  const answers: { id: unknown; error: { code: number; data?: { reason?: string } } }[] = [];
  const listener = (chunk: Buffer) => {
    for (const l of chunk.toString().split('\n')) {
      if (!l.trim()) continue;
      const msg = JSON.parse(l) as { id?: unknown; error?: { code: number } };
      if (msg.error && msg.id === id) answers.push(msg as (typeof answers)[number]);
    }
  };
  p.child.stdout!.on('data', listener);
  p.writeRaw(line);
  try {
    return await eventually(async () => answers[0], 5000, `answer to ${line.slice(0, 60)}`);
  } finally {
    p.child.stdout!.off('data', listener);
  }
}

let alice: PeerProcess, bob: PeerProcess, carol: PeerProcess;

beforeAll(async () => {
  alice = await start('alice');
  bob = await start('bob', alice);
  carol = await start('carol', alice);
  // bob and carol learn of each other through alice (peer exchange): a full mesh from one address.
  await Promise.all([connectedTo(alice, [bob, carol]), connectedTo(bob, [alice, carol]), connectedTo(carol, [alice, bob])]);
});

afterAll(async () => {
  await Promise.all(peers.map((p) => p.stop()));
});

describe('chat between real peers', () => {
  it('creates a room whose creator is owner, and lists it with its members everywhere', async () => {
    const joined = await alice.call('join', { room: 'general' });
    expect(joined.members).toEqual([expect.objectContaining({ peerId: alice.peerId, role: 'owner', online: true })]);
    await eventually(async () => (await bob.call('rooms')).some((r) => r.name === 'general'), 10_000, 'room visible to bob');
    await bob.call('join', { room: 'general' });
    await carol.call('join', { room: 'general' });
    for (const p of [alice, bob, carol]) {
      await eventually(
        async () => {
          const room = (await p.call('rooms')).find((r) => r.name === 'general');
          return room?.members.length === 3 && room.members.every((m) => m.online);
        },
        10_000,
        `three online members seen by ${p.opts.nick}`,
      );
    }
    const general = (await carol.call('rooms')).find((r) => r.name === 'general')!;
    expect(general).toMatchObject({ id: joined.id, room: joined.id, joined: true, owner: { peerId: alice.peerId, nick: 'alice' } });
    expect(Object.fromEntries(general.members.map((m) => [m.nick, m.role]))).toEqual({ alice: 'owner', bob: 'member', carol: 'member' });
  });

  it('delivers messages to every member, in the same order on every peer', async () => {
    const sent = await alice.call('send', { room: 'general', text: 'hello all' });
    expect(sent).toMatchObject({
      room: expect.stringMatching(/^!/),
      roomName: 'general',
      from: { peerId: alice.peerId, nick: 'alice' },
      text: 'hello all',
    });
    await bob.waitFor('message', (m) => m.id === sent.id);
    await carol.waitFor('message', (m) => m.id === sent.id);
    const reply = await bob.call('send', { room: 'general', text: 'hi alice', replyTo: sent.id });
    await Promise.all([alice, carol].map((p) => p.waitFor('message', (m) => m.id === reply.id && m.replyTo === sent.id)));
    await Promise.all([carol.call('send', { room: 'general', text: 'c1' }), alice.call('send', { room: 'general', text: 'a2' })]);
    await eventually(
      async () => {
        const [a, b, c] = await Promise.all([alice, bob, carol].map((p) => p.call('history', { room: 'general' })));
        const ids = (h: typeof a) => h!.map((m) => m.id).join();
        return a!.length === 4 && ids(a) === ids(b) && ids(b) === ids(c);
      },
      10_000,
      'identical histories',
    );
    expect((await historyTexts(carol, 'general')).slice(0, 2)).toEqual(['hello all', 'hi alice']);
  });

  it('counts what crosses its links in stats', async () => {
    const [a0, b0] = await Promise.all([alice.call('stats'), bob.call('stats')]);
    expect(a0.links).toBe(2);
    const sent = await alice.call('send', { room: 'general', text: 'counted' });
    await bob.waitFor('message', (m) => m.id === sent.id);
    const [a1, b1] = await Promise.all([alice.call('stats'), bob.call('stats')]);
    expect(a1.frames.sent).toBeGreaterThan(a0.frames.sent);
    expect(a1.bytes.sent - a0.bytes.sent).toBeGreaterThan(100); // at least the sealed event
    expect(a1.events.relayed - a0.events.relayed).toBeGreaterThanOrEqual(2); // to bob and to carol
    expect(b1.frames.received).toBeGreaterThan(b0.frames.received);
    expect(b1.bytes.received).toBeGreaterThan(b0.bytes.received);
    expect(b1.events.duplicates).toBeGreaterThanOrEqual(b0.events.duplicates);
  });

  it('keeps rooms independent', async () => {
    await bob.call('join', { room: 'random' });
    await bob.call('send', { room: 'random', text: 'only in random' });
    expect(await historyTexts(alice, 'general')).not.toContain('only in random');
    const err = await rejection(alice.call('send', { room: 'random', text: 'x' }));
    expect(err.code).toBe(1001);
    expect(err.reason).toBe('not_member');
  });

  it('shows the room history to a late joiner with an empty data dir', async () => {
    const dave = await start('dave', bob);
    const joined = await dave.call('join', { room: 'general' });
    expect(joined.history.map((m) => m.text)).toEqual(await historyTexts(alice, 'general'));
    expect(joined.members.find((m) => m.peerId === alice.peerId)?.role).toBe('owner');
    await dave.stop();
  });

  it('delivers a DM only to its addressee, end-to-end encrypted', async () => {
    const secret = `secret-${Date.now()}`;
    const dm = await alice.call('dm', { to: 'bob', text: secret });
    expect(dm).toMatchObject({ room: null, to: { peerId: bob.peerId }, text: secret });
    const got = await bob.waitFor('dm', (m) => m.id === dm.id);
    expect(got.text).toBe(secret);
    expect((await bob.call('dmHistory', { peer: alice.peerId })).map((m) => m.text)).toEqual([secret]);
    // carol stores and relays the event, but never sees or holds the plaintext
    const carolHasIt = async () => {
      const history = await carol.call('dmHistory', { peer: alice.peerId });
      return history.length === 0;
    };
    await new Promise((r) => setTimeout(r, 500));
    expect(await carolHasIt()).toBe(true);
    expect(carol.eventsOf('dm')).toHaveLength(0);
    const carolDb = carol.storedBytes();
    expect(carolDb).toContain(dm.id); // the event is there, encrypted
    expect(carolDb).not.toContain(secret);
    const err = await rejection(alice.call('dm', { to: 'nobody-by-that-name', text: 'x' }));
    expect(err.reason).toBe('unknown_peer');
  });

  it('lets the owner kick and ban, enforced on every peer', async () => {
    expect((await rejection(bob.call('kick', { room: 'general', peer: 'carol' }))).reason).toBe('forbidden');
    await alice.call('kick', { room: 'general', peer: 'carol', reason: 'cool down' });
    await carol.waitFor('member', (e) => e.roomName === 'general' && e.change === 'kicked' && e.peerId === carol.peerId);
    await bob.waitFor('member', (e) => e.change === 'kicked' && e.peerId === carol.peerId && e.by === alice.peerId);
    expect((await rejection(carol.call('send', { room: 'general', text: 'still here?' }))).reason).toBe('not_member');
    // a kicked peer may rejoin
    await carol.call('join', { room: 'general' });
    await bob.waitFor(
      'member',
      (e) =>
        e.change === 'joined' &&
        e.peerId === carol.peerId &&
        bob.eventsOf('member').filter((x) => x.peerId === carol.peerId && x.change === 'joined').length >= 2,
    );
    await alice.call('ban', { room: 'general', peer: carol.peerId, reason: 'spam' });
    await carol.waitFor('member', (e) => e.change === 'banned' && e.peerId === carol.peerId);
    expect((await rejection(carol.call('join', { room: 'general' }))).reason).toBe('banned');
    expect((await rejection(carol.call('send', { room: 'general', text: 'let me in' }))).reason).toBe('banned');
    const rooms = await bob.call('rooms');
    // dave is still a member (offline); carol is not
    expect(
      rooms
        .find((r) => r.name === 'general')!
        .members.map((m) => m.nick)
        .sort(),
    ).toEqual(['alice', 'bob', 'dave']);
    // roles: the owner makes bob moderator, who may then unban but not demote the owner
    await alice.call('setRole', { room: 'general', peer: 'bob', role: 'moderator' });
    await bob.waitFor('member', (e) => e.change === 'role' && e.peerId === bob.peerId && e.role === 'moderator');
    expect((await rejection(bob.call('setRole', { room: 'general', peer: 'alice', role: 'member' }))).reason).toBe('forbidden');
    await bob.call('unban', { room: 'general', peer: carol.peerId });
    await carol.waitFor('member', (e) => e.change === 'unbanned' && e.peerId === carol.peerId);
    await carol.call('join', { room: 'general' });
  });

  it('answers every malformed request with the right JSON-RPC error and stays up', async () => {
    expect((await rawAnswer(bob, '{not json', null)).error.code).toBe(-32700);
    expect((await rawAnswer(bob, '{"jsonrpc":"1.0","id":"v","method":"whoami"}', 'v')).error.code).toBe(-32600);
    expect((await rawAnswer(bob, '[]', null)).error.code).toBe(-32600);
    expect((await rawAnswer(bob, '"whoami"', null)).error.code).toBe(-32600);
    expect((await rawAnswer(bob, '{"jsonrpc":"2.0","id":"u","method":"fly"}', 'u')).error.code).toBe(-32601);
    expect((await rawAnswer(bob, '{"jsonrpc":"2.0","id":"p","method":"send","params":{"room":"general","text":""}}', 'p')).error.code).toBe(
      -32602,
    );
    expect((await rawAnswer(bob, '{"jsonrpc":"2.0","id":"q","method":"join","params":{"room":"bad room!"}}', 'q')).error.code).toBe(-32602);
    expect(
      (await rawAnswer(bob, '{"jsonrpc":"2.0","id":"r","method":"send","params":{"room":"general","text":"hi","x":1}}', 'r')).error.code,
    ).toBe(-32602);
    const long = JSON.stringify({ jsonrpc: '2.0', id: 'l', method: 'send', params: { room: 'general', text: 'x'.repeat(9000) } });
    expect((await rawAnswer(bob, long, 'l')).error.code).toBe(-32602);
    const kick = await rawAnswer(bob, '{"jsonrpc":"2.0","id":"k","method":"kick","params":{"room":"nowhere","peer":"alice"}}', 'k');
    expect(kick.error.code).toBe(1001);
    expect(kick.error.data?.reason).toBe('not_member');
    expect(await bob.call('whoami')).toMatchObject({ nick: 'bob' });
  });

  it('answers pipelined requests in line order, and keeps pipelined sends across kill -9', async () => {
    const dave = await start('dave', alice);
    const answers: { id: number; result?: { id: string; text: string }; error?: { data?: { reason?: string } } }[] = [];
    forEachLine(dave.child.stdout!, (line) => {
      const msg = JSON.parse(line) as (typeof answers)[number] & { method?: string };
      if (typeof msg.id === 'number' && msg.id >= 1000) answers.push(msg);
    });
    // one write: join, then sends (one to a room dave is not in) that share group commits, then history
    const requests: { method: string; params: { room: string; text?: string } }[] = [{ method: 'join', params: { room: 'pipe' } }];
    for (let i = 0; i < 40; i++)
      requests.push({ method: 'send', params: i === 20 ? { room: 'elsewhere', text: 'x' } : { room: 'pipe', text: `p${i}` } });
    requests.push({ method: 'history', params: { room: 'pipe' } });
    dave.writeRaw(requests.map((r, i) => JSON.stringify({ jsonrpc: '2.0', id: 1000 + i, ...r })).join('\n'));
    await eventually(async () => answers.length === requests.length, 10_000, 'every pipelined answer');
    expect(answers.map((a) => a.id)).toEqual(requests.map((_, i) => 1000 + i));
    expect(answers[21]!.error?.data?.reason).toBe('not_member');
    const sent = answers.slice(1, 41).flatMap((a) => (a.result ? [a.result.text] : []));
    expect(sent).toEqual(requests.slice(1, 41).flatMap((r) => (r.params.room === 'pipe' ? [r.params.text] : [])));
    expect((answers[41]!.result as unknown as { text: string }[]).map((m) => m.text)).toEqual(sent);
    // every answered send survives a crash, and reaches the others
    await dave.kill9();
    const again = await dave.restart({ peers: [alice.url] });
    peers.push(again);
    expect(await historyTexts(again, 'pipe')).toEqual(sent);
    await eventually(async () => (await historyTexts(alice, 'pipe')).join() === sent.join(), 10_000, 'alice has the pipelined messages');
  });

  it('keeps identity and history across a restart', async () => {
    const before = await bob.call('history', { room: 'general' });
    const id = bob.peerId;
    await bob.stop();
    const again = await bob.restart({ peers: [alice.url] });
    peers.push(again);
    expect(again.peerId).toBe(id);
    expect((await again.call('whoami')).nick).toBe('bob');
    expect((await again.call('history', { room: 'general' })).map((m) => m.id)).toEqual(before.map((m) => m.id));
    const m = await again.call('send', { room: 'general', text: 'back again' });
    await alice.waitFor('message', (x) => x.id === m.id);
    bob = again;
  });

  it('exits cleanly on shutdown', async () => {
    const eve = await start('eve', alice);
    expect(await eve.stop()).toBe(0);
    // a driver's call to a process that is gone fails at once instead of waiting forever
    await expect(eve.call('whoami')).rejects.toThrow('peer process exited');
  });
});
