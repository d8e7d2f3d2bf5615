/**
 * The link to this machine's own peer, and who I am on it: the API client and its connection
 * state, my identity and nick, whether the first sync is done, whether the page is on screen.
 * Knows nothing of rooms or messages; the sync store feeds the others.
 */
import { defineStore } from 'pinia';
import { ref } from 'vue';
import { nickSchema, type WhoAmI } from '../../../shared/api.js';
import type { ApiClient, ConnectionState } from '../api/client';
import { storageGet, storageSet } from '../lib/storage';
import { useNoticesStore } from './notices';

const LS_NICK_CHOSEN = 'chatty.nickChosen';

export const useSessionStore = defineStore('session', () => {
  const notices = useNoticesStore();
  let client: ApiClient | null = null;
  const me = ref<WhoAmI | null>(null);
  const connection = ref<ConnectionState>('connecting');
  /** Connection attempts that failed in a row (the banner gets more helpful as it grows). */
  const failedConnects = ref(0);
  /** The first full load from the peer is done (until then the UI shows no empty state). */
  const synced = ref(false);
  /** Whether the user picked a nick in this browser/app (else the welcome dialog asks once). */
  const nickChosen = ref(storageGet(LS_NICK_CHOSEN) === '1');
  /** The page is visible: messages that arrive in the open conversation are read. */
  const pageVisible = ref(true);
  const unsubscribers: (() => void)[] = [];

  /** Starts following `c`; `onOpen` runs whenever the link (re)opens, to resynchronize. */
  function attach(c: ApiClient, onOpen: () => void): void {
    client = c;
    connection.value = c.state;
    unsubscribers.push(
      c.on('ready', (who) => (me.value = who)),
      c.onState((state) => {
        const was = connection.value;
        connection.value = state;
        if (state === 'open') failedConnects.value = 0;
        else if (state === 'closed' && was === 'connecting') failedConnects.value++;
        if (state === 'open' && was !== 'open') onOpen();
      }),
    );
    if (typeof document !== 'undefined') {
      const onVisibility = (): void => {
        pageVisible.value = document.visibilityState !== 'hidden';
      };
      onVisibility();
      document.addEventListener('visibilitychange', onVisibility);
      unsubscribers.push(() => document.removeEventListener('visibilitychange', onVisibility));
    }
  }

  function detach(): void {
    for (const u of unsubscribers.splice(0)) u();
    client = null;
  }

  /** The client, or null before `attach` and after `detach`. */
  function current(): ApiClient | null {
    return client;
  }

  /** The client for a user action (the error it throws ends up in a toast). */
  function api(): ApiClient {
    if (!client) throw new Error('Not connected');
    return client;
  }

  async function setNick(nick: string): Promise<boolean> {
    const parsed = nickSchema.safeParse(nick);
    if (!parsed.success) {
      notices.toast('error', 'That nickname is not valid', parsed.error.issues[0]?.message);
      return false;
    }
    try {
      const res = await api().call('setNick', { nick: parsed.data });
      if (me.value) me.value = { ...me.value, nick: res.nick };
      chooseNickDone();
      return true;
    } catch (err) {
      notices.reportError(err);
      return false;
    }
  }

  function chooseNickDone(): void {
    nickChosen.value = true;
    storageSet(LS_NICK_CHOSEN, '1');
  }

  return { me, connection, failedConnects, synced, nickChosen, pageVisible, attach, detach, current, api, setNick, chooseNickDone };
});
