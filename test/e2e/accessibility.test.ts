/**
 * End to end, issue #18: the browser UI of a real headless peer checked for WCAG 2.1 AA. Two real
 * peers (alice in the page, bob through the API) make two rooms, an invite-only one, a DM,
 * messages with replies, reactions, an edit and a mention, so every view has content. axe-core
 * checks every main view and dialog in the light and the dark scheme (serious and critical
 * findings fail, moderate ones are printed); then what axe cannot see: the keyboard path through
 * a message's actions and reactions, focus going into dialogs and back, the live region,
 * reduced motion and text at 200 %.
 *
 * Needs `npm run build` (out/node and out/renderer) and /usr/bin/chromium.
 */
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PeerProcess } from '../helpers/peer-process.js';
import { eventually } from '../helpers/peer-process.js';
import { axeCheck } from '../helpers/axe.js';
import { chromiumAvailable, messageRow, PeersWithPages, screenshot, tid, type User } from '../helpers/browser.js';

const WAIT = 20_000;

let lab: PeersWithPages | undefined;
let alice: User;
let bob: PeerProcess;
let general: string;
let design: string;
let random: string;

const roomItem = (page: Page, id: string) => page.locator(`${tid('room-item')}[data-room="${id}"]`);
const dmItem = (page: Page, peerId: string) => page.locator(`${tid('dm-item')}[data-peer="${peerId}"]`);
/** What has the focus: its data-testid, else its tag and accessible name. */
const FOCUSED = `(() => { const el = document.activeElement; return el && (el.getAttribute('data-testid') || el.tagName.toLowerCase() + ':' + (el.getAttribute('aria-label') || el.textContent.trim()).slice(0, 40)); })()`;
const focused = (page: Page) => page.evaluate(FOCUSED) as Promise<string | null>;

async function openRoom(page: Page, id: string, text: string): Promise<void> {
  await roomItem(page, id).click();
  await page
    .locator(tid('conversation-title'))
    .and(page.locator(`[data-room="${id}"]`))
    .waitFor({ timeout: WAIT });
  await messageRow(page, text).waitFor({ timeout: WAIT });
}

async function openDialog(page: Page, opener: string, dialog: string): Promise<void> {
  await page.locator(tid(opener)).first().click();
  await page.locator(tid(dialog)).waitFor({ timeout: WAIT });
}

async function closeDialog(page: Page, dialog: string): Promise<void> {
  await page.keyboard.press('Escape');
  await page.locator(tid(dialog)).waitFor({ state: 'detached', timeout: WAIT });
}

/** Shows a message's toolbar (it appears on hover or focus) and clicks one of its buttons. */
async function act(page: Page, text: string, button: string): Promise<void> {
  const row = messageRow(page, text);
  await row.hover();
  await row.locator(tid(button)).click();
}

/** A view or dialog to check: how to get there from the room `general`, and back. */
interface View {
  name: string;
  open: (page: Page) => Promise<void>;
  close: (page: Page) => Promise<void>;
}

