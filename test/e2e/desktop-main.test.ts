/**
 * The desktop main process (out/main/index.js) for real, with its real peer
 * node, under Node with a stub in place of the `electron` module (the
 * Electron binary cannot be installed here). The stub plays the renderer and
 * a hostile page against main's IPC and navigation handlers; see
 * fixtures/electron-stub.mjs.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const MAIN = resolve(import.meta.dirname, '../../out/main/index.js');
const REGISTER = resolve(import.meta.dirname, 'fixtures/register-electron-stub.mjs');

interface Line {
  what: string;
  [key: string]: unknown;
}

describe('desktop main process (Electron stubbed)', () => {
  const lines: Line[] = [];
  let code: number | null = null;
  let stderr = '';
  let userData: string;

  beforeAll(async () => {
    if (!existsSync(MAIN)) throw new Error('the app is not built: run `npm run build` first');
    userData = mkdtempSync(join(tmpdir(), 'chatty-desktop-'));
    const child = spawn(process.execPath, ['--import', REGISTER, MAIN], {
      env: {
        ...process.env,
        CHATTY_STUB_USERDATA: userData,
        CHATTY_PORT: '0',
        CHATTY_NICK: 'desk',
        CHATTY_MDNS: '0',
        CHATTY_LOG: 'warn',
        // The system has been idle for 15 minutes: main's auto-away sets `away` as it starts.
        CHATTY_STUB_IDLE_S: '900',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let buf = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      buf += chunk;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        lines.push(JSON.parse(buf.slice(0, nl)) as Line);
        buf = buf.slice(nl + 1);
      }
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
    clearTimeout(timer);
  });

  afterAll(() => rmSync(userData, { recursive: true, force: true }));

  const find = (what: string, label?: string): Line => {
    const hit = lines.find((l) => l.what === what && (label === undefined || l.label === label));
    if (!hit) throw new Error(`no "${what}${label ? ` ${label}` : ''}" line; got ${JSON.stringify(lines)}\n${stderr}`);
    return hit;
  };

  it('opens a locked-down window on the built renderer', () => {
    expect(find('window').webPreferences).toMatchObject({
      preload: 'out/preload/index.cjs',
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      webSecurity: true,
    });
    expect(find('load').file).toBe('out/renderer/index.html');
  });

  it('answers the renderer through the validated IPC channel, with the real node behind it', () => {
    expect(find('call', 'whoami').res).toMatchObject({ ok: true, result: { nick: 'desk' } });
    expect(find('call', 'join').res).toMatchObject({ ok: true, result: { name: 'desk' } });
    expect(find('call', 'send').res).toMatchObject({ ok: true, result: { roomName: 'desk', text: 'from the desktop' } });
    const events = lines.filter((l) => l.what === 'to-renderer').map((l) => (l.args as unknown[])[0]);
    expect(events).toContain('message');
  });

  it('refuses foreign frames, unknown methods and invalid params', () => {
    expect(find('call', 'foreign').res).toMatchObject({ ok: false, error: { data: { reason: 'forbidden' } } });
    expect(find('call', 'unknown').res).toMatchObject({ ok: false, error: { code: -32601 } });
    expect(find('call', 'bad-params').res).toMatchObject({ ok: false, error: { code: -32602 } });
    // The unread badge follows the app's own page only.
    expect(lines.filter((l) => l.what === 'badge').map((l) => l.count)).toEqual([3]);
  });

  it('blocks navigation away from the app and opens links outside it', () => {
    const nav = lines.filter((l) => l.what === 'navigate');
    expect(nav).toEqual([
      { what: 'navigate', url: 'https://evil.example/', prevented: true },
      { what: 'navigate', url: 'self', prevented: false },
    ]);
    expect(lines.filter((l) => l.what === 'window-open').map((l) => l.res)).toEqual([{ action: 'deny' }, { action: 'deny' }]);
    expect(lines.filter((l) => l.what === 'open-external').map((l) => l.url)).toEqual(['https://example.com/']);
  });

  it('serves the files the peer holds on chatty-file://, registered as privileged before the app is ready', () => {
    expect(find('schemes')).toMatchObject({
      schemes: [{ scheme: 'chatty-file', privileges: { standard: true, secure: true, supportFetchAPI: true, stream: true } }],
      ready: false,
    });
    expect(find('file-scheme-missing').status).toBe(404);
    expect(find('call', 'sendFile').res).toMatchObject({
      ok: true,
      result: { text: 'a picture', file: { name: 'pasted.png', mime: 'image/png' } },
    });
    expect(find('file-scheme')).toEqual({ what: 'file-scheme', status: 200, type: 'image/png', same: true });
  });

  it('stages a pasted picture for the app’s own page only, and opens or shows held files through the shell', () => {
    const staged = find('stage').res as { ok: boolean; result: { path: string } };
    expect(staged.ok).toBe(true);
    expect(staged.result.path.startsWith(join(userData, 'peer', 'uploads'))).toBe(true);
    expect(staged.result.path.endsWith('pasted.png')).toBe(true);
    expect(find('stage-foreign').res).toMatchObject({ ok: false, error: { data: { reason: 'forbidden' } } });
    expect(find('open-file').res).toEqual({ ok: true, result: {} });
    expect(find('show-file').res).toEqual({ ok: true, result: {} });
    expect(find('open-path').path).toBe(staged.result.path); // the author's copy is the file it sent
    expect(find('show-item').path).toBe(staged.result.path);
    expect(find('open-file-foreign').res).toMatchObject({ ok: false, error: { data: { reason: 'forbidden' } } });
    expect(lines.filter((l) => l.what === 'open-path')).toHaveLength(1);
  });

  it('sets away after 10 minutes without system input (powerMonitor), and the page hears of it', () => {
    const me = (find('call', 'whoami').res as { result: { peerId: string } }).result.peerId;
    const statuses = lines
      .filter((l) => l.what === 'to-renderer' && (l.args as unknown[])[0] === 'status')
      .map((l) => (l.args as [string, { peerId: string; status: string }])[1]);
    expect(statuses.filter((s) => s.peerId === me).map((s) => s.status)).toContain('away');
  });

  it('loads no native addon (one built for Node would not load in Electron)', () => {
    expect(lines.some((l) => l.what === 'call' && l.label === 'send')).toBe(true); // the peer really ran, storage included
    expect(lines.filter((l) => l.what === 'native-addon')).toEqual([]);
  });

  it('shuts the node down cleanly on quit', () => {
    expect(find('quit').prevented).toBe(true); // quit waits for the node to close...
    expect(find('exit').code).toBe(0); // ...then exits
    expect(code).toBe(0);
    expect(existsSync(join(userData, 'peer'))).toBe(true);
  });
});
