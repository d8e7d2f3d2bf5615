import { describe, expect, it } from 'vitest';
import { avatarColor, mentions, tokenize, typingLabel, whiteContrastOnHsl } from '../../src/renderer/src/lib/format';
import { RowBuilder } from '../../src/renderer/src/lib/rows';
import type { ChatItem } from '../../src/renderer/src/stores/timeline';
import { BOB, ME } from './fake-client';

const DAY = 86_400_000;
const base = new Date(2024, 4, 10, 9, 0, 0).getTime();
let n = 0;
const item = (from: { peerId: string; nick: string }, at: number, extra: Partial<ChatItem> = {}): ChatItem => ({
  id: `i${++n}`,
  room: 'r',
  from,
  text: 't',
  sentAt: at,
  ...extra,
});

describe('mentions and text tokens', () => {
  it('finds my nick as a whole word, with or without @, in any case', () => {
    expect(mentions('hey @alice!', 'alice')).toBe(true);
    expect(mentions('Alice, look', 'alice')).toBe(true);
    expect(mentions('malice', 'alice')).toBe(false);
    expect(mentions('alice-bot says hi', 'alice')).toBe(false);
    expect(mentions('anything', '')).toBe(false);
    expect(mentions('a.b* is here', 'a.b*')).toBe(true);
  });

  it('splits links, inline code and mentions', () => {
    const tokens = tokenize('see https://example.com/x, run `npm test` @bob and alice', 'alice');
    expect(tokens).toEqual([
      { kind: 'text', text: 'see ' },
      { kind: 'link', text: 'https://example.com/x', href: 'https://example.com/x' },
      { kind: 'text', text: ', run ' },
      { kind: 'code', text: 'npm test' },
      { kind: 'text', text: ' ' },
      { kind: 'mention', text: '@bob', me: false },
      { kind: 'text', text: ' and ' },
      { kind: 'mention', text: 'alice', me: true },
    ]);
    expect(tokenize('javascript:alert(1)', null)).toEqual([{ kind: 'text', text: 'javascript:alert(1)' }]);
  });

  it('says who is typing', () => {
    expect(typingLabel([])).toBe('');
    expect(typingLabel(['bob'])).toBe('bob is typing…');
    expect(typingLabel(['bob', 'carol'])).toBe('bob and carol are typing…');
    expect(typingLabel(['a', 'b', 'c', 'd'])).toBe('Several people are typing…');
  });
});

describe('avatar colours', () => {
  it('computes the WCAG contrast of white on a colour', () => {
    // Reference values: white on pure blue, on pure yellow, on mid grey (#777).
    expect(whiteContrastOnHsl(240, 1, 0.5)).toBeCloseTo(8.59, 1);
    expect(whiteContrastOnHsl(60, 1, 0.5)).toBeCloseTo(1.07, 1);
    expect(whiteContrastOnHsl(0, 0, 0x77 / 255)).toBeCloseTo(4.48, 1);
  });

  it('keeps white initials at 4.5:1 on every peer colour, darkening only the hues that need it', () => {
    const lightness = (c: string): number => Number(/(\d+)%\)$/.exec(c)![1]);
    const hue = (c: string): number => Number(/^hsl\((\d+) /.exec(c)![1]);
    const seen = new Set<number>();
    for (let i = 0; i < 2000; i++) {
      const c = avatarColor(`peer-${i}`);
      expect(whiteContrastOnHsl(hue(c), 0.55, lightness(c) / 100)).toBeGreaterThanOrEqual(4.5);
      seen.add(lightness(c));
    }
    expect(seen.has(48)).toBe(true); // blues and purples keep their brightness
    expect(Math.min(...seen)).toBeLessThan(40); // yellows do not
  });
});

describe('timeline rows', () => {
  it('groups by author and day, with a divider per day', () => {
    const msgs = [
      item(BOB, base),
      item(BOB, base + 60_000),
      item(ME, base + 120_000),
      item(ME, base + 120_000 + 6 * 60_000), // a long pause starts a new group
      item(ME, base + DAY),
    ];
    const rows = new RowBuilder().build(msgs, false);
    expect(rows.map((r) => (r.kind === 'msg' ? (r.head ? 'H' : 'c') : r.kind))).toEqual(['top', 'day', 'H', 'c', 'H', 'H', 'day', 'H']);
  });

  it('marks replies and late messages with their own header, and notices break groups', () => {
    const msgs = [
      item(BOB, base),
      item(BOB, base + 1000, { replyTo: 'x' }),
      item(BOB, base + 2000, { system: true }),
      item(BOB, base + 3000),
      item(BOB, base + 500, { late: true }),
    ];
    const rows = new RowBuilder().build(msgs, true);
    expect(rows[0]).toMatchObject({ kind: 'day' }); // more history may come: no "beginning" row
    expect(rows.slice(1).map((r) => (r.kind === 'msg' ? r.head : r.kind))).toEqual([true, true, 'system', true, true]);
  });

  it('extends rows incrementally on append and rebuilds on prepend', () => {
    const builder = new RowBuilder();
    const msgs: ChatItem[] = [item(BOB, base), item(BOB, base + 1000)];
    const first = builder.build(msgs, false);
    msgs.push(item(BOB, base + 2000));
    const second = builder.build(msgs, false);
    expect(second.length).toBe(first.length + 1);
    expect(second[second.length - 1]).toMatchObject({ kind: 'msg', head: false });
    const prepended = [item(ME, base - 5000), ...msgs];
    const third = builder.build(prepended, false);
    expect(third.filter((r) => r.kind === 'msg').map((r) => (r.kind === 'msg' ? r.msg.id : ''))).toEqual(prepended.map((m) => m.id));
  });

  it('builds 100k rows quickly', () => {
    const msgs = Array.from({ length: 100_000 }, (_, i) => item(i % 3 ? BOB : ME, base + i * 20_000));
    const builder = new RowBuilder();
    const t0 = performance.now();
    const rows = builder.build(msgs, false);
    const full = performance.now() - t0;
    msgs.push(item(BOB, base + 100_001 * 20_000));
    const t1 = performance.now();
    builder.build(msgs, false);
    const append = performance.now() - t1;
    expect(rows.length).toBeGreaterThan(100_000);
    expect(full).toBeLessThan(1500);
    expect(append).toBeLessThan(100);
  });
});