const VIEWS: View[] = [
  { name: 'room', open: async () => undefined, close: async () => undefined },
  {
    name: 'members panel with a member menu',
    open: async (page) => {
      await page.locator(`${tid('member')}[data-nick="bob"] ${tid('member-menu-button')}`).click();
      await page.locator('[role="menu"]').waitFor({ timeout: WAIT });
    },
    close: async (page) => {
      await page.keyboard.press('Escape');
      await page.locator('[role="menu"]').waitFor({ state: 'detached', timeout: WAIT });
    },
  },
  {
    name: 'search panel with results',
    open: async (page) => {
      await page.locator(tid('open-search')).click();
      await page.locator(tid('search-input')).fill('release');
      await page.locator(tid('search-result')).first().waitFor({ timeout: WAIT });
    },
    close: async (page) => {
      await page.locator(tid('search-input')).press('Escape');
      await page.locator(tid('member-panel')).waitFor({ timeout: WAIT });
    },
  },
  {
    name: 'direct message with its profile',
    open: async (page) => {
      await dmItem(page, bob.peerId).click();
      await messageRow(page, 'a word in private').waitFor({ timeout: WAIT });
    },
    close: (page) => openRoom(page, general, 'release notes'),
  },
  {
    name: 'quick switcher',
    open: async (page) => {
      await page.keyboard.press('Control+k');
      await page.locator(tid('quick-switcher')).waitFor({ timeout: WAIT });
    },
    close: (page) => closeDialog(page, 'quick-switcher'),
  },
  {
    name: 'browse rooms',
    open: (page) => openDialog(page, 'browse-rooms', 'browse-dialog'),
    close: (page) => closeDialog(page, 'browse-dialog'),
  },
  { name: 'nickname', open: (page) => openDialog(page, 'me', 'nick-dialog'), close: (page) => closeDialog(page, 'nick-dialog') },
  {
    name: 'moderation',
    open: async (page) => {
      await page.locator(`${tid('member')}[data-nick="bob"] ${tid('member-menu-button')}`).click();
      await openDialog(page, 'member-action-kick', 'moderation-dialog');
    },
    close: (page) => closeDialog(page, 'moderation-dialog'),
  },
  {
    name: 'invite',
    open: async (page) => {
      await openRoom(page, design, 'design starts here');
      await openDialog(page, 'invite-button', 'invite-dialog');
    },
    close: async (page) => {
      await closeDialog(page, 'invite-dialog');
      await openRoom(page, general, 'release notes');
    },
  },
  {
    name: 'emoji picker',
    open: async (page) => {
      await act(page, 'release notes', 'add-reaction');
      await page.locator(tid('emoji-picker')).waitFor({ timeout: WAIT });
    },
    close: (page) => closeDialog(page, 'emoji-picker'),
  },
  {
    name: 'edit history',
    open: (page) => openDialog(page, 'edited-marker', 'edit-history-dialog'),
    close: (page) => closeDialog(page, 'edit-history-dialog'),
  },
  {
    name: 'delete confirmation',
    open: async (page) => {
      await act(page, 'release notes', 'delete-button');
      await page.locator(tid('delete-dialog')).waitFor({ timeout: WAIT });
    },
    close: (page) => closeDialog(page, 'delete-dialog'),
  },
  {
    name: 'status menu',
    open: (page) => openDialog(page, 'my-status', 'status-panel'),
    close: (page) => closeDialog(page, 'status-panel'),
  },
];

