/**
 * The renderer with a 100k-message room, in real headless Chromium: served by
 * the real UI server over a fake service (the peer is not what is measured
 * here). It must open at the newest message, keep the DOM small, scroll
 * without long stalls, and take new messages cheaply.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChattyError, type Message, type RoomInfo } from '../../src/shared/api.js';
import { startUiServer, type UiServer } from '../../src/cli/ui-server.js';
import { fakeService, type FakeService } from '../helpers/fake-service.js';
import { chromiumAvailable, launchBrowser, openPage, screenshot, tid, type OpenedPage } from '../helpers/browser.js';

const STATIC_DIR = resolve(import.meta.dirname, '../../out/renderer');
const COUNT = 100_000;
const ME = { peerId: 'M'.repeat(43), nick: 'me' };
const BIG = { id: `!${'b'.repeat(43)}`, name: 'big' };
const OTHERS = ['ada', 'grace', 'linus', 'margaret', 'ken'].map((nick, i) => ({ peerId: String.fromCharCode(65 + i).repeat(43), nick }));

function bigRoomService(): FakeService {
  const start = Date.now() - COUNT * 30_000;
  const messages: Message[] = Array.from({ length: COUNT }, (_, i) => ({
    id: `m${i}`,
    room: BIG.id,
    roomName: BIG.name,
    from: OTHERS[i % OTHERS.length]!,
    text:
      i % 7 === 0
        ? `message ${i}: a longer one that wraps over more than a single line, to give the rows different heights. `.repeat(2)
        : `message ${i}`,
    sentAt: start + i * 30_000,
  }));
  return fakeService(
    {
      whoami: async () => ({ ...ME, port: 1, fingerprint: 'MMMM-MMMM', status: 'online' as const, readReceipts: true }),
      setNick: async ({ nick }) => ({ peerId: ME.peerId, nick }),
      peers: async () =>
        OTHERS.map((p) => ({
          ...p,
          connected: true,
          addresses: [],
          state: 'connected' as const,
          fingerprint: p.peerId.slice(0, 4),
          status: 'online' as const,
        })),
      rooms: async () => [
        {
          id: BIG.id,
          room: BIG.id,
          name: BIG.name,
          owner: ME,
          joined: true,
          private: false,
          banned: [],
          members: [
            { ...ME, role: 'owner' as const, online: true, status: 'online' as const },
            ...OTHERS.map((p) => ({ ...p, role: 'member' as const, online: true, status: 'online' as const })),
          ],
        } satisfies RoomInfo,
      ],
      // The whole room in one answer: the renderer must cope with 100k messages at once.
      history: async ({ before }) => (before ? [] : messages),
      dmHistory: async () => [],
      typing: async () => ({}),
      readMarkers: async () => [{ room: BIG.id, unread: 0, mentions: 0 }],
      markRead: async ({ message }) => ({ room: BIG.id, message, unread: 0, mentions: 0 }),
      search: async () => [],
      shutdown: async () => ({}),
    },
    new ChattyError('forbidden', 'not in this test'),
  );
}

describe.skipIf(!chromiumAvailable())('a 100k-message room in the browser (skipped only when /usr/bin/chromium is missing)', () => {
  const service = bigRoomService();
  let server: UiServer;
  let browser: Browser;
  let ui: OpenedPage;

  beforeAll(async () => {
    if (!existsSync(resolve(STATIC_DIR, 'index.html'))) throw new Error('the renderer is not built: run `npm run build` first');
    server = await startUiServer({ service, port: 0, staticDir: STATIC_DIR });
    browser = await launchBrowser();
    ui = await openPage(browser, server.url);
    await ui.page.locator(tid('nick-skip')).click();
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it('opens at the newest message with a small DOM', async () => {
    const t0 = Date.now();
    await ui.page.locator(tid('message-text'), { hasText: `message ${COUNT - 1}` }).waitFor({ timeout: 30_000 });
    const openMs = Date.now() - t0;
    expect(openMs).toBeLessThan(15_000);
    expect(await ui.page.locator(tid('message')).count()).toBeLessThan(100);
    await screenshot(ui.page, '20-big-room');
  });

  it('scrolls through the whole room without long stalls', async () => {
    const list = ui.page.locator(tid('message-list'));
    // Jump to many positions, one per frame, and time the frames.
    const frames = await list.evaluate(async (el) => {
      const times: number[] = [];
      let last = performance.now();
      for (let i = 0; i <= 60; i++) {
        el.scrollTop = (el.scrollHeight * (60 - i)) / 60;
        await new Promise((r) =>
          (globalThis as unknown as { requestAnimationFrame(cb: () => void): number }).requestAnimationFrame(() => r(null)),
        );
        const now = performance.now();
        times.push(now - last);
        last = now;
      }
      return times;
    });
    frames.sort((a, b) => a - b);
    const median = frames[Math.floor(frames.length / 2)]!;
    expect(median).toBeLessThan(250); // a non-virtualized list takes seconds per frame here
    expect(await ui.page.locator(tid('message')).count()).toBeLessThan(100);
    await screenshot(ui.page, '21-big-room-scrolled');
  });

  it('takes a burst of new messages cheaply and follows them at the bottom', async () => {
    await ui.page.locator(tid('jump-to-latest')).click();
    await ui.page.locator(tid('message-text'), { hasText: `message ${COUNT - 1}` }).waitFor();
    const t0 = Date.now();
    for (let i = 0; i < 200; i++) {
      service.emit('message', {
        id: `new${i}`,
        room: BIG.id,
        roomName: BIG.name,
        from: OTHERS[i % 5]!,
        text: `live ${i}`,
        sentAt: Date.now(),
      });
    }
    await ui.page.locator(tid('message-text'), { hasText: 'live 199' }).waitFor({ timeout: 15_000 });
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(await ui.page.locator(tid('message')).count()).toBeLessThan(100);
    expect(ui.errors).toEqual([]);
  });
});
