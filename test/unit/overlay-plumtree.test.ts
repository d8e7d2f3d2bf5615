import { describe, expect, it } from 'vitest';
import { Plumtree, type PlumtreeConfig, type PlumtreeEffect, type PlumtreeMessage } from '../../src/peer/overlay/plumtree.js';

type Msg = PlumtreeMessage<string>;

/**
 * A few Plumtree nodes over fixed links, on a manual clock: each link has its own latency, and
 * `drop` can cut a link for chosen messages. Messages on a link arrive in order.
 */
class Mesh {
  now = 0;
  readonly nodes = new Map<string, Plumtree<string>>();
  readonly delivered = new Map<string, Map<string, number>>();
  /** GOSSIP messages received, per message id. */
  readonly gossips = new Map<string, number>();
  readonly sent = new Map<Msg['t'], number>();
  drop?: (from: string, to: string, message: Msg) => boolean;
  private queue: { at: number; seq: number; from: string; to: string; message: Msg }[] = [];
  private seq = 0;
  private readonly lastArrival = new Map<string, number>();

  constructor(
    readonly edges: [string, string][],
    config: Partial<PlumtreeConfig> = {},
  ) {
    for (const id of new Set(edges.flat())) {
      this.nodes.set(id, new Plumtree<string>(id, () => this.now, config));
      this.delivered.set(id, new Map());
    }
    for (const [a, b] of edges) {
      this.apply(a, this.nodes.get(a)!.neighborUp(b));
      this.apply(b, this.nodes.get(b)!.neighborUp(a));
    }
  }

  latency(a: string, b: string): number {
    // Fixed per link, 1–5 ms, so some paths are faster than others.
    const key = [a, b].sort().join();
    let h = 0;
    for (const c of key) h = (h * 31 + c.charCodeAt(0)) % 997;
    return 1 + (h % 5);
  }

  /** `perSource`: the message travels its source's own tree (root = source), as the node sends events. */
  broadcast(from: string, id: string, perSource = false): void {
    this.apply(from, this.nodes.get(from)!.broadcast(id, `payload of ${id}`, perSource ? from : undefined));
  }

  /** The node crashes: its neighbours are told (HyParView's NeighborDown). */
  kill(id: string): void {
    this.nodes.delete(id);
    for (const [a, b] of this.edges) {
      if (a === id && this.nodes.has(b)) this.apply(b, this.nodes.get(b)!.neighborDown(a));
      if (b === id && this.nodes.has(a)) this.apply(a, this.nodes.get(a)!.neighborDown(b));
    }
  }

  /** Runs messages and timers until nothing is left before `until`. */
  run(until = Infinity): void {
    for (;;) {
      const nextMessage = this.queue.length ? Math.min(...this.queue.map((q) => q.at)) : Infinity;
      let nextTimer = Infinity;
      for (const n of this.nodes.values()) nextTimer = Math.min(nextTimer, n.nextDeadline() ?? Infinity);
      const next = Math.min(nextMessage, nextTimer);
      if (next === Infinity || next > until) break;
      this.now = next;
      const due = this.queue.filter((q) => q.at <= next).sort((x, y) => x.at - y.at || x.seq - y.seq);
      this.queue = this.queue.filter((q) => q.at > next);
      for (const { from, to, message } of due) {
        const node = this.nodes.get(to);
        if (!node) continue;
        if (message.t === 'gossip') this.gossips.set(message.id, (this.gossips.get(message.id) ?? 0) + 1);
        this.apply(to, node.receive(from, message));
      }
      for (const [id, n] of this.nodes) if ((n.nextDeadline() ?? Infinity) <= next) this.apply(id, n.tick(next));
    }
    if (until !== Infinity) this.now = Math.max(this.now, until);
  }

  private apply(id: string, effects: PlumtreeEffect<string>[]): void {
    for (const e of effects) {
      if (e.type === 'deliver') {
        expect(this.delivered.get(id)!.has(e.id), `${id} delivers ${e.id} twice`).toBe(false);
        this.delivered.get(id)!.set(e.id, e.hops);
        continue;
      }
      this.sent.set(e.message.t, (this.sent.get(e.message.t) ?? 0) + 1);
      if (this.drop?.(id, e.to, e.message)) continue;
      const key = `${id}>${e.to}`;
      const at = Math.max(this.now + this.latency(id, e.to), this.lastArrival.get(key) ?? 0);
      this.lastArrival.set(key, at);
      this.queue.push({ at, seq: this.seq++, from: id, to: e.to, message: e.message });
    }
  }

