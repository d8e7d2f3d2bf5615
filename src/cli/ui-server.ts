/**
 * The browser UI of a headless peer: serves the built renderer (out/renderer)
 * and a WebSocket JSON-RPC endpoint at `/api` that speaks the control API.
 * For files: `POST /upload` puts a file the user picked where the peer can
 * send it from (the page then calls `sendFile` with the path it answers), and
 * `GET /files/<file id>` serves a file the peer holds (pictures, "Open").
 *
 * Security model: listens on loopback only by default, every WebSocket needs
 * the per-start random token (`/api?token=...`, the page reads it from its own
 * URL) and an `Origin` equal to the server's own origin, and the `Host` header
 * must name the server (no DNS rebinding). Uploads need the same token (header
 * `X-Chatty-Token` or `?token=`) and Origin; `/files/` needs the token (an
 * `<img>` sends no Origin) and serves nothing the page could run.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { PassThrough } from 'node:stream';
import type { AddressInfo, Socket } from 'node:net';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import { EVENT_NAMES, type ChattyService } from '../shared/api.js';
import { handleRpc, notification, RPC } from '../shared/jsonrpc.js';
import type { Logger } from '../peer/log.js';
import { heldFile, isFileHost, UploadTooLargeError, writeUpload, type FileHost } from './file-host.js';

export interface UiServerOptions {
  service: ChattyService;
  /** 0 picks a free port. */
  port: number;
  /** Interface to listen on; default 127.0.0.1. */
  host?: string;
  /** Directory of the built renderer (index.html + assets). */
  staticDir: string;
  /** Session token; a random one is generated when omitted. */
  token?: string;
  /** Files for uploads and `/files/`: by default the service itself when it is a peer node; without, both answer 501. */
  files?: FileHost;
  logger?: Logger;
}

export interface UiServer {
  /** `http://127.0.0.1:PORT/?token=TOKEN`: open this in a browser. */
  url: string;
  token: string;
  port: number;
  close(): Promise<void>;
}

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.ico': 'image/x-icon',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.ttf': 'font/ttf',
  '.txt': 'text/plain; charset=utf-8',
  '.webmanifest': 'application/manifest+json',
};

/** Largest JSON-RPC frame a UI client may send (bytes). */
const MAX_FRAME = 256 * 1024;
const UPLOAD_PATH = '/upload';
const FILES_PREFIX = '/files/';

const CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
  "form-action 'none'",
].join('; ');

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function isLoopback(host: string): boolean {
  return host === '127.0.0.1' || host === 'localhost' || host === '::1' || host.startsWith('127.');
}

function rejectUpgrade(socket: Socket, status: number, text: string): void {
  try {
    socket.end(
      `HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${text.length}\r\n\r\n${text}`,
    );
  } catch {
    socket.destroy();
  }
}

