/**
 * The other peers on the network and their presence: who is known, who is connected, the nick
 * each one last used, and warnings when a known nick shows up with a new key.
 */
import { defineStore } from 'pinia';
import { computed, shallowReactive } from 'vue';
import { fingerprint, type EventPayloads, type PeerInfo } from '../../../shared/api.js';
import { useNoticesStore } from './notices';
import { useSessionStore } from './session';

export const usePeersStore = defineStore('peers', () => {
  const session = useSessionStore();
  const notices = useNoticesStore();
  const byId = shallowReactive(new Map<string, PeerInfo>());

  /** Every other peer, connected ones first. */
  const list = computed(() =>
    [...byId.values()]
      .filter((p) => p.peerId !== session.me?.peerId)
      .sort((a, b) => Number(b.connected) - Number(a.connected) || a.nick.localeCompare(b.nick)),
  );
  const connectedCount = computed(() => list.value.filter((p) => p.connected).length);

  function isOnline(peerId: string): boolean {
    if (peerId === session.me?.peerId) return true;
    return byId.get(peerId)?.connected ?? false;
  }

  /** My nick for myself, else the nick this peer last reported; undefined for a stranger. */
  function nickOf(peerId: string): string | undefined {
    if (peerId === session.me?.peerId) return session.me.nick;
    return byId.get(peerId)?.nick;
  }

  function apply(infos: readonly PeerInfo[]): void {
    byId.clear();
    for (const p of infos) byId.set(p.peerId, p);
  }

  /** Live events carry the author's current nick: keep the list up to date with it. */
  function noteNick(peerId: string, nick: string): void {
    const p = byId.get(peerId);
    if (p && p.nick !== nick) byId.set(peerId, { ...p, nick });
  }

  function onPeer(ev: EventPayloads['peer']): void {
    const prev = byId.get(ev.peerId);
    const connected = ev.state === 'up';
    byId.set(ev.peerId, {
      peerId: ev.peerId,
      nick: ev.nick || prev?.nick || ev.peerId.slice(0, 8),
      connected,
      addresses: prev?.addresses ?? [],
      state: connected ? 'connected' : 'offline',
      source: prev?.source,
      fingerprint: prev?.fingerprint ?? fingerprint(ev.peerId),
      status: prev?.status ?? (connected ? 'online' : 'offline'),
      ...(prev?.statusText ? { statusText: prev.statusText } : {}),
    });
  }

  function onIdentity(ev: EventPayloads['identity']): void {
    notices.toast(
      'warning',
      `"${ev.nick}" has a new key`,
      `A peer calling itself ${ev.nick} (${fingerprint(ev.peerId)}) is not the ${ev.nick} you knew (${fingerprint(ev.knownPeerId)}). It may be someone else.`,
      15000,
    );
  }

  async function connectTo(url: string): Promise<boolean> {
    try {
      const res = await session.api().call('connect', { url: url.trim() });
      notices.toast('info', 'Connected', `Peer ${fingerprint(res.peerId)} at ${url.trim()}`);
      return true;
    } catch (err) {
      notices.reportError(err);
      return false;
    }
  }

  return { byId, list, connectedCount, isOnline, nickOf, apply, noteNick, onPeer, onIdentity, connectTo };
});
