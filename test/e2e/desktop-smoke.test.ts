/**
 * Smoke mode of the desktop app (CHATTY_SMOKE, src/main/smoke.ts) run for real: the built main
 * process with its real peer node, under Node with the `electron` stand-in, which runs the real
 * preload and the real renderer (fixtures/renderer-page.mjs) so the smoke run's page calls go
 * page → preload → IPC → main → node. Then the same through `npm run smoke` (scripts/smoke.js)
 * with a fake Electron binary that starts that stand-in. Needs `npm run build`.
 */
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PeerProcess } from '../helpers/peer-process.js';

const ROOT = resolve(import.meta.dirname, '../..');
const MAIN = join(ROOT, 'out/main/index.js');
const REGISTER = resolve(import.meta.dirname, 'fixtures/register-electron-stub.mjs');
const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

interface SmokeReport {
  ok: boolean;
  reason?: string;
  stage: string;
  checks: Record<string, boolean>;
  messageId?: string;
  text?: string;
  room: string;
  port?: number;
  versions: Record<string, string | null>;
  timings: Record<string, number>;
  screenshot?: { file: string; width: number; height: number; bytes: number };
}

const temps: string[] = [];
function temp(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  temps.push(dir);
  return dir;
}

/** Runs a command to its end (killed after 60 s), with a clean environment for the app. */
function exec(cmd: string, args: string[], env: NodeJS.ProcessEnv, cwd = ROOT): Promise<Run> {
  const base = { ...process.env };
  for (const k of [
    'CHATTY_SMOKE',
    'CHATTY_SMOKE_DIR',
    'CHATTY_SMOKE_TIMEOUT',
    'CHATTY_DATA_DIR',
    'CHATTY_STUB_FAULT',
    'DISPLAY',
    'WAYLAND_DISPLAY',
  ])
    delete base[k];
  const child = spawn(cmd, args, { cwd, env: { ...base, CHATTY_LOG: 'warn', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  return new Promise((r) =>
    child.on('exit', (code) => {
      clearTimeout(timer);
      r({ code, stdout, stderr });
    }),
  );
}

const runApp = (env: NodeJS.ProcessEnv): Promise<Run> => exec(process.execPath, ['--import', REGISTER, MAIN], env);
const readReport = (dir: string): SmokeReport => JSON.parse(readFileSync(join(dir, 'smoke.json'), 'utf8')) as SmokeReport;
/** What the stand-in recorded (JSON lines on stdout). */
const stubLines = (stdout: string): { what: string }[] =>
  stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { what: string });

beforeAll(() => {
  if (!existsSync(MAIN)) throw new Error('the app is not built: run `npm run build` first');
});
afterAll(() => {
  for (const dir of temps) rmSync(dir, { recursive: true, force: true });
});

describe('desktop smoke mode (Electron stubbed)', () => {
  let dir: string;
  let dataDir: string;
  let run: Run;

  beforeAll(async () => {
    dir = join(temp('chatty-smoke-out-'), 'not/yet/there');
    dataDir = temp('chatty-smoke-data-');
    run = await runApp({ CHATTY_SMOKE: dir, CHATTY_DATA_DIR: dataDir });
  });

  it('exits with code 0 and says so', () => {
    expect(run.stderr).not.toContain('FAILED');
    expect(run.stdout).toContain('chatty smoke: ok');
    expect(run.code, run.stderr).toBe(0);
  });

  it('reports every check, the message id and the versions in smoke.json', () => {
    const report = readReport(dir);
    expect(report).toMatchObject({ ok: true, stage: 'done', room: 'smoke' });
    expect(report.checks).toEqual({
      bridge: true,
      bridgeWhoami: true,
      mounted: true,
      identityShown: true,
      sent: true,
      stored: true,
      eventCheckWorker: true,
      notified: true,
      rendered: true,
      screenshot: true,
    });
    expect(report.messageId).toMatch(/^[\w-]{20,}$/);
    expect(report.versions.node).toBe(process.versions.node);
    expect(report.versions.electron).toBeNull(); // the stand-in is not Electron, and does not pretend to be
    expect(report.timings.screenshot).toBeGreaterThanOrEqual(report.timings.pageLoaded!);
  });

  it('saves a PNG screenshot of the window', () => {
    const png = readFileSync(join(dir, 'screenshot.png'));
    expect(png.subarray(0, 8).equals(PNG_SIGNATURE)).toBe(true);
    const report = readReport(dir);
    expect(png.readUInt32BE(16)).toBe(report.screenshot?.width);
    expect(png.readUInt32BE(20)).toBe(report.screenshot?.height);
    expect(report.screenshot?.bytes).toBe(png.length);
  });

  it('runs isolated: its own port, no tray, no notification, the clean shutdown', () => {
    const report = readReport(dir);
    expect(report.port).toBeGreaterThan(0);
    expect(report.port).not.toBe(7447);
    const lines = stubLines(run.stdout);
    const whats = lines.map((l) => l.what);
    expect(whats).not.toContain('tray');
    expect(whats).not.toContain('notification');
    expect(whats).not.toContain('error-box');
    expect(lines).toContainEqual({ what: 'page-loaded', exposed: ['chatty'] });
    expect(lines).toContainEqual({ what: 'quit', prevented: true }); // the node closed before the exit
  });

  it('leaves the message in the peer database (read back by a restarted peer)', async () => {
    const report = readReport(dir);
    const peer = await PeerProcess.start({ dataDir: join(dataDir, 'peer') });
    try {
      const history = await peer.call('history', { room: 'smoke' });
      expect(history.map((m) => [m.id, m.text])).toContainEqual([report.messageId, report.text]);
    } finally {
      await peer.stop();
    }
  });
});

describe('desktop smoke mode fails loudly', () => {
  const cases = [
    {
      fault: 'silent-bridge',
      stage: 'waiting for the bridge',
      reason: /timed out after 3 s \(no answer from whoami through window\.chatty\)/,
    },
    { fault: 'blank-page', stage: 'waiting for the UI', reason: /timed out after 3 s \(the Vue app did not mount/ },
    { fault: 'no-load', stage: 'loading the page', reason: /timed out after 3 s \(the page never finished loading\)/ },
  ];
  const runs = new Map<string, Promise<{ run: Run; dir: string }>>();

  beforeAll(() => {
    // In parallel: each waits for its timeout.
    for (const { fault } of cases) {
      const dir = temp(`chatty-smoke-${fault}-`);
      runs.set(
        fault,
        runApp({ CHATTY_SMOKE: dir, CHATTY_STUB_FAULT: fault, CHATTY_SMOKE_TIMEOUT: '3' }).then((run) => ({ run, dir })),
      );
    }
  });

  it.each(cases)('$fault: exit code 1, the reason in stderr and smoke.json', async ({ fault, stage, reason }) => {
    const { run, dir } = await runs.get(fault)!;
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`chatty smoke: FAILED while ${stage}:`);
    expect(run.stderr).toMatch(reason);
    const report = readReport(dir);
    expect(report).toMatchObject({ ok: false, stage });
    expect(report.reason).toMatch(reason);
  });

  it('a report directory that cannot be written: exit code 1 before anything starts', async () => {
    const file = join(temp('chatty-smoke-file-'), 'a-file');
    writeFileSync(file, '');
    const run = await runApp({ CHATTY_SMOKE: join(file, 'smoke') });
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/chatty smoke: FAILED: cannot write to .*a-file\/smoke/);
    expect(stubLines(run.stdout).map((l) => l.what)).not.toContain('window');
  });
});

describe('npm run smoke (scripts/smoke.js) with a fake Electron binary', () => {
  let project: string;
  let argsFile: string;

  beforeAll(() => {
    // A copy of the project's entry points whose `electron` package points at a script that runs
    // the stand-in; out/ is the real build.
    project = temp('chatty-smoke-project-');
    argsFile = join(project, 'electron-args.json');
    mkdirSync(join(project, 'scripts'));
    copyFileSync(join(ROOT, 'scripts/smoke.js'), join(project, 'scripts/smoke.js'));
    copyFileSync(join(ROOT, 'package.json'), join(project, 'package.json'));
    symlinkSync(join(ROOT, 'out'), join(project, 'out'), 'dir');
    const fake = join(project, 'fake-electron.mjs');
    writeFileSync(
      fake,
      `#!${process.execPath}
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
writeFileSync(${JSON.stringify(argsFile)}, JSON.stringify({ args: process.argv.slice(2), cwd: process.cwd(), smoke: process.env.CHATTY_SMOKE }));
const r = spawnSync(process.execPath, ['--import', ${JSON.stringify(REGISTER)}, 'out/main/index.js'], { stdio: 'inherit' });
process.exit(r.status ?? 1);
`,
      { mode: 0o755 },
    );
    mkdirSync(join(project, 'node_modules/electron'), { recursive: true });
    writeFileSync(join(project, 'node_modules/electron/package.json'), '{ "name": "electron", "main": "index.js" }');
    writeFileSync(join(project, 'node_modules/electron/index.js'), `module.exports = ${JSON.stringify(fake)};`);
  });

  const script = (env: NodeJS.ProcessEnv): Promise<Run> => exec(process.execPath, ['scripts/smoke.js'], env, project);

  it('runs `electron .` in smoke mode into test-artifacts/smoke and forwards exit code 0', async () => {
    const run = await script({ DISPLAY: ':99' });
    expect(run.code, run.stderr).toBe(0);
    const dir = join(project, 'test-artifacts/smoke');
    const seen = JSON.parse(readFileSync(argsFile, 'utf8')) as { args: string[]; cwd: string; smoke: string };
    expect(seen.smoke).toBe(dir);
    expect(seen.args[0]).toBe('.');
    const root = process.getuid?.() === 0;
    expect(seen.args.includes('--no-sandbox')).toBe(root);
    if (root) expect(run.stdout).toContain('--no-sandbox');
    expect(readReport(dir).ok).toBe(true);
    expect(run.stdout).toMatch(/smoke: exit code 0; ok \(message [\w-]+\)/);
  });

  it('forwards a failure, never passing off an earlier report as this one', async () => {
    const dir = join(project, 'custom');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'smoke.json'), JSON.stringify({ ok: true, stage: 'done' }));
    const run = await script({ DISPLAY: ':99', CHATTY_SMOKE_DIR: 'custom', CHATTY_STUB_FAULT: 'no-load', CHATTY_SMOKE_TIMEOUT: '2' });
    expect(run.code).toBe(1);
    expect(readReport(dir)).toMatchObject({ ok: false, stage: 'loading the page' });
    expect(run.stdout).toContain('smoke: exit code 1; failed while loading the page: timed out after 2 s');
  });

  it('on Linux without a display, says to use xvfb-run', async () => {
    if (process.platform !== 'linux') return;
    const run = await script({});
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('xvfb-run -a');
  });
});
