/**
 * End to end, issue #16: two real headless peers (`chatty --json`, separate processes on
 * loopback), each serving its browser UI, driven in headless Chromium. Replies, reactions, edits,
 * deletes, presence and read receipts made on one page show up on the other.
 *
 * Needs `npm run build` (out/node and out/renderer) and /usr/bin/chromium.
 */
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../helpers/peer-process.js';
import { chromiumAvailable, sendMessage, messageRow, PeersWithPages, screenshot, tid, type User } from '../helpers/browser.js';

const ROOM = 'talk';
const WAIT = 20_000;

let lab: PeersWithPages | undefined;
let alice: User;
let bob: User;
let room: string;

async function joinByName(page: Page, name: string): Promise<void> {
  await page.locator(tid('add-room')).click();
  await page.locator(tid('join-room-input')).fill(name);
  await page.locator(tid('join-room-input')).press('Enter');
  await page.locator(tid('conversation-title')).filter({ hasText: name }).waitFor({ timeout: WAIT });
}

/** Shows a message's action bar (it appears on hover) and clicks one of its buttons. */
async function act(page: Page, text: string, button: string): Promise<void> {
  const row = messageRow(page, text);
  await row.hover();
  await row.locator(tid(button)).click();
}

describe.skipIf(!chromiumAvailable())('conversations end to end (skipped only when /usr/bin/chromium is missing)', () => {
  beforeAll(async () => {
    lab = await PeersWithPages.launch();
    alice = await lab.user('alice');
    bob = await lab.user('bob', { connectTo: alice.peer });
    await lab.linked(alice.peer, [bob.peer]);
    await joinByName(alice.page, ROOM);
    room = await eventually(async () => (await bob.peer.call('rooms')).find((r) => r.name === ROOM)?.id, WAIT, 'the room known to bob');
    await joinByName(bob.page, ROOM);
    await alice.page.locator(`${tid('member')}[data-nick="bob"]`).waitFor({ timeout: WAIT });
  });

  afterAll(async () => {
    await lab?.close();
  });

  it('replies to a message, quoting it on both pages', async () => {
    await sendMessage(alice.page, 'what time is the demo?');
    await messageRow(bob.page, 'what time is the demo?').waitFor({ timeout: WAIT });
    await act(bob.page, 'what time is the demo?', 'reply-button');
    await bob.page.locator(tid('replying-to')).filter({ hasText: 'alice' }).waitFor();
    await sendMessage(bob.page, 'at five');
    for (const page of [alice.page, bob.page]) {
      const reply = messageRow(page, 'at five');
      await reply.waitFor({ timeout: WAIT });
      await reply.locator(tid('reply-ref')).filter({ hasText: 'what time is the demo?' }).waitFor({ timeout: WAIT });
    }
    const stored = (await alice.peer.call('history', { room })).find((m) => m.text === 'at five');
    expect(stored?.replyTo).toBeDefined();
  });

  it('reacts: the other page sees the count, and both reactions once the other joins in', async () => {
    await act(bob.page, 'what time is the demo?', 'add-reaction');
    const picker = bob.page.locator(tid('emoji-picker'));
    await picker.waitFor();
    await picker.locator(`${tid('emoji-option')}[data-emoji="👍"]`).click();
    const onAlice = messageRow(alice.page, 'what time is the demo?').locator(`${tid('reaction')}[data-emoji="👍"]`);
    await expect.poll(() => onAlice.getAttribute('data-count'), { timeout: WAIT }).toBe('1');
    expect(await onAlice.getAttribute('aria-pressed')).toBe('false');
    expect(await onAlice.getAttribute('aria-label')).toContain('bob');
    await onAlice.click();
    await expect.poll(() => onAlice.getAttribute('aria-pressed'), { timeout: WAIT }).toBe('true');
    const onBob = messageRow(bob.page, 'what time is the demo?').locator(`${tid('reaction')}[data-emoji="👍"]`);
    await expect.poll(() => onBob.getAttribute('data-count'), { timeout: WAIT }).toBe('2');
    await screenshot(bob.page, 'c1-reactions');
    // Taken back: one left.
    await onBob.click();
    await expect.poll(() => onAlice.getAttribute('data-count'), { timeout: WAIT }).toBe('1');
  });

  it('edits a message: the other page shows the new text and "(edited)"', async () => {
    await sendMessage(alice.page, 'the demo is in room 12');
    await messageRow(bob.page, 'the demo is in room 12').waitFor({ timeout: WAIT });
    await act(alice.page, 'the demo is in room 12', 'edit-button');
    const editor = alice.page.locator(tid('edit-input'));
    await editor.fill('the demo is in room 14');
    await editor.press('Enter');
    await editor.waitFor({ state: 'detached' });
    const onBob = messageRow(bob.page, 'the demo is in room 14');
    await onBob.waitFor({ timeout: WAIT });
    await onBob.locator(tid('edited-marker')).waitFor({ timeout: WAIT });
    expect(await bob.page.locator(tid('message-text'), { hasText: 'room 12' }).count()).toBe(0);
    await onBob.locator(tid('edited-marker')).click();
    const history = bob.page.locator(tid('edit-history-dialog'));
    await history.locator(tid('edit-version')).first().filter({ hasText: 'room 12' }).waitFor({ timeout: WAIT });
    await screenshot(bob.page, 'c2-edit-history');
    await bob.page.keyboard.press('Escape');
    await history.waitFor({ state: 'detached' });

    // Up-arrow in the empty composer edits my last message.
    await alice.page.locator(tid('composer-input')).press('ArrowUp');
    await alice.page.locator(tid('edit-input')).press('Escape');
    await alice.page.locator(tid('edit-input')).waitFor({ state: 'detached' });
  });

  it('deletes a message behind a confirm: the other page shows it deleted', async () => {
    await sendMessage(alice.page, 'oops, wrong room');
    const onBob = messageRow(bob.page, 'oops, wrong room');
    await onBob.waitFor({ timeout: WAIT });
    const id = await onBob.getAttribute('data-id');
    await act(alice.page, 'oops, wrong room', 'delete-button');
    await alice.page.locator(tid('delete-dialog')).waitFor();
    await alice.page.locator(tid('delete-confirm')).click();
    const deleted = bob.page.locator(`${tid('message')}[data-id="${id}"] ${tid('message-deleted')}`);
    await deleted.waitFor({ timeout: WAIT });
    expect(await deleted.textContent()).toContain('This message was deleted');
    expect(await bob.page.getByText('oops, wrong room').count()).toBe(0); // the screen reader's live region included
    await screenshot(bob.page, 'c3-deleted');
  });

  it('changes status: the other page shows it in the member list and the peer list', async () => {
    await bob.page.locator(tid('my-status')).click();
    await bob.page.locator(tid('status-busy')).check();
    await bob.page.locator(tid('status-text-input')).fill('in the demo');
    await bob.page.locator(tid('status-save')).click();
    await bob.page.locator(tid('my-status-text')).filter({ hasText: 'Busy: in the demo' }).waitFor({ timeout: WAIT });
    const member = alice.page.locator(`${tid('member')}[data-nick="bob"]`);
    await expect.poll(() => member.getAttribute('data-status'), { timeout: WAIT }).toBe('busy');
    await member.locator(tid('member-status')).filter({ hasText: 'in the demo' }).waitFor({ timeout: WAIT });
    const peerItem = alice.page.locator(`${tid('peer-item')}[data-peer="${bob.peer.peerId}"]`);
    await expect.poll(() => peerItem.getAttribute('data-status'), { timeout: WAIT }).toBe('busy');
    await screenshot(alice.page, 'c4-status');
    expect((await bob.peer.call('whoami')).status).toBe('busy');
  });

  it('shows "Seen" on the sender’s page once the other page opened the DM', async () => {
    await alice.page.locator(`${tid('peer-item')}[data-peer="${bob.peer.peerId}"]`).click();
    await alice.page.locator(tid('conversation-title')).filter({ hasText: 'bob' }).waitFor({ timeout: WAIT });
    await sendMessage(alice.page, 'are you ready?');
    await messageRow(alice.page, 'are you ready?').waitFor({ timeout: WAIT });
    await new Promise((r) => setTimeout(r, 1500));
    expect(await alice.page.locator(tid('seen-marker')).count()).toBe(0); // not opened yet

    const dmItem = bob.page.locator(`${tid('dm-item')}[data-peer="${alice.peer.peerId}"]`);
    await dmItem.waitFor({ timeout: WAIT });
    await dmItem.click();
    await messageRow(bob.page, 'are you ready?').waitFor({ timeout: WAIT });
    await messageRow(alice.page, 'are you ready?').locator(tid('seen-marker')).waitFor({ timeout: WAIT });
    await screenshot(alice.page, 'c5-seen');

    // A reply in the DM quotes it.
    await act(bob.page, 'are you ready?', 'reply-button');
    await sendMessage(bob.page, 'yes');
    await messageRow(alice.page, 'yes').locator(tid('reply-ref')).filter({ hasText: 'are you ready?' }).waitFor({ timeout: WAIT });
  });
});