  deliveredBy(id: string): string[] {
    return [...this.delivered].filter(([, ids]) => ids.has(id)).map(([node]) => node);
  }

  /** Links both ends hold eager (in `root`'s tree; default the shared one). */
  eagerLinks(root?: string): [string, string][] {
    return this.edges.filter(
      ([a, b]) => this.nodes.get(a)?.eagerPeers(root).includes(b) && this.nodes.get(b)?.eagerPeers(root).includes(a),
    );
  }
}

/** 12 nodes on a ring with chords: every node has 4 links, plenty of cycles. */
function ringWithChords(): [string, string][] {
  const edges: [string, string][] = [];
  for (let i = 0; i < 12; i++) edges.push([`n${i}`, `n${(i + 1) % 12}`], [`n${i}`, `n${(i + 3) % 12}`]);
  return edges;
}

function isSpanningTree(nodes: string[], links: [string, string][]): boolean {
  if (links.length !== nodes.length - 1) return false;
  const reached = new Set([nodes[0]!]);
  for (let grew = true; grew;) {
    grew = false;
    for (const [a, b] of links) {
      if (reached.has(a) !== reached.has(b)) {
        reached.add(a).add(b);
        grew = true;
      }
    }
  }
  return reached.size === nodes.length;
}

const sends = (effects: PlumtreeEffect<string>[]) => effects.flatMap((e) => (e.type === 'send' ? [[e.to, e.message] as const] : []));

describe('Plumtree: dissemination (Alg. 1)', () => {
  it('reaches every node; once the tree settles, each node receives each broadcast once, over a spanning tree', () => {
    const mesh = new Mesh(ringWithChords());
    const nodes = [...mesh.nodes.keys()];
    mesh.broadcast('n0', 'm0');
    mesh.run();
    expect(mesh.deliveredBy('m0').sort()).toEqual([...nodes].sort());
    // The first one floods every link (all start eager); the duplicates prune the cycles.
    expect(mesh.gossips.get('m0')).toBeGreaterThan(11);
    expect(mesh.sent.get('prune')).toBeGreaterThan(0);
    for (let k = 1; k <= 8; k++) {
      mesh.broadcast(`n${(k * 5) % 12}`, `m${k}`);
      mesh.run();
      expect(mesh.deliveredBy(`m${k}`)).toHaveLength(12);
    }
    for (let k = 4; k <= 8; k++) expect(mesh.gossips.get(`m${k}`), `m${k}`).toBe(11);
    expect(isSpanningTree(nodes, mesh.eagerLinks())).toBe(true);
    // Hops are counted from the source: its neighbours deliver at 1.
    expect(mesh.delivered.get('n0')!.get('m0')).toBe(0);
    expect(Math.min(...[...mesh.delivered.values()].map((m) => m.get('m0')!).filter((h) => h > 0))).toBe(1);
  });

  it('a duplicate is answered with PRUNE, and the link turns lazy on both ends', () => {
    const c = new Plumtree<string>('c', () => 0);
    c.neighborUp('a');
    c.neighborUp('b');
    const first = c.receive('a', { t: 'gossip', id: 'm', payload: 'x', round: 0 });
    expect(first[0]).toEqual({ type: 'deliver', id: 'm', payload: 'x', hops: 1, from: 'a' });
    // It forwards to its other eager peer, b.
    expect(sends(first)).toEqual([['b', { t: 'gossip', id: 'm', payload: 'x', round: 1 }]]);
    expect(c.receive('b', { t: 'gossip', id: 'm', payload: 'x', round: 0 })).toEqual([{ type: 'send', to: 'b', message: { t: 'prune' } }]);
    expect(c.eagerPeers()).toEqual(['a']);
    expect(c.lazyPeers()).toEqual(['b']);
    const b = new Plumtree<string>('b', () => 0);
    b.neighborUp('c');
    b.receive('c', { t: 'prune' });
    expect(b.lazyPeers()).toEqual(['c']);
  });

  it('lazy peers get IHAVEs, batched per link over lazyFlushMs, and at once when the batch is full', () => {
    let now = 0;
    const p = new Plumtree<string>('p', () => now, { lazyFlushMs: 10, maxIhaveBatch: 3 });
    p.neighborUp('e');
    p.neighborUp('l');
    p.receive('l', { t: 'prune' });
    expect(sends(p.broadcast('m1', 'x'))).toEqual([['e', { t: 'gossip', id: 'm1', payload: 'x', round: 0 }]]);
    now = 4;
    p.broadcast('m2', 'y');
    expect(p.nextDeadline()).toBe(10);
    expect(p.tick(9)).toEqual([]);
    expect(sends(p.tick(10))).toEqual([
      [
        'l',
        {
          t: 'ihave',
          ids: [
            { id: 'm1', round: 0 },
            { id: 'm2', round: 0 },
          ],
        },
      ],
    ]);
    p.broadcast('m3', 'z');
    p.broadcast('m4', 'z');
    const full = p.broadcast('m5', 'z');
    expect(sends(full).filter(([, m]) => m.t === 'ihave')).toHaveLength(1);
  });

  it('an id already delivered is not broadcast or delivered again', () => {
    const p = new Plumtree<string>('p', () => 0);
    p.neighborUp('a');
    expect(p.broadcast('m', 'x')).toHaveLength(2);
    expect(p.broadcast('m', 'x')).toEqual([]);
    p.markReceived('n', 'y');
    expect(p.has('n')).toBe(true);
    // Known from elsewhere (Chatty's catch-up): a GOSSIP of it is a duplicate.
    expect(p.receive('a', { t: 'gossip', id: 'n', payload: 'y', round: 2 })).toEqual([{ type: 'send', to: 'a', message: { t: 'prune' } }]);
  });
});

