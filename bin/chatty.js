#!/usr/bin/env node
// Entry point of the headless peer; the TypeScript sources are compiled to out/node by `npm run build`.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const entry = new URL('../out/node/cli/index.js', import.meta.url);
if (!existsSync(fileURLToPath(entry))) {
  process.stderr.write('chatty: not built yet, run `npm run build` first\n');
  process.exit(1);
}
await import(entry.href);
