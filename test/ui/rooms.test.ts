import { describe, expect, it } from 'vitest';
import { fingerprint } from '../../src/shared/api.js';
import { ownerTag, roomLabel, roomLabels } from '../../src/shared/room-label.js';
import { roomId } from './fake-client';

const ALICE = { peerId: '7Xk2abcd' + 'A'.repeat(35), nick: 'alice' };
const BOB = { peerId: 'Qz9fWxyz' + 'B'.repeat(35), nick: 'bob' };
const general = { id: roomId('g1'), name: 'general', owner: ALICE };
const twin = { id: roomId('g2'), name: 'general', owner: BOB };
const random = { id: roomId('r1'), name: 'random', owner: ALICE };

describe('room labels', () => {
  it('name a room alone while no other known room has its name', () => {
    expect(roomLabel(general, [general, random])).toBe('general');
    expect(roomLabel(general, [])).toBe('general');
    // Names match exactly, as the peer matches them: `General` is another name.
    expect(roomLabel(general, [{ id: roomId('g3'), name: 'General' }])).toBe('general');
  });

  it('add the owner nick and fingerprint when several rooms share the name', () => {
    expect(roomLabel(general, [general, twin, random])).toBe(`general · alice (${fingerprint(ALICE.peerId)})`);
    expect(roomLabel(twin, [general, twin])).toBe('general · bob (Qz9f-Wxyz)');
    // The room itself need not be in the list: a twin there is enough.
    expect(roomLabel(general, [twin])).toBe('general · alice (7Xk2-abcd)');
  });

  it('tell twins apart even when their owners share a nick (the fingerprint differs)', () => {
    const impostor = { id: roomId('g4'), name: 'general', owner: { ...BOB, nick: 'alice' } };
    const a = roomLabel(general, [general, impostor]);
    const b = roomLabel(impostor, [general, impostor]);
    expect(a).not.toBe(b);
  });

  it('fall back to the id when the owner is not known yet', () => {
    expect(ownerTag({ id: roomId('abcdefgh'), owner: { peerId: '', nick: '' } })).toBe('abcdefgh');
  });

  it('label every room at once, like one by one', () => {
    const all = [general, twin, random];
    const labels = roomLabels(all);
    for (const r of all) expect(labels.get(r.id)).toBe(roomLabel(r, all));
    // The same room listed twice is not its own twin.
    expect(roomLabels([random, random]).get(random.id)).toBe('random');
  });
});
