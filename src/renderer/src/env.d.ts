/// <reference types="vite/client" />
import type { ChattyBridge } from '../../shared/ipc.js';

declare global {
  interface Window {
    /** Present in the desktop app only (exposed by the preload as the one bridge object). */
    chatty?: ChattyBridge;
  }
}
