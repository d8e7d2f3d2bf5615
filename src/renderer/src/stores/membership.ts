/**
 * What I do to rooms' membership: join (by id, or the user's own "join or create #name"), leave,
 * invite, kick, ban, unban, change roles. Every call names the room by its id; the only bare name
 * sent is the one the user typed, and only while no more than one known room has it.
 */
import { defineStore } from 'pinia';
import { roomIdSchema, roomSchema, type EventPayloads, type Role, type RoomInfo } from '../../../shared/api.js';
import { useConversationsStore } from './conversations';
import { useDirectoryStore } from './directory';
import { useNoticesStore } from './notices';
import { useSessionStore } from './session';
import { markTimeline } from './timeline';

export const useMembershipStore = defineStore('membership', () => {
  const session = useSessionStore();
  const notices = useNoticesStore();
  const directory = useDirectoryStore();
  const conversations = useConversationsStore();

  /** Joins room `ref` (an id, or a name typed by the user) and opens it. */
  async function join(ref: string, opts: { private?: boolean } = {}): Promise<boolean> {
    // The conversation this join may refresh, so live messages that cross the request are kept.
    const known = ref.startsWith('!') ? [ref] : directory.named(ref).map((r) => r.id);
    const before = known.length === 1 ? conversations.room(known[0]!) : undefined;
    const mark = before ? markTimeline(before) : undefined;
    return notices.attempt(async () => {
      const res = await session.api().call('join', { room: ref, ...(opts.private ? { private: true } : {}) });
      conversations.showJoined(res, !!opts.private, mark);
      void conversations.refreshRooms();
    });
  }

  /**
   * The user's own "join or create a room named X" (a room id pasted there works too). With at most
   * one known room of that name the peer decides (it creates the room if none exists); when several
   * share it, nothing is joined and they are returned for the user to pick one by id.
   */
  async function joinNamed(input: string, opts: { private?: boolean } = {}): Promise<boolean | RoomInfo[]> {
    const raw = input.trim().replace(/^#/, '');
    if (roomIdSchema.safeParse(raw).success) return join(raw, opts);
    const parsed = roomSchema.safeParse(raw);
    if (!parsed.success) {
      notices.toast('error', 'That room name is not valid', parsed.error.issues[0]?.message);
      return false;
    }
    const twins = directory.named(parsed.data);
    if (twins.length > 1) return twins;
    return join(parsed.data, opts);
  }

  function leave(id: string): Promise<boolean> {
    return notices.attempt(async () => {
      await session.api().call('leave', { room: id });
      conversations.showLeft(id);
      void conversations.refreshRooms();
    });
  }

  function moderate(action: 'kick' | 'ban' | 'unban', id: string, peer: string, reason?: string): Promise<boolean> {
    return notices.attempt(async () => {
      const r = reason?.trim();
      await session.api().call(action, { room: id, peer, ...(r ? { reason: r } : {}) });
      if (action === 'unban') conversations.forgetBan(id, peer);
    });
  }

  function invite(id: string, peer: string): Promise<boolean> {
    return notices.attempt(() => session.api().call('invite', { room: id, peer }));
  }

  function setRole(id: string, peer: string, role: Role): Promise<boolean> {
    return notices.attempt(() => session.api().call('setRole', { room: id, peer, role }));
  }

  /** Someone invited me: offer to join that very room (by id: a same-named one would be another room). */
  function offerInvite(ev: EventPayloads['member']): void {
    // The inviter is a member of a room I am not in yet: the directory knows its nick.
    const info = directory.byId.get(ev.room);
    const inviter = info && [info.owner, ...info.members].find((p) => p.peerId === ev.by && p.nick);
    const by = !ev.by ? 'Someone' : inviter ? inviter.nick : conversations.nickOf(ev.by);
    notices.toast(
      'info',
      `${by} invited you to #${directory.label(ev.room, ev.roomName)}`,
      'An invite-only room, end-to-end encrypted.',
      20000,
      {
        label: 'Join',
        run: () => void join(ev.room),
      },
    );
  }

  return { join, joinNamed, leave, moderate, invite, setRole, offerInvite };
});