describe('Plumtree: repair (Alg. 2)', () => {
  it('a missed message is pulled: IHAVE, then after timeout1 a GRAFT, which also puts the link into the tree', () => {
    let now = 100;
    const x = new Plumtree<string>('x', () => now, { ihaveTimeoutMs: 50, graftTimeoutMs: 25 });
    x.neighborUp('a');
    x.neighborUp('b');
    x.receive('b', { t: 'prune' });
    expect(x.receive('b', { t: 'ihave', ids: [{ id: 'm', round: 2 }] })).toEqual([]);
    expect(x.missingIds).toEqual(['m']);
    expect(x.nextDeadline()).toBe(150);
    now = 149;
    expect(x.tick()).toEqual([]);
    now = 150;
    expect(sends(x.tick())).toEqual([['b', { t: 'graft', id: 'm', round: 2 }]]);
    expect(x.eagerPeers()).toContain('b');
    const got = x.receive('b', { t: 'gossip', id: 'm', payload: 'x', round: 2 });
    expect(got[0]).toEqual({ type: 'deliver', id: 'm', payload: 'x', hops: 3, from: 'b' });
    expect(x.missingIds).toEqual([]);
    expect(x.nextDeadline()).toBeUndefined();
  });

  it('GRAFT makes the link eager and sends the payload it asks for (none for the optimization graft)', () => {
    const y = new Plumtree<string>('y', () => 0);
    y.neighborUp('x');
    y.receive('x', { t: 'prune' });
    y.broadcast('m', 'x');
    expect(sends(y.receive('x', { t: 'graft', id: 'm', round: 0 }))).toEqual([['x', { t: 'gossip', id: 'm', payload: 'x', round: 0 }]]);
    expect(y.eagerPeers()).toEqual(['x']);
    y.receive('x', { t: 'prune' });
    expect(y.receive('x', { t: 'graft', id: null, round: 0 })).toEqual([]);
    expect(y.eagerPeers()).toEqual(['x']);
    expect(y.receive('x', { t: 'graft', id: 'unknown', round: 0 })).toEqual([]);
  });

  it('while it is still missing, each timeout2 grafts the next announcer, cycling up to maxGraftAttempts', () => {
    let now = 0;
    const x = new Plumtree<string>('x', () => now, { ihaveTimeoutMs: 50, graftTimeoutMs: 20, maxGraftAttempts: 3 });
    for (const p of ['a', 'b']) {
      x.neighborUp(p);
      x.receive(p, { t: 'prune' });
      x.receive(p, { t: 'ihave', ids: [{ id: 'm', round: 1 }] });
    }
    const grafted: string[] = [];
    for (now = 0; now <= 200; now++) for (const [to] of sends(x.tick())) grafted.push(`${to}@${now}`);
    expect(grafted).toEqual(['a@50', 'b@70', 'a@90']);
    expect(x.missingIds).toEqual([]);
  });

  it('a neighbour that goes down is no longer grafted', () => {
    let now = 0;
    const x = new Plumtree<string>('x', () => now);
    x.neighborUp('a');
    x.receive('a', { t: 'prune' });
    x.receive('a', { t: 'ihave', ids: [{ id: 'm', round: 0 }] });
    x.neighborDown('a');
    now = 1000;
    expect(x.tick()).toEqual([]);
    expect(x.missingIds).toEqual([]);
    expect(x.eagerPeers()).toEqual([]);
    expect(x.lazyPeers()).toEqual([]);
  });

  it('a message lost on a tree link is recovered through a lazy link', () => {
    const mesh = new Mesh(ringWithChords(), { ihaveTimeoutMs: 50, graftTimeoutMs: 25 });
    for (let k = 0; k < 4; k++) {
      mesh.broadcast('n0', `warm${k}`);
      mesh.run();
    }
    // Cut every tree link into n6 for the next message (a lazy neighbour's answer to a GRAFT passes).
    const parentsBefore = mesh.nodes.get('n6')!.eagerPeers();
    mesh.drop = (from, to, m) => to === 'n6' && m.t === 'gossip' && m.id === 'lost' && parentsBefore.includes(from);
    mesh.broadcast('n0', 'lost');
    mesh.run();
    expect(mesh.deliveredBy('lost')).toHaveLength(12);
    expect(mesh.sent.get('graft')).toBeGreaterThan(0);
    expect(mesh.nodes.get('n6')!.eagerPeers()).not.toEqual(parentsBefore);
    mesh.drop = undefined;
    for (let k = 0; k < 4; k++) {
      mesh.broadcast('n3', `after${k}`);
      mesh.run();
    }
    expect(mesh.gossips.get('after3')).toBe(11);
  });

  it('the tree is repaired after a neighbour dies', () => {
    const mesh = new Mesh(ringWithChords(), { ihaveTimeoutMs: 50, graftTimeoutMs: 25 });
    for (let k = 0; k < 4; k++) {
      mesh.broadcast('n0', `warm${k}`);
      mesh.run();
    }
    // Kill a node inside the tree (one with several eager links).
    const inner = [...mesh.nodes].find(([id, n]) => id !== 'n0' && n.eagerPeers().length >= 2)![0];
    mesh.kill(inner);
    mesh.broadcast('n0', 'after-crash');
    mesh.run();
    expect(mesh.deliveredBy('after-crash')).toHaveLength(11);
    for (let k = 0; k < 4; k++) {
      mesh.broadcast(`n${k}` === inner ? 'n5' : `n${k}`, `healed${k}`);
      mesh.run();
    }
    expect(mesh.deliveredBy('healed3')).toHaveLength(11);
    expect(mesh.gossips.get('healed3')).toBe(10);
    expect(isSpanningTree([...mesh.nodes.keys()], mesh.eagerLinks())).toBe(true);
  });
});

