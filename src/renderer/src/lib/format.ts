/** Pure helpers for display: dates, colours, mentions, text tokens. No Vue, no DOM. */

import { escapeRegExp } from '../../../shared/mentions.js';

export { escapeRegExp, mentions } from '../../../shared/mentions.js';

export type TextToken =
  | { kind: 'text'; text: string }
  | { kind: 'mention'; text: string; me: boolean }
  | { kind: 'link'; text: string; href: string }
  | { kind: 'code'; text: string };

const TOKEN_RE = /(`[^`\n]+`)|(https?:\/\/[^\s<>"']+[^\s<>"'.,;:!?)\]}])|(@[\p{L}\p{N}_.-]+)/gu;

/** Splits message text into plain text, links, inline code and @mentions (mentions of me flagged). */
export function tokenize(text: string, myNick?: string | null): TextToken[] {
  const out: TextToken[] = [];
  const pushText = (s: string): void => {
    if (!s) return;
    if (myNick) {
      const re = new RegExp(`(^|[^\\p{L}\\p{N}_@-])(${escapeRegExp(myNick)})(?![\\p{L}\\p{N}_-])`, 'giu');
      let last = 0;
      for (const m of s.matchAll(re)) {
        const start = (m.index ?? 0) + (m[1]?.length ?? 0);
        if (start > last) out.push({ kind: 'text', text: s.slice(last, start) });
        out.push({ kind: 'mention', text: m[2] ?? '', me: true });
        last = start + (m[2]?.length ?? 0);
      }
      if (last < s.length) out.push({ kind: 'text', text: s.slice(last) });
    } else {
      out.push({ kind: 'text', text: s });
    }
  };
  let last = 0;
  for (const m of text.matchAll(TOKEN_RE)) {
    const index = m.index ?? 0;
    pushText(text.slice(last, index));
    if (m[1]) out.push({ kind: 'code', text: m[1].slice(1, -1) });
    else if (m[2]) out.push({ kind: 'link', text: m[2], href: m[2] });
    else if (m[3]) {
      const name = m[3].slice(1);
      out.push({ kind: 'mention', text: m[3], me: !!myNick && name.toLowerCase() === myNick.toLowerCase() });
    }
    last = index + m[0].length;
  }
  pushText(text.slice(last));
  return out;
}

/** Local calendar day of a timestamp, as a sortable number (yyyymmdd). */
export function dayKey(ms: number): number {
  const d = new Date(ms);
  return d.getFullYear() * 10000 + (d.getMonth() + 1) * 100 + d.getDate();
}

// Intl formatters are expensive to create: one of each, reused for every row.
const TIME = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
const FULL = new Intl.DateTimeFormat(undefined, { dateStyle: 'full', timeStyle: 'medium' });
const DAY = new Intl.DateTimeFormat(undefined, { weekday: 'long', month: 'long', day: 'numeric' });
const DAY_YEAR = new Intl.DateTimeFormat(undefined, { weekday: 'long', month: 'long', day: 'numeric', year: 'numeric' });

export function dayLabel(ms: number, now = Date.now()): string {
  const k = dayKey(ms);
  if (k === dayKey(now)) return 'Today';
  if (k === dayKey(now - 86_400_000)) return 'Yesterday';
  const sameYear = new Date(ms).getFullYear() === new Date(now).getFullYear();
  return (sameYear ? DAY : DAY_YEAR).format(ms);
}

export function timeLabel(ms: number): string {
  return TIME.format(ms);
}

export function fullTimeLabel(ms: number): string {
  return FULL.format(ms);
}

/** A stable, pleasant hue for a peer id. */
export function hueOf(id: string): number {
  let h = 2166136261;
  for (let i = 0; i < id.length; i++) {
    h ^= id.charCodeAt(i);
    h = Math.imul(h, 16777619);
  }
  return Math.abs(h) % 360;
}

/** The relative luminance (WCAG 2) of an HSL colour; h in degrees, s and l in 0..1. */
function luminanceOfHsl(h: number, s: number, l: number): number {
  const a = s * Math.min(l, 1 - l);
  const channel = (n: number): number => {
    const k = (n + h / 30) % 12;
    const c = l - a * Math.max(-1, Math.min(k - 3, 9 - k, 1));
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  };
  return 0.2126 * channel(0) + 0.7152 * channel(8) + 0.0722 * channel(4);
}

/** Contrast of white text on an HSL background (WCAG 2: (L1 + 0.05) / (L2 + 0.05)). */
export function whiteContrastOnHsl(h: number, s: number, l: number): number {
  return 1.05 / (luminanceOfHsl(h, s, l) + 0.05);
}

/**
 * A peer's avatar colour: its hue, as light as it can be (48 % at most) with white initials still
 * at 4.5:1 or more (yellows and greens get darker than blues and reds).
 */
export function avatarColor(id: string): string {
  const hue = hueOf(id);
  let l = 48;
  while (l > 20 && whiteContrastOnHsl(hue, 0.55, l / 100) < 4.6) l -= 2;
  return `hsl(${hue} 55% ${l}%)`;
}

export function initials(nick: string): string {
  const parts = nick
    .trim()
    .split(/[\s._-]+/u)
    .filter(Boolean);
  const first = parts[0] ?? nick;
  const second = parts[1];
  const a = Array.from(first)[0] ?? '?';
  const b = second ? (Array.from(second)[0] ?? '') : (Array.from(first)[1] ?? '');
  return (a + b).toUpperCase();
}

/** "Alice is typing…", "Alice and Bob are typing…", "Several people are typing…". */
export function typingLabel(nicks: string[]): string {
  if (nicks.length === 0) return '';
  if (nicks.length === 1) return `${nicks[0]} is typing…`;
  if (nicks.length === 2) return `${nicks[0]} and ${nicks[1]} are typing…`;
  if (nicks.length === 3) return `${nicks[0]}, ${nicks[1]} and ${nicks[2]} are typing…`;
  return 'Several people are typing…';
}

export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}
