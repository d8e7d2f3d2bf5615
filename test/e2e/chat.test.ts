/**
 * End to end: three real headless peers (`chatty --json`, separate processes
 * on loopback), each serving its browser UI, driven in headless Chromium the
 * way a person uses them. Screenshots of the main screens go to test-artifacts/.
 *
 * Needs `npm run build` (out/node and out/renderer) and /usr/bin/chromium.
 */
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fingerprint } from '../../src/shared/api.js';
import { eventually, PeerProcess } from '../helpers/peer-process.js';
import { chromiumAvailable, sendMessage, PeersWithPages, screenshot, tid, type User } from '../helpers/browser.js';

const ROOM = 'lobby';
const WAIT = 20_000;

let lab: PeersWithPages | undefined;
let alice: User;
let bob: User;
let carol: User;
/** Id of the room ROOM (the UI and the API name rooms by id; names may be shared). */
let lobby: string;

const messageText = (page: Page, text: string) => page.locator(tid('message-text'), { hasText: text });
const roomItem = (page: Page, id: string) => page.locator(`${tid('room-item')}[data-room="${id}"]`);
const member = (page: Page, nick: string) => page.locator(`${tid('member')}[data-nick="${nick}"]`);
const toastWith = (page: Page, text: string) => page.locator(tid('toast'), { hasText: text });

/** The id of the one room called `name` that `peer` knows, once it knows it. */
async function roomIdOf(peer: PeerProcess, name: string): Promise<string> {
  return eventually(
    async () => {
      const named = (await peer.call('rooms')).filter((r) => r.name === name);
      return named.length === 1 && named[0]!.id;
    },
    WAIT,
    `room ${name} at ${peer.opts.nick}`,
  );
}

