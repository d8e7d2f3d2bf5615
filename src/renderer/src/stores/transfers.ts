/**
 * Files coming to this peer: each file's transfer by file id, as the `transfer` events report it,
 * seeded by the snapshot a message carries (`Message.file.transfer`), and what the user does with
 * them (download, cancel, retry; open or show once here). Message lists are not touched: they
 * keep the snapshot they came with, and every view asks here.
 */
import { defineStore } from 'pinia';
import { shallowReactive } from 'vue';
import type { FileInfo, Transfer } from '../../../shared/api.js';
import { useNoticesStore } from './notices';
import { useSessionStore } from './session';

/** This peer's copy of a file: how much of it is here and what is happening to it. */
export type TransferView = Omit<Transfer, 'file'>;

export const useTransfersStore = defineStore('transfers', () => {
  const session = useSessionStore();
  const notices = useNoticesStore();
  /** The latest state reported for each file id (reactive per key). */
  const byId = shallowReactive(new Map<string, TransferView>());
  /** Events seen per file: an answer to a call made before the last event is older than it. */
  const eventCount = new Map<string, number>();

  function set(t: Transfer): void {
    const { file, ...view } = t;
    byId.set(file, view);
  }

  /** A `transfer` event. */
  function apply(t: Transfer): void {
    eventCount.set(t.file, (eventCount.get(t.file) ?? 0) + 1);
    set(t);
  }

  /** This peer's copy of `file`: the latest event's, else the message's snapshot; undefined before any download. */
  function of(file: FileInfo): TransferView | undefined {
    return byId.get(file.id) ?? file.transfer;
  }

  /** Runs a call that answers a transfer; its answer counts unless an event came in meanwhile (events are newer). */
  async function track(fileId: string, call: () => Promise<Transfer>): Promise<boolean> {
    const seen = eventCount.get(fileId) ?? 0;
    try {
      const t = await call();
      if ((eventCount.get(fileId) ?? 0) === seen) set(t);
      return true;
    } catch (err) {
      notices.reportError(err);
      return false;
    }
  }

  /** Fetches the file (also Retry after a failure, and Resume after a cancel). */
  function download(file: FileInfo): Promise<boolean> {
    return track(file.id, () => session.api().call('download', { file: file.id }));
  }

  function cancel(file: FileInfo): Promise<boolean> {
    return track(file.id, () => session.api().call('cancelTransfer', { file: file.id }));
  }

  /** Where the page loads the file from, once this peer holds it. */
  function url(file: FileInfo): string {
    return session.api().fileUrl(file.id);
  }

  /** The desktop opens files with the system's apps and shows them in their folder; the browser opens `url`. */
  function opensFiles(): boolean {
    return session.current()?.opensFiles ?? false;
  }

  function open(file: FileInfo): Promise<boolean> {
    return notices.attempt(() => session.api().openFile(file.id));
  }

  function showInFolder(file: FileInfo): Promise<boolean> {
    return notices.attempt(() => session.api().showFile(file.id));
  }

  return { byId, apply, of, download, cancel, url, opensFiles, open, showInFolder };
});
