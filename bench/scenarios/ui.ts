/**
 * Scenario 7: the browser UI in headless Chromium (playwright-core, Debian's
 * /usr/bin/chromium) against a peer holding a room of BENCH_UI_MESSAGES
 * messages (default BENCH_CATCHUP) by three authors, and a room of 500 —
 * written in-process by lib/fixture.ts. Per repeat, a fresh
 * peer (`--ui-port 0`, alone) on a copy of the data and a fresh browser context:
 *
 * - first render: navigation start → the first message row of the big room in
 *   the DOM (the room is the remembered active one, set in localStorage before
 *   the page loads), from the page's own clock;
 * - scrolling to the top: the page scrolls the list up 1,200 px per frame
 *   (a fast flick) while recording requestAnimationFrame deltas, until the
 *   "start of the room" row appears or BENCH_UI_SCROLL_SECONDS pass; the
 *   history pages the UI requested meanwhile are counted on its WebSocket
 *   (and their rate in the first and the last 5 s, to see whether loading
 *   slows down as the list grows);
 * - room switch: click on the other room in the sidebar → its first message
 *   row in the DOM, both ways.
 *
 * There is no baseline process here: the reference is the 60 fps frame budget.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import type { BenchContext } from '../lib/context.js';
import { copyDir } from '../lib/dataset.js';
import { makeFixture } from '../lib/fixture.js';
import { startPeer, stopPeer, type ChattyPeer } from '../lib/peers.js';
import { envInt, percentile, wallNow } from '../lib/util.js';

// The page-side globals the functions run in the browser use (this file is type-checked without the DOM library).
interface PageElement {
  click(): void;
  scrollTop: number;
}
declare const document: { querySelector(selector: string): PageElement | null };
declare const localStorage: { setItem(key: string, value: string): void };
declare function requestAnimationFrame(callback: (now: number) => void): number;

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'];
const RENDERER = join(import.meta.dirname, '../../out/renderer/index.html');

/** A room as the page shows it: found by id in the sidebar, by name in the message list's label. */
interface UiRoom {
  id: string;
  name: string;
}

interface UiFixture {
  dir: string;
  big: UiRoom;
  small: UiRoom;
}

interface UiRun {
  firstRender: number;
  frames: number[];
  scrollSeconds: number;
  reachedTop: boolean;
  historyPages: number;
  /** Messages loaded per second in the first and in the last 5 s of the scroll. */
  loadRateFirst: number;
  loadRateLast: number;
  switchToSmall: number;
  switchToBig: number;
  /** The page's V8 heap right after the scroll: in use, and live after a full collection (MB). */
  heapUsedMb: number;
  heapLiveMb: number;
}

/** Page-side helpers, installed in every page of the context by `installPageHelpers`. */
interface PageHelpers {
  /** Resolves on the first animation frame where a message of `room`'s list is in the DOM. */
  messageShown(room: string): Promise<void>;
}
type WithHelpers = typeof globalThis & { chattyBench: PageHelpers };

async function installPageHelpers(context: BrowserContext): Promise<void> {
  await context.addInitScript(() => {
    const bench: PageHelpers = {
      messageShown: (room) =>
        new Promise<void>((resolve) => {
          const check = () =>
            document.querySelector(`[data-testid="message-list"][aria-label="Messages in ${room}"] [data-testid="message"]`)
              ? resolve()
              : requestAnimationFrame(check);
          check();
        }),
    };
    (globalThis as WithHelpers).chattyBench = bench;
  });
}

/** In the page: click a room in the sidebar, resolve when a message of its list is in the DOM (ms). */
async function switchRoom(page: Page, room: UiRoom): Promise<number> {
  return page.evaluate(async (r) => {
    const t0 = performance.now();
    const item = document.querySelector(`[data-testid="room-item"][data-room="${r.id}"]`);
    if (!item) throw new Error(`no room item ${r.name} (${r.id})`);
    item.click();
    await (globalThis as WithHelpers).chattyBench.messageShown(r.name);
    return performance.now() - t0;
  }, room);
}

