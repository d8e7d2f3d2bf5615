/**
 * Files on their way out: each file the user attaches, drops or pastes is staged (uploaded to the
 * UI server, or its path taken by the desktop) and then sent as a message of its own. The text in
 * the composer goes with the first file sent.
 */
import { defineStore } from 'pinia';
import { reactive, ref } from 'vue';
import { LIMITS } from '../../../shared/api.js';
import { useComposerStore } from './composer';
import { describeError, useNoticesStore } from './notices';
import { useSessionStore } from './session';
import { addMessages, type Conversation } from './timeline';

export interface Upload {
  id: number;
  /** The conversation it goes to. */
  convKey: string;
  name: string;
  size: number;
  /** Bytes staged so far. */
  sent: number;
  /** `staging` while the bytes go to the peer's machine, `sending` while the peer hashes the file and sends the message. */
  phase: 'staging' | 'sending';
}

export const useUploadsStore = defineStore('uploads', () => {
  const session = useSessionStore();
  const notices = useNoticesStore();
  const composer = useComposerStore();
  const pending = ref<Upload[]>([]);
  let seq = 0;

  function of(conv: Conversation): Upload[] {
    return pending.value.filter((u) => u.convKey === conv.key);
  }

  /** The composer's text, to go with a file: not a command (`//` escapes a leading slash, as for messages). */
  function caption(conv: Conversation): string {
    const draft = conv.draft.trim();
    if (draft.startsWith('//')) return draft.slice(1);
    return draft.startsWith('/') ? '' : draft;
  }

  /**
   * Sends each file as a message to `conv`, one after the other; the composer's text goes with the
   * first one that is sent (and comes back to the composer if none is). Returns how many were sent.
   */
  async function send(conv: Conversation, files: readonly File[]): Promise<number> {
    if (files.length === 0) return 0;
    if (session.connection !== 'open') {
      notices.toast('error', 'Not connected to Chatty', 'Files can be sent once the connection is back.');
      return 0;
    }
    if (conv.kind === 'room' && !conv.joined) {
      notices.toast('error', "You're not a member of that room", 'Join it to send files there.');
      return 0;
    }
    let text = caption(conv);
    if (text.length > LIMITS.textMax) {
      notices.toast('error', 'That message is too long', `Messages are at most ${LIMITS.textMax} characters.`);
      return 0;
    }
    if (text) composer.setDraft(conv, '');
    let sent = 0;
    for (const file of files) {
      if (await sendOne(conv, file, text)) {
        sent++;
        text = '';
      }
    }
    if (text && !conv.draft) composer.setDraft(conv, text); // nothing took it: give it back
    return sent;
  }

  async function sendOne(conv: Conversation, file: File, text: string): Promise<boolean> {
    const entry = reactive<Upload>({ id: ++seq, convKey: conv.key, name: file.name, size: file.size, sent: 0, phase: 'staging' });
    pending.value = [...pending.value, entry];
    try {
      const api = session.api();
      const path = await api.stageFile(file, (n) => (entry.sent = n));
      entry.sent = file.size;
      entry.phase = 'sending';
      const extra = { path, ...(text ? { text } : {}) };
      const msg = await api.call('sendFile', conv.kind === 'room' ? { room: conv.id, ...extra } : { to: conv.id, ...extra });
      addMessages(conv, [msg]);
      return true;
    } catch (err) {
      const { title, text: detail } = describeError(err);
      notices.toast('error', `${file.name} was not sent`, detail && detail !== title ? `${title}: ${detail}` : title);
      return false;
    } finally {
      pending.value = pending.value.filter((u) => u.id !== entry.id);
    }
  }

  return { pending, of, send };
});
