import { describe, expect, it } from 'vitest';
import { HyParView, type HyParViewEffect, type HyParViewMessage } from '../../src/peer/overlay/hyparview.js';
import { seededRandom } from '../../src/peer/overlay/random.js';
import { buildOverlay } from '../../bench/sim/scenarios.js';
import { overlayShape } from '../../bench/sim/metrics.js';

const sends = (effects: HyParViewEffect[], t?: HyParViewMessage['t']) =>
  effects.flatMap((e) => (e.type === 'send' && (t === undefined || e.message.t === t) ? [e] : []));
const of = (effects: HyParViewEffect[], type: HyParViewEffect['type']) =>
  effects.filter((e) => e.type === type).map((e) => ('peer' in e ? e.peer : e.to));

/** A node whose active view holds `active` (each accepted by a low-priority NEIGHBOR) and passive view `passive`. */
function nodeWith(active: string[], passive: string[], seed = 1): HyParView {
  const hv = new HyParView('self', seededRandom(seed));
  for (const p of active) hv.receive(p, { t: 'neighbor', priority: 'low' });
  hv.receive('x', { t: 'shuffleReply', peers: passive });
  expect(hv.active).toEqual(active);
  expect(hv.passive.sort()).toEqual([...passive].sort());
  return hv;
}

describe('HyParView: join (§4.2)', () => {
  it('a new node holds its contact, which keeps it and starts one FORWARDJOIN walk (ttl ARWL) per other neighbour', () => {
    const joiner = new HyParView('new', seededRandom(1));
    const effects = joiner.join('c');
    expect(effects).toEqual([
      { type: 'connect', peer: 'c' },
      { type: 'send', to: 'c', message: { t: 'join' } },
      { type: 'neighborUp', peer: 'c' },
    ]);
    const contact = nodeWith(['a', 'b', 'd'], []);
    const out = contact.receive('new', { t: 'join' });
    expect(contact.active).toContain('new');
    expect(of(out, 'neighborUp')).toEqual(['new']);
    expect(sends(out, 'forwardJoin').map((s) => [s.to, s.message])).toEqual([
      ['a', { t: 'forwardJoin', peer: 'new', ttl: 6 }],
      ['b', { t: 'forwardJoin', peer: 'new', ttl: 6 }],
      ['d', { t: 'forwardJoin', peer: 'new', ttl: 6 }],
    ]);
  });

  it('a full contact drops a random neighbour (DISCONNECT, kept as passive) to make room', () => {
    const contact = nodeWith(['a', 'b', 'c', 'd', 'e'], []);
    const out = contact.receive('new', { t: 'join' });
    const dropped = sends(out, 'disconnect').map((s) => s.to);
    expect(dropped).toHaveLength(1);
    expect(of(out, 'neighborDown')).toEqual(dropped);
    expect(contact.active).toHaveLength(5);
    expect(contact.active).toContain('new');
    expect(contact.passive).toEqual(dropped);
  });

  it('a FORWARDJOIN walk: kept as passive at ttl = PRWL, forwarded away from its sender, accepted at ttl 0', () => {
    const hv = nodeWith(['a', 'b'], []);
    const atPrwl = hv.receive('a', { t: 'forwardJoin', peer: 'new', ttl: 3 });
    expect(hv.passive).toEqual(['new']);
    expect(sends(atPrwl).map((s) => [s.to, s.message])).toEqual([['b', { t: 'forwardJoin', peer: 'new', ttl: 2 }]]);

    const end = hv.receive('a', { t: 'forwardJoin', peer: 'other', ttl: 0 });
    expect(hv.active).toContain('other');
    expect(end).toEqual([
      { type: 'connect', peer: 'other' },
      { type: 'send', to: 'other', message: { t: 'forwardJoinReply' } },
      { type: 'neighborUp', peer: 'other' },
    ]);
    // The new node takes whoever ended its walk.
    const joiner = new HyParView('other', seededRandom(2));
    expect(of(joiner.receive('self', { t: 'forwardJoinReply' }), 'neighborUp')).toEqual(['self']);
  });

  it('a node with a single neighbour ends the walk whatever its ttl', () => {
    const hv = nodeWith(['a'], []);
    hv.receive('a', { t: 'forwardJoin', peer: 'new', ttl: 5 });
    expect(hv.active).toEqual(['a', 'new']);
  });

  it('a node joining through a contact ends with a full active view after the FORWARDJOINs', () => {
    const { net } = buildOverlay({ seed: 7, loss: 0 }, { nodes: 60, joinGapMs: 10, settleMs: 5000 });
    const [newcomer] = net.addNodes(1);
    const sent = new Map(net.sent);
    net.join(newcomer!, 30);
    net.runFor(100); // a few latencies, no shuffle tick yet
    const node = net.nodes[newcomer!]!;
    expect(node.hv.active).toHaveLength(5);
    expect((net.sent.get('hv.forwardJoin') ?? 0) - (sent.get('hv.forwardJoin') ?? 0)).toBeGreaterThanOrEqual(4);
    for (const peer of node.hv.active) expect(net.nodes[net.index(peer)]!.hv.isActive(node.id)).toBe(true);
  });
});

