/**
 * Smoke mode of the desktop app: `CHATTY_SMOKE=DIR` turns one start of the real app into a
 * self-check that CI can run on every OS (`npm run smoke`, see scripts/smoke.js).
 *
 * After the normal start (peer started, window created) it:
 *  1. waits for the page to load, the preload's `window.chatty` to answer `whoami` with this
 *     node's peer id, and the Vue app to mount and show that identity (a real UI, not a blank page);
 *  2. through the page's own bridge (renderer → preload → IPC → main → node), joins the room
 *     `smoke` and sends a message;
 *  3. checks that the node stored it (its `history` holds the id), that the peer's event-checking
 *     worker thread starts from the bundle, that the renderer got the `message` notification back
 *     through the bridge, and that the UI shows it once the room is opened;
 *  4. saves the window as DIR/screenshot.png, writes DIR/smoke.json (checks, versions, timings)
 *     and quits through the app's normal clean shutdown, exit code 0.
 * Any failure, a crashed or closed renderer, an early quit or the global timeout
 * (CHATTY_SMOKE_TIMEOUT seconds, default 60) prints the reason to stderr, writes it to
 * smoke.json (with a screenshot when one can still be taken) and exits with code 1.
 *
 * The run is isolated: a fresh temporary data dir unless CHATTY_DATA_DIR is given, no mDNS, a
 * free port, and the caller (index.ts) shows no tray, notification or error dialog, which could
 * block an unattended run.
 */
