/**
 * The UI server's file endpoints: `POST /upload` (auth, size limit, streamed to disk, safe names)
 * and `GET /files/<id>` (auth, headers, 404), with a stand-in for the peer's file side.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request, type IncomingHttpHeaders } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChattyError } from '../../src/shared/api.js';
import type { FileHost, FileLocation } from '../../src/cli/file-host.js';
import { startUiServer, type UiServer } from '../../src/cli/ui-server.js';
import { fakeService } from '../helpers/fake-service.js';

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/**
 * One HTTP request. `body` chunks are written one by one; a function among them runs between two
 * writes (to look at the disk while the upload is under way).
 */
function send(
  port: number,
  opts: { method?: string; path: string; headers?: Record<string, string | number>; body?: (Buffer | (() => Promise<void>))[] },
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method: opts.method ?? 'GET', path: opts.path, headers: opts.headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    void (async () => {
      for (const part of opts.body ?? []) {
        if (typeof part === 'function') await part();
        else if (!req.write(part)) await new Promise((r) => req.once('drain', r));
      }
      req.end();
    })().catch(reject);
  });
}

const json = (a: Answer): Record<string, unknown> => JSON.parse(a.body.toString('utf8')) as Record<string, unknown>;

/** Files under the uploads folder, as paths relative to it. */
function uploadsIn(dataDir: string): string[] {
  const root = path.join(dataDir, 'uploads');
  if (!existsSync(root)) return [];
  return readdirSync(root).flatMap((d) => readdirSync(path.join(root, d)).map((f) => path.join(d, f)));
}

