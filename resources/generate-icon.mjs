// Renders resources/icon.svg to resources/icon.png (512x512, transparent) with headless Chromium.
// Usage: node resources/generate-icon.mjs   (needs /usr/bin/chromium, or CHROMIUM_PATH)
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = (p) => fileURLToPath(new URL(p, import.meta.url));
const svg = await readFile(here('./icon.svg'), 'utf8');
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu'],
});
try {
  const page = await browser.newPage({ viewport: { width: 512, height: 512 }, deviceScaleFactor: 1 });
  await page.setContent(`<html><body style="margin:0;background:transparent">${svg}</body></html>`);
  await page.locator('svg').screenshot({ path: here('./icon.png'), omitBackground: true });
} finally {
  await browser.close();
}
console.log('wrote resources/icon.png');
