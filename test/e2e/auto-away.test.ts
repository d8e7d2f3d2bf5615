/**
 * The desktop's auto-away (src/main/auto-away.ts) against the `electron` stand-in's powerMonitor
 * (fixtures/electron-stub.mjs, the one main runs on in desktop-main.test.ts), with a node that
 * keeps a status and tells of it as the real one does (a `status` event per change).
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { EventPayloads, Status } from '../../src/shared/api.js';
import { AWAY_AFTER_S, POLL_MS, startAutoAway, type AutoAway } from '../../src/main/auto-away.js';
import { powerMonitor } from './fixtures/electron-stub.mjs';

const ME = 'M'.repeat(43);

/** The node's status, its setStatus calls, and the events a change sends to whoever listens. */
function statusNode(initial: Status = 'online') {
  let current: { status: Status; statusText?: string } = { status: initial };
  const calls: { status: Status; text?: string }[] = [];
  let listener: ((ev: EventPayloads['status']) => void) | undefined;
  return {
    calls,
    listen: (l: (ev: EventPayloads['status']) => void) => (listener = l),
    /** A status set elsewhere: a UI or a script. */
    setByUser(status: Status, statusText?: string) {
      current = { status, ...(statusText ? { statusText } : {}) };
      listener?.({ peerId: ME, nick: 'desk', ...current });
    },
    node: {
      whoami: async () => ({ peerId: ME, nick: 'desk', port: 1, fingerprint: 'MMMM-MMMM', readReceipts: true, ...current }),
      setStatus: async (p: { status: Status; text?: string }) => {
        calls.push(p);
        current = { status: p.status, ...(p.text ? { statusText: p.text } : {}) };
        listener?.({ peerId: ME, nick: 'desk', ...current });
        return current;
      },
    },
  };
}

describe('desktop auto-away (powerMonitor of the electron stand-in)', () => {
  let away: AutoAway | undefined;
  beforeEach(() => {
    vi.useFakeTimers();
    powerMonitor.setIdle(0);
  });
  afterEach(() => {
    away?.stop();
    vi.useRealTimers();
  });

  async function poll(): Promise<void> {
    await vi.advanceTimersByTimeAsync(POLL_MS);
  }

  function start(n: ReturnType<typeof statusNode>): AutoAway {
    away = startAutoAway({ idle: powerMonitor, node: n.node as never, peerId: ME });
    n.listen((ev) => away!.onStatus(ev));
    return away;
  }

  it('sets away after 10 minutes without system input, and online again on return', async () => {
    const n = statusNode();
    start(n);
    powerMonitor.setIdle(AWAY_AFTER_S - 1);
    await poll();
    expect(n.calls).toEqual([]);
    powerMonitor.setIdle(AWAY_AFTER_S);
    await poll();
    expect(n.calls).toEqual([{ status: 'away' }]);
    await poll(); // still idle: nothing more
    expect(n.calls).toHaveLength(1);
    powerMonitor.setIdle(3);
    await poll();
    expect(n.calls).toEqual([{ status: 'away' }, { status: 'online' }]);
  });

  it('looks at start, then every 30 seconds', async () => {
    powerMonitor.setIdle(AWAY_AFTER_S + 60); // started while the user was away already
    const n = statusNode();
    start(n);
    await vi.advanceTimersByTimeAsync(0);
    expect(n.calls).toEqual([{ status: 'away' }]);
    powerMonitor.setIdle(0);
    await vi.advanceTimersByTimeAsync(POLL_MS - 1);
    expect(n.calls).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(n.calls).toEqual([{ status: 'away' }, { status: 'online' }]);
  });

  it('leaves a status the user chose alone: busy, away with a text, or one chosen while away', async () => {
    const busy = statusNode('busy');
    start(busy);
    powerMonitor.setIdle(AWAY_AFTER_S * 2);
    await poll();
    powerMonitor.setIdle(0);
    await poll();
    expect(busy.calls).toEqual([]);
    away!.stop();

    // Away by the rule, then the user picks "away: lunch" in the app: coming back keeps it.
    const n = statusNode();
    start(n);
    powerMonitor.setIdle(AWAY_AFTER_S);
    await poll();
    expect(n.calls).toEqual([{ status: 'away' }]);
    n.setByUser('away', 'lunch');
    powerMonitor.setIdle(0);
    await poll();
    expect(n.calls).toEqual([{ status: 'away' }]);
    // Online again by hand: the rule applies again.
    n.setByUser('online');
    powerMonitor.setIdle(AWAY_AFTER_S);
    await poll();
    expect(n.calls).toEqual([{ status: 'away' }, { status: 'away' }]);
  });
});