async function once(ctx: BenchContext, browser: Browser, fx: UiFixture, scrollSeconds: number): Promise<UiRun> {
  const peer = (await startPeer('chatty', 'reader', { dataDir: copyDir(ctx, fx.dir), ui: true })) as ChattyPeer;
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, deviceScaleFactor: 1 });
  try {
    const url = peer.proc.ready.ui;
    if (!url) throw new Error('the peer serves no UI (is out/renderer built?)');
    // tsx compiles this file with esbuild's keepNames, whose `__name` helper the page functions below refer to.
    await context.addInitScript('globalThis.__name = (fn) => fn;');
    await installPageHelpers(context);
    await context.addInitScript((room) => {
      localStorage.setItem('chatty.active', `room:${room}`);
      localStorage.setItem('chatty.nickChosen', '1');
    }, fx.big.id);
    const page = await context.newPage();
    const historyAt: number[] = [];
    page.on('websocket', (ws) =>
      ws.on(
        'framesent',
        (f) => void (typeof f.payload === 'string' && f.payload.includes('"method":"history"') && historyAt.push(wallNow())),
      ),
    );
    await page.goto(url);
    const firstRender = await page.evaluate(async (room) => {
      await (globalThis as WithHelpers).chattyBench.messageShown(room);
      return performance.now();
    }, fx.big.name);
    await page.waitForTimeout(500);
    const pagesBefore = historyAt.length;
    const scrollStart = wallNow();
    const scroll = await page.evaluate(
      async ({ seconds }) => {
        const el = document.querySelector('[data-testid="message-list"]');
        if (!el) throw new Error('no message list');
        const frames: number[] = [];
        const t0 = performance.now();
        let last = t0;
        let reachedTop = false;
        await new Promise<void>((resolve) => {
          const step = (now: number) => {
            frames.push(now - last);
            last = now;
            if (document.querySelector('[data-testid="conversation-start"]')) {
              reachedTop = true;
              return resolve();
            }
            if (now - t0 > seconds * 1000) return resolve();
            el.scrollTop = Math.max(0, el.scrollTop - 1200);
            requestAnimationFrame(step);
          };
          requestAnimationFrame((now) => {
            last = now;
            requestAnimationFrame(step);
          });
        });
        return { frames, seconds: (performance.now() - t0) / 1000, reachedTop };
      },
      { seconds: scrollSeconds },
    );
    const scrollEnd = wallNow();
    // Pages requested in the first and the last 5 s of the scroll: does loading slow down as the list grows?
    const within = (from: number, to: number) => historyAt.filter((t) => t >= from && t < to).length;
    const edge = Math.min(5000, (scrollEnd - scrollStart) / 2);
    const loadRateFirst = (within(scrollStart, scrollStart + edge) * 100) / (edge / 1000);
    const loadRateLast = (within(scrollEnd - edge, scrollEnd) * 100) / (edge / 1000);
    // What the renderer holds once everything scrolled through is loaded: as is, then what is live
    const cdp = await context.newCDPSession(page);
    const heapMb = async () => ((await cdp.send('Runtime.getHeapUsage')) as { usedSize: number }).usedSize / 2 ** 20;
    const heapUsedMb = await heapMb();
    await cdp.send('HeapProfiler.collectGarbage');
    const heapLiveMb = await heapMb();
    await cdp.detach();
    const switchToSmall = await switchRoom(page, fx.small);
    await page.waitForTimeout(300);
    const switchToBig = await switchRoom(page, fx.big);
    return {
      firstRender,
      frames: scroll.frames,
      scrollSeconds: scroll.seconds,
      reachedTop: scroll.reachedTop,
      historyPages: historyAt.length - pagesBefore,
      loadRateFirst,
      loadRateLast,
      switchToSmall,
      switchToBig,
      heapUsedMb,
      heapLiveMb,
    };
  } finally {
    await context.close().catch(() => undefined);
    await stopPeer(peer);
  }
}

