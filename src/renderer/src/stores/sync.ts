/**
 * Keeps the stores in step with the peer: the full load at start and after every reconnect, and
 * each live event routed to the stores it concerns, in order (the directory before the
 * conversations, the timeline before the unread count). The one place that knows them all, so the
 * stores themselves stay layered: notices < session < peers < presence < directory < conversations <
 * typing < history < navigation < membership, composer, unread, receipts, messageActions; transfers
 * (files coming in) beside them.
 */
import { defineStore } from 'pinia';
import { watch } from 'vue';
import type { EventPayloads, Message } from '../../../shared/api.js';
import type { ApiClient } from '../api/client';
import { useConversationsStore } from './conversations';
import { useDirectoryStore } from './directory';
import { useHistoryStore } from './history';
import { useMembershipStore } from './membership';
import { useMessageActionsStore } from './messageActions';
import { useNavigationStore } from './navigation';
import { useNoticesStore } from './notices';
import { usePeersStore } from './peers';
import { usePresenceStore } from './presence';
import { useReceiptsStore } from './receipts';
import { useSessionStore } from './session';
import { useTransfersStore } from './transfers';
import { useTypingStore } from './typing';
import { useUnreadStore } from './unread';

export const useSyncStore = defineStore('sync', () => {
  const session = useSessionStore();
  const notices = useNoticesStore();
  const peers = usePeersStore();
  const directory = useDirectoryStore();
  const conversations = useConversationsStore();
  const history = useHistoryStore();
  const navigation = useNavigationStore();
  const membership = useMembershipStore();
  const unread = useUnreadStore();
  const transfers = useTransfersStore();
  const typing = useTypingStore();
  const presence = usePresenceStore();
  const receipts = useReceiptsStore();
  const actions = useMessageActionsStore();
  const unsubscribers: (() => void)[] = [];

  function init(c: ApiClient): void {
    notices.systemNotifications = c.kind === 'ws'; // the desktop shell notifies natively
    session.attach(c, () => void sync());
    unsubscribers.push(
      c.on('message', onMessage),
      c.on('dm', onDm),
      c.on('member', onMember),
      c.on('peer', onPeer),
      c.on('typing', onTyping),
      c.on('identity', peers.onIdentity),
      c.on('transfer', transfers.apply),
      c.on('update', actions.applyUpdate),
      c.on('status', presence.apply),
      c.on('read', unread.applyMarker),
      c.on('seen', receipts.apply),
      c.onNavigate((target) => navigation.openTarget(target)),
    );
    // The desktop app sets `away` from the system's idle time (main process); a browser tab from its own input.
    if (c.kind === 'ws' && typeof window !== 'undefined') presence.watchIdle();
    unsubscribers.push(
      watch(
        () => presence.quiet,
        (quiet) => (notices.quiet = quiet),
        { immediate: true },
      ),
    );
    if (c.state === 'open') void sync();
  }

  function dispose(): void {
    for (const u of unsubscribers.splice(0)) u();
    session.detach();
    typing.dispose();
    directory.dispose();
    presence.dispose();
    unread.dispose();
  }

  /** Live events carry the author's current nick: the peer list and DM titles follow it. */
  function noteNick(peerId: string, nick: string): void {
    peers.noteNick(peerId, nick);
    conversations.renameDm(peerId, nick);
  }

  function onMessage(m: Message): void {
    if (m.room === null) return onDm(m);
    const conv = history.receiveMessage(m);
    if (!conv) return;
    if (!m.late) noteNick(m.from.peerId, m.from.nick);
    unread.arrived(conv, m);
  }

  function onDm(m: Message): void {
    const conv = history.receiveDm(m);
    if (!conv) return;
    if (m.from.peerId !== session.me?.peerId && !m.late) noteNick(m.from.peerId, m.from.nick);
    unread.arrived(conv, m);
  }

  function onMember(ev: EventPayloads['member']): void {
    directory.onMember(ev);
    const isMe = ev.peerId === session.me?.peerId;
    if (!isMe && ev.nick) noteNick(ev.peerId, ev.nick);
    if (ev.change === 'invited' && isMe) membership.offerInvite(ev);
    else membership.applyMember(ev);
  }

  function onPeer(ev: EventPayloads['peer']): void {
    peers.onPeer(ev);
    conversations.applyPeer(ev);
  }

  function onTyping(ev: EventPayloads['typing']): void {
    if (ev.peerId === session.me?.peerId) return;
    if (ev.nick) noteNick(ev.peerId, ev.nick);
    typing.applyTyping(ev);
  }

  /** Loads (or reloads after a reconnect) everything from the peer. */
  async function sync(): Promise<void> {
    const c = session.current();
    if (!c) return;
    try {
      const [who, rooms, peerInfos] = await Promise.all([c.call('whoami'), c.call('rooms'), c.call('peers')]);
      session.me = who;
      peers.apply(peerInfos);
      presence.applyPeers(peerInfos);
      directory.apply(rooms);
      membership.applyRooms(rooms);
      const firstSync = !session.synced;
      await history.discoverDms(peerInfos);
      const markers = await c.call('readMarkers');
      if (firstSync) {
        // Preload the rooms with unread messages (switching is then instant, and mentions are counted).
        const unreadRooms = new Set(markers.filter((m) => m.room && m.unread > 0).map((m) => m.room));
        await Promise.all(
          conversations.joinedRooms
            .filter((conv) => !conv.loaded && unreadRooms.has(conv.id))
            .map((conv) => history.loadConversation(conv)),
        );
      }
      unread.applyMarkers(markers);
      await history.catchUp();
      session.synced = true;
      navigation.restoreActive();
    } catch (err) {
      notices.reportError(err);
    }
  }

  return { init, dispose, sync, onMessage, onDm, onMember, onPeer, onTyping };
});
