/**
 * Electron main process: a thin shell around the peer node. It owns the
 * PeerNode, forwards the control API to the renderer over one validated IPC
 * channel, shows native notifications and keeps the unread badge.
 *
 * Environment (handy for running several instances on one machine):
 *   CHATTY_DATA_DIR  data directory (default: the app's userData)
 *   CHATTY_PORT      peer port
 *   CHATTY_PEERS     comma-separated ws:// URLs to dial besides mDNS
 *   CHATTY_NICK      nick to start with
 *   CHATTY_MDNS=0    no mDNS discovery (use CHATTY_PEERS)
 *   CHATTY_SMOKE=DIR self-check run for CI, then quit (see smoke.ts)
 */
import {
  app,
  BrowserWindow,
  dialog,
  ipcMain,
  Menu,
  nativeImage,
  nativeTheme,
  Notification,
  powerMonitor,
  protocol,
  session,
  shell,
  Tray,
} from 'electron';
import type { IpcMainEvent, IpcMainInvokeEvent, WebContents } from 'electron';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { PeerNode } from '../peer/node.js';
import { workerAnswers } from '../peer/event-checker.js';
import { createLogger } from '../peer/log.js';
import { EVENT_NAMES, type EventName, type EventPayloads, type Message, type Status } from '../shared/api.js';
import { RPC } from '../shared/jsonrpc.js';
import { startAutoAway, type AutoAway } from './auto-away.js';
import { handleIpcCall } from './bridge.js';
import { FILE_SCHEME, IPC, type IpcResult, type NavigateTarget } from '../shared/ipc.js';
import { mentions } from '../shared/mentions.js';
import { FILE_SCHEME_PRIVILEGES, fileResponse, revealFile, stageBytes } from './files.js';
import { startSmoke } from './smoke.js';
import iconPath from '../../resources/icon.png?asset';

const here = path.dirname(fileURLToPath(import.meta.url));
const logger = createLogger('chatty-desktop');
// Before the environment is read below: smoke mode isolates the run through it.
const smoke = startSmoke();

if (process.env.CHATTY_DATA_DIR) app.setPath('userData', path.resolve(process.env.CHATTY_DATA_DIR));
// Before the app is ready: the page loads the files this peer holds from chatty-file://file/<id>.
protocol.registerSchemesAsPrivileged([FILE_SCHEME_PRIVILEGES]);

let node: PeerNode | undefined;
let win: BrowserWindow | undefined;
let tray: Tray | undefined;
let myPeerId = '';
let myNick = '';
/** My status: `busy` silences notifications. */
let myStatus: Status = 'online';
let autoAway: AutoAway | undefined;
let unread = 0;
let closed = false;

const devUrl = !app.isPackaged ? process.env.ELECTRON_RENDERER_URL : undefined;
const rendererIndex = path.join(here, '../renderer/index.html');
const rendererFileUrl = pathToFileURL(rendererIndex).href;

/** True for the app's own page (dev server or the packaged index.html), nothing else. */
function isAppUrl(raw: string): boolean {
  try {
    const url = new URL(raw);
    if (devUrl) return url.origin === new URL(devUrl).origin;
    url.hash = '';
    url.search = '';
    return url.href === rendererFileUrl;
  } catch {
    return false;
  }
}

function isTrustedSender(event: IpcMainEvent | IpcMainInvokeEvent): boolean {
  const frame = event.senderFrame;
  return !!frame && !!win && event.sender === win.webContents && frame === win.webContents.mainFrame && isAppUrl(frame.url);
}

// ---------------------------------------------------------------- IPC

ipcMain.handle(IPC.call, async (event, method: unknown, params: unknown): Promise<IpcResult> => {
  if (!isTrustedSender(event)) {
    logger.warn({ url: event.senderFrame?.url }, 'ipc call from an untrusted frame refused');
    return { ok: false, error: { code: RPC.invalidRequest, message: 'untrusted sender', data: { reason: 'forbidden' } } };
  }
  if (method === 'shutdown') {
    // Quitting the app is the desktop's clean shutdown (before-quit closes the node).
    setImmediate(() => app.quit());
    return { ok: true, result: {} };
  }
  const res = await handleIpcCall(node, method, params);
  if (res.ok && method === 'setNick') myNick = (res.result as { nick: string }).nick;
  return res;
});