describe('HyParView: active view (§4.3)', () => {
  it('stays within its capacity whatever arrives, and never holds itself or a peer in both views', () => {
    const random = seededRandom(3);
    const hv = new HyParView('self', seededRandom(4));
    const peers = Array.from({ length: 40 }, (_, i) => `p${i}`);
    const messages: HyParViewMessage[] = [
      { t: 'join' },
      { t: 'forwardJoin', peer: 'q', ttl: 0 },
      { t: 'forwardJoinReply' },
      { t: 'neighbor', priority: 'high' },
      { t: 'neighbor', priority: 'low' },
      { t: 'neighborReply', accepted: true },
      { t: 'disconnect' },
      { t: 'shuffle', origin: 'o', peers: [], ttl: 1 },
      { t: 'shuffleReply', peers: [] },
    ];
    for (let i = 0; i < 5000; i++) {
      const from = peers[Math.floor(random() * peers.length)]!;
      const message = { ...messages[Math.floor(random() * messages.length)]! };
      if (message.t === 'forwardJoin') message.peer = peers[Math.floor(random() * peers.length)]!;
      if (message.t === 'shuffle' || message.t === 'shuffleReply') message.peers = peers.filter(() => random() < 0.2).concat('self');
      if (random() < 0.05) hv.linkFailed(from);
      else if (random() < 0.02) hv.shuffleTick();
      else hv.receive(from, message);
      expect(hv.active.length).toBeLessThanOrEqual(5);
      expect(hv.passive.length).toBeLessThanOrEqual(30);
      expect(hv.active).not.toContain('self');
      expect(hv.passive).not.toContain('self');
      for (const p of hv.active) expect(hv.passive).not.toContain(p);
    }
  });

  it('a low-priority NEIGHBOR is accepted into a free slot only; a high-priority one always', () => {
    const full = nodeWith(['a', 'b', 'c', 'd', 'e'], []);
    expect(full.receive('f', { t: 'neighbor', priority: 'low' })).toEqual([
      { type: 'send', to: 'f', message: { t: 'neighborReply', accepted: false } },
    ]);
    const out = full.receive('g', { t: 'neighbor', priority: 'high' });
    expect(full.active).toContain('g');
    expect(full.active).toHaveLength(5);
    expect(sends(out, 'disconnect')).toHaveLength(1);
    expect(sends(out, 'neighborReply').map((s) => s.message)).toEqual([{ t: 'neighborReply', accepted: true }]);
  });

  it('a failed neighbour is replaced by a passive peer, asked with low priority while others remain', () => {
    const hv = nodeWith(['a', 'b'], ['c', 'd', 'e']);
    const out = hv.linkFailed('a');
    expect(of(out, 'neighborDown')).toEqual(['a']);
    expect(hv.active).toEqual(['b']);
    expect(hv.passive).not.toContain('a'); // failed: not kept
    const requests = sends(out, 'neighbor');
    // One request per free slot (4), over the passive view (3).
    expect(requests.map((r) => r.message)).toEqual(Array(3).fill({ t: 'neighbor', priority: 'low' }));
    expect(of(out, 'connect').sort()).toEqual(['c', 'd', 'e']);
    const accepted = hv.receive('d', { t: 'neighborReply', accepted: true });
    expect(of(accepted, 'neighborUp')).toEqual(['d']);
    expect(hv.active).toEqual(['b', 'd']);
    expect(hv.passive).not.toContain('d');
  });

  it('with its active view empty, a node asks with high priority (one such request at a time)', () => {
    const hv = nodeWith(['a'], ['c', 'd']);
    const out = hv.linkFailed('a');
    const priorities = sends(out, 'neighbor').map((s) => (s.message.t === 'neighbor' ? s.message.priority : ''));
    expect(priorities.sort()).toEqual(['high', 'low']);
  });

  it('a refusal keeps the peer passive and asks another; a failed connection drops it', () => {
    const hv = nodeWith(['a', 'b', 'c', 'd', 'e'], ['p', 'q', 'r', 's']);
    hv.receive('a', { t: 'disconnect' }); // room for one; a is passive now
    const first = sends(hv.linkFailed('b'), 'neighbor')[0]!.to;
    expect(['p', 'q', 'r', 's', 'a']).toContain(first);
    const refused = hv.receive(first, { t: 'neighborReply', accepted: false });
    expect(of(refused, 'disconnect')).toEqual([first]);
    expect(hv.passive).toContain(first);
    const second = sends(refused, 'neighbor').map((s) => s.to);
    expect(second.length).toBeGreaterThan(0);
    expect(second).not.toContain(first);
    const failed = hv.linkFailed(second[0]!);
    expect(hv.passive).not.toContain(second[0]);
    expect(sends(failed, 'neighbor').length).toBeGreaterThan(0);
  });

  it('a NEIGHBOR request nobody answers is given up after two shuffle ticks', () => {
    const hv = nodeWith(['a', 'b', 'c', 'd'], ['p']);
    hv.linkFailed('d');
    expect(hv.pendingRequests).toEqual(['p']);
    hv.shuffleTick();
    expect(hv.pendingRequests).toEqual(['p']);
    const out = hv.shuffleTick();
    expect(hv.pendingRequests).toEqual([]);
    expect(of(out, 'disconnect')).toContain('p');
    expect(hv.passive).toContain('p');
    // A late yes is ignored: we released that link.
    expect(hv.receive('p', { t: 'neighborReply', accepted: true })).toEqual([]);
  });

  it('DISCONNECT moves the peer to the passive view (it is alive) and asks nobody at once', () => {
    const hv = nodeWith(['a', 'b'], []);
    const out = hv.receive('a', { t: 'disconnect' });
    expect(out).toEqual([
      { type: 'neighborDown', peer: 'a' },
      { type: 'disconnect', peer: 'a' },
    ]);
    expect(hv.active).toEqual(['b']);
    expect(hv.passive).toEqual(['a']);
  });

  it('a DISCONNECT from its last neighbour makes a node ask a passive peer at once, high priority', () => {
    const hv = nodeWith(['a'], ['c', 'd']);
    const out = hv.receive('a', { t: 'disconnect' });
    expect(hv.active).toEqual([]);
    const asked = sends(out, 'neighbor');
    expect(asked.length).toBeGreaterThan(0);
    expect(asked.map((s) => s.to)).not.toContain('a');
    expect(asked.filter((s) => s.message.t === 'neighbor' && s.message.priority === 'high')).toHaveLength(1);
  });

  it('links are symmetric once the overlay is built', () => {
    const { net, settled } = buildOverlay({ seed: 3, loss: 0.01 }, { nodes: 100, joinGapMs: 10, settleMs: 10_000 });
    expect(settled.asymmetric).toBe(0);
    expect(settled.components).toBe(1);
    for (const n of net.live()) for (const p of n.hv.active) expect(net.nodes[net.index(p)]!.hv.isActive(n.id)).toBe(true);
  });
});

