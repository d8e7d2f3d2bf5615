/**
 * Headless Chromium (Debian's /usr/bin/chromium) driven by playwright-core,
 * for end-to-end tests of the browser UI served by real peers.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { chromium, type Browser, type BrowserContext, type ConsoleMessage, type Page } from 'playwright-core';
import { eventually, PeerProcess, type PeerProcessOptions } from './peer-process.js';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const ARTIFACTS_DIR = resolve(import.meta.dirname, '../../test-artifacts');

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  // Two pages side by side must both keep running timers and animations.
  '--disable-background-timer-throttling',
  '--disable-renderer-backgrounding',
  '--disable-backgrounding-occluded-windows',
];

/** Whether the browser UI and the headless peer are built (`npm run build`): the e2e tests need both. */
export const UI_BUILT =
  existsSync(resolve(import.meta.dirname, '../../out/renderer/index.html')) &&
  existsSync(resolve(import.meta.dirname, '../../out/node/cli/index.js'));

export function chromiumAvailable(): boolean {
  return existsSync(CHROMIUM_PATH);
}

export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS, headless: true });
}

export interface OpenedPage {
  context: BrowserContext;
  page: Page;
  /** Console errors and uncaught page errors seen so far. */
  errors: string[];
}

/** A fresh browser context (own localStorage) with one page on `url`. */
export async function openPage(
  browser: Browser,
  url: string,
  opts: { colorScheme?: 'light' | 'dark'; width?: number; height?: number } = {},
): Promise<OpenedPage> {
  const context = await browser.newContext({
    viewport: { width: opts.width ?? 1280, height: opts.height ?? 800 },
    colorScheme: opts.colorScheme ?? 'light',
    deviceScaleFactor: 1,
  });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('console', (msg: ConsoleMessage) => {
    if (msg.type() === 'error') errors.push(msg.text());
  });
  page.on('pageerror', (err: Error) => errors.push(err.message));
  await page.goto(url);
  return { context, page, errors };
}

/** What `openPage` takes: the colour scheme and the viewport. */
export type PageOptions = NonNullable<Parameters<typeof openPage>[2]>;

/** A person at one peer: the headless peer and the page of its browser UI. */
export interface User extends OpenedPage {
  nick: string;
  peer: PeerProcess;
}

/**
 * Real headless peers (`chatty --json --ui-port 0`), each with its browser UI open in one shared
 * headless Chromium: what the e2e files start in `beforeAll` and stop in `afterAll`.
 */
export class PeersWithPages {
  readonly processes: PeerProcess[] = [];

  private constructor(readonly browser: Browser) {}

  /** Launches the browser; the app must be built (`npm run build`). */
  static async launch(): Promise<PeersWithPages> {
    if (!UI_BUILT) throw new Error('the app is not built: run `npm run build` before the e2e tests');
    return new PeersWithPages(await launchBrowser());
  }

  /** A headless peer (serving its UI unless `ui: false`), linked to `connectTo` when given; stopped by `close`. */
  async peer(opts: PeerProcessOptions & { connectTo?: PeerProcess } = {}): Promise<PeerProcess> {
    const { connectTo, ...rest } = opts;
    const peer = await PeerProcess.start({ ui: true, ...rest, peers: connectTo ? [connectTo.url, ...(rest.peers ?? [])] : rest.peers });
    this.processes.push(peer);
    return peer;
  }

  /**
   * A fresh page (own localStorage) on `peer`'s UI. `firstRun` says what is done with the first-run
   * nickname dialog: left open (`keep`), answered with `nick` (`choose`) or skipped (`skip`).
   */
  async open(peer: PeerProcess, opts: PageOptions & { firstRun?: 'keep' | 'choose' | 'skip'; nick?: string } = {}): Promise<OpenedPage> {
    const url = (peer.ready as { ui?: string }).ui;
    if (!url) throw new Error(`peer ${peer.opts.nick} serves no UI`);
    const opened = await openPage(this.browser, url, opts);
    if (opts.firstRun === 'choose') await chooseNick(opened.page, opts.nick ?? peer.opts.nick ?? 'me');
    else if (opts.firstRun === 'skip') await opened.page.locator(tid('nick-skip')).click({ timeout: 20_000 });
    return opened;
  }

  /**
   * A user called `nick`: a peer started with the provisional nick `NICK-cli` (the real one is
   * picked in the page unless `firstRun` is `keep`), linked to `connectTo`, and its page.
   */
  async user(
    nick: string,
    opts: PageOptions & { connectTo?: PeerProcess; firstRun?: 'keep' | 'choose'; env?: NodeJS.ProcessEnv } = {},
  ): Promise<User> {
    const peer = await this.peer({ nick: `${nick}-cli`, connectTo: opts.connectTo, env: opts.env });
    const ui = await this.open(peer, { ...opts, nick, firstRun: opts.firstRun ?? 'choose' });
    return { ...ui, nick, peer };
  }

  /** Waits until `a` has a live link to each of `others`. */
  async linked(a: PeerProcess, others: PeerProcess[], timeout = 20_000): Promise<void> {
    await eventually(
      async () => {
        const list = await a.call('peers');
        return others.every((o) => list.some((p) => p.peerId === o.peerId && p.connected));
      },
      timeout,
      `${a.opts.nick} linked to ${others.map((o) => o.opts.nick).join(', ')}`,
    );
  }

  async close(): Promise<void> {
    await this.browser.close().catch(() => undefined);
    await Promise.all(this.processes.map((p) => p.stop().catch(() => undefined)));
  }
}

/** Saves a PNG of the page to test-artifacts/NAME.png (the folder is git-ignored). */
export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(ARTIFACTS_DIR, { recursive: true });
  const path = join(ARTIFACTS_DIR, `${name}.png`);
  // Let enter transitions (toasts, dialogs) finish so the picture shows what a person sees.
  await page.waitForTimeout(300);
  await page.screenshot({ path, animations: 'disabled' });
  return path;
}

/** The `data-testid` selector. */
export const tid = (id: string): string => `[data-testid="${id}"]`;

/** Answers the first-run nickname dialog with `nick` and waits for the page to show it. */
export async function chooseNick(page: Page, nick: string, timeout = 20_000): Promise<void> {
  const dialog = page.locator(tid('nick-dialog'));
  await dialog.waitFor({ timeout });
  await page.locator(tid('nick-input')).fill(nick);
  await page.locator(tid('nick-save')).click();
  await dialog.waitFor({ state: 'detached', timeout });
  await page.locator(tid('my-nick')).filter({ hasText: nick }).waitFor({ timeout });
}

/** Types `text` into the composer, sends it with Enter, and waits for the composer to clear. */
export async function sendMessage(page: Page, text: string): Promise<void> {
  const input = page.locator(tid('composer-input'));
  await input.fill(text);
  await input.press('Enter');
  await eventually(async () => (await input.inputValue()) === '', 10_000, `"${text.slice(0, 30)}" sent`);
}

/** The message row (`data-testid="message"`) whose text contains `text`. */
export function messageRow(page: Page, text: string) {
  return page.locator(tid('message'), { has: page.locator(tid('message-text'), { hasText: text }) });
}
