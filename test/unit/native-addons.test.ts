/**
 * The desktop app must load on Electron's Node, whose native-module ABI differs from the system
 * Node's (Electron 38: NODE_MODULE_VERSION 139; Node 22: 127). An addon compiled by `npm install`
 * would load in the headless peer and fail in the app ("compiled against a different Node.js
 * version"). Chatty therefore ships no native addon at all: these checks fail as soon as one
 * enters what the packaged app contains, or the main bundle imports something the package lacks.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');

interface PackageJson {
  name: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  scripts?: Record<string, string>;
  gypfile?: boolean;
}

const readJson = (file: string) => JSON.parse(readFileSync(file, 'utf8')) as PackageJson;
const app = readJson(join(ROOT, 'package.json'));

/** Packages electron-builder leaves out of the app (its `files` excludes them). */
const EXCLUDED_FROM_APP = new Set(['node']);

/** Where Node would find `name` when required from the package in `fromDir` (nested first, then up). */
function resolvePackageDir(name: string, fromDir: string): string | undefined {
  for (let dir = fromDir; dir.startsWith(ROOT); dir = resolve(dir, '..')) {
    const candidate = join(dir, 'node_modules', name);
    if (existsSync(join(candidate, 'package.json'))) return candidate;
    if (dir === ROOT) break;
  }
  return undefined;
}

/** Every package the packaged app carries: the production dependency closure. */
function productionPackages(): Map<string, string> {
  const found = new Map<string, string>();
  const visit = (deps: Record<string, string>, fromDir: string, optional: Set<string>) => {
    for (const name of Object.keys(deps)) {
      if (EXCLUDED_FROM_APP.has(name)) continue;
      const dir = resolvePackageDir(name, fromDir);
      if (!dir) {
        if (optional.has(name)) continue; // an optional dependency not installed on this platform
        throw new Error(`production dependency ${name} is not installed (from ${fromDir})`);
      }
      if (found.has(dir)) continue;
      found.set(dir, name);
      const pkg = readJson(join(dir, 'package.json'));
      const opt = new Set(Object.keys(pkg.optionalDependencies ?? {}));
      visit({ ...pkg.dependencies, ...pkg.optionalDependencies }, dir, opt);
    }
  };
  visit({ ...app.dependencies, ...app.optionalDependencies }, ROOT, new Set(Object.keys(app.optionalDependencies ?? {})));
  return found;
}

/** Why a package is a native addon, or undefined. */
function nativeReason(dir: string): string | undefined {
  const pkg = readJson(join(dir, 'package.json'));
  if (pkg.gypfile || existsSync(join(dir, 'binding.gyp'))) return 'has a binding.gyp (compiled by node-gyp on install)';
  const build = Object.entries(pkg.scripts ?? {}).find(
    ([k, v]) => ['install', 'preinstall', 'postinstall'].includes(k) && /node-gyp|prebuild|cmake-js|node-pre-gyp/.test(v),
  );
  if (build) return `its ${build[0]} script builds or downloads a binary: ${build[1]}`;
  const stack = [dir];
  while (stack.length) {
    const current = stack.pop()!;
    for (const entry of readdirSync(current, { withFileTypes: true })) {
      if (entry.isDirectory() && entry.name !== 'node_modules') stack.push(join(current, entry.name));
      else if (entry.isFile() && entry.name.endsWith('.node')) return `ships a compiled addon ${join(current, entry.name)}`;
    }
  }
  return undefined;
}

describe('the desktop app loads no native addon', () => {
  it('has none in its production dependencies, so nothing is built for the wrong ABI', () => {
    const packages = productionPackages();
    expect(packages.size).toBeGreaterThan(5); // the walk really found the dependency tree
    const native = [...packages].flatMap(([dir, name]) => {
      const reason = nativeReason(dir);
      return reason ? [`${name}: ${reason}`] : [];
    });
    expect(native, 'native addons would need a build per Electron ABI').toEqual([]);
  });

  it('detects one where there is one', () => {
    // the check itself must be able to fail: a package with a binding.gyp and a compiled .node file
    const fixture = resolve(import.meta.dirname, 'fixtures/native-addon');
    expect(nativeReason(fixture)).toMatch(/binding\.gyp/);
  });

  it('leaves the npm scripts’ Node out of the app', () => {
    const builder = readFileSync(join(ROOT, 'electron-builder.yml'), 'utf8');
    for (const name of EXCLUDED_FROM_APP) expect(builder).toContain(`'!node_modules/${name}{,/**}'`);
    expect(builder).toMatch(/^npmRebuild: false$/m);
  });

  it('imports, from the main bundle, only built-ins, electron and production dependencies', () => {
    const main = join(ROOT, 'out/main/index.js');
    if (!existsSync(main)) throw new Error('the app is not built: run `npm run build` first');
    const specifiers = [
      ...readFileSync(main, 'utf8').matchAll(/(?:^|\n)import\s[^'"]*?["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)/g),
    ].map((m) => m[1] ?? m[2]!);
    expect(specifiers.length).toBeGreaterThan(3);
    const allowed = new Set([...Object.keys(app.dependencies ?? {}), 'electron']);
    const builtins = new Set(builtinModules);
    const bad = specifiers.filter((s) => {
      if (s.startsWith('.') || s.startsWith('node:') || builtins.has(s)) return false;
      const pkg = s.startsWith('@') ? s.split('/').slice(0, 2).join('/') : s.split('/')[0]!;
      return !allowed.has(pkg);
    });
    expect(bad, 'the packaged app carries only `dependencies`').toEqual([]);
  });

  it('loads only electron in the sandboxed preload', () => {
    const preload = join(ROOT, 'out/preload/index.cjs');
    if (!existsSync(preload)) throw new Error('the app is not built: run `npm run build` first');
    const required = [...readFileSync(preload, 'utf8').matchAll(/require\(["']([^"']+)["']\)/g)].map((m) => m[1]);
    expect(new Set(required)).toEqual(new Set(['electron']));
  });
});
