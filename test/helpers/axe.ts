/**
 * axe-core run inside a page driven by playwright-core: its source is injected into the page and
 * `axe.run` checks the document (or a part of it) against WCAG 2.1 A and AA. Violations come back
 * with the rule, its impact and the selector of every element, so a failure names each one.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Page } from 'playwright-core';

const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core'), 'utf8');

export type Impact = 'minor' | 'moderate' | 'serious' | 'critical';

export interface AxeViolation {
  rule: string;
  impact: Impact | null;
  help: string;
  /** One line per element: its selector and what axe says of it. */
  nodes: { target: string; summary: string }[];
}

/** WCAG 2.0 and 2.1, levels A and AA, plus axe's own best practices (landmarks, one h1, regions). */
const TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'];
/** Rules axe keeps off by default ("experimental") that WCAG 2.1 AA asks for: a visible label inside the accessible name (2.5.3). */
const EXTRA_RULES = { 'label-content-name-mismatch': { enabled: true } };

/** Runs axe on `page` (the whole document, or the elements `include` selects) and returns its violations. */
export async function axeViolations(page: Page, include?: string): Promise<AxeViolation[]> {
  // Evaluated rather than added as a <script>: the app's Content-Security-Policy forbids inline scripts.
  if (!(await page.evaluate('typeof window.axe === "object"'))) await page.evaluate(AXE_SOURCE);
  // Let enter animations end: axe reads colours as they are painted, and a fading dialog is paler.
  await page.waitForTimeout(200);
  const script = `(async () => {
    const context = ${include ? JSON.stringify({ include: [include] }) : 'document'};
    const result = await window.axe.run(context, { runOnly: { type: 'tag', values: ${JSON.stringify(TAGS)} }, rules: ${JSON.stringify(EXTRA_RULES)}, resultTypes: ['violations'] });
    return result.violations.map((v) => ({
      rule: v.id,
      impact: v.impact ?? null,
      help: v.help,
      nodes: v.nodes.map((n) => ({ target: n.target.map(String).join(' >>> '), summary: (n.failureSummary ?? '').replace(/\\s+/g, ' ').trim() })),
    }));
  })()`;
  return (await page.evaluate(script)) as AxeViolation[];
}

/** The violations as lines to read: rule, impact, help, then each element and why. */
export function describeViolations(violations: AxeViolation[]): string {
  return violations
    .map((v) => [`${v.rule} (${v.impact}): ${v.help}`, ...v.nodes.map((n) => `  ${n.target}\n    ${n.summary}`)].join('\n'))
    .join('\n');
}

const BLOCKING: (Impact | null)[] = ['serious', 'critical'];

/**
 * Checks `page` with axe; prints the moderate and minor findings under `label` and returns the
 * serious and critical ones, which a test expects to be none (the message lists them element by element).
 */
export async function axeCheck(page: Page, label: string, include?: string): Promise<{ blocking: AxeViolation[]; report: string }> {
  const all = await axeViolations(page, include);
  const blocking = all.filter((v) => BLOCKING.includes(v.impact));
  const lesser = all.filter((v) => !BLOCKING.includes(v.impact));
  if (lesser.length) console.log(`axe, ${label}: ${lesser.length} moderate/minor finding(s)\n${describeViolations(lesser)}`);
  return { blocking, report: `axe, ${label}:\n${describeViolations(blocking)}` };
}
