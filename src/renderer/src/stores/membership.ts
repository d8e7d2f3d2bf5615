/**
 * Rooms' membership, both ways. What I do to it: join (by id, or the user's own "join or create
 * #name"), leave, invite, kick, ban, unban, change roles; every call names the room by its id, and
 * the only bare name sent is the one the user typed, and only while no more than one known room
 * has it. And what the peer tells of it: the `rooms` answer and member events, applied to the
 * joined rooms' conversations (member lists, bans, flags, the notices in their timelines).
 */
import { defineStore } from 'pinia';
import {
  roomIdSchema,
  roomSchema,
  type EventPayloads,
  type JoinResult,
  type Member,
  type Role,
  type RoomInfo,
} from '../../../shared/api.js';
import { useConversationsStore } from './conversations';
import { useDirectoryStore } from './directory';
import { useNavigationStore } from './navigation';
import { useNoticesStore } from './notices';
import { usePeersStore } from './peers';
import { useSessionStore } from './session';
import { addMessages, markTimeline, memberEntry, replaceWithHistory, type Conversation, type TimelineMark } from './timeline';

export const useMembershipStore = defineStore('membership', () => {
  const session = useSessionStore();
  const notices = useNoticesStore();
  const directory = useDirectoryStore();
  const peers = usePeersStore();
  const conversations = useConversationsStore();
  const navigation = useNavigationStore();
  let systemSeq = 0;

  // ------------------------------------------------------------ what I do

  /** Joins room `ref` (an id, or a name typed by the user) and opens it. */
  async function join(ref: string, opts: { private?: boolean } = {}): Promise<boolean> {
    // The conversation this join may refresh, so live messages that cross the request are kept.
    const known = ref.startsWith('!') ? [ref] : directory.named(ref).map((r) => r.id);
    const before = known.length === 1 ? conversations.room(known[0]!) : undefined;
    const mark = before ? markTimeline(before) : undefined;
    return notices.attempt(async () => {
      const res = await session.api().call('join', { room: ref, ...(opts.private ? { private: true } : {}) });
      showJoined(res, !!opts.private, mark);
      void refreshRooms();
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
      showLeft(id);
      void refreshRooms();
    });
  }

  function moderate(action: 'kick' | 'ban' | 'unban', id: string, peer: string, reason?: string): Promise<boolean> {
    return notices.attempt(async () => {
      const r = reason?.trim();
      await session.api().call(action, { room: id, peer, ...(r ? { reason: r } : {}) });
      if (action === 'unban') forgetBan(id, peer);
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

  // ------------------------------------------------------------ into the conversations

  /** The joined rooms of a `rooms` answer get conversations; rooms no longer joined are marked so. */
  function applyRooms(rooms: readonly RoomInfo[]): void {
    const joined = new Set<string>();
    for (const r of rooms) {
      if (!r.joined) continue;
      joined.add(r.id);
      const conv = conversations.ensureRoom(r.id, r.name);
      conv.title = r.name;
      conv.joined = true;
      conv.private = !!r.private;
      conv.members = r.members;
      conv.banned = r.banned ?? [];
    }
    for (const conv of conversations.byKey.values()) {
      if (conv.kind === 'room' && conv.joined && !joined.has(conv.id)) conv.joined = false;
    }
  }

  /** Reloads the directory and brings the conversations in step (roles, flags, bans). */
  async function refreshRooms(): Promise<void> {
    const list = await directory.refresh();
    if (list) applyRooms(list);
  }

  /** A room just joined (the `join` answer): its conversation, filled and opened. */
  function showJoined(res: JoinResult, invitesOnly: boolean, mark?: TimelineMark): Conversation {
    const conv = conversations.ensureRoom(res.id, res.name);
    conv.joined = true;
    conv.private = invitesOnly || !!directory.byId.get(res.id)?.private;
    conv.members = res.members;
    replaceWithHistory(conv, res.history, mark);
    conv.hasMore = res.history.length > 0;
    conv.loaded = true;
    navigation.open(conv.key);
    return conv;
  }

  /** I left the room: nothing unread there any more, and the view moves on. */
  function showLeft(id: string): void {
    const conv = conversations.room(id);
    if (!conv) return;
    conv.joined = false;
    conv.typing = [];
    conv.unread = 0;
    conv.mentions = 0;
    navigation.leaveView(conv);
  }

  function forgetBan(id: string, peerId: string): void {
    const conv = conversations.room(id);
    if (conv) conv.banned = conv.banned.filter((b) => b.peerId !== peerId);
  }

  /** A membership change, into the room's member list and timeline (the directory and invites are handled elsewhere). */
  function applyMember(ev: EventPayloads['member']): void {
    const isMe = ev.peerId === session.me?.peerId;
    let conv = conversations.room(ev.room);
    if (!conv) {
      if (!(isMe && ev.change === 'joined')) return;
      conv = conversations.ensureRoom(ev.room, ev.roomName);
    }
    const c = conv;
    const where = `#${conversations.label(c)}`;
    const who = isMe ? 'You' : ev.nick;
    const by = ev.by ? conversations.nickOf(ev.by, c) : undefined;
    const reason = ev.reason ? ` (${ev.reason})` : '';
    const existing = c.members.find((m) => m.peerId === ev.peerId);
    const without = (): Member[] => c.members.filter((m) => m.peerId !== ev.peerId);
    switch (ev.change) {
      case 'joined': {
        const role = ev.role ?? existing?.role ?? 'member';
        c.members = [...without(), memberEntry({ peerId: ev.peerId, nick: ev.nick }, role, peers.isOnline(ev.peerId), existing)];
        c.banned = c.banned.filter((b) => b.peerId !== ev.peerId);
        if (isMe) {
          // Joined from elsewhere (another window, a script): fetch the room's roles and flags.
          if (!c.joined) void refreshRooms();
          c.joined = true;
        } else if (!existing && c.joined) {
          system(c, `${ev.nick} joined ${where}`);
        }
        break;
      }
      case 'left':
        c.members = without();
        if (isMe) c.joined = false;
        else if (c.joined) system(c, `${ev.nick} left ${where}`);
        break;
      case 'kicked':
      case 'banned': {
        c.members = without();
        const verb = ev.change === 'kicked' ? 'removed' : 'banned';
        if (ev.change === 'banned' && !c.banned.some((b) => b.peerId === ev.peerId)) {
          c.banned = [...c.banned, { peerId: ev.peerId, nick: ev.nick }];
        }
        if (isMe) {
          const wasJoined = c.joined;
          c.joined = false;
          c.typing = [];
          system(c, `You were ${verb} from ${where}${by ? ` by ${by}` : ''}${reason}`);
          if (wasJoined) {
            notices.toast('warning', `You were ${verb} from ${where}`, by ? `by ${by}${reason}` : reason.trim() || undefined, 12000);
            navigation.leaveView(c);
          }
        } else {
          system(c, `${who} was ${verb} from ${where}${by ? ` by ${by}` : ''}${reason}`);
        }
        break;
      }
      case 'unbanned':
        c.banned = c.banned.filter((b) => b.peerId !== ev.peerId);
        if (c.joined) system(c, `${who} ${isMe ? 'were' : 'was'} unbanned from ${where}${by ? ` by ${by}` : ''}`);
        break;
      case 'invited':
        if (c.joined) system(c, `${by ?? 'Someone'} invited ${ev.nick} to ${where}`);
        break;
      case 'role':
        if (existing && ev.role) {
          c.members = c.members.map((m) => (m.peerId === ev.peerId ? { ...m, role: ev.role as Role, nick: ev.nick } : m));
        }
        if (ev.role && c.joined) {
          const what = ev.role === 'member' ? 'a regular member' : `${ev.role === 'owner' ? 'an' : 'a'} ${ev.role}`;
          system(c, `${by ?? 'Someone'} made ${isMe ? 'you' : ev.nick} ${what}`);
        }
        break;
    }
  }

  /** A local notice in the timeline ("bob joined #general"). */
  function system(conv: Conversation, text: string): void {
    addMessages(conv, [
      {
        id: `sys:${++systemSeq}`,
        room: conv.kind === 'room' ? conv.id : null,
        from: { peerId: '', nick: '' },
        text,
        sentAt: Date.now(),
        system: true,
      },
    ]);
  }

  return { join, joinNamed, leave, moderate, invite, setRole, offerInvite, applyRooms, refreshRooms, applyMember };
});