describe.skipIf(!chromiumAvailable())('accessibility of the browser UI (skipped only when /usr/bin/chromium is missing)', () => {
  beforeAll(async () => {
    lab = await PeersWithPages.launch();
    alice = await lab.user('alice');
    bob = await lab.peer({ nick: 'bob', connectTo: alice.peer, ui: false });
    await lab.linked(alice.peer, [bob]);
    general = (await alice.peer.call('join', { room: 'general' })).id;
    design = (await alice.peer.call('join', { room: 'design', private: true })).id;
    random = (await bob.call('join', { room: 'random' })).id;
    await eventually(async () => (await bob.call('rooms')).some((r) => r.id === general), WAIT, 'general at bob');
    await bob.call('join', { room: general });
    await eventually(async () => (await alice.peer.call('rooms')).some((r) => r.id === random), WAIT, 'random at alice');
    await alice.peer.call('join', { room: random });

    const notes = await alice.peer.call('send', { room: general, text: 'release notes are in the wiki' });
    await alice.peer.call('edit', { message: notes.id, text: 'release notes are in the wiki: https://wiki.example/notes' });
    const q = await bob.call('send', { room: general, text: 'thanks @alice, any `code` changes?', replyTo: notes.id });
    await bob.call('react', { message: notes.id, emoji: '👍' });
    await alice.peer.call('react', { message: q.id, emoji: '🎉' });
    await alice.peer.call('send', { room: design, text: 'design starts here' });
    await bob.call('dm', { to: alice.peer.peerId, text: 'a word in private' });
    await bob.call('send', { room: random, text: 'something for later' });
    await bob.call('setStatus', { status: 'busy', text: 'in a meeting' });

    await openRoom(alice.page, general, 'thanks @alice');
    await messageRow(alice.page, 'release notes').locator(tid('reaction')).waitFor({ timeout: WAIT });
    // Unread in `random` and the DM: the sidebar shows its badges.
    await dmItem(alice.page, bob.peerId).locator(tid('unread-badge')).waitFor({ timeout: WAIT });
    await roomItem(alice.page, random).locator(tid('unread-badge')).waitFor({ timeout: WAIT });
  });

  afterAll(async () => {
    await lab?.close();
  });

  describe.each(['light', 'dark'] as const)('axe, %s scheme', (scheme) => {
    beforeAll(async () => {
      await alice.page.emulateMedia({ colorScheme: scheme });
    });

    it.each(VIEWS.map((v) => [v.name, v] as const))('%s: no serious or critical violation', async (_name, view) => {
      const page = alice.page;
      await view.open(page);
      try {
        const { blocking, report } = await axeCheck(page, `${view.name} (${scheme})`);
        expect(blocking, report).toEqual([]);
      } finally {
        await view.close(page);
      }
    });

    it('draws a visible focus ring, 3:1 against its background, on every stop of the Tab order', async () => {
      const page = alice.page;
      await page.locator(tid('composer-input')).focus();
      await page.evaluate('document.activeElement.blur()');
      const seen: string[] = [];
      for (let i = 0; i < 45; i++) {
        await page.keyboard.press('Tab');
        const ring = (await page.evaluate(FOCUS_RING)) as { what: string; ratio: number } | null;
        if (!ring) continue;
        seen.push(ring.what);
        expect(ring.ratio, `focus ring of ${ring.what} (${scheme})`).toBeGreaterThanOrEqual(3);
      }
      // The walk went through the sidebar, the conversation and the member panel.
      expect(seen).toEqual(
        expect.arrayContaining(['me', 'room-item', 'message-list', 'reply-button', 'composer-input', 'member-menu-button']),
      );
    });
  });

  it('has landmarks: a nav, one main, a complementary panel, and one h1 per view', async () => {
    const page = alice.page;
    const count = (sel: string) => page.locator(sel).count();
    expect(await count('nav[aria-label="Conversations"]')).toBe(1);
    expect(await count('main')).toBe(1);
    expect(await page.locator('main').getAttribute('aria-label')).toBe('Room general');
    expect(await count('aside[aria-label="Members"]')).toBe(1);
    expect(await page.evaluate(`document.querySelector('aside').closest('main, section, article')`)).toBeNull(); // top level
    expect(await count('h1')).toBe(1);
    await page.locator(tid('open-search')).click();
    expect(await count('aside[aria-label="Search"]')).toBe(1);
    expect(await count('form[role="search"]')).toBe(1);
    await page.locator(tid('search-input')).press('Escape');
    // The message list is a log of articles, each saying who wrote it and when.
    expect(await count('[role="log"]')).toBe(1);
    const label = await messageRow(page, 'release notes').getAttribute('aria-label');
    expect(label).toMatch(/^alice at \d{1,2}:\d{2}.*: release notes/);
  });

  it('reaches every action of a message by keyboard, in order, and each works from the keyboard', async () => {
    const page = alice.page;
    const row = messageRow(page, 'release notes');
    const inRow = `document.querySelector('[data-id="${await row.getAttribute('data-id')}"]').contains(document.activeElement)`;
    await row.locator('.avatar-btn').focus();
    const stops: string[] = [];
    for (let i = 0; i < 12; i++) {
      await page.keyboard.press('Tab');
      if (!(await page.evaluate(inRow))) break;
      stops.push((await focused(page))!);
    }
    // Its link, "(edited)", the reactions, then the toolbar.
    expect(stops.filter((s) => !s.startsWith('a:'))).toEqual([
      'edited-marker',
      'reaction',
      'reply-button',
      'add-reaction',
      'edit-button',
      'delete-button',
    ]);
    // The toolbar shows while something in it has the focus.
    await row.locator(tid('reply-button')).focus();
    expect(await page.evaluate(`getComputedStyle(document.activeElement.closest('[role="toolbar"]')).opacity`)).toBe('1');

    // React: the picker takes the focus, arrows move, Enter picks; the focus comes back to the button.
    await page.keyboard.press('Tab');
    await page.keyboard.press('Enter');
    await page.locator(tid('emoji-picker')).waitFor({ timeout: WAIT });
    expect(await focused(page)).toBe('emoji-option');
    await page.keyboard.press('ArrowRight');
    const emoji = await page.evaluate(`document.activeElement.dataset.emoji`);
    await page.keyboard.press('Enter');
    await page.locator(tid('emoji-picker')).waitFor({ state: 'detached', timeout: WAIT });
    expect(await focused(page)).toBe('add-reaction');
    const mine = row.locator(`${tid('reaction')}[data-emoji="${emoji as string}"]`);
    await expect.poll(() => mine.getAttribute('aria-pressed'), { timeout: WAIT }).toBe('true');
    // The reaction bar: a toggle per emoji, Space takes mine back.
    await mine.focus();
    await page.keyboard.press('Space');
    await mine.waitFor({ state: 'detached', timeout: WAIT });

    // Reply: the composer takes the focus with the reply above it; Escape drops the reply.
    await row.locator(tid('reply-button')).focus();
    await page.keyboard.press('Enter');
    await page.locator(tid('replying-to')).waitFor({ timeout: WAIT });
    expect(await focused(page)).toBe('composer-input');
    await page.keyboard.press('Escape');
    await page.locator(tid('replying-to')).waitFor({ state: 'detached', timeout: WAIT });

    // Edit: the editor takes the focus; Escape leaves it.
    await row.locator(tid('edit-button')).focus();
    await page.keyboard.press('Enter');
    await expect.poll(() => page.evaluate(`document.activeElement.tagName`)).toBe('TEXTAREA');
    expect(await page.evaluate(inRow)).toBe(true);
    await page.keyboard.press('Escape');
    await row.locator(tid('message-text')).waitFor({ timeout: WAIT });

    // Delete: the dialog takes the focus, Escape closes it and the focus is back on the button.
    await row.locator(tid('delete-button')).focus();
    await page.keyboard.press('Enter');
    await page.locator(tid('delete-dialog')).waitFor({ timeout: WAIT });
    expect(await page.evaluate(`document.querySelector('[data-testid="delete-dialog"]').contains(document.activeElement)`)).toBe(true);
    await closeDialog(page, 'delete-dialog');
    expect(await focused(page)).toBe('delete-button');
  });

  it.each([
    ['browse-rooms', 'browse-dialog'],
    ['me', 'nick-dialog'],
    ['my-status', 'status-panel'],
    ['open-switcher', 'quick-switcher'],
  ])('moves the focus into %s’s dialog on open and back to it on close', async (opener, dialog) => {
    const page = alice.page;
    await page.locator(tid(opener)).focus();
    await page.keyboard.press('Enter');
    await page.locator(tid(dialog)).waitFor({ timeout: WAIT });
    await expect
      .poll(() => page.evaluate(`document.querySelector('[data-testid="${dialog}"]').contains(document.activeElement)`))
      .toBe(true);
    await closeDialog(page, dialog);
    expect(await focused(page)).toBe(opener);
  });

  it('announces a burst of new messages once, coalesced, through a polite live region', async () => {
    const page = alice.page;
    const region = page.locator(tid('new-messages-announcement'));
    expect(await region.getAttribute('aria-live')).toBe('polite');
    for (const text of ['first of three', 'second of three', 'third of three']) await bob.call('send', { room: general, text });
    await messageRow(page, 'third of three').waitFor({ timeout: WAIT });
    await expect.poll(() => region.textContent(), { timeout: WAIT }).toBe('3 new messages from bob');
  });

  it('stops animations, transitions and smooth scrolling when reduced motion is asked for', async () => {
    const page = alice.page;
    const motion = async () => {
      await openDialog(page, 'me', 'nick-dialog');
      const styles = (await page.evaluate(MOTION)) as { dialog: string; backdrop: string; button: string; scroll: string };
      await closeDialog(page, 'nick-dialog');
      return styles;
    };
    await page.emulateMedia({ reducedMotion: 'no-preference' });
    const moving = await motion();
    expect(moving.dialog).not.toBe('none'); // what the check below would miss if it broke
    expect(moving.button).not.toBe('0s');
    await page.emulateMedia({ reducedMotion: 'reduce' });
    try {
      expect(await motion()).toEqual({ dialog: 'none', backdrop: 'none', button: '0s', scroll: 'auto' });
    } finally {
      await page.emulateMedia({ reducedMotion: 'no-preference' });
    }
  });

  it('reflows at 400 % zoom (1280 × 1024 seen as 320 × 256): one pane at a time, with a way back to the list', async () => {
    const zoomed = await lab!.open(alice.peer, { width: 320, height: 256, firstRun: 'skip' });
    try {
      const page = zoomed.page;
      await bob.call('send', { room: general, text: 'read at four times the size' });
      // a conversation is open (the first one): it alone, with its controls and the way back
      await page.locator(tid('conversation-title')).waitFor({ timeout: WAIT });
      expect(await page.evaluate(reflow([...CONVERSATION_CONTROLS, 'show-conversations']))).toEqual({ sideways: [], outside: [] });
      expect(await page.locator(tid('my-nick')).isVisible()).toBe(false);
      await screenshot(page, 'a11y-zoom-400-conversation');
      // back to the list: it alone, the focus on the conversation that was open
      await page.locator(tid('show-conversations')).click();
      await roomItem(page, general).waitFor({ timeout: WAIT });
      expect(await page.evaluate(reflow([...SIDEBAR_CONTROLS, 'room-item']))).toEqual({ sideways: [], outside: [] });
      expect(await page.locator(tid('conversation-title')).isVisible()).toBe(false);
      expect(await focused(page)).toBe('room-item');
      await screenshot(page, 'a11y-zoom-400-list');
      // a room from the list: the conversation again, its newest message in view, the focus in the composer
      await openRoom(page, general, 'read at four times the size');
      expect(await page.evaluate(reflow(CONVERSATION_CONTROLS))).toEqual({ sideways: [], outside: [] });
      const last = await messageRow(page, 'read at four times the size').boundingBox();
      const composer = await page.locator(tid('composer-input')).boundingBox();
      expect(last!.y).toBeGreaterThanOrEqual(0);
      expect(last!.y + last!.height).toBeLessThanOrEqual(composer!.y + 1);
      await expect.poll(() => focused(page), { timeout: WAIT }).toBe('composer-input');
      await screenshot(page, 'a11y-zoom-400-room');
      // the member panel takes the whole width, and closes from itself
      await page.locator(tid('toggle-members')).click();
      const panel = await page.locator(tid('member-panel')).boundingBox();
      expect(panel!.x).toBeGreaterThanOrEqual(0);
      expect(panel!.x + panel!.width).toBeLessThanOrEqual(320.5);
      await screenshot(page, 'a11y-zoom-400-members');
      await page.getByRole('button', { name: 'Close panel' }).click();
      await page.locator(tid('member-panel')).waitFor({ state: 'detached', timeout: WAIT });
      expect(zoomed.errors).toEqual([]);
    } finally {
      await zoomed.context.close();
    }
  });

  it('reflows at 200 % zoom (1280 × 800 seen as 640 × 400): no sideways scrolling, nothing cut off', async () => {
    // Browser zoom at 200 % halves the viewport in CSS pixels: the same layout as a 640 × 400 window.
    const zoomed = await lab!.open(alice.peer, { width: 640, height: 400, firstRun: 'skip' });
    try {
      const page = zoomed.page;
      await bob.call('send', { room: general, text: 'read at twice the size' });
      await openRoom(page, general, 'read at twice the size');
      const fits = (await page.evaluate(reflow([...CONVERSATION_CONTROLS, ...SIDEBAR_CONTROLS]))) as Fits;
      await screenshot(page, 'a11y-zoom-200');
      expect(fits).toEqual({ sideways: [], outside: [] });
      // The newest message is in view above the composer.
      const last = await messageRow(page, 'read at twice the size').boundingBox();
      const composer = await page.locator(tid('composer-input')).boundingBox();
      expect(last!.y).toBeGreaterThanOrEqual(0);
      expect(last!.y + last!.height).toBeLessThanOrEqual(composer!.y + 1);
      expect(zoomed.errors).toEqual([]);
    } finally {
      await zoomed.context.close();
    }
  });
});

