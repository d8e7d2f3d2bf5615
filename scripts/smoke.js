#!/usr/bin/env node
// `npm run smoke`: runs the real desktop app once in smoke mode (src/main/smoke.ts): it checks the
// window, the preload bridge, IPC and the peer end to end, saves a screenshot and smoke.json in
// $CHATTY_SMOKE_DIR (default test-artifacts/smoke) and exits with the app's exit code.
// Linux needs a display: run it under `xvfb-run -a` on a headless machine.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const run = (cmd, args, opts = {}) =>
  spawnSync(cmd, args, { cwd: root, stdio: 'inherit', shell: process.platform === 'win32', ...opts }).status ?? 1;
const fail = (message) => {
  console.error(`smoke: ${message}`);
  process.exit(1);
};

if (['out/main/index.js', 'out/preload/index.cjs', 'out/renderer/index.html'].some((f) => !existsSync(path.join(root, f)))) {
  if (run('npm', ['run', 'build:app']) !== 0) fail('the build failed');
}

function electronBinary() {
  try {
    return createRequire(path.join(root, 'package.json'))('electron'); // the binary's path; throws if not downloaded
  } catch {
    return undefined;
  }
}

let electron = electronBinary();
if (!electron) {
  // npm installs Electron without its download step (see allowScripts in package.json): fetch it once.
  console.log('smoke: fetching the Electron binary…');
  run(process.execPath, [path.join(root, 'node_modules/electron/install.js')]);
  electron = electronBinary();
  if (!electron) fail('the Electron binary is not installed and cannot be downloaded here (no access to its GitHub release)');
}

if (process.platform === 'linux' && !process.env.DISPLAY && !process.env.WAYLAND_DISPLAY) {
  fail('no display (DISPLAY is not set): run it under a virtual X server, `xvfb-run -a npm run smoke`');
}

const dir = path.resolve(root, process.env.CHATTY_SMOKE_DIR || 'test-artifacts/smoke');
mkdirSync(dir, { recursive: true });
// A report left by an earlier run must not pass for this one's.
for (const f of ['smoke.json', 'screenshot.png']) rmSync(path.join(dir, f), { force: true });

const args = ['.'];
if (process.platform === 'linux' && process.getuid?.() === 0) {
  // Chromium refuses to run as root with its sandbox (typical of CI containers).
  console.log('smoke: running as root, so Electron gets --no-sandbox');
  args.push('--no-sandbox');
}
args.push(...process.argv.slice(2));

const env = { ...process.env, CHATTY_SMOKE: dir };
delete env.ELECTRON_RUN_AS_NODE; // would turn the binary into plain Node
// The app has its own timeout; this one only catches an Electron that hangs before the app runs.
const seconds = Number(process.env.CHATTY_SMOKE_TIMEOUT) > 0 ? Number(process.env.CHATTY_SMOKE_TIMEOUT) : 60;
const result = spawnSync(electron, args, { cwd: root, env, stdio: 'inherit', timeout: (seconds + 60) * 1000 });

let report;
try {
  report = JSON.parse(readFileSync(path.join(dir, 'smoke.json'), 'utf8'));
} catch {
  /* no report: a failure, said below */
}
const summary = !report
  ? 'no smoke.json was written'
  : report.ok
    ? `ok (message ${report.messageId})`
    : `failed while ${report.stage}: ${report.reason}`;
// Exit code 0 counts only with a report that says ok (an app that quit early says nothing).
const code = result.error ? 1 : result.status === 0 && !report?.ok ? 1 : (result.status ?? 1);
if (result.error) console.error(`smoke: Electron did not finish: ${result.error.message}`);
else if (result.signal) console.error(`smoke: Electron was killed by ${result.signal}`);
console.log(`smoke: exit code ${code}; ${summary}; report and screenshot in ${dir}`);
process.exit(code);