describe.skipIf(!chromiumAvailable())('browser UI end to end (skipped only when /usr/bin/chromium is missing)', () => {
  beforeAll(async () => {
    lab = await PeersWithPages.launch();
    // Each page is left at the first-run dialog: the first test answers it.
    alice = await lab.user('alice', { firstRun: 'keep' });
    bob = await lab.user('bob', { connectTo: alice.peer, firstRun: 'keep' });
    carol = await lab.user('carol', { connectTo: alice.peer, firstRun: 'keep' });
    await lab.linked(alice.peer, [bob.peer, carol.peer]);
  });

  afterAll(async () => {
    await lab?.close();
  });

  it('asks each user for a nickname on first run', async () => {
    await alice.page.locator(tid('nick-dialog')).waitFor({ timeout: WAIT });
    await screenshot(alice.page, '01-welcome');
    for (const u of [alice, bob, carol]) {
      const dialog = u.page.locator(tid('nick-dialog'));
      await dialog.waitFor({ timeout: WAIT });
      await expect.poll(() => u.page.locator(tid('nick-input')).inputValue()).toBe(`${u.nick}-cli`);
      await u.page.locator(tid('nick-input')).fill(u.nick);
      await u.page.locator(tid('nick-save')).click();
      await dialog.waitFor({ state: 'detached', timeout: WAIT });
      await expect.poll(() => u.page.locator(tid('my-nick')).textContent()).toBe(u.nick);
      expect((await u.peer.call('whoami')).nick).toBe(u.nick);
    }
    // The dialog does not come back on reload: the choice is remembered.
    await carol.page.reload();
    await carol.page.locator(tid('my-nick')).filter({ hasText: 'carol' }).waitFor({ timeout: WAIT });
    expect(await carol.page.locator(tid('nick-dialog')).count()).toBe(0);
  });

  it('creates a room, and another peer finds it in "browse rooms" and joins', async () => {
    await alice.page.locator(tid('add-room')).click();
    await alice.page.locator(tid('join-room-input')).fill(ROOM);
    await alice.page.locator(tid('join-room-input')).press('Enter');
    await alice.page.locator(tid('conversation-title')).filter({ hasText: ROOM }).waitFor({ timeout: WAIT });
    lobby = await roomIdOf(alice.peer, ROOM);
    await roomItem(alice.page, lobby).waitFor();
    expect(await roomItem(alice.page, lobby).locator('.label').textContent()).toBe(ROOM); // a unique name is shown alone
    await member(alice.page, 'alice').waitFor();
    expect(await member(alice.page, 'alice').getAttribute('data-role')).toBe('owner');

    // Bob browses the network's rooms until the new one has reached his peer.
    await eventually(
      async () => {
        await bob.page.locator(tid('browse-rooms')).click();
        const entry = bob.page.locator(`${tid('browse-room')}[data-room="${lobby}"]`);
        const found = await entry
          .waitFor({ timeout: 2000 })
          .then(() => true)
          .catch(() => false);
        if (!found) await bob.page.keyboard.press('Escape');
        return found;
      },
      WAIT,
      'the room in bob’s directory',
    );
    await screenshot(bob.page, '02-browse-rooms');
    await bob.page.locator(`${tid('browse-room')}[data-room="${lobby}"] ${tid('browse-join')}`).click();
    await bob.page.locator(tid('conversation-title')).filter({ hasText: ROOM }).waitFor({ timeout: WAIT });
    await member(alice.page, 'bob').waitFor({ timeout: WAIT });
  });

  it('sends messages that show up on the other page, with mentions and typing', async () => {
    await sendMessage(alice.page, 'Hello from alice, welcome to the lobby!');
    await messageText(bob.page, 'Hello from alice').waitFor({ timeout: WAIT });

    // Typing indicator: bob types without sending.
    await bob.page.locator(tid('composer-input')).fill('');
    await bob.page.locator(tid('composer-input')).pressSequentially('Hi alice', { delay: 20 });
    await alice.page.locator(tid('typing-indicator')).filter({ hasText: 'bob is typing' }).waitFor({ timeout: WAIT });
    await bob.page.locator(tid('composer-input')).press('Enter');

    const fromBob = alice.page.locator(tid('message'), { hasText: 'Hi alice' });
    await fromBob.waitFor({ timeout: WAIT });
    expect(await fromBob.getAttribute('class')).toContain('mention'); // my nick is highlighted
    expect(await fromBob.getAttribute('data-author')).toBe('bob');

    // Shift+Enter makes a new line instead of sending.
    const input = alice.page.locator(tid('composer-input'));
    await input.fill('first line');
    await input.press('Shift+Enter');
    await input.pressSequentially('second line');
    expect(await input.inputValue()).toBe('first line\nsecond line');
    await input.press('Enter');
    await messageText(bob.page, 'second line').waitFor({ timeout: WAIT });
    await screenshot(alice.page, '03-room');
  });

  it('shows the room history to a late joiner', async () => {
    await carol.page.locator(tid('add-room')).click();
    await carol.page.locator(tid('join-room-input')).fill(ROOM);
    await carol.page.locator(tid('join-room-input')).press('Enter');
    await carol.page.locator(tid('conversation-title')).filter({ hasText: ROOM }).waitFor({ timeout: WAIT });
    await messageText(carol.page, 'Hello from alice').waitFor({ timeout: WAIT });
    await messageText(carol.page, 'Hi alice').waitFor({ timeout: WAIT });
    await screenshot(carol.page, '04-late-joiner');
  });

  it('delivers a direct message only to its addressee', async () => {
    await alice.page.locator(`${tid('peer-item')}[data-peer="${bob.peer.peerId}"]`).click();
    await alice.page.locator(tid('conversation-title')).filter({ hasText: 'bob' }).waitFor({ timeout: WAIT });
    await sendMessage(alice.page, 'psst bob, this is just for you');

    const dmItem = bob.page.locator(`${tid('dm-item')}[data-peer="${alice.peer.peerId}"]`);
    await dmItem.waitFor({ timeout: WAIT });
    await dmItem.locator(tid('unread-badge')).waitFor({ timeout: WAIT }); // unread until opened
    await dmItem.click();
    await messageText(bob.page, 'just for you').waitFor({ timeout: WAIT });
    await expect.poll(() => dmItem.locator(tid('unread-badge')).count()).toBe(0);
    await screenshot(bob.page, '05-direct-message');

    // Carol sees no such conversation, nor the text, and her peer has nothing either.
    await new Promise((r) => setTimeout(r, 1000));
    expect(await carol.page.locator(`${tid('dm-item')}[data-peer="${alice.peer.peerId}"]`).count()).toBe(0);
    expect(await carol.page.getByText('just for you').count()).toBe(0);
    expect(await carol.peer.call('dmHistory', { peer: alice.peer.peerId })).toEqual([]);

    await roomItem(alice.page, lobby).click();
  });

  it('kicks a member: everyone sees it and the kicked page leaves the room', async () => {
    await member(alice.page, 'bob').locator(tid('member-menu-button')).click();
    await screenshot(alice.page, '06-member-menu');
    await alice.page.locator(tid('member-action-kick')).click();
    await alice.page.locator(tid('moderation-reason')).fill('testing the kick');
    await alice.page.locator(tid('moderation-confirm')).click();

    for (const u of [alice, carol]) {
      await u.page.locator(tid('system-message'), { hasText: 'bob was removed' }).waitFor({ timeout: WAIT });
      await expect.poll(() => member(u.page, 'bob').count(), { timeout: WAIT }).toBe(0);
    }
    await toastWith(bob.page, `You were removed from #${ROOM}`).waitFor({ timeout: WAIT });
    await expect.poll(() => roomItem(bob.page, lobby).count(), { timeout: WAIT }).toBe(0);
    await screenshot(bob.page, '07-kicked');
    await screenshot(carol.page, '08-kick-seen-by-others');
    // A member (not moderator) gets no moderation actions.
    await member(carol.page, 'alice').locator(tid('member-menu-button')).click();
    expect(await carol.page.locator(tid('member-action-kick')).count()).toBe(0);
    await carol.page.locator(tid('member-menu-button')).first().click();
  });

  it('shows readable errors for bad actions', async () => {
    // A kicked peer may come back; a banned one may not.
    await bob.page.locator(tid('add-room')).click();
    await bob.page.locator(tid('join-room-input')).fill(ROOM);
    await bob.page.locator(tid('join-room-input')).press('Enter');
    await roomItem(bob.page, lobby).waitFor({ timeout: WAIT });
    await member(alice.page, 'bob').waitFor({ timeout: WAIT });

    await member(alice.page, 'bob').locator(tid('member-menu-button')).click();
    await alice.page.locator(tid('member-action-ban')).click();
    await alice.page.locator(tid('moderation-confirm')).click();
    await toastWith(bob.page, `You were banned from #${ROOM}`).waitFor({ timeout: WAIT });
    await alice.page.locator(tid('banned-member')).filter({ hasText: 'bob' }).waitFor({ timeout: WAIT });

    await bob.page.locator(tid('add-room')).click();
    await bob.page.locator(tid('join-room-input')).fill(ROOM);
    await bob.page.locator(tid('join-room-input')).press('Enter');
    const error = bob.page.locator(`${tid('toast')}[data-kind="error"]`, { hasText: 'banned' });
    await error.waitFor({ timeout: WAIT });
    await screenshot(bob.page, '09-error-toast');
    expect(await roomItem(bob.page, lobby).count()).toBe(0);

    // An invalid room name is refused with an explanation, before any call.
    await bob.page.locator(tid('join-room-input')).fill('no spaces allowed!');
    await bob.page.locator(tid('join-room-input')).press('Enter');
    await toastWith(bob.page, 'That room name is not valid').waitFor({ timeout: WAIT });
  });

  it('finds messages with search and jumps to them', async () => {
    await alice.page.locator(tid('open-search')).click();
    await alice.page.locator(tid('search-input')).fill('welcome');
    await alice.page.locator(tid('search-input')).press('Enter');
    const result = alice.page.locator(tid('search-result')).first();
    await result.waitFor({ timeout: WAIT });
    await screenshot(alice.page, '10-search');
    await result.click();
    await alice.page.locator(`${tid('message')}.flash`).waitFor({ timeout: WAIT });
    await alice.page.locator(tid('toggle-members')).click();
  });

  it('is keyboard driven: Ctrl+K quick switcher and Alt+Up/Down between conversations', async () => {
    const page = alice.page;
    await page.locator(tid('composer-input')).focus();
    await page.keyboard.press('Control+k');
    await page.locator(tid('switcher-input')).waitFor();
    await page.keyboard.type('bob');
    await screenshot(page, '11-quick-switcher');
    await page.keyboard.press('Enter');
    await page.locator(tid('conversation-title')).filter({ hasText: 'bob' }).waitFor({ timeout: WAIT });
    await page.keyboard.press('Alt+ArrowUp');
    await page.locator(tid('conversation-title')).filter({ hasText: ROOM }).waitFor({ timeout: WAIT });
    await page.keyboard.press('Alt+ArrowDown');
    await page.locator(tid('conversation-title')).filter({ hasText: 'bob' }).waitFor({ timeout: WAIT });
    await page.keyboard.press('Alt+ArrowDown'); // wraps around
    await page.locator(tid('conversation-title')).filter({ hasText: ROOM }).waitFor({ timeout: WAIT });
  });

  it('runs an invite-only room: refused without an invite, joined from the invite', async () => {
    await alice.page.locator(tid('add-room')).click();
    await alice.page.locator(tid('join-room-input')).fill('secret');
    await alice.page.locator(tid('join-room-private')).click();
    await alice.page.locator(tid('join-room-input')).press('Enter');
    await alice.page.locator(tid('conversation-title')).filter({ hasText: 'secret' }).waitFor({ timeout: WAIT });
    const secret = await roomIdOf(alice.peer, 'secret');
    expect(await roomItem(alice.page, secret).getAttribute('aria-label')).toMatch(/^Invite-only room secret/);
    await sendMessage(alice.page, 'the plan is ready');

    // Without an invite, carol is told why she cannot get in.
    await eventually(async () => (await carol.peer.call('rooms')).some((r) => r.id === secret), WAIT, 'secret room known at carol');
    await carol.page.locator(tid('add-room')).click();
    await carol.page.locator(tid('join-room-input')).fill('secret');
    await carol.page.locator(tid('join-room-input')).press('Enter');
    await carol.page.locator(`${tid('toast')}[data-kind="error"]`, { hasText: 'invite-only' }).waitFor({ timeout: WAIT });
    await carol.page.keyboard.press('Escape');

    await alice.page.locator(tid('invite-button')).click();
    const candidate = alice.page.locator(`${tid('invite-candidate')}[data-peer="${carol.peer.peerId}"]`);
    await candidate.locator(tid('invite-peer')).click();
    await candidate.filter({ hasText: 'Invited' }).waitFor({ timeout: WAIT });
    await screenshot(alice.page, '15-invite-dialog');
    await alice.page.keyboard.press('Escape');

    const invitation = carol.page.locator(tid('toast'), { hasText: 'alice invited you to #secret' });
    await invitation.waitFor({ timeout: WAIT });
    await screenshot(carol.page, '16-invited');
    await invitation.locator(tid('toast-action')).click();
    await carol.page.locator(tid('conversation-title')).filter({ hasText: 'secret' }).waitFor({ timeout: WAIT });
    await messageText(carol.page, 'the plan is ready').waitFor({ timeout: WAIT });
    await member(alice.page, 'carol').waitFor({ timeout: WAIT });
    expect(await bob.page.getByText('the plan is ready').count()).toBe(0);
    await roomItem(alice.page, lobby).click();
  });

  it('follows the dark colour scheme', async () => {
    const dark = await lab!.open(alice.peer, { colorScheme: 'dark' });
    try {
      await dark.page.locator(tid('my-nick')).filter({ hasText: 'alice' }).waitFor({ timeout: WAIT });
      // A new browser profile is a first run again; the dialog offers the current nick and can be skipped.
      await dark.page.locator(tid('nick-skip')).click();
      await roomItem(dark.page, lobby).click();
      await messageText(dark.page, 'Hello from alice').waitFor({ timeout: WAIT });
      const bg = await dark.page.evaluate('getComputedStyle(document.body).backgroundColor');
      expect(bg).toBe('rgb(26, 28, 34)');
      await screenshot(dark.page, '12-room-dark');
      expect(dark.errors).toEqual([]);
    } finally {
      await dark.context.close();
    }
  });

  it('keeps a long room virtualized, loads older history at the top and jumps back to the latest', async () => {
    const page = alice.page;
    const bulk = (await alice.peer.call('join', { room: 'bulk' })).id;
    await roomItem(page, bulk).waitFor({ timeout: WAIT }); // my own join, made elsewhere, shows up
    await roomItem(page, bulk).click();
    await member(page, 'alice').and(page.locator('[data-role="owner"]')).waitFor({ timeout: WAIT }); // as its owner
    const total = 1500;
    for (let i = 0; i < total; i += 100) {
      await Promise.all(Array.from({ length: 100 }, (_, j) => alice.peer.call('send', { room: bulk, text: `bulk message ${i + j}` })));
    }
    await roomItem(page, bulk).click();
    await messageText(page, `bulk message ${total - 1}`).waitFor({ timeout: WAIT });
    expect(await page.locator(tid('message')).count()).toBeLessThan(120);

    // Scrolling to the top loads the page before the first 100 (and keeps the view where it was).
    const list = page.locator(tid('message-list'));
    const oldestShown = async (): Promise<number> => {
      const texts = await page.locator(tid('message-text')).allTextContents();
      return Math.min(...texts.map((t) => Number(/bulk message (\d+)/.exec(t)?.[1] ?? Infinity)));
    };
    await list.evaluate((el) => {
      el.scrollTop = 0;
    });
    await eventually(async () => (await oldestShown()) < total - 100, WAIT, 'older history loaded by scrolling up');
    await list.evaluate((el) => {
      el.scrollTop = 0;
    });
    await eventually(async () => (await oldestShown()) < total - 200, WAIT, 'even older history');
    expect(await page.locator(tid('message')).count()).toBeLessThan(120);
    await screenshot(page, '13-history-scrolled-up');
    await page.locator(tid('jump-to-latest')).click();
    await messageText(page, `bulk message ${total - 1}`).waitFor({ timeout: WAIT });
  });

  it('tells two rooms of the same name apart, and posts in the one picked', async () => {
    // Two groups that cannot see each other yet each found `town`: alice's, and dave's alone.
    const dave = await lab!.peer({ nick: 'dave', ui: false });
    const townAlice = (await alice.peer.call('join', { room: 'town' })).id;
    const townDave = (await dave.call('join', { room: 'town' })).id;
    expect(townDave).not.toBe(townAlice);

    // The groups meet: both rooms stay, each its creator's.
    await dave.call('connect', { url: alice.peer.url });
    for (const p of [alice.peer, bob.peer, dave]) {
      await eventually(
        async () => (await p.call('rooms')).filter((r) => r.name === 'town').length === 2,
        WAIT,
        `both towns at ${p.opts.nick}`,
      );
    }
    const daveFp = fingerprint(dave.peerId);
    const aliceFp = fingerprint(alice.peer.peerId);

    // Alice's sidebar now names her town with its owner.
    await expect
      .poll(() => roomItem(alice.page, townAlice).locator('.label').textContent(), { timeout: WAIT })
      .toBe(`town · alice (${aliceFp})`);

    // Bob's "browse rooms" lists both, each with its owner and size.
    await bob.page.locator(tid('browse-rooms')).click();
    await bob.page.locator(tid('browse-filter')).fill('town');
    const entry = (id: string) => bob.page.locator(`${tid('browse-room')}[data-room="${id}"]`);
    await entry(townDave).waitFor({ timeout: WAIT });
    await expect.poll(() => bob.page.locator(tid('browse-room')).count()).toBe(2);
    expect(await entry(townAlice).textContent()).toContain(`town · alice (${aliceFp})`);
    expect(await entry(townAlice).locator(tid('browse-room-meta')).textContent()).toContain('1 member');
    expect(await entry(townDave).textContent()).toContain(`town · dave (${daveFp})`);
    expect(await entry(townDave).locator(tid('browse-room-meta')).textContent()).toContain('1 member');
    await screenshot(bob.page, '17-same-named-rooms');
    await bob.page.keyboard.press('Escape');

    // Asked to join "town", the UI asks which one; bob picks dave's.
    await bob.page.locator(tid('add-room')).click();
    await bob.page.locator(tid('join-room-input')).fill('town');
    await bob.page.locator(tid('join-room-input')).press('Enter');
    const choice = bob.page.locator(`${tid('join-choice')}[data-room="${townDave}"]`);
    await choice.waitFor({ timeout: WAIT });
    expect(await bob.page.locator(tid('join-choice')).count()).toBe(2);
    await screenshot(bob.page, '18-pick-a-town');
    await choice.click();
    await bob.page
      .locator(tid('conversation-title'))
      .filter({ hasText: `town · dave (${daveFp})` })
      .waitFor({ timeout: WAIT });
    await roomItem(bob.page, townDave).waitFor();
    expect(await roomItem(bob.page, townAlice).count()).toBe(0);
    await sendMessage(bob.page, 'hello from bob in the town dave founded');
    await screenshot(bob.page, '19-posted-in-a-town');

    // It is in dave's town, everywhere, and in alice's town nowhere.
    const texts = async (p: PeerProcess, room: string) => (await p.call('history', { room })).map((m) => m.text);
    await eventually(async () => (await texts(dave, townDave)).includes('hello from bob in the town dave founded'), WAIT, 'at dave');
    await eventually(async () => (await texts(alice.peer, townDave)).includes('hello from bob in the town dave founded'), WAIT, 'at alice');
    for (const p of [alice.peer, bob.peer, dave])
      expect(await texts(p, townAlice)).not.toContain('hello from bob in the town dave founded');
    await roomItem(alice.page, townAlice).click();
    await alice.page
      .locator(tid('conversation-title'))
      .filter({ hasText: `town · alice (${aliceFp})` })
      .waitFor({ timeout: WAIT });
    expect(await alice.page.getByText('hello from bob in the town dave founded').count()).toBe(0);
    await roomItem(alice.page, lobby).click();
  });

  it('shows a banner when the page loses its peer', async () => {
    await carol.peer.stop();
    await carol.page.locator(tid('connection-banner')).waitFor({ timeout: WAIT });
    expect(await carol.page.locator(tid('composer-input')).isDisabled()).toBe(true);
    await screenshot(carol.page, '14-disconnected');
  });

  it('logged no errors in any page', () => {
    for (const u of [alice, bob]) {
      // The banned join is an expected API error, surfaced as a toast, not a console error.
      expect(u.errors, u.nick).toEqual([]);
    }
    // Carol's page only complains about the lost connection to her stopped peer.
    expect(carol.errors.filter((e) => !/WebSocket|ERR_CONNECTION_REFUSED/.test(e))).toEqual([]);
  });
});