// Scripts run in the page (this project's Node code is type-checked without the DOM).
/**
 * The focused element's ring (outline, else box-shadow, on it or on the nearest ancestor that
 * rings its focused content) and its contrast with the first opaque background behind it.
 */
const FOCUS_RING = `(() => {
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  const rgb = (c) => { const m = c.match(/rgba?\\(([\\d.]+),\\s*([\\d.]+),\\s*([\\d.]+)(?:,\\s*([\\d.]+))?/); return m && { r: +m[1], g: +m[2], b: +m[3], a: m[4] === undefined ? 1 : +m[4] }; };
  const lum = ({ r, g, b }) => { const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; }; return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b); };
  const ringOf = (node) => {
    const s = getComputedStyle(node);
    if (s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2) return rgb(s.outlineColor);
    if (s.boxShadow !== 'none') return rgb(s.boxShadow);
    return null;
  };
  let host = el;
  let ring = ringOf(el);
  for (let up = el.parentElement, i = 0; !ring && up && i < 4; up = up.parentElement, i++) {
    if (up.matches(':focus-within')) { ring = ringOf(up); host = up; }
  }
  const what = el.getAttribute('data-testid') || el.tagName.toLowerCase() + '.' + el.className;
  if (!ring) return { what, ratio: 0 };
  let bg = null;
  for (let up = host.parentElement; up && !bg; up = up.parentElement) { const c = rgb(getComputedStyle(up).backgroundColor); if (c && c.a === 1) bg = c; }
  bg = bg || { r: 255, g: 255, b: 255 };
  const [hi, lo] = [lum(ring), lum(bg)].sort((a, b) => b - a);
  return { what, ratio: Math.round(((hi + 0.05) / (lo + 0.05)) * 100) / 100 };
})()`;
/** What moves on screen: the dialog's and backdrop's animation, a button's transition, the list's scrolling. */
const MOTION = `(() => {
  const panel = document.querySelector('[data-testid="nick-dialog"]');
  return {
    dialog: getComputedStyle(panel).animationName,
    backdrop: getComputedStyle(panel.parentElement).animationName,
    button: getComputedStyle(panel.querySelector('.btn')).transitionDuration,
    scroll: getComputedStyle(document.querySelector('[data-testid="message-list"]')).scrollBehavior,
  };
})()`;
/** Elements wider than their box (sideways scrolling), and key controls not wholly in the window. */
/**
 * Sideways scrolling of the page and of the conversation, and which of `ids` are not wholly inside
 * the window (or not shown at all).
 */
const reflow = (ids: string[]) => `(() => {
  const sideways = [];
  for (const el of [document.documentElement, document.body, document.querySelector('main'), document.querySelector('[data-testid="message-list"]')]) {
    if (el && el.scrollWidth > el.clientWidth + 1) sideways.push(el.tagName.toLowerCase() + '.' + el.className);
  }
  const outside = [];
  for (const id of ${JSON.stringify(ids)}) {
    const el = document.querySelector('[data-testid="' + id + '"]');
    const r = el && el.getBoundingClientRect();
    if (!r || r.width === 0 || r.left < 0 || r.top < 0 || r.right > innerWidth + 0.5 || r.bottom > innerHeight + 0.5) outside.push(id + ' ' + JSON.stringify(r));
  }
  return { sideways, outside };
})()`;
/** The conversation's controls, and the sidebar's. */
const CONVERSATION_CONTROLS = ['conversation-title', 'composer-input', 'send-button', 'attach-button', 'toggle-members', 'open-search'];
const SIDEBAR_CONTROLS = ['my-nick', 'open-switcher'];
type Fits = { sideways: string[]; outside: string[] };
