import { describe, expect, it } from 'vitest';
import { sample } from '../../src/peer/overlay/random.js';
import { broadcastFigures, connectivity } from '../../bench/sim/metrics.js';
import type { SimNetwork } from '../../bench/sim/network.js';
import { broadcasts, buildOverlay, FAILURE_DEFAULTS, failureExperiment, steadyBroadcasts } from '../../bench/sim/scenarios.js';

// The 1,000-node run is bench/sim/run.ts; this is its small, lossier cousin, quick enough for every test run.
const BUILD = { nodes: 100, joinGapMs: 10, settleMs: 20_000 };
const CONFIG = { seed: 2, loss: 0.05 };

/** Checks every 10 simulated ms that no active view holds more than 5 peers. */
function watchActiveViews(net: SimNetwork): { largest: number } {
  const seen = { largest: 0 };
  const check = () => {
    for (const n of net.nodes) if (n.alive) seen.largest = Math.max(seen.largest, n.hv.active.length);
    net.at(net.now + 10, check);
  };
  check();
  return seen;
}

describe('overlay simulation: 100 nodes, 5 % of messages lost', () => {
  it('builds one overlay, delivers every broadcast, and after 50 % of the nodes crash heals to full delivery', () => {
    const { net, settled } = buildOverlay(CONFIG, BUILD);
    const watch = watchActiveViews(net);
    expect(settled.components).toBe(1);
    expect(settled.asymmetric).toBe(0);
    expect(settled.passiveSize.mean).toBeGreaterThan(25);

    const steady = steadyBroadcasts(net, 30, 10, 100);
    expect(steady.settled.reliability).toBe(1);
    expect(steady.settled.rmrMean).toBeLessThan(1);

    const victims = sample(
      net.random,
      net.live().map((n) => n.index),
      50,
    );
    net.kill(victims);
    const rightAfter = broadcastFigures(broadcasts(net, 10, 100, 'after'));
    net.runFor(20_000);
    expect(connectivity(net)).toEqual({ components: 1, largest: 50, isolated: 0 });
    const healed = broadcastFigures(broadcasts(net, 20, 100, 'healed'));
    expect(healed.reliability).toBe(1);
    expect(healed.complete).toBe(20);
    // Right after the crash most messages already get through; the figures are the bench's business.
    expect(rightAfter.reliability).toBeGreaterThan(0.5);
    expect(watch.largest).toBe(5);
  });

  it("with the host's discovery and catch-up, even the broadcasts sent during the crash reach every survivor", () => {
    const result = failureExperiment(CONFIG, BUILD, { ...FAILURE_DEFAULTS, fraction: 0.5, healMs: 20_000, hostHelp: true });
    expect(result.rightAfter.eventualReliability).toBe(1);
    expect(result.healed.eventualReliability).toBe(1);
    expect(result.shapeHealed.components).toBe(1);
    expect(result.shapeHealed.activeSize.max).toBeLessThanOrEqual(5);
  });
});