describe('HyParView: passive view (§4.4)', () => {
  it('a shuffle carries the node, ka active and kp passive peers along a walk of ttl 6', () => {
    const hv = nodeWith(['a', 'b', 'c', 'd', 'e'], ['p1', 'p2', 'p3', 'p4', 'p5', 'p6']);
    const [shuffle] = sends(hv.shuffleTick(), 'shuffle');
    expect(shuffle).toBeDefined();
    const m = shuffle!.message;
    if (m.t !== 'shuffle') throw new Error('not a shuffle');
    expect(m.origin).toBe('self');
    expect(m.ttl).toBe(6);
    expect(m.peers[0]).toBe('self');
    expect(m.peers.slice(1, 4).every((p) => hv.active.includes(p) && p !== shuffle!.to)).toBe(true);
    expect(m.peers.slice(4).every((p) => hv.passive.includes(p))).toBe(true);
    expect(m.peers).toHaveLength(8);
  });

  it('the walk ends where ttl runs out: that node answers with as many passive peers and keeps the ones it got', () => {
    const hv = nodeWith(['a', 'b'], ['p1', 'p2', 'p3']);
    const forwarded = hv.receive('a', { t: 'shuffle', origin: 'o', peers: ['o', 'x', 'y'], ttl: 4 });
    expect(sends(forwarded).map((s) => [s.to, s.message])).toEqual([['b', { t: 'shuffle', origin: 'o', peers: ['o', 'x', 'y'], ttl: 3 }]]);
    const accepted = hv.receive('a', { t: 'shuffle', origin: 'o', peers: ['o', 'x', 'y'], ttl: 1 });
    const [reply] = sends(accepted, 'shuffleReply');
    expect(reply!.to).toBe('o');
    expect(reply!.message.t === 'shuffleReply' && reply!.message.peers).toHaveLength(3);
    expect(hv.passive).toEqual(expect.arrayContaining(['o', 'x', 'y']));
  });

  it('a full passive view makes room by evicting first what it sent in the shuffle', () => {
    const passive = Array.from({ length: 30 }, (_, i) => `p${i}`);
    const hv = nodeWith(['a', 'b'], passive);
    const m = sends(hv.shuffleTick(), 'shuffle')[0]!.message;
    const sentPassive = m.t === 'shuffle' ? m.peers.filter((p) => p.startsWith('p')) : [];
    expect(sentPassive).toHaveLength(4);
    hv.receive('z', { t: 'shuffleReply', peers: ['n1', 'n2', 'n3', 'n4'] });
    expect(hv.passive).toHaveLength(30);
    expect(hv.passive).toEqual(expect.arrayContaining(['n1', 'n2', 'n3', 'n4']));
    for (const p of sentPassive) expect(hv.passive).not.toContain(p);
  });

  it('shuffles fill the passive views that joins left short', () => {
    const { afterJoins, settled } = buildOverlay({ seed: 5, loss: 0.01 }, { nodes: 100, joinGapMs: 10, settleMs: 20_000 });
    expect(afterJoins.passiveSize.min).toBeLessThan(10);
    expect(settled.passiveSize.min).toBeGreaterThanOrEqual(25);
    expect(settled.passiveSize.mean).toBeGreaterThan(29);
  });
});