async function until(check: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const ID_HELD = 'H'.repeat(43);
const ID_SCRIPT = 'S'.repeat(43);
const ID_MISSING = 'M'.repeat(43);

describe('ui server: files', () => {
  let base: string;
  let dataDir: string;
  let server: UiServer;
  let origin: string;
  const held = new Map<string, FileLocation>();
  const host: FileHost = {
    get dataDir() {
      return dataDir;
    },
    maxFileBytes: 4 * 1024 * 1024,
    fileLocation: (id) => held.get(id),
  };
  const picture = randomBytes(5000);

  beforeAll(async () => {
    base = await mkdtemp(path.join(tmpdir(), 'chatty-ui-files-'));
    dataDir = path.join(base, 'data');
    const staticDir = path.join(base, 'renderer');
    await writeFile(path.join(base, 'picture.png'), picture);
    await writeFile(path.join(base, 'page.html'), '<script>alert(1)</script>');
    held.set(ID_HELD, { path: path.join(base, 'picture.png'), name: 'holiday photo é.png', mime: 'image/png' });
    held.set(ID_SCRIPT, { path: path.join(base, 'page.html'), name: 'page.html', mime: 'text/html' });
    // The UI server finds the file side on the service itself, as on a PeerNode.
    const service = Object.assign(fakeService({}, new ChattyError('not_found', 'not in the fake')), {
      dataDir: '',
      maxFileBytes: host.maxFileBytes,
      fileLocation: host.fileLocation,
    });
    Object.defineProperty(service, 'dataDir', { get: () => dataDir });
    server = await startUiServer({ service, port: 0, staticDir });
    origin = `http://127.0.0.1:${server.port}`;
  });

  afterAll(async () => {
    await server.close();
    await rm(base, { recursive: true, force: true });
  });

  const uploadHeaders = (name: string, extra: Record<string, string | number> = {}): Record<string, string | number> => ({
    Origin: origin,
    'X-Chatty-Token': server.token,
    'X-File-Name': encodeURIComponent(name),
    'Content-Type': 'application/octet-stream',
    ...extra,
  });

  it('refuses uploads without the token or from another origin, and anything but POST', async () => {
    const body = [Buffer.from('hello')];
    const noToken = await send(server.port, { method: 'POST', path: '/upload', headers: { Origin: origin, 'X-File-Name': 'a.txt' }, body });
    expect(noToken.status).toBe(401);
    const badToken = await send(server.port, {
      method: 'POST',
      path: '/upload?token=nope',
      headers: uploadHeaders('a.txt', { 'X-Chatty-Token': 'nope' }),
      body,
    });
    expect(badToken.status).toBe(401);
    const foreign = await send(server.port, {
      method: 'POST',
      path: '/upload',
      headers: uploadHeaders('a.txt', { Origin: 'http://evil.example' }),
      body,
    });
    expect(foreign.status).toBe(403);
    const { Origin: _dropped, ...withoutOrigin } = uploadHeaders('a.txt');
    expect((await send(server.port, { method: 'POST', path: '/upload', headers: withoutOrigin, body })).status).toBe(403);
    const get = await send(server.port, { path: `/upload?token=${server.token}` });
    expect(get.status).toBe(405);
    expect(get.headers.allow).toBe('POST');
    const noName = await send(server.port, { method: 'POST', path: '/upload', headers: uploadHeaders(''), body });
    expect(noName.status).toBe(400);
    expect(uploadsIn(dataDir)).toEqual([]);
  });

  it('streams the body to <dataDir>/uploads/<random>/<name> as it comes, and answers its path', async () => {
    const first = randomBytes(1024 * 1024);
    const second = randomBytes(512 * 1024);
    let seenMidway = 0;
    const answer = await send(server.port, {
      method: 'POST',
      path: '/upload',
      headers: uploadHeaders('report 2024 ✓.bin', { 'Transfer-Encoding': 'chunked' }),
      body: [
        first,
        // The first MiB is on disk while the rest has not been sent: nothing waits for the whole body.
        async () => {
          await until(
            () => uploadsIn(dataDir).some((f) => statSync(path.join(dataDir, 'uploads', f)).size >= first.length),
            'the first MiB on disk',
          );
          seenMidway = statSync(path.join(dataDir, 'uploads', uploadsIn(dataDir)[0]!)).size;
        },
        second,
      ],
    });
    expect(answer.status).toBe(201);
    expect(seenMidway).toBeGreaterThanOrEqual(first.length);
    expect(seenMidway).toBeLessThan(first.length + second.length);
    const where = json(answer).path as string;
    expect(path.dirname(path.dirname(where))).toBe(path.join(dataDir, 'uploads'));
    expect(path.basename(where)).toBe('report 2024 ✓.bin');
    expect((await readFile(where)).equals(Buffer.concat([first, second]))).toBe(true);
    await rm(path.dirname(where), { recursive: true });
  });

  it('keeps a hostile name inside its folder', async () => {
    const answer = await send(server.port, {
      method: 'POST',
      path: '/upload',
      headers: uploadHeaders('../../../etc/passwd\u202egnp.exe'),
      body: [Buffer.from('x')],
    });
    expect(answer.status).toBe(201);
    const where = json(answer).path as string;
    expect(path.basename(where)).toBe('passwdgnp.exe');
    expect(path.dirname(path.dirname(where))).toBe(path.join(dataDir, 'uploads'));
    await rm(path.dirname(where), { recursive: true });
  });

  it('refuses a body over the peer’s limit with 413 and a clear message, keeping nothing', async () => {
    const big = randomBytes(host.maxFileBytes + 1);
    // Announced too big: refused before a byte is written.
    const declared = await send(server.port, {
      method: 'POST',
      path: '/upload',
      headers: uploadHeaders('big.bin', { 'Content-Length': big.length }),
      body: [big],
    });
    expect(declared.status).toBe(413);
    expect(json(declared)).toEqual({ error: { reason: 'too_large', message: 'That file is over the limit of 4 MB for sending files' } });
    // Not announced (chunked): cut off once it passes the limit.
    const chunked = await send(server.port, {
      method: 'POST',
      path: '/upload',
      headers: uploadHeaders('big.bin', { 'Transfer-Encoding': 'chunked' }),
      body: [big.subarray(0, 3 * 1024 * 1024), big.subarray(3 * 1024 * 1024)],
    });
    expect(chunked.status).toBe(413);
    expect((json(chunked).error as { reason: string }).reason).toBe('too_large');
    expect(uploadsIn(dataDir)).toEqual([]);
    expect(existsSync(path.join(dataDir, 'uploads')) ? readdirSync(path.join(dataDir, 'uploads')) : []).toEqual([]);
    // The connection still serves: a file at the limit goes through.
    const exact = await send(server.port, {
      method: 'POST',
      path: '/upload',
      headers: uploadHeaders('exact.bin'),
      body: [big.subarray(0, host.maxFileBytes)],
    });
    expect(exact.status).toBe(201);
    await rm(path.dirname(json(exact).path as string), { recursive: true });
  });

  it('serves a held file with its type and name, only with the token', async () => {
    expect((await send(server.port, { path: `/files/${ID_HELD}` })).status).toBe(401);
    expect((await send(server.port, { path: `/files/${ID_HELD}?token=wrong` })).status).toBe(401);
    const got = await send(server.port, { path: `/files/${ID_HELD}?token=${server.token}` });
    expect(got.status).toBe(200);
    expect(got.headers['content-type']).toBe('image/png');
    expect(got.headers['content-length']).toBe(String(picture.length));
    expect(got.headers['content-disposition']).toBe(
      `inline; filename="holiday photo _.png"; filename*=UTF-8''holiday%20photo%20%C3%A9.png`,
    );
    expect(got.headers['x-content-type-options']).toBe('nosniff');
    expect(got.headers['content-security-policy']).toMatch(/^sandbox;/);
    expect(createHash('sha256').update(got.body).digest('hex')).toBe(createHash('sha256').update(picture).digest('hex'));
    const head = await send(server.port, { method: 'HEAD', path: `/files/${ID_HELD}?token=${server.token}` });
    expect(head.status).toBe(200);
    expect(head.body.length).toBe(0);
  });

  it('serves markup as a download, sandboxed, and answers 404 for files not held', async () => {
    const page = await send(server.port, { path: `/files/${ID_SCRIPT}?token=${server.token}` });
    expect(page.status).toBe(200);
    expect(page.headers['content-disposition']).toMatch(/^attachment;/);
    expect(page.headers['content-security-policy']).toMatch(/^sandbox;/);
    for (const id of [ID_MISSING, 'not-an-id', '..%2f..%2fetc%2fpasswd']) {
      const res = await send(server.port, { path: `/files/${id}?token=${server.token}` });
      expect(res.status, id).toBe(404);
    }
  });
});

describe('ui server: files without a file host', () => {
  it('answers 501 to uploads and file requests', async () => {
    const base = await mkdtemp(path.join(tmpdir(), 'chatty-ui-nofiles-'));
    const server = await startUiServer({ service: fakeService({}, new ChattyError('not_found', 'x')), port: 0, staticDir: base });
    try {
      const origin = `http://127.0.0.1:${server.port}`;
      const up = await send(server.port, {
        method: 'POST',
        path: '/upload',
        headers: { Origin: origin, 'X-Chatty-Token': server.token, 'X-File-Name': 'a.txt' },
        body: [Buffer.from('a')],
      });
      expect(up.status).toBe(501);
      expect((await send(server.port, { path: `/files/${ID_HELD}?token=${server.token}` })).status).toBe(501);
    } finally {
      await server.close();
      await rm(base, { recursive: true, force: true });
    }
  });
});
