/**
 * Preload (sandboxed, context-isolated): exposes exactly one object,
 * `window.chatty`, that forwards API calls to the main process and API
 * notifications to the renderer, and the few file operations only the desktop
 * has (a picked file's path, staging pasted bytes, open / show a held file).
 * It never hands ipcRenderer itself over.
 */
import { contextBridge, ipcRenderer, webUtils, type IpcRendererEvent } from 'electron';
import { IPC, type ChattyBridge, type NavigateTarget } from '../shared/ipc.js';
import type { EventName } from '../shared/api.js';

type Listener = (payload: unknown) => void;
const listeners = new Map<string, Set<Listener>>();
const navigateListeners = new Set<(target: NavigateTarget) => void>();

ipcRenderer.on(IPC.event, (_e: IpcRendererEvent, event: unknown, payload: unknown) => {
  if (typeof event !== 'string') return;
  for (const l of listeners.get(event) ?? []) {
    try {
      l(payload);
    } catch (err) {
      console.error('chatty listener failed', err);
    }
  }
});

ipcRenderer.on(IPC.navigate, (_e: IpcRendererEvent, target: NavigateTarget) => {
  for (const l of navigateListeners) l(target);
});

const bridge: ChattyBridge = {
  call: (method, params) => {
    if (typeof method !== 'string') return Promise.reject(new TypeError('method must be a string'));
    return ipcRenderer.invoke(IPC.call, method, params ?? {});
  },
  on: (event: EventName, listener) => {
    if (typeof event !== 'string' || typeof listener !== 'function') throw new TypeError('on(event, listener)');
    let set = listeners.get(event);
    if (!set) listeners.set(event, (set = new Set()));
    set.add(listener as Listener);
    return () => {
      set.delete(listener as Listener);
    };
  },
  setUnread: (count) => {
    if (Number.isInteger(count) && count >= 0) ipcRenderer.send(IPC.unread, count);
  },
  onNavigate: (listener) => {
    navigateListeners.add(listener);
    return () => {
      navigateListeners.delete(listener);
    };
  },
  pathForFile: (file) => {
    try {
      return webUtils.getPathForFile(file);
    } catch {
      return ''; // not a File of this page
    }
  },
  stageFile: (name, bytes) => {
    if (typeof name !== 'string' || !(bytes instanceof Uint8Array)) return Promise.reject(new TypeError('stageFile(name, bytes)'));
    return ipcRenderer.invoke(IPC.stageFile, name, bytes);
  },
  openFile: (fileId) => ipcRenderer.invoke(IPC.openFile, String(fileId)),
  showFile: (fileId) => ipcRenderer.invoke(IPC.showFile, String(fileId)),
};

contextBridge.exposeInMainWorld('chatty', bridge);
