#!/usr/bin/env node
// Entry point of the headless peer; the TypeScript sources are compiled to out/node by `npm run build`.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

// The peer stores everything with Node's built-in SQLite (node:sqlite), complete from Node 22.16 on.
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 16)) {
  process.stderr.write(
    `chatty: needs Node.js 22.16 or newer (this is ${process.version}); \`npm start\` in the project uses the Node it installs\n`,
  );
  process.exit(1);
}

const entry = new URL('../out/node/cli/index.js', import.meta.url);
if (!existsSync(fileURLToPath(entry))) {
  process.stderr.write('chatty: not built yet, run `npm run build` first\n');
  process.exit(1);
}
await import(entry.href);