export async function runUi(ctx: BenchContext): Promise<void> {
  if (!existsSync(CHROMIUM)) {
    ctx.report.skip('ui', `no Chromium at ${CHROMIUM} (apt-get install -y chromium)`);
    return;
  }
  if (!existsSync(RENDERER)) {
    ctx.report.skip('ui', 'the browser UI is not built (npx electron-vite build → out/renderer)');
    return;
  }
  const count = envInt('BENCH_UI_MESSAGES', ctx.catchup);
  const scrollSeconds = envInt('BENCH_UI_SCROLL_SECONDS', 30);
  const t = wallNow();
  const made = makeFixture(ctx.tmp, {
    authors: ['reader', 'alice', 'bob'],
    rooms: [
      { name: 'big', count },
      { name: 'small', count: 500 },
    ],
  });
  const room = (name: string): UiRoom => ({ id: made.roomIds.get(name)!, name });
  const fx: UiFixture = { dir: made.dirs.get('reader')!, big: room('big'), small: room('small') };
  ctx.log(`ui: fixture of ${count} messages written in ${((wallNow() - t) / 1000).toFixed(1)} s`);
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, headless: true });
  const runs: UiRun[] = [];
  try {
    for (let r = 0; r < ctx.repeat; r++) {
      const run = await once(ctx, browser, fx, scrollSeconds);
      runs.push(run);
      const fps = run.frames.length / run.scrollSeconds;
      ctx.log(
        `ui: first render ${run.firstRender.toFixed(0)} ms; scrolling ${fps.toFixed(1)} fps, frame p50 ${percentile(run.frames, 50).toFixed(1)} p99 ${percentile(run.frames, 99).toFixed(1)} max ${Math.max(...run.frames).toFixed(0)} ms, ${run.historyPages} history pages in ${run.scrollSeconds.toFixed(1)} s${run.reachedTop ? ' (top reached)' : ' (top not reached)'}; renderer heap ${run.heapUsedMb.toFixed(0)} MB (${run.heapLiveMb.toFixed(0)} MB live); switch ${run.switchToSmall.toFixed(0)} / ${run.switchToBig.toFixed(0)} ms`,
      );
    }
  } finally {
    await browser.close().catch(() => undefined);
  }
  const scenario = `UI, room of ${count.toLocaleString('en-US')} msgs`;
  const { report } = ctx;
  report.add({
    scenario,
    metric: 'navigation → first message rendered',
    unit: 'ms',
    chatty: runs.map((r) => r.firstRender),
    better: 'lower',
  });
  report.add({
    scenario,
    metric: 'scrolling up: frames per second',
    unit: 'fps',
    chatty: runs.map((r) => r.frames.length / r.scrollSeconds),
    better: 'higher',
    target: '60 fps',
  });
  report.add({
    scenario,
    metric: 'scrolling up: frame time p50',
    unit: 'ms',
    chatty: runs.map((r) => percentile(r.frames, 50)),
    better: 'lower',
    target: '≤ 16.7 ms',
  });
  report.add({
    scenario,
    metric: 'scrolling up: frame time p99',
    unit: 'ms',
    chatty: runs.map((r) => percentile(r.frames, 99)),
    better: 'lower',
    target: '≤ 16.7 ms',
  });
  report.add({
    scenario,
    metric: 'scrolling up: frame time max',
    unit: 'ms',
    chatty: runs.map((r) => Math.max(...r.frames)),
    better: 'lower',
  });
  report.add({
    scenario,
    metric: 'scrolling up: messages loaded per second',
    unit: 'msg/s',
    chatty: runs.map((r) => (r.historyPages * 100) / r.scrollSeconds),
    better: 'higher',
  });
  report.add({
    scenario,
    metric: 'loading rate, first 5 s of scroll',
    unit: 'msg/s',
    chatty: runs.map((r) => r.loadRateFirst),
    better: 'higher',
  });
  report.add({
    scenario,
    metric: 'loading rate, last 5 s of scroll',
    unit: 'msg/s',
    chatty: runs.map((r) => r.loadRateLast),
    better: 'higher',
  });
  report.add({
    scenario,
    metric: 'renderer heap after the scroll, in use',
    unit: 'MB',
    chatty: runs.map((r) => r.heapUsedMb),
    better: 'lower',
  });
  report.add({
    scenario,
    metric: 'renderer heap after the scroll, live (after a collection)',
    unit: 'MB',
    chatty: runs.map((r) => r.heapLiveMb),
    better: 'lower',
  });
  report.add({ scenario, metric: 'switch to the small room', unit: 'ms', chatty: runs.map((r) => r.switchToSmall), better: 'lower' });
  report.add({ scenario, metric: 'switch back to the big room', unit: 'ms', chatty: runs.map((r) => r.switchToBig), better: 'lower' });
  const reached = runs.filter((r) => r.reachedTop).length;
  report.note(
    `UI: the top of the ${count}-message room was reached in ${reached} of ${runs.length} runs within ${scrollSeconds} s (history pages of 100 per request; ${runs.map((r) => r.historyPages).join(', ')} pages loaded)`,
  );
  report.raw.ui = runs.map((r) => ({
    ...r,
    frames: undefined,
    frameSummary: { n: r.frames.length, p50: percentile(r.frames, 50), p99: percentile(r.frames, 99), max: Math.max(...r.frames) },
  }));
}