describe('HyParView: what the host adds', () => {
  it('a peer learned elsewhere (mDNS, peer exchange) joins the passive view, never the active one', () => {
    const hv = nodeWith(['a'], ['b']);
    expect(hv.learn('c')).toEqual([]);
    expect(hv.learn('a')).toEqual([]); // already a neighbour
    expect(hv.learn('self')).toEqual([]);
    expect(hv.active).toEqual(['a']);
    expect(hv.passive.sort()).toEqual(['b', 'c']);
  });

  it('refill asks passive peers (low priority) for the free slots now, and never a peer that refused since the last tick', () => {
    const hv = nodeWith(['a', 'b'], ['p', 'q', 'r', 's']);
    const out = hv.refill();
    const asked = sends(out, 'neighbor').map((s) => s.to);
    expect(asked).toHaveLength(3); // 5 slots, 2 taken
    expect(sends(out, 'neighbor').every((s) => s.message.t === 'neighbor' && s.message.priority === 'low')).toBe(true);
    expect(hv.refill()).toEqual([]); // requests in flight fill the view
    hv.receive(asked[0]!, { t: 'neighborReply', accepted: false });
    const again = sends(hv.refill(), 'neighbor').map((s) => s.to);
    expect(again).not.toContain(asked[0]);
    // with no neighbour at all it is the host's job to join (or ask with high priority at a tick)
    expect(nodeWith([], ['p']).refill()).toEqual([]);
  });

  it('promote asks a peer with high priority even with a full view, and takes it when accepted (partition merge)', () => {
    const hv = nodeWith(['a', 'b', 'c', 'd', 'e'], []);
    const out = hv.promote('z');
    expect(of(out, 'connect')).toEqual(['z']);
    expect(sends(out).map((s) => [s.to, s.message])).toEqual([['z', { t: 'neighbor', priority: 'high' }]]);
    expect(hv.promote('z')).toEqual([]); // one request at a time
    expect(hv.promote('a')).toEqual([]); // already a neighbour
    const accepted = hv.receive('z', { t: 'neighborReply', accepted: true });
    expect(hv.active).toContain('z');
    expect(hv.active).toHaveLength(5); // a random neighbour made room
    expect(of(accepted, 'neighborUp')).toEqual(['z']);
    expect(sends(accepted, 'disconnect')).toHaveLength(1);
  });
});

describe('HyParView: determinism', () => {
  it('the same seed and inputs give the same effects', () => {
    const run = () => {
      const hv = new HyParView('self', seededRandom(42));
      const out: HyParViewEffect[] = [];
      out.push(...hv.join('c'));
      for (let i = 0; i < 8; i++) out.push(...hv.receive(`p${i}`, { t: 'neighbor', priority: 'low' }));
      out.push(...hv.receive('q', { t: 'shuffleReply', peers: ['r', 's', 't'] }), ...hv.shuffleTick(), ...hv.linkFailed('c'));
      return { out, active: hv.active, passive: hv.passive };
    };
    expect(run()).toEqual(run());
    expect(overlayShape(buildOverlay({ seed: 9 }, { nodes: 50, joinGapMs: 10, settleMs: 4000 }).net)).toEqual(
      overlayShape(buildOverlay({ seed: 9 }, { nodes: 50, joinGapMs: 10, settleMs: 4000 }).net),
    );
  });
});
