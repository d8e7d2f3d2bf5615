/**
 * End to end: files and pictures between two real headless peers, each serving its browser UI,
 * driven in headless Chromium. A picture pasted on one page shows as a thumbnail on the other (and
 * full size from the peer's /files/); a file attached with the file input is downloaded on the
 * other page with a progress bar and arrives byte for byte; a file dropped on the conversation
 * goes out too.
 *
 * Needs `npm run build` (out/node and out/renderer) and /usr/bin/chromium.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, PeerProcess } from '../helpers/peer-process.js';
import { chromiumAvailable, PeersWithPages, screenshot, tid } from '../helpers/browser.js';

const ROOM = 'files';
const WAIT = 30_000;

interface User {
  peer: PeerProcess;
  page: Page;
}

let lab: PeersWithPages | undefined;
let alice: User;
let bob: User;
let work: string;

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

// Scripts run in the page (this project's Node code is type-checked without the DOM).
/** Pastes a real PNG, drawn by the page, into the composer as a screenshot would be. */
const PASTE_PICTURE = `(async () => {
  const canvas = document.createElement('canvas');
  canvas.width = 160;
  canvas.height = 90;
  const g = canvas.getContext('2d');
  const gradient = g.createLinearGradient(0, 0, 160, 90);
  gradient.addColorStop(0, '#4f46e5');
  gradient.addColorStop(1, '#f2b61b');
  g.fillStyle = gradient;
  g.fillRect(0, 0, 160, 90);
  const blob = await new Promise((r) => canvas.toBlob(r, 'image/png'));
  const data = new DataTransfer();
  data.items.add(new File([blob], 'image.png', { type: 'image/png' }));
  const paste = new ClipboardEvent('paste', { clipboardData: data, bubbles: true, cancelable: true });
  document.querySelector('[data-testid="composer-input"]').dispatchEvent(paste);
})()`;
/** Drags a text file over the conversation (the drop comes with DROP_FILE). */
const DRAG_FILE = `(() => {
  const data = new DataTransfer();
  data.items.add(new File(['dropped notes\\n'], 'notes.txt', { type: 'text/plain' }));
  const target = document.querySelector('[data-testid="message-list"]');
  target.dispatchEvent(new DragEvent('dragenter', { dataTransfer: data, bubbles: true, cancelable: true }));
  target.dispatchEvent(new DragEvent('dragover', { dataTransfer: data, bubbles: true, cancelable: true }));
  window.dropData = data;
})()`;
const DROP_FILE = `document.querySelector('[data-testid="composer-input"]')
  .dispatchEvent(new DragEvent('drop', { dataTransfer: window.dropData, bubbles: true, cancelable: true }))`;
const FOCUS_IN_VIEWER = `document.querySelector('[data-testid="image-viewer"]').contains(document.activeElement)`;
const FOCUSED_TESTID = `document.activeElement && document.activeElement.getAttribute('data-testid')`;

/** What an <img> says of its loading. */
interface Picture {
  complete: boolean;
  naturalWidth: number;
}

/** A page on the peer's UI, past the first-run nick dialog, showing the room. */
async function openUi(peer: PeerProcess): Promise<Page> {
  const { page } = await lab!.open(peer, { firstRun: 'skip' });
  await page.locator(tid('conversation-title')).filter({ hasText: ROOM }).waitFor({ timeout: WAIT });
  return page;
}

const message = (page: Page, name: string) =>
  page.locator(tid('message'), { has: page.locator(`[alt="${name}"], ${tid('file-name')}:text-is("${name}")`) });

