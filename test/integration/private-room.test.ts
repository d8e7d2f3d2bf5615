/**
 * Invite-only rooms: joins need an invite, messages are end-to-end encrypted
 * for members, and a removed member reads nothing written after its removal.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, PeerProcess, reason } from '../helpers/peer-process.js';

let alice: PeerProcess, bob: PeerProcess, carol: PeerProcess;

beforeAll(async () => {
  alice = await PeerProcess.start({ nick: 'alice' });
  bob = await PeerProcess.start({ nick: 'bob', peers: [alice.url] });
  carol = await PeerProcess.start({ nick: 'carol', peers: [alice.url] });
  await eventually(async () => (await alice.call('peers')).filter((p) => p.connected).length === 2, 10_000, 'alice connected');
});

afterAll(async () => {
  await Promise.all([alice, bob, carol].map((p) => p?.stop()));
});

describe('invite-only rooms', () => {
  const early = `before anyone else ${Date.now()}`;
  const later = `after bob left ${Date.now()}`;

  it('is listed as private and refuses joins without an invite', async () => {
    await alice.call('join', { room: 'secret', private: true });
    await alice.call('send', { room: 'secret', text: early });
    const listed = await eventually(async () => (await bob.call('rooms')).find((r) => r.name === 'secret'), 10_000, 'room listed at bob');
    expect(listed.private).toBe(true);
    expect(await reason(bob.call('join', { room: 'secret' }))).toBe('forbidden');
  });

  it('lets an invited peer join and read the history, encrypted for members only', async () => {
    await alice.call('invite', { room: 'secret', peer: 'bob' });
    await bob.waitFor('member', (e) => e.roomName === 'secret' && e.change === 'invited' && e.peerId === bob.peerId);
    const joined = await bob.call('join', { room: 'secret' });
    expect(joined.history.map((m) => m.text)).toEqual([early]);
    const m = await bob.call('send', { room: 'secret', text: 'bob was here' });
    await alice.waitFor('message', (x) => x.id === m.id && x.text === 'bob was here');
    // carol relays and stores the room's events but reads none of them
    await eventually(
      async () => (await carol.call('rooms')).find((r) => r.name === 'secret')?.members.length === 2,
      10_000,
      'carol synced',
    );
    expect(await carol.call('history', { room: 'secret' })).toEqual([]);
    expect(carol.storedBytes()).not.toContain(early);
    expect(await reason(bob.call('invite', { room: 'secret', peer: 'carol' }))).toBe('forbidden');
  });

  it('rotates the key when a member is removed, so it reads nothing new', async () => {
    await alice.call('kick', { room: 'secret', peer: 'bob' });
    await bob.waitFor('member', (e) => e.roomName === 'secret' && e.change === 'kicked' && e.peerId === bob.peerId);
    const m = await alice.call('send', { room: 'secret', text: later });
    // bob still receives the event (it relays everything) but cannot open it
    await eventually(async () => bob.storedBytes().includes(m.id), 10_000, 'event replicated to bob');
    expect((await bob.call('history', { room: 'secret' })).map((x) => x.text)).not.toContain(later);
    expect(bob.storedBytes()).not.toContain(later);
    // coming back takes a new invite
    expect(await reason(bob.call('join', { room: 'secret' }))).toBe('forbidden');
    await alice.call('invite', { room: 'secret', peer: bob.peerId });
    await bob.waitFor(
      'member',
      (e) => e.change === 'invited' && e.peerId === bob.peerId && bob.eventsOf('member').filter((x) => x.change === 'invited').length === 2,
    );
    const back = await bob.call('join', { room: 'secret' });
    expect(back.history.map((x) => x.text)).toContain(later);
  });

  it('locks out a member who leaves: new key, and a new invite to come back', async () => {
    await alice.call('invite', { room: 'secret', peer: 'carol' });
    await carol.waitFor('member', (e) => e.roomName === 'secret' && e.change === 'invited' && e.peerId === carol.peerId);
    await carol.call('join', { room: 'secret' });
    await carol.call('leave', { room: 'secret' });
    // the owner rotates the key when it sees the leave
    await alice.waitFor('member', (e) => e.roomName === 'secret' && e.change === 'left' && e.peerId === carol.peerId);
    const gone = `after carol left ${Date.now()}`;
    const m = await alice.call('send', { room: 'secret', text: gone });
    await eventually(async () => carol.storedBytes().includes(m.id), 10_000, 'event replicated to carol');
    expect(carol.storedBytes()).not.toContain(gone);
    expect(await reason(carol.call('join', { room: 'secret' }))).toBe('forbidden');
    await bob.waitFor('message', (x) => x.id === m.id && x.text === gone);
  });

  it('has a moderator rotate the key when a member leaves while the owner is away', async () => {
    await alice.call('setRole', { room: 'secret', peer: 'bob', role: 'moderator' });
    await alice.call('invite', { room: 'secret', peer: 'carol' });
    await carol.waitFor(
      'member',
      (e) =>
        e.change === 'invited' &&
        e.peerId === carol.peerId &&
        carol.eventsOf('member').filter((x) => x.change === 'invited' && x.peerId === carol.peerId).length === 2,
    );
    await carol.call('join', { room: 'secret' });
    await eventually(
      async () => (await bob.call('rooms')).find((r) => r.name === 'secret')?.members.some((m) => m.peerId === carol.peerId),
      10_000,
      'bob sees carol',
    );
    await alice.stop();
    await carol.call('leave', { room: 'secret' });
    // No owner online: the moderator notices that carol holds the current key and rotates it, so
    // soon a message of bob's reaches carol unreadable.
    let probe = 0;
    const m = await eventually(
      async () => {
        const text = `while alice was away #${++probe}`;
        const sent = await bob.call('send', { room: 'secret', text });
        await eventually(async () => carol.storedBytes().includes(sent.id), 10_000, 'event replicated to carol');
        return carol.storedBytes().includes(text) ? undefined : sent;
      },
      15_000,
      'a message carol cannot read',
      500,
    );
    expect(await reason(carol.call('join', { room: 'secret' }))).toBe('forbidden');
    alice = await alice.restart({ peers: [bob.url] });
    await alice.waitFor('message', (x) => x.id === m.id && x.text === m.text, 15_000);
  });

  it('keeps open rooms readable by everyone', async () => {
    await alice.call('join', { room: 'open' });
    expect(await reason(alice.call('invite', { room: 'open', peer: 'bob' }))).toBe('forbidden');
  });
});