describe('Plumtree: optimization (§3, behind a flag)', () => {
  const scenario = (optimize: boolean) => {
    const x = new Plumtree<string>('x', () => 0, { optimize, optimizationThreshold: 3 });
    x.neighborUp('far');
    x.neighborUp('near');
    x.receive('near', { t: 'prune' });
    // The IHAVE from near (1 hop from the source) beats the GOSSIP that took 5 hops.
    x.receive('near', { t: 'ihave', ids: [{ id: 'm', round: 1 }] });
    return { x, out: sends(x.receive('far', { t: 'gossip', id: 'm', payload: 'p', round: 5 })) };
  };

  it('grafts the shorter path and prunes the longer one when the hop difference reaches the threshold', () => {
    const { x, out } = scenario(true);
    expect(out).toEqual([
      ['near', { t: 'graft', id: null, round: 1 }],
      ['far', { t: 'prune' }],
    ]);
    expect(x.eagerPeers()).toEqual(['near']);
    expect(x.lazyPeers()).toEqual(['far']);
  });

  it('does nothing of the kind when off, or under the threshold', () => {
    expect(scenario(false).out).toEqual([]);
    const x = new Plumtree<string>('x', () => 0, { optimize: true, optimizationThreshold: 3 });
    x.neighborUp('far');
    x.neighborUp('near');
    x.receive('near', { t: 'prune' });
    x.receive('near', { t: 'ihave', ids: [{ id: 'm', round: 3 }] });
    expect(sends(x.receive('far', { t: 'gossip', id: 'm', payload: 'p', round: 5 }))).toEqual([]);
  });
});

describe('Plumtree: memory', () => {
  it('forgets delivered ids after keepMs (then a GRAFT for them goes unanswered)', () => {
    let now = 0;
    const p = new Plumtree<string>('p', () => now, { keepMs: 1000 });
    p.neighborUp('a');
    p.broadcast('old', 'x');
    now = 500;
    p.broadcast('new', 'y');
    now = 1200;
    p.tick();
    expect(p.has('old')).toBe(false);
    expect(p.has('new')).toBe(true);
    expect(p.receive('a', { t: 'graft', id: 'old', round: 0 })).toEqual([]);
  });
});

