/**
 * Headless Chromium (Debian's /usr/bin/chromium) driven by playwright-core,
 * for end-to-end tests of the browser UI served by real peers.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { chromium, type Browser, type BrowserContext, type ConsoleMessage, type Page } from 'playwright-core';

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

/** The message row (`data-testid="message"`) whose text contains `text`. */
export function messageRow(page: Page, text: string) {
  return page.locator(tid('message'), { has: page.locator(tid('message-text'), { hasText: text }) });
}
