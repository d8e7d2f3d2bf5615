/**
 * Collects the figures of a run and prints them as one table: Chatty's
 * median [min–max over the repeats], the baseline's, and their ratio; and,
 * when any row has them, gossipsub's and Chatty's ratio to it.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spread, type Spread } from './util.js';

export interface Row {
  scenario: string;
  metric: string;
  unit: string;
  chatty: Spread;
  baseline?: Spread;
  /** The js-libp2p gossipsub contestant (bench/gossipsub-peer.ts). */
  gossipsub?: Spread;
  /** Which direction is better, for reading the ratio. */
  better: 'lower' | 'higher';
  target?: string;
  note?: string;
}

export class Report {
  readonly rows: Row[] = [];
  readonly skipped: { scenario: string; reason: string }[] = [];
  readonly notes: string[] = [];
  readonly raw: Record<string, unknown> = {};
  readonly startedAt = new Date();

  add(row: Omit<Row, 'chatty' | 'baseline' | 'gossipsub'> & { chatty: number[]; baseline?: number[]; gossipsub?: number[] }): void {
    this.rows.push({
      ...row,
      chatty: spread(row.chatty),
      baseline: row.baseline ? spread(row.baseline) : undefined,
      gossipsub: row.gossipsub ? spread(row.gossipsub) : undefined,
    });
  }

  skip(scenario: string, reason: string): void {
    this.skipped.push({ scenario, reason });
    console.log(`  [${scenario}] skipped: ${reason}`);
  }

  note(text: string): void {
    this.notes.push(text);
  }

  table(): string {
    // The gossipsub columns only when some scenario ran it, so tables of the other scenarios keep their shape.
    const withGossipsub = this.rows.some((r) => r.gossipsub);
    const head = ['scenario', 'metric', 'Chatty median [min–max]', 'baseline median [min–max]', 'Chatty/baseline'];
    if (withGossipsub) head.push('gossipsub median [min–max]', 'Chatty/gossipsub');
    head.push('target');
    const lines = this.rows.map((r) => [
      r.scenario,
      `${r.metric} (${r.unit})`,
      cell(r.chatty),
      r.baseline ? cell(r.baseline) : '—',
      r.baseline ? ratio(r.chatty.median, r.baseline.median) : '—',
      ...(withGossipsub ? [r.gossipsub ? cell(r.gossipsub) : '—', r.gossipsub ? ratio(r.chatty.median, r.gossipsub.median) : '—'] : []),
      r.target ?? '',
    ]);
    const widths = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
    const fmt = (cols: string[]) => `| ${cols.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
    const out = [fmt(head), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...lines.map(fmt)];
    return out.join('\n');
  }

  write(dir: string, meta: Record<string, unknown>): { json: string; md: string } {
    mkdirSync(dir, { recursive: true });
    const stamp = this.startedAt.toISOString().replace(/[:.]/g, '-');
    const body = {
      ...meta,
      startedAt: this.startedAt.toISOString(),
      rows: this.rows,
      skipped: this.skipped,
      notes: this.notes,
      raw: this.raw,
    };
    const json = join(dir, `bench-${stamp}.json`);
    writeFileSync(json, JSON.stringify(body, null, 2));
    writeFileSync(join(dir, 'latest.json'), JSON.stringify(body, null, 2));
    const md = join(dir, 'latest.md');
    const extra = [...this.skipped.map((s) => `- skipped ${s.scenario}: ${s.reason}`), ...this.notes.map((n) => `- ${n}`)];
    writeFileSync(md, `${this.table()}\n${extra.length ? `\n${extra.join('\n')}\n` : ''}`);
    return { json, md };
  }
}

export function fmtNum(v: number): string {
  if (!Number.isFinite(v)) return 'n/a';
  const a = Math.abs(v);
  if (a >= 1000) return Math.round(v).toLocaleString('en-US');
  if (a >= 100) return v.toFixed(0);
  if (a >= 10) return v.toFixed(1);
  if (a >= 1) return v.toFixed(2);
  return v.toFixed(3);
}

function cell(s: Spread): string {
  if (!Number.isFinite(s.median)) return 'n/a';
  if (s.runs.length <= 1 || s.min === s.max) return fmtNum(s.median);
  return `${fmtNum(s.median)} [${fmtNum(s.min)}–${fmtNum(s.max)}]`;
}

function ratio(a: number, b: number): string {
  if (!Number.isFinite(a) || !Number.isFinite(b) || b === 0) return 'n/a';
  const r = a / b;
  return `${r >= 10 ? r.toFixed(0) : r.toFixed(2)}×`;
}
