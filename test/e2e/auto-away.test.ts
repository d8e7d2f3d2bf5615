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
function statusNode(initial: Status = 'online', initialAuto = false) {
  let current: { status: Status; statusText?: string; auto?: true } = { status: initial, ...(initialAuto ? { auto: true as const } : {}) };
  const calls: { status: Status; text?: string; auto?: boolean }[] = [];
  let listener: ((ev: EventPayloads['status']) => void) | undefined;
  const set = (status: Status, statusText?: string, auto?: boolean) => {
    current = { status, ...(statusText ? { statusText } : {}), ...(auto ? { auto: true as const } : {}) };
    listener?.({ peerId: ME, nick: 'desk', ...current });
  };
  return {
    calls,
    listen: (l: (ev: EventPayloads['status']) => void) => (listener = l),
    /** A status set elsewhere: by the user in a UI or a script, or (`auto`) by a browser UI's idle rule. */
    setElsewhere: set,
    node: {
      whoami: async () => {
        const { auto, ...rest } = current;
        return {
          peerId: ME,
          nick: 'desk',
          port: 1,
          fingerprint: 'MMMM-MMMM',
          readReceipts: true,
          ...rest,
          ...(auto ? { statusAuto: auto } : {}),
        };
      },
      setStatus: async (p: { status: Status; text?: string; auto?: boolean }) => {
        calls.push(p);
        set(p.status, p.text, p.auto);
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
    expect(n.calls).toEqual([{ status: 'away', auto: true }]);
    await poll(); // still idle: nothing more
    expect(n.calls).toHaveLength(1);
    powerMonitor.setIdle(3);
    await poll();
    expect(n.calls).toEqual([{ status: 'away', auto: true }, { status: 'online' }]);
  });

  it('looks at start, then every 30 seconds', async () => {
    powerMonitor.setIdle(AWAY_AFTER_S + 60); // started while the user was away already
    const n = statusNode();
    start(n);
    await vi.advanceTimersByTimeAsync(0);
    expect(n.calls).toEqual([{ status: 'away', auto: true }]);
    powerMonitor.setIdle(0);
    await vi.advanceTimersByTimeAsync(POLL_MS - 1);
    expect(n.calls).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(n.calls).toEqual([{ status: 'away', auto: true }, { status: 'online' }]);
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
    expect(n.calls).toEqual([{ status: 'away', auto: true }]);
    n.setElsewhere('away', 'lunch');
    powerMonitor.setIdle(0);
    await poll();
    expect(n.calls).toEqual([{ status: 'away', auto: true }]);
    // Online again by hand: the rule applies again.
    n.setElsewhere('online');
    powerMonitor.setIdle(AWAY_AFTER_S);
    await poll();
    expect(n.calls).toEqual([
      { status: 'away', auto: true },
      { status: 'away', auto: true },
    ]);
  });

  it('lifts an away an idle rule set: a browser UI’s, or its own from before a restart', async () => {
    // the node kept an automatic away across a restart of the app: the user is back, so online
    const restarted = statusNode('away', true);
    start(restarted);
    await vi.advanceTimersByTimeAsync(0);
    expect(restarted.calls).toEqual([{ status: 'online' }]);
    away!.stop();

    // a browser tab on the same peer went away by its own idle rule; input at this machine lifts it
    const n = statusNode();
    start(n);
    powerMonitor.setIdle(60);
    await poll();
    n.setElsewhere('away', undefined, true);
    await poll();
    expect(n.calls).toEqual([{ status: 'online' }]);
  });
});
