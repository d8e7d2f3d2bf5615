#!/usr/bin/env node
// `npm start`: builds if needed, then opens the desktop app where Electron can run; where its binary
// is missing (and cannot be downloaded) starts the headless peer with its browser UI instead.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';

const run = (cmd, args) => spawnSync(cmd, args, { stdio: 'inherit', shell: process.platform === 'win32' }).status ?? 1;

if (!existsSync('out/node/cli/index.js') || !existsSync('out/renderer/index.html') || !existsSync('out/main/index.js')) {
  if (run('npm', ['run', 'build']) !== 0) process.exit(1);
}

function electronBinary() {
  try {
    return createRequire(import.meta.url)('electron'); // the path of the binary, or throws if not installed
  } catch {
    return undefined;
  }
}

let electron = electronBinary();
if (!electron && process.env.CHATTY_HEADLESS !== '1') {
  // npm installs Electron without running its download step (see allowScripts); fetch it now.
  console.log('Fetching the Electron binary (first start)…');
  spawnSync(process.execPath, ['node_modules/electron/install.js'], { stdio: 'ignore' });
  electron = electronBinary();
}
if (electron && process.env.CHATTY_HEADLESS !== '1') {
  process.exit(run(electron, ['.', ...process.argv.slice(2)]));
}
console.log('Electron is not available here: starting the headless peer with its browser UI.');
process.exit(run(process.execPath, ['bin/chatty.js', ...process.argv.slice(2)]));