const untrusted = (): IpcResult<never> => ({
  ok: false,
  error: { code: RPC.invalidRequest, message: 'untrusted sender', data: { reason: 'forbidden' } },
});

// Files: bytes without a path (a pasted picture) to the uploads folder; a held file opened or shown.
ipcMain.handle(IPC.stageFile, (event, name: unknown, bytes: unknown) =>
  isTrustedSender(event) ? stageBytes(node, name, bytes) : untrusted(),
);
ipcMain.handle(IPC.openFile, (event, fileId: unknown) => (isTrustedSender(event) ? revealFile(node, fileId, 'open', shell) : untrusted()));
ipcMain.handle(IPC.showFile, (event, fileId: unknown) => (isTrustedSender(event) ? revealFile(node, fileId, 'show', shell) : untrusted()));

ipcMain.on(IPC.unread, (event, count: unknown) => {
  if (!isTrustedSender(event) || typeof count !== 'number' || !Number.isInteger(count) || count < 0) return;
  unread = Math.min(count, 99_999);
  app.setBadgeCount(unread);
  tray?.setToolTip(unread > 0 ? `Chatty — ${unread} unread` : 'Chatty');
  if (unread === 0) win?.flashFrame(false);
});

// ---------------------------------------------------------------- notifications

function mentionsMe(text: string): boolean {
  return mentions(text, myNick);
}

function notify(title: string, body: string, target: NavigateTarget): void {
  if (smoke || myStatus === 'busy' || !Notification.isSupported() || (win && win.isFocused())) return;
  const n = new Notification({ title, body: body.length > 200 ? body.slice(0, 199) + '…' : body, icon: iconPath, silent: false });
  n.on('click', () => {
    showWindow();
    win?.webContents.send(IPC.navigate, target);
  });
  n.show();
  win?.flashFrame(true);
}

function onNodeEvent<E extends EventName>(event: E, payload: EventPayloads[E]): void {
  if (win && !win.isDestroyed()) win.webContents.send(IPC.event, event, payload);
  if (event === 'status') {
    const ev = payload as EventPayloads['status'];
    if (ev.peerId === myPeerId && ev.status !== 'offline') myStatus = ev.status;
    autoAway?.onStatus(ev);
  } else if (event === 'dm') {
    const m = payload as Message;
    const body = m.text || (m.file ? `sent ${m.file.name}` : '');
    if (m.from.peerId !== myPeerId) notify(`${m.from.nick} (direct message)`, body, { kind: 'dm', id: m.from.peerId });
  } else if (event === 'message') {
    const m = payload as Message;
    if (m.from.peerId !== myPeerId && m.room && mentionsMe(m.text))
      notify(`${m.from.nick} in #${m.roomName ?? 'a room'}`, m.text, { kind: 'room', id: m.room }); // the title names, the target is the id
  }
}

// ---------------------------------------------------------------- window

function showWindow(): void {
  if (!win) {
    createWindow();
    return;
  }
  if (win.isMinimized()) win.restore();
  win.show();
  win.focus();
}

function createWindow(): void {
  win = new BrowserWindow({
    width: 1240,
    height: 820,
    minWidth: 720,
    minHeight: 480,
    show: false,
    title: 'Chatty',
    icon: iconPath,
    autoHideMenuBar: true,
    backgroundColor: nativeTheme.shouldUseDarkColors ? '#1a1d21' : '#ffffff',
    webPreferences: {
      preload: path.join(here, '../preload/index.cjs'),
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      webviewTag: false,
      spellcheck: true,
    },
  });
  win.on('ready-to-show', () => win?.show());
  win.on('focus', () => win?.flashFrame(false));
  win.on('closed', () => {
    win = undefined;
  });
  if (devUrl) void win.loadURL(devUrl);
  else void win.loadFile(rendererIndex);
}