describe.skipIf(!chromiumAvailable())('files and pictures in the browser UI (skipped only when /usr/bin/chromium is missing)', () => {
  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'chatty-files-e2e-'));
    lab = await PeersWithPages.launch();
    // Alice serves each chunk a little slowly, so bob's progress bar is there to be seen.
    const a = await lab.peer({ nick: 'alice', env: { CHATTY_TEST_SERVE_DELAY_MS: '120' } });
    const b = await lab.peer({ nick: 'bob', connectTo: a });
    const room = await a.call('join', { room: ROOM });
    const known = await eventually(async () => (await b.call('rooms')).some((r) => r.id === room.id), WAIT, 'the room at bob');
    expect(known).toBe(true);
    await b.call('join', { room: room.id });
    alice = { peer: a, page: await openUi(a) };
    bob = { peer: b, page: await openUi(b) };
  });

  afterAll(async () => {
    await lab?.close();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('sends a pasted picture, which shows on the other page as its thumbnail and opens full size', async () => {
    await alice.page.locator(tid('composer-input')).fill('a picture for you');
    // A real PNG, made by the page, pasted into the composer as a screenshot would be.
    await alice.page.evaluate(PASTE_PICTURE);
    await expect.poll(() => alice.page.locator(tid('composer-input')).inputValue()).toBe('');

    const onBob = bob.page.locator(tid('message'), { hasText: 'a picture for you' });
    await onBob.waitFor({ timeout: WAIT });
    const thumb = onBob.locator(tid('picture-thumbnail'));
    await thumb.waitFor({ timeout: WAIT });
    expect(await thumb.getAttribute('src')).toMatch(/^data:image\//);
    const name = await thumb.getAttribute('alt');
    expect(name).toMatch(/^Pasted image .*\.png$/);
    // 160 × 90 is shown as it is: the frame has the picture's shape.
    const box = await onBob.locator(tid('picture-button')).boundingBox();
    expect(Math.round(box!.width)).toBe(160);
    expect(Math.round(box!.height)).toBe(90);
    expect(await thumb.evaluate((img) => (img as unknown as Picture).complete && (img as unknown as Picture).naturalWidth > 0)).toBe(true);

    // A picture of a few MB is fetched on arrival: a click shows it full size, from bob's own peer.
    await expect.poll(() => onBob.locator(tid('picture-attachment')).getAttribute('data-state'), { timeout: WAIT }).toBe('done');
    await onBob.locator(tid('picture-button')).click();
    const viewer = bob.page.locator(tid('image-viewer'));
    await viewer.waitFor({ timeout: WAIT });
    const full = viewer.locator(tid('image-viewer-picture'));
    expect(await full.getAttribute('alt')).toBe(name);
    expect(await full.getAttribute('src')).toMatch(/\/files\/[A-Za-z0-9_-]{43}\?token=/);
    await expect
      .poll(() => full.evaluate((img) => (img as unknown as Picture).complete && (img as unknown as Picture).naturalWidth), {
        timeout: WAIT,
      })
      .toBe(160);
    expect(await bob.page.evaluate(FOCUS_IN_VIEWER)).toBe(true);
    await screenshot(bob.page, 'files-01-picture-viewer');
    await bob.page.keyboard.press('Escape');
    await viewer.waitFor({ state: 'detached', timeout: WAIT });
    expect(await bob.page.evaluate(FOCUSED_TESTID)).toBe('picture-button');
  });

  it('attaches a file with the file input; the other page downloads it with progress, byte for byte', async () => {
    const original = randomBytes(3 * 1024 * 1024);
    const file = join(work, 'measurements.bin');
    writeFileSync(file, original);
    await alice.page.locator(tid('composer-input')).fill('the raw data');
    await alice.page.locator(tid('file-input')).setInputFiles(file);
    await expect.poll(() => alice.page.locator(tid('composer-input')).inputValue()).toBe('');
    const mine = alice.page.locator(tid('message'), { hasText: 'the raw data' }).locator(tid('file-attachment'));
    await mine.waitFor({ timeout: WAIT });
    expect(await mine.getAttribute('data-state')).toBe('done'); // the author holds it

    const card = bob.page.locator(tid('message'), { hasText: 'the raw data' }).locator(tid('file-attachment'));
    await card.waitFor({ timeout: WAIT });
    expect(await card.locator(tid('file-name')).textContent()).toBe('measurements.bin');
    expect(await card.textContent()).toContain('3 MB');
    expect(await card.getAttribute('data-state')).toBe('none'); // not a picture: nothing fetched by itself
    const fileId = (await card.getAttribute('data-file'))!;
    await card.locator(tid('file-download')).click();
    const bar = card.locator(tid('transfer-progress'));
    await bar.waitFor({ timeout: WAIT });
    expect(Number(await bar.getAttribute('aria-valuenow'))).toBeLessThan(100);
    await screenshot(bob.page, 'files-02-downloading');
    await expect.poll(() => card.getAttribute('data-state'), { timeout: WAIT }).toBe('done');
    await bar.waitFor({ state: 'detached' });

    // The copy on bob's disk is the original, and bob's UI server serves the same bytes.
    const done = await bob.peer.waitFor('transfer', (t) => t.file === fileId && t.state === 'done', WAIT);
    expect(sha256(readFileSync(done.path!))).toBe(sha256(original));
    const href = await card.locator(tid('file-open')).getAttribute('href');
    expect(href).toMatch(new RegExp(`/files/${fileId}\\?token=`));
    const served = await fetch(new URL(href!, bob.page.url()));
    expect(served.status).toBe(200);
    expect(sha256(Buffer.from(await served.arrayBuffer()))).toBe(sha256(original));
    await screenshot(bob.page, 'files-03-downloaded');
  });

  it('sends a file in a direct message, which the addressee downloads', async () => {
    const secret = randomBytes(300 * 1024);
    const file = join(work, 'for-bob-only.bin');
    writeFileSync(file, secret);
    await alice.page.locator(`${tid('peer-item')}[data-peer="${bob.peer.peerId}"]`).click();
    await alice.page.locator(tid('conversation-title')).filter({ hasText: 'bob' }).waitFor({ timeout: WAIT });
    await alice.page.locator(tid('file-input')).setInputFiles(file);

    const dmItem = bob.page.locator(`${tid('dm-item')}[data-peer="${alice.peer.peerId}"]`);
    await dmItem.click({ timeout: WAIT });
    const card = message(bob.page, 'for-bob-only.bin').locator(tid('file-attachment'));
    await card.waitFor({ timeout: WAIT });
    const fileId = (await card.getAttribute('data-file'))!;
    await card.locator(tid('file-download')).click();
    await expect.poll(() => card.getAttribute('data-state'), { timeout: WAIT }).toBe('done');
    const done = await bob.peer.waitFor('transfer', (t) => t.file === fileId && t.state === 'done', WAIT);
    expect(sha256(readFileSync(done.path!))).toBe(sha256(secret));
    for (const u of [alice, bob])
      await u.page
        .locator(`${tid('room-item')}`)
        .first()
        .click();
  });

  it('sends a file dropped on the conversation, showing a drop zone while it is dragged', async () => {
    await alice.page.evaluate(DRAG_FILE);
    const zone = alice.page.locator(tid('drop-zone'));
    await zone.waitFor({ timeout: WAIT });
    expect(await zone.textContent()).toContain(`Drop files to send them to #${ROOM}`);
    await screenshot(alice.page, 'files-04-drop-zone');
    await alice.page.evaluate(DROP_FILE);
    await zone.waitFor({ state: 'detached', timeout: WAIT });
    await message(bob.page, 'notes.txt').locator(tid('file-download')).waitFor({ timeout: WAIT });
  });
});
