/**
 * The desktop's file operations behind main's IPC handlers and its `chatty-file:` scheme, kept free
 * of Electron (its `shell` is passed in) so they can be tested under Node: bytes without a path
 * (a pasted picture) written to the uploads folder, files this peer holds served to the page,
 * opened or shown in their folder.
 */
import { Readable } from 'node:stream';
import { ChattyError } from '../shared/api.js';
import { FILE_ID_RE } from '../shared/files.js';
import { FILE_SCHEME, STAGE_MAX_BYTES, type IpcResult } from '../shared/ipc.js';
import { RPC, toRpcError } from '../shared/jsonrpc.js';
import { heldFile, UploadTooLargeError, writeUpload, type FileHost } from '../cli/file-host.js';

/** For `protocol.registerSchemesAsPrivileged`, before the app is ready: `<img src>` and fetch may load it, streamed. */
export const FILE_SCHEME_PRIVILEGES = {
  scheme: FILE_SCHEME,
  privileges: { standard: true, secure: true, supportFetchAPI: true, stream: true },
};

/** What main needs of Electron's `shell`. */
export interface Shell {
  openPath(path: string): Promise<string>;
  showItemInFolder(path: string): void;
}

type Empty = Record<string, never>;

const fail = (err: ChattyError): { ok: false; error: ReturnType<typeof toRpcError> } => ({ ok: false, error: toRpcError(err) });
const invalid = (message: string): { ok: false; error: ReturnType<typeof toRpcError> } => ({
  ok: false,
  error: { code: RPC.invalidParams, message: `invalid params: ${message}`, data: { reason: 'invalid_params' } },
});
const notRunning = (): { ok: false; error: ReturnType<typeof toRpcError> } =>
  fail(new ChattyError('shutting_down', 'the peer is not running'));

/** `stageFile(name, bytes)`: the bytes (at most STAGE_MAX_BYTES, and the peer's limit) into the uploads folder. */
export async function stageBytes(host: FileHost | undefined, name: unknown, bytes: unknown): Promise<IpcResult<{ path: string }>> {
  if (typeof name !== 'string' || name.length === 0 || name.length > 1024) return invalid('name must be a file name');
  if (!(bytes instanceof Uint8Array)) return invalid('bytes must be a Uint8Array');
  if (!host) return notRunning();
  const max = Math.min(STAGE_MAX_BYTES, host.maxFileBytes);
  if (bytes.byteLength > max) return fail(new ChattyError('too_large', new UploadTooLargeError(max).message));
  try {
    return { ok: true, result: { path: await writeUpload(host.dataDir, name, [bytes], max) } };
  } catch (err) {
    return fail(new ChattyError('io_error', `The file could not be saved: ${err instanceof Error ? err.message : String(err)}`));
  }
}

/** The answer to a `chatty-file://file/<file id>` request: the file with its type and name, or 404. */
export async function fileResponse(host: FileHost | undefined, request: Request): Promise<Response> {
  if (request.method !== 'GET' && request.method !== 'HEAD') return new Response('method not allowed', { status: 405 });
  let fileId = '';
  try {
    const url = new URL(request.url);
    if (url.hostname === 'file') fileId = decodeURIComponent(url.pathname.slice(1));
  } catch {
    /* not found below */
  }
  const held = await heldFile(host, fileId);
  if (!held) return new Response('not found', { status: 404, headers: { 'Content-Type': 'text/plain; charset=utf-8' } });
  const body = request.method === 'HEAD' ? null : (Readable.toWeb(held.open()) as ReadableStream<Uint8Array>);
  return new Response(body, { status: 200, headers: held.headers });
}

/** Extensions of what a system would run rather than show: Chatty opens none it received. */
const PROGRAM =
  /\.(exe|com|bat|cmd|msi|msp|scr|pif|cpl|ps1|psm1|vbs|vbe|js|jse|wsf|wsh|hta|lnk|reg|jar|app|command|sh|bash|zsh|csh|run|bin|desktop|appimage|deb|rpm|pkg|dmg|py|pl|rb)$/i;

export function isProgram(name: string): boolean {
  return PROGRAM.test(name.trim());
}

/** Opens a file this peer holds with the system's app for it, or shows it in its folder. */
export async function revealFile(
  host: FileHost | undefined,
  fileId: unknown,
  how: 'open' | 'show',
  shell: Shell,
): Promise<IpcResult<Empty>> {
  if (typeof fileId !== 'string' || !FILE_ID_RE.test(fileId)) return invalid('file must be a file id');
  if (!host) return notRunning();
  const loc = host.fileLocation(fileId);
  if (!loc) return fail(new ChattyError('not_found', 'That file is not on this computer (yet): download it first'));
  if (how === 'show') {
    shell.showItemInFolder(loc.path);
    return { ok: true, result: {} };
  }
  if (isProgram(loc.name) || isProgram(loc.path)) {
    return fail(new ChattyError('forbidden', `Chatty does not run programs it received: use "Show in folder" to see ${loc.name}`));
  }
  const problem = await shell.openPath(loc.path);
  return problem
    ? fail(new ChattyError('io_error', `${loc.name} could not be opened: ${problem}`, { path: loc.path }))
    : { ok: true, result: {} };
}