import { app, type BrowserWindow, type WebContents } from 'electron';
import { mkdirSync, mkdtempSync, renameSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { ChattyApi } from '../shared/api.js';
import type { IpcResult } from '../shared/ipc.js';

export const SMOKE_ROOM = 'smoke';
const DEFAULT_TIMEOUT_S = 60;
/** Longest wait for one page-side call or condition, so a hang names its step before the global timeout. */
const STEP_TIMEOUT_MS = 15_000;
const POLL_MS = 100;
const QUIT_TIMEOUT_MS = 15_000;

export type SmokeNode = Pick<ChattyApi, 'whoami' | 'history'> & {
  /** Does the peer's event-checking worker thread start and answer in this runtime? */
  eventCheckWorkerAnswers(): Promise<boolean>;
};

export interface Smoke {
  /** Where smoke.json and screenshot.png go. */
  readonly dir: string;
  /** Runs the check; call once the node is started and the window created. */
  run(win: BrowserWindow, node: SmokeNode): Promise<void>;
  /** Ends the run as failed (reason to stderr and smoke.json) and exits with code 1. */
  fail(reason: string): void;
}

interface Report {
  ok: boolean;
  reason?: string;
  /** What the run was doing (the step a timeout interrupted). */
  stage: string;
  dir: string;
  dataDir: string;
  versions: { app: string; electron: string | null; node: string; chrome: string | null; v8: string };
  platform: string;
  arch: string;
  /** ms since the process started, per step reached. */
  timings: Record<string, number>;
  checks: Record<string, boolean>;
  peerId?: string;
  nick?: string;
  /** The peer's port (any free one in smoke mode). */
  port?: number;
  room: string;
  messageId?: string;
  text?: string;
  url?: string;
  screenshot?: { file: string; width: number; height: number; bytes: number };
  /** Renderer console errors and warnings, for diagnosis. */
  console: string[];
  startedAt: string;
  finishedAt?: string;
}

class SmokeFailure extends Error {}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_r, reject) => {
    timer = setTimeout(() => reject(new SmokeFailure(`${what}: no answer within ${ms / 1000} s`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Page code: is the preload's bridge there? */
const PROBE_BRIDGE = `typeof window.chatty === 'object' && typeof window.chatty.call === 'function'`;

/** Page code: has the Vue app mounted, and which nick does it show? */
const PROBE_UI = `(() => {
  const root = document.getElementById('app');
  const nick = document.querySelector('[data-testid="my-nick"]');
  return { mounted: !!root && root.childElementCount > 0, nick: nick ? nick.textContent.trim() : null };
})()`;

/** Page code: collect the ids of `message` notifications the bridge delivers. */
const LISTEN = `(() => {
  const seen = (window.__chattySmoke = { messages: [] });
  window.chatty.on('message', (m) => seen.messages.push(m && m.id));
  return true;
})()`;

const pageCall = (method: string, params: unknown): string => `window.chatty.call(${JSON.stringify(method)}, ${JSON.stringify(params)})`;

/** Page code: open the room in the sidebar (once) and tell whether the message is on screen. */
const showRoom = (keys: string[], text: string): string => `(() => {
  const keys = ${JSON.stringify(keys)};
  // The room's entry, by its key or its label.
  const item = [...document.querySelectorAll('[data-testid="room-item"]')].find(
    (el) => keys.includes(el.getAttribute('data-room')) || keys.includes(el.textContent.trim()),
  );
  if (item && item.getAttribute('aria-current') !== 'page') item.click();
  const texts = [...document.querySelectorAll('[data-testid="message-text"]')].map((el) => el.textContent);
  return { listed: !!item, shown: texts.some((t) => t.includes(${JSON.stringify(text)})) };
})()`;

/** Page code: resolves after the next two frames, so the screenshot shows the last DOM change. */
const NEXT_FRAME = `new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(() => resolve(true))))`;

/**
 * Reads CHATTY_SMOKE. When set, isolates this start (data dir, mDNS, port) through the same
 * environment variables index.ts reads, starts the global timeout and returns the smoke run;
 * otherwise returns undefined. Call it before index.ts reads the environment.
 */
export function startSmoke(env: NodeJS.ProcessEnv = process.env): Smoke | undefined {
  if (!env.CHATTY_SMOKE) return undefined;
  const dir = path.resolve(env.CHATTY_SMOKE);
  const seconds = Number(env.CHATTY_SMOKE_TIMEOUT);
  const timeoutMs = (Number.isFinite(seconds) && seconds > 0 ? seconds : DEFAULT_TIMEOUT_S) * 1000;

  env.CHATTY_MDNS = '0';
  env.CHATTY_PORT = '0';
  if (!env.CHATTY_DATA_DIR) env.CHATTY_DATA_DIR = mkdtempSync(path.join(os.tmpdir(), 'chatty-smoke-'));

  const report: Report = {
    ok: false,
    stage: 'starting the peer',
    dir,
    dataDir: path.resolve(env.CHATTY_DATA_DIR),
    versions: {
      app: app.getVersion(),
      electron: process.versions.electron ?? null,
      node: process.versions.node,
      chrome: process.versions.chrome ?? null,
      v8: process.versions.v8,
    },
    platform: process.platform,
    arch: process.arch,
    timings: {},
    checks: {},
    room: SMOKE_ROOM,
    console: [],
    startedAt: new Date().toISOString(),
  };
  let done = false;
  let win: BrowserWindow | undefined;
  /** What the run waits for right now, for the timeout's reason. */
  let waiting = '';

  const mark = (step: string): void => {
    report.timings[step] = Math.round(performance.now());
  };
  const stage = (what: string): void => {
    report.stage = what;
  };
  const save = (): void => {
    // Written whole then renamed, so a reader never sees half a file.
    const file = path.join(dir, 'smoke.json');
    writeFileSync(file + '.tmp', JSON.stringify(report, null, 2) + '\n');
    renameSync(file + '.tmp', file);
  };

  async function screenshot(): Promise<void> {
    if (!win || win.isDestroyed()) throw new SmokeFailure('no window to capture');
    const image = await withTimeout(win.webContents.capturePage(), STEP_TIMEOUT_MS, 'capturePage()');
    if (image.isEmpty()) throw new SmokeFailure('the screenshot is empty (the window was never painted)');
    const png = image.toPNG();
    const file = path.join(dir, 'screenshot.png');
    writeFileSync(file, png);
    const { width, height } = image.getSize();
    report.screenshot = { file, width, height, bytes: png.length };
  }

  function fail(reason: string, capture = false): void {
    if (done) return;
    done = true;
    clearTimeout(globalTimer);
    report.ok = false;
    report.reason = reason;
    console.error(`chatty smoke: FAILED while ${report.stage}: ${reason}`);
    const finish = (): void => {
      report.finishedAt = new Date().toISOString();
      mark('total');
      try {
        save();
      } catch (err) {
        console.error(`chatty smoke: could not write ${path.join(dir, 'smoke.json')}: ${(err as Error).message}`);
      }
      app.exit(1);
    };
    if (!capture || !win || win.isDestroyed()) return finish();
    // What the window showed when it failed is often the quickest diagnosis; best effort, bounded.
    void withTimeout(screenshot(), 3000, 'capturePage()')
      .catch(() => undefined)
      .finally(finish);
  }

  // Fail early, before any window, when DIR cannot take the report.
  try {
    mkdirSync(dir, { recursive: true });
    save();
  } catch (err) {
    done = true;
    console.error(`chatty smoke: FAILED: cannot write to ${dir}: ${(err as Error).message}`);
    app.exit(1);
  }

  const globalTimer = setTimeout(() => fail(`timed out after ${timeoutMs / 1000} s${waiting ? ` (${waiting})` : ''}`, true), timeoutMs);

  // Any quit before the run ends (second instance, window closed, renderer gone) is a failure:
  // this listener runs before index.ts's, which would otherwise exit with code 0.
  app.on('before-quit', () => fail('the app quit before the smoke test finished'));

  async function run(window: BrowserWindow, node: SmokeNode): Promise<void> {
    win = window;
    mark('windowCreated');
    const wc = window.webContents;
    watchRenderer(window, wc);
    try {
      const me = await node.whoami({});
      report.peerId = me.peerId;
      report.nick = me.nick;
      report.port = me.port;

      stage('loading the page');
      await pageLoaded(wc);
      report.url = wc.getURL();
      mark('pageLoaded');

      stage('waiting for the bridge');
      await waitFor('the bridge', async () =>
        (await js(wc, PROBE_BRIDGE, 'the page')) ? undefined : 'window.chatty is missing (the preload did not expose the bridge)',
      );
      report.checks.bridge = true;
      const who = (await js(wc, pageCall('whoami', {}), 'whoami through window.chatty')) as IpcResult<{ peerId: string }>;
      if (!who.ok) throw new SmokeFailure(`whoami through the bridge failed: ${who.error.message}`);
      if (who.result.peerId !== me.peerId) throw new SmokeFailure(`whoami through the bridge answered another peer (${who.result.peerId})`);
      report.checks.bridgeWhoami = true;
      mark('bridgeReady');

      stage('waiting for the UI');
      await waitFor('the UI', async () => {
        const ui = (await js(wc, PROBE_UI, 'the page')) as { mounted: boolean; nick: string | null };
        if (!ui.mounted) return 'the Vue app did not mount (#app is empty)';
        report.checks.mounted = true;
        return ui.nick === me.nick ? undefined : `the UI does not show the nick "${me.nick}" (shows ${JSON.stringify(ui.nick)})`;
      });
      report.checks.identityShown = true;
      mark('uiReady');

      // The first-run "choose a nickname" dialog would cover the screenshot: skip it like a user.
      await js(wc, `document.querySelector('[data-testid="nick-skip"]')?.click(), true`, 'the page');

      stage('joining and sending through the bridge');
      await js(wc, LISTEN, 'the page');
      const joined = (await js(wc, pageCall('join', { room: SMOKE_ROOM }), 'join through window.chatty')) as IpcResult<{ room: string }>;
      if (!joined.ok) throw new SmokeFailure(`join through the bridge failed: ${joined.error.message}`);
      mark('joined');
      const text = `smoke test from ${os.hostname()} at ${new Date().toISOString()}`;
      const sent = (await js(wc, pageCall('send', { room: SMOKE_ROOM, text }), 'send through window.chatty')) as IpcResult<{
        id: string;
      }>;
      if (!sent.ok) throw new SmokeFailure(`send through the bridge failed: ${sent.error.message}`);
      report.messageId = sent.result.id;
      report.text = text;
      report.checks.sent = true;
      mark('sent');

      stage('checking that the node stored the message');
      const history = await node.history({ room: SMOKE_ROOM, limit: 50 });
      if (!history.some((m) => m.id === sent.result.id && m.text === text)) {
        throw new SmokeFailure(`the node's history of #${SMOKE_ROOM} lacks message ${sent.result.id}`);
      }
      report.checks.stored = true;
      mark('stored');

      stage("checking the peer's event-checking worker thread");
      if (!(await node.eventCheckWorkerAnswers())) throw new SmokeFailure('the event-checking worker thread did not start or answer');
      report.checks.eventCheckWorker = true;
      mark('eventCheckWorker');

      stage('waiting for the message notification in the renderer');
      const id = JSON.stringify(sent.result.id);
      await waitFor('the message notification', async () =>
        (await js(wc, `window.__chattySmoke.messages.includes(${id})`, 'the page')) ? undefined : 'not received by the page',
      );
      report.checks.notified = true;
      mark('notified');

      stage('waiting for the UI to show the message');
      await waitFor('the message on screen', async () => {
        const seen = (await js(wc, showRoom([SMOKE_ROOM, joined.result.room], text), 'the page')) as { listed: boolean; shown: boolean };
        if (!seen.listed) return `#${SMOKE_ROOM} is not in the sidebar`;
        return seen.shown ? undefined : 'the message is not rendered';
      });
      report.checks.rendered = true;
      mark('rendered');

      stage('taking the screenshot');
      await withTimeout(js(wc, NEXT_FRAME, 'a frame'), 1000, 'a frame').catch(() => undefined);
      await screenshot();
      report.checks.screenshot = true;
      mark('screenshot');
      succeed();
    } catch (err) {
      // A failed screenshot is not retried for the failure report.
      fail(err instanceof Error ? err.message : String(err), report.stage !== 'taking the screenshot');
    }
  }

  function succeed(): void {
    if (done) return;
    done = true;
    clearTimeout(globalTimer);
    report.ok = true;
    report.stage = 'done';
    report.finishedAt = new Date().toISOString();
    mark('total');
    save();
    console.log(`chatty smoke: ok — message ${report.messageId} sent through the bridge, stored and shown; report in ${dir}`);
    // Quit through the normal clean shutdown (index.ts closes the node, then exits with 0).
    setTimeout(() => {
      report.ok = false;
      report.reason = `the app did not quit within ${QUIT_TIMEOUT_MS / 1000} s`;
      console.error(`chatty smoke: FAILED: ${report.reason}`);
      save();
      app.exit(1);
    }, QUIT_TIMEOUT_MS);
    app.quit();
  }

  /** Evaluates page code (the page's main world, where the preload's bridge lives), bounded; `awaiting` names what a hang waits for. */
  async function js(wc: WebContents, code: string, awaiting: string): Promise<unknown> {
    if (wc.isDestroyed()) throw new SmokeFailure('the page is gone');
    waiting = `no answer from ${awaiting}`;
    const result = await withTimeout(wc.executeJavaScript(code), STEP_TIMEOUT_MS, awaiting);
    waiting = '';
    return result;
  }

  /** Polls `check` (undefined = satisfied, else what is missing) until it holds or the step times out. */
  async function waitFor(what: string, check: () => Promise<string | undefined>): Promise<void> {
    const deadline = Date.now() + STEP_TIMEOUT_MS;
    for (;;) {
      const missing = await check();
      if (missing === undefined) return;
      waiting = missing;
      if (done) throw new SmokeFailure('stopped');
      if (Date.now() > deadline) throw new SmokeFailure(`${what} not ready after ${STEP_TIMEOUT_MS / 1000} s: ${missing}`);
      await sleep(POLL_MS);
    }
  }

  function pageLoaded(wc: WebContents): Promise<void> {
    if (!wc.isLoading() && wc.getURL()) return Promise.resolve();
    waiting = 'the page never finished loading';
    return withTimeout(new Promise<void>((resolve) => wc.once('did-finish-load', () => resolve())), STEP_TIMEOUT_MS, 'the page load');
  }

  function watchRenderer(window: BrowserWindow, wc: WebContents): void {
    wc.on('did-fail-load', (_e, code, description, url, isMainFrame) => {
      if (isMainFrame) fail(`the page did not load: ${description} (${code}) ${url}`);
    });
    wc.on('preload-error', (_e, preloadPath, error) => fail(`the preload ${preloadPath} failed: ${error.message}`));
    wc.on('render-process-gone', (_e, details) => fail(`the renderer process is gone: ${details.reason}`));
    wc.on('console-message', ({ level, message }) => {
      if ((level === 'error' || level === 'warning') && report.console.length < 50) report.console.push(`${level}: ${message}`);
    });
    window.on('closed', () => fail('the window was closed'));
  }

  return { dir, run, fail: (reason) => fail(reason) };
}