export async function startUiServer(opts: UiServerOptions): Promise<UiServer> {
  const { service, logger } = opts;
  const files = opts.files ?? (isFileHost(service) ? service : undefined);
  const host = opts.host ?? '127.0.0.1';
  const token = opts.token ?? randomBytes(24).toString('base64url');
  const staticRoot = await realpath(path.resolve(opts.staticDir)).catch(() => path.resolve(opts.staticDir));
  let port = 0;

  /** `host:port` values the Host header may carry. */
  const allowedHosts = (): Set<string> => {
    const names = new Set<string>([host.includes(':') ? `[${host}]` : host]);
    if (isLoopback(host) || host === '0.0.0.0' || host === '::') {
      names.add('127.0.0.1');
      names.add('localhost');
      names.add('[::1]');
    }
    return new Set([...names].map((n) => `${n}:${port}`));
  };
  const allowedOrigins = (): Set<string> => new Set([...allowedHosts()].map((h) => `http://${h}`));

  const sendStatus = (res: ServerResponse, status: number, text: string): void => {
    res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'X-Content-Type-Options': 'nosniff' });
    res.end(text);
  };

  /** Resolves a URL path to a file inside staticRoot, or null when it escapes it. */
  const resolveStatic = (urlPath: string): string | null => {
    let decoded: string;
    try {
      decoded = decodeURIComponent(urlPath);
    } catch {
      return null;
    }
    if (decoded.includes('\0') || decoded.includes('\\')) return null;
    const segments = decoded.split('/');
    if (segments.some((s) => s === '..')) return null;
    const file = path.resolve(staticRoot, '.' + path.posix.normalize('/' + decoded));
    const rel = path.relative(staticRoot, file);
    if (rel.startsWith('..') || path.isAbsolute(rel)) return null;
    return file;
  };

  const serveFile = async (req: IncomingMessage, res: ServerResponse, file: string): Promise<boolean> => {
    let real: string;
    try {
      real = await realpath(file);
    } catch {
      return false;
    }
    const rel = path.relative(staticRoot, real);
    if (rel.startsWith('..') || path.isAbsolute(rel)) return false; // a symlink out of the root
    const info = await stat(real).catch(() => null);
    if (!info?.isFile()) return false;
    const ext = path.extname(real).toLowerCase();
    const isHtml = ext === '.html';
    const headers: Record<string, string | number> = {
      'Content-Type': MIME[ext] ?? 'application/octet-stream',
      'Content-Length': info.size,
      'X-Content-Type-Options': 'nosniff',
      'Referrer-Policy': 'no-referrer',
      'Cache-Control': isHtml ? 'no-store' : 'public, max-age=3600',
    };
    if (isHtml) {
      headers['Content-Security-Policy'] = CSP;
      headers['X-Frame-Options'] = 'DENY';
    }
    res.writeHead(200, headers);
    if (req.method === 'HEAD') {
      res.end();
      return true;
    }
    await new Promise<void>((resolve) => {
      const stream = createReadStream(real);
      stream.on('error', () => {
        res.destroy();
        resolve();
      });
      stream.on('end', () => resolve());
      stream.pipe(res);
    });
    return true;
  };

  const sendJson = (res: ServerResponse, status: number, body: unknown): void => {
    res.writeHead(status, {
      'Content-Type': 'application/json; charset=utf-8',
      'X-Content-Type-Options': 'nosniff',
      'Cache-Control': 'no-store',
    });
    res.end(JSON.stringify(body));
  };
  /** An upload's error, as `{error: {reason, message}}` (the reasons of the control API). */
  const refuse = (res: ServerResponse, status: number, reason: string, message: string): void =>
    sendJson(res, status, { error: { reason, message } });

  /** The session token of a plain HTTP request: the `X-Chatty-Token` header, else `?token=`. */
  const hasToken = (req: IncomingMessage, url: URL): boolean => {
    const header = req.headers['x-chatty-token'];
    return sameSecret(typeof header === 'string' ? header : (url.searchParams.get('token') ?? ''), token);
  };

  /** `POST /upload`, header `X-File-Name` (percent-encoded): the body, streamed to the uploads folder; answers `{path}`. */
  const upload = async (req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> => {
    if (req.method !== 'POST') {
      res.setHeader('Allow', 'POST');
      return refuse(res, 405, 'invalid_request', 'method not allowed');
    }
    const origin = req.headers.origin;
    if (typeof origin !== 'string' || !allowedOrigins().has(origin.toLowerCase())) {
      logger?.warn({ origin }, 'upload rejected: wrong origin');
      return refuse(res, 403, 'forbidden', 'forbidden origin');
    }
    if (!hasToken(req, url)) return refuse(res, 401, 'forbidden', 'unauthorized');
    if (!files) return refuse(res, 501, 'internal', 'This peer does not share files');
    let name = '';
    try {
      name = decodeURIComponent(String(req.headers['x-file-name'] ?? ''));
    } catch {
      /* refused below */
    }
    if (!name) return refuse(res, 400, 'invalid_params', 'The X-File-Name header must name the file (percent-encoded UTF-8)');
    const tooLarge = (): void => refuse(res, 413, 'too_large', new UploadTooLargeError(files.maxFileBytes).message);
    const declared = Number(req.headers['content-length'] ?? NaN);
    if (declared > files.maxFileBytes) return tooLarge(); // the body is read and dropped once this is answered
    try {
      // through a stream of its own: the write stopping early (over the limit) must not destroy the
      // request, so that the rest of the body is read and dropped and the 413 still reaches the page
      const body = new PassThrough();
      req.pipe(body);
      const where = await writeUpload(files.dataDir, name, body, files.maxFileBytes).finally(() => req.unpipe(body));
      sendJson(res, 201, { path: where });
    } catch (err) {
      // the page went away mid-upload: nothing to answer, nothing kept (a request read to its end is
      // destroyed too, by autoDestroy, and still gets its answer: the socket tells)
      if (res.destroyed || req.socket.destroyed) return;
      req.resume(); // drop the rest of the body, so the page reads the answer
      if (err instanceof UploadTooLargeError) return tooLarge();
      logger?.warn({ err }, 'upload failed');
      refuse(res, 500, 'io_error', `The file could not be saved: ${err instanceof Error ? err.message : String(err)}`);
    }
  };

  /** `GET /files/<file id>?token=…`: a file this peer holds, inline when harmless, else as a download. */
  const serveHeld = async (req: IncomingMessage, res: ServerResponse, url: URL, fileId: string): Promise<void> => {
    if (!hasToken(req, url)) return sendStatus(res, 401, 'unauthorized');
    const held = await heldFile(files, fileId);
    if (!held) {
      res.setHeader('Cache-Control', 'no-store');
      return sendStatus(
        res,
        files ? 404 : 501,
        files ? 'not found: this peer does not hold that file (yet)' : 'this peer does not share files',
      );
    }
    res.writeHead(200, held.headers);
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    await pipeline(held.open(), res).catch((err: unknown) => logger?.debug({ err }, 'file response ended early'));
  };

  const onRequest = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (!allowedHosts().has((req.headers.host ?? '').toLowerCase())) {
      sendStatus(res, 403, 'forbidden host');
      return;
    }
    const url = new URL(req.url ?? '/', 'http://placeholder');
    if (url.pathname === UPLOAD_PATH) return upload(req, res, url);
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      sendStatus(res, 405, 'method not allowed');
      return;
    }
    const rawPath = (req.url ?? '/').split('?')[0] ?? '/';
    if (rawPath === '/api') {
      sendStatus(res, 426, 'upgrade required');
      return;
    }
    if (rawPath.startsWith(FILES_PREFIX)) return serveHeld(req, res, url, rawPath.slice(FILES_PREFIX.length));
    const file = resolveStatic(rawPath);
    if (file === null) {
      sendStatus(res, 403, 'forbidden');
      return;
    }
    if (rawPath !== '/' && (await serveFile(req, res, file))) return;
    // SPA fallback: anything that is not an asset gets the app shell.
    const ext = path.extname(rawPath);
    if (rawPath !== '/' && ext !== '' && ext !== '.html') {
      sendStatus(res, 404, 'not found');
      return;
    }
    if (!(await serveFile(req, res, path.join(staticRoot, 'index.html')))) {
      sendStatus(res, 503, 'the UI is not built: run `npm run build`');
    }
  };

  const server = createServer((req, res) => {
    onRequest(req, res).catch((err: unknown) => {
      logger?.warn({ err }, 'ui request failed');
      if (!res.headersSent) sendStatus(res, 500, 'internal error');
      else res.destroy();
    });
  });

  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME });
  const clients = new Set<WebSocket>();

  server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    const url = new URL(req.url ?? '/', 'http://placeholder');
    if (url.pathname !== '/api') {
      rejectUpgrade(socket, 404, 'not found');
      return;
    }
    if (!allowedHosts().has((req.headers.host ?? '').toLowerCase())) {
      rejectUpgrade(socket, 403, 'forbidden host');
      return;
    }
    const origin = req.headers.origin;
    if (typeof origin !== 'string' || !allowedOrigins().has(origin.toLowerCase())) {
      logger?.warn({ origin }, 'ui websocket rejected: wrong origin');
      rejectUpgrade(socket, 403, 'forbidden origin');
      return;
    }
    const given = url.searchParams.get('token') ?? '';
    if (!sameSecret(given, token)) {
      logger?.warn('ui websocket rejected: bad token');
      rejectUpgrade(socket, 401, 'unauthorized');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
  });

  wss.on('connection', (ws: WebSocket) => {
    clients.add(ws);
    logger?.debug({ clients: clients.size }, 'ui client connected');
    ws.on('error', (err) => logger?.debug({ err }, 'ui client error'));
    ws.on('close', () => clients.delete(ws));
    ws.on('message', (data: RawData, isBinary: boolean) => {
      void (async () => {
        let response;
        if (isBinary) {
          response = {
            jsonrpc: '2.0' as const,
            id: null,
            error: {
              code: RPC.invalidRequest,
              message: 'invalid request: binary frames are not supported',
              data: { reason: 'invalid_request' },
            },
          };
        } else {
          const text = Array.isArray(data) ? Buffer.concat(data).toString('utf8') : Buffer.from(data as ArrayBuffer).toString('utf8');
          response = await handleRpc(service, text);
        }
        if (response && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(response));
      })().catch((err: unknown) => logger?.warn({ err }, 'ui rpc failed'));
    });
  });

  const unsubscribe = EVENT_NAMES.map((event) =>
    service.on(event, (payload) => {
      if (clients.size === 0) return;
      const text = JSON.stringify(notification(event, payload));
      for (const ws of clients) {
        if (ws.readyState === WebSocket.OPEN) ws.send(text);
      }
    }),
  );

  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    for (const u of unsubscribe) u();
    throw err;
  }
  server.on('error', (err) => logger?.error({ err }, 'ui server error'));
  port = (server.address() as AddressInfo).port;
  const shownHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  const url = `http://${shownHost}:${port}/?token=${token}`;
  logger?.info({ url: `http://${shownHost}:${port}/` }, 'ui server listening');

  let closing: Promise<void> | undefined;
  return {
    url,
    token,
    port,
    close() {
      closing ??= (async () => {
        for (const u of unsubscribe) u();
        for (const ws of clients) ws.terminate();
        clients.clear();
        await new Promise<void>((resolve) => wss.close(() => resolve()));
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      })();
      return closing;
    },
  };
}