function hardenContents(contents: WebContents): void {
  contents.on('will-navigate', (e, url) => {
    if (!isAppUrl(url)) e.preventDefault();
  });
  contents.on('will-redirect', (e, url) => {
    if (!isAppUrl(url)) e.preventDefault();
  });
  contents.on('will-attach-webview', (e) => e.preventDefault());
  contents.setWindowOpenHandler(({ url }) => {
    // Links in messages open in the user's browser; nothing opens inside the app.
    if (/^https?:\/\//i.test(url)) void shell.openExternal(url);
    return { action: 'deny' };
  });
}

function createTray(): void {
  try {
    const image = nativeImage.createFromPath(iconPath).resize({ width: 22, height: 22 });
    tray = new Tray(image);
    tray.setToolTip('Chatty');
    tray.setContextMenu(
      Menu.buildFromTemplate([
        { label: 'Open Chatty', click: () => showWindow() },
        { type: 'separator' },
        { label: 'Quit', click: () => app.quit() },
      ]),
    );
    tray.on('click', () => showWindow());
  } catch (err) {
    logger.warn({ err }, 'no system tray');
  }
}

// ---------------------------------------------------------------- lifecycle

/** The peer's event-checking worker, bundled beside this file (electron.vite.config.ts), not beside the peer's modules. */
const eventCheckWorker = { url: pathToFileURL(path.join(here, 'event-check-worker.js')) };

async function startNode(): Promise<PeerNode> {
  const port = process.env.CHATTY_PORT ? Number(process.env.CHATTY_PORT) : undefined;
  const peers = (process.env.CHATTY_PEERS ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const started = await PeerNode.start({
    dataDir: path.join(app.getPath('userData'), 'peer'),
    nick: process.env.CHATTY_NICK || undefined,
    port: port !== undefined && Number.isInteger(port) ? port : undefined,
    peers,
    mdns: process.env.CHATTY_MDNS !== '0',
    logger,
    eventCheckWorker,
  });
  const me = await started.whoami();
  myPeerId = me.peerId;
  myNick = me.nick;
  myStatus = me.status;
  for (const event of EVENT_NAMES) started.on(event, (payload) => onNodeEvent(event, payload));
  return started;
}

if (!app.requestSingleInstanceLock()) {
  app.quit();
} else {
  app.on('second-instance', () => showWindow());
  app.on('web-contents-created', (_e, contents) => hardenContents(contents));

  app.on('before-quit', (e) => {
    if (closed || !node) return;
    e.preventDefault();
    closed = true;
    const current = node;
    autoAway?.stop();
    const timeout = new Promise<void>((resolve) => setTimeout(resolve, 5000));
    void Promise.race([current.close(), timeout])
      .catch((err: unknown) => logger.error({ err }, 'peer did not close cleanly'))
      .finally(() => {
        node = undefined;
        tray?.destroy();
        app.exit(0);
      });
  });

  app.on('window-all-closed', () => {
    if (process.platform !== 'darwin') app.quit();
  });

  app.on('activate', () => showWindow());

  void app.whenReady().then(async () => {
    app.setAppUserModelId('net.chatty.app');
    // The renderer needs no browser permission (notifications are native, from here).
    session.defaultSession.setPermissionRequestHandler((_wc, _permission, callback) => callback(false));
    session.defaultSession.setPermissionCheckHandler(() => false);
    protocol.handle(FILE_SCHEME, (request) => fileResponse(node, request));
    try {
      node = await startNode();
    } catch (err) {
      logger.error({ err }, 'could not start the peer');
      // An unattended smoke run must not wait on a dialog.
      if (smoke) return smoke.fail(`the peer did not start: ${err instanceof Error ? err.message : String(err)}`);
      dialog.showErrorBox('Chatty could not start', err instanceof Error ? err.message : String(err));
      app.exit(1);
      return;
    }
    if (!smoke) {
      createTray();
      // Away after 10 minutes without input to the system, online again on return.
      autoAway = startAutoAway({ idle: powerMonitor, node, peerId: myPeerId, onError: (err) => logger.warn({ err }, 'auto-away') });
    }
    createWindow();
    if (smoke && win) {
      const started = node;
      void smoke.run(win, {
        whoami: () => started.whoami(),
        history: (p) => started.history(p),
        eventCheckWorkerAnswers: () => workerAnswers(logger, eventCheckWorker),
      });
    }
  });
}