describe('Plumtree: one tree per source', () => {
  /** Every node broadcasts at the same moment, `rounds` times; returns the GOSSIPs received in the last round. */
  function concurrentRounds(perSource: boolean, rounds: number): { mesh: Mesh; lastRound: number } {
    const mesh = new Mesh(ringWithChords());
    let lastRound = 0;
    for (let r = 0; r < rounds; r++) {
      const before = [...mesh.gossips.values()].reduce((a, b) => a + b, 0);
      for (const id of mesh.nodes.keys()) mesh.broadcast(id, `${id}-r${r}`, perSource);
      mesh.run();
      lastRound = [...mesh.gossips.values()].reduce((a, b) => a + b, 0) - before;
    }
    return { mesh, lastRound };
  }

  it('settles each source’s tree once: everyone writing at once costs no duplicates afterwards', () => {
    const { mesh, lastRound } = concurrentRounds(true, 4);
    const nodes = [...mesh.nodes.keys()];
    for (const root of nodes) expect(isSpanningTree(nodes, mesh.eagerLinks(root)), `tree of ${root}`).toBe(true);
    for (const [id, got] of mesh.delivered) expect(got.size, id).toBe(nodes.length * 4);
    // 12 sources, 11 receivers each: a settled tree per source delivers every message exactly once
    expect(lastRound).toBe(12 * 11);
  });

  it('is why: a shared tree keeps tearing when every node writes at once', () => {
    const { lastRound } = concurrentRounds(false, 4);
    console.log(`[plumtree] shared tree, 4th concurrent round: ${lastRound} GOSSIPs for ${12 * 11} deliveries`);
    expect(lastRound).toBeGreaterThan(12 * 11);
  });

  it('names the tree in every message, so both ends of a link change the same tree', () => {
    const a = new Plumtree<string>('a', () => 0);
    a.neighborUp('b');
    a.neighborUp('c');
    expect(sends(a.broadcast('m', 'x', 'a'))).toEqual([
      ['b', { t: 'gossip', id: 'm', payload: 'x', round: 0, root: 'a' }],
      ['c', { t: 'gossip', id: 'm', payload: 'x', round: 0, root: 'a' }],
    ]);
    // a duplicate prunes the link in that root's tree only (a message of r, which is not a neighbour)
    a.receive('b', { t: 'gossip', id: 'n', payload: 'x', round: 1, root: 'r' });
    expect(sends(a.receive('c', { t: 'gossip', id: 'n', payload: 'x', round: 1, root: 'r' }))).toEqual([['c', { t: 'prune', root: 'r' }]]);
    expect(a.eagerPeers('r')).toEqual(['b']);
    expect(a.eagerPeers('z')).toEqual(['b', 'c']); // another root's tree is untouched (all eager)
    a.receive('b', { t: 'prune', root: 'r' });
    expect(a.lazyPeers('r')).toEqual(['c', 'b']);
  });

  it('keeps a link to the root in its tree: a relay that beat the root is pruned instead', () => {
    const x = new Plumtree<string>('x', () => 0);
    x.neighborUp('r');
    x.neighborUp('b');
    // under load b relayed r's message before r's own copy came
    x.receive('b', { t: 'gossip', id: 'm', payload: 'p', round: 0, root: 'r' });
    expect(sends(x.receive('r', { t: 'gossip', id: 'm', payload: 'p', round: 0, root: 'r' }))).toEqual([['b', { t: 'prune', root: 'r' }]]);
    expect(x.eagerPeers('r')).toEqual(['r']);
    // a later copy from a relay is a plain duplicate
    x.receive('r', { t: 'gossip', id: 'm2', payload: 'p', round: 0, root: 'r' });
    expect(sends(x.receive('b', { t: 'gossip', id: 'm2', payload: 'p', round: 0, root: 'r' }))).toEqual([['b', { t: 'prune', root: 'r' }]]);
    expect(x.eagerPeers('r')).toEqual(['r']);
  });

  it('a root ignores its own message coming back, keeping the link in its tree', () => {
    const r = new Plumtree<string>('r', () => 0);
    r.neighborUp('x');
    r.broadcast('m', 'p', 'r');
    expect(r.receive('x', { t: 'gossip', id: 'm', payload: 'p', round: 1, root: 'r' })).toEqual([]);
    expect(r.eagerPeers('r')).toEqual(['x']);
  });
});
