/**
 * The file helpers of the hosts: safe names and headers (shared with the renderer), the uploads
 * folder, and the desktop's file operations behind main's IPC and its `chatty-file:` scheme
 * (Electron-free, so they run here; the wiring itself is in test/e2e/desktop-main.test.ts).
 */
import { existsSync, readdirSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../../src/shared/api.js';
import { contentDisposition, formatBytes, isActiveMime, safeMime, sanitizeFileName } from '../../src/shared/files.js';
import { STAGE_MAX_BYTES } from '../../src/shared/ipc.js';
import { heldFile, isFileHost, UploadTooLargeError, writeUpload, type FileHost, type FileLocation } from '../../src/cli/file-host.js';
import { fileResponse, isProgram, revealFile, stageBytes, type Shell } from '../../src/main/files.js';

describe('file names and headers', () => {
  it('keeps only a safe last path segment', () => {
    expect(sanitizeFileName('holiday.jpg')).toBe('holiday.jpg');
    expect(sanitizeFileName('../../etc/passwd')).toBe('passwd');
    expect(sanitizeFileName('C:\\Users\\me\\report.pdf')).toBe('report.pdf');
    expect(sanitizeFileName('a<b>c:d"e|f?g*h\u0001.txt')).toBe('a_b_c_d_e_f_g_h_.txt');
    expect(sanitizeFileName('  ..hidden. ')).toBe('hidden');
    expect(sanitizeFileName('evil\u202egnp.exe')).toBe('evilgnp.exe');
    expect(sanitizeFileName('CON.txt')).toBe('_CON.txt');
    expect(sanitizeFileName('...')).toBe('file');
    expect(sanitizeFileName('')).toBe('file');
    expect(sanitizeFileName('Café ✓ 日本.png')).toBe('Café ✓ 日本.png');
    const long = sanitizeFileName(`${'é'.repeat(300)}.jpeg`);
    expect(new TextEncoder().encode(long).length).toBeLessThanOrEqual(255);
    expect(long.endsWith('é.jpeg')).toBe(true);
  });

  it('names files in Content-Disposition for old and new browsers', () => {
    expect(contentDisposition('inline', 'a "b" é.png')).toBe(`inline; filename="a _b_ _.png"; filename*=UTF-8''a%20%22b%22%20%C3%A9.png`);
    expect(contentDisposition('attachment', "it's (1).txt")).toBe(
      `attachment; filename="it's (1).txt"; filename*=UTF-8''it%27s%20%281%29.txt`,
    );
  });

  it('says sizes as people read them', () => {
    expect(formatBytes(0)).toBe('0 bytes');
    expect(formatBytes(1)).toBe('1 byte');
    expect(formatBytes(1023)).toBe('1023 bytes');
    expect(formatBytes(1536)).toBe('1.5 KB');
    expect(formatBytes(3 * 1024 * 1024)).toBe('3 MB');
    expect(formatBytes(25.4 * 1024 * 1024)).toBe('25 MB');
    expect(formatBytes(2 * 1024 ** 3)).toBe('2 GB');
  });

  it('passes only plain MIME types to headers, and flags what a browser would run', () => {
    expect(safeMime('image/png')).toBe('image/png');
    expect(safeMime('Text/Plain; charset=utf-8')).toBe('text/plain');
    expect(safeMime('text/html\r\nSet-Cookie: x=1')).toBe('application/octet-stream');
    expect(safeMime('')).toBe('application/octet-stream');
    expect(isActiveMime('text/html')).toBe(true);
    expect(isActiveMime('image/svg+xml')).toBe(true);
    expect(isActiveMime('image/png')).toBe(false);
    expect(isActiveMime('application/pdf')).toBe(false);
  });
});

describe('the uploads folder and held files', () => {
  let base: string;
  const held = new Map<string, FileLocation>();
  let host: FileHost;
  const ID = 'F'.repeat(43);

  beforeAll(async () => {
    base = await mkdtemp(path.join(tmpdir(), 'chatty-file-host-'));
    host = { dataDir: base, maxFileBytes: 1000, fileLocation: (id) => held.get(id) };
    await writeFile(path.join(base, 'notes.txt'), 'some notes');
    held.set(ID, { path: path.join(base, 'notes.txt'), name: 'notes.txt', mime: 'text/plain' });
  });

  afterAll(() => rm(base, { recursive: true, force: true }));

  it('recognizes a file host', () => {
    expect(isFileHost(host)).toBe(true);
    expect(isFileHost({ dataDir: '/x' })).toBe(false);
    expect(isFileHost(null)).toBe(false);
  });

  it('writes each upload to a folder of its own and removes what went over the limit', async () => {
    const a = await writeUpload(base, 'same.txt', [Buffer.from('one')], 10);
    const b = await writeUpload(base, 'same.txt', [Buffer.from('two')], 10);
    expect(a).not.toBe(b);
    expect(path.basename(a)).toBe('same.txt');
    expect(await readFile(a, 'utf8')).toBe('one');
    expect(await readFile(b, 'utf8')).toBe('two');
    const before = readdirSync(path.join(base, 'uploads')).length;
    await expect(writeUpload(base, 'big.bin', [Buffer.alloc(6), Buffer.alloc(6)], 10)).rejects.toBeInstanceOf(UploadTooLargeError);
    expect(readdirSync(path.join(base, 'uploads')).length).toBe(before);
  });

  it('finds a held file with its headers, and nothing for others', async () => {
    const file = await heldFile(host, ID);
    expect(file?.size).toBe(10);
    expect(file?.headers['Content-Type']).toBe('text/plain');
    expect(await heldFile(host, 'G'.repeat(43))).toBeUndefined();
    expect(await heldFile(host, '../notes.txt')).toBeUndefined();
    expect(await heldFile(undefined, ID)).toBeUndefined();
  });
});

describe('desktop file operations', () => {
  let base: string;
  const held = new Map<string, FileLocation>();
  let host: FileHost;
  const NOTES = 'N'.repeat(43);
  const PROGRAM = 'P'.repeat(43);
  const opened: string[] = [];
  const shown: string[] = [];
  const shell: Shell = {
    openPath: async (p) => {
      opened.push(p);
      return p.endsWith('broken.txt') ? 'no application knows this file' : '';
    },
    showItemInFolder: (p) => void shown.push(p),
  };

  beforeAll(async () => {
    base = await mkdtemp(path.join(tmpdir(), 'chatty-desktop-files-'));
    host = { dataDir: base, maxFileBytes: 2 * STAGE_MAX_BYTES, fileLocation: (id) => held.get(id) };
    await writeFile(path.join(base, 'notes.txt'), 'desktop notes');
    await writeFile(path.join(base, 'setup.exe'), 'MZ');
    held.set(NOTES, { path: path.join(base, 'notes.txt'), name: 'notes é.txt', mime: 'text/plain' });
    held.set(PROGRAM, { path: path.join(base, 'setup.exe'), name: 'setup.exe', mime: 'application/x-msdownload' });
  });

  afterAll(() => rm(base, { recursive: true, force: true }));

  it('stages pasted bytes in the uploads folder, within bounds', async () => {
    const res = await stageBytes(host, 'Pasted image.png', new Uint8Array([137, 80, 78, 71]));
    expect(res.ok).toBe(true);
    const where = res.ok ? res.result.path : '';
    expect(path.dirname(path.dirname(where))).toBe(path.join(base, 'uploads'));
    expect([...(await readFile(where))]).toEqual([137, 80, 78, 71]);

    expect(await stageBytes(host, 42, new Uint8Array(1))).toMatchObject({ ok: false, error: { data: { reason: 'invalid_params' } } });
    expect(await stageBytes(host, 'a.png', 'not bytes')).toMatchObject({ ok: false, error: { data: { reason: 'invalid_params' } } });
    expect(await stageBytes(undefined, 'a.png', new Uint8Array(1))).toMatchObject({
      ok: false,
      error: { data: { reason: 'shutting_down' } },
    });
    const small = { ...host, maxFileBytes: 3 };
    expect(await stageBytes(small, 'a.png', new Uint8Array(4))).toMatchObject({
      ok: false,
      error: {
        code: ERROR_CODES.too_large,
        message: 'That file is over the limit of 3 bytes for sending files',
        data: { reason: 'too_large' },
      },
    });
  });

  it('serves chatty-file://file/<id> with the file’s type, and 404 otherwise', async () => {
    const ok = await fileResponse(host, new Request(`chatty-file://file/${NOTES}`));
    expect(ok.status).toBe(200);
    expect(ok.headers.get('content-type')).toBe('text/plain');
    expect(ok.headers.get('content-disposition')).toContain("filename*=UTF-8''notes%20%C3%A9.txt");
    expect(await ok.text()).toBe('desktop notes');
    expect((await fileResponse(host, new Request(`chatty-file://file/${'Z'.repeat(43)}`))).status).toBe(404);
    expect((await fileResponse(host, new Request(`chatty-file://other/${NOTES}`))).status).toBe(404);
    expect((await fileResponse(undefined, new Request(`chatty-file://file/${NOTES}`))).status).toBe(404);
    expect((await fileResponse(host, new Request(`chatty-file://file/${NOTES}`, { method: 'POST', body: 'x' }))).status).toBe(405);
  });

  it('opens and shows held files, but runs no program it received', async () => {
    expect(await revealFile(host, NOTES, 'open', shell)).toEqual({ ok: true, result: {} });
    expect(await revealFile(host, NOTES, 'show', shell)).toEqual({ ok: true, result: {} });
    expect(opened).toEqual([path.join(base, 'notes.txt')]);
    expect(shown).toEqual([path.join(base, 'notes.txt')]);
    expect(await revealFile(host, PROGRAM, 'open', shell)).toMatchObject({ ok: false, error: { data: { reason: 'forbidden' } } });
    expect(await revealFile(host, PROGRAM, 'show', shell)).toEqual({ ok: true, result: {} });
    expect(opened).toHaveLength(1);
    expect(await revealFile(host, 'M'.repeat(43), 'open', shell)).toMatchObject({ ok: false, error: { data: { reason: 'not_found' } } });
    expect(await revealFile(host, '../../x', 'show', shell)).toMatchObject({ ok: false, error: { data: { reason: 'invalid_params' } } });
    held.set('B'.repeat(43), { path: path.join(base, 'broken.txt'), name: 'broken.txt', mime: 'text/plain' });
    expect(await revealFile(host, 'B'.repeat(43), 'open', shell)).toMatchObject({
      ok: false,
      error: { message: 'broken.txt could not be opened: no application knows this file', data: { reason: 'io_error' } },
    });
    expect(existsSync(path.join(base, 'broken.txt'))).toBe(false);
  });

  it('knows programs by their extension', () => {
    for (const name of ['setup.exe', 'run.BAT', 'x.sh', 'app.AppImage', 'a.desktop', 'script.ps1'])
      expect(isProgram(name), name).toBe(true);
    for (const name of ['photo.png', 'report.pdf', 'notes.txt', 'archive.zip', 'exe']) expect(isProgram(name), name).toBe(false);
  });
});
