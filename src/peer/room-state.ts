/**
 * The authority rules of a room, as a pure state machine.
 *
 * Every peer applies a room's events in the same total order — (depth, id),
 * which respects causality — and each event is judged against the state the
 * events before it produced. The verdict is thus a function of the set of
 * events alone: peers holding the same events agree on every verdict, the
 * member list and the roles, whatever order the events arrived in. Two
 * moderators acting against each other concurrently are resolved by that
 * order: whichever sorts first wins, the other finds its power gone.
 *
 * A room is founded by its `create` event, whose author is its owner for good: nobody can demote,
 * kick or ban the creator, and no later event can found the room again (the room's id is the create
 * event's hash, so a second `create` of the same name is another room).
 */
import { LIMITS, type Role } from '../shared/api.js';

export interface RoomMember {
  nick: string;
}

export interface RoomState {
  members: Map<string, RoomMember>;
  /** Roles outlive membership: an owner who leaves and rejoins is still owner. */
  roles: Map<string, Role>;
  banned: Set<string>;
  /** The room's name and creator, from its `create` event (undefined until it was applied). */
  name?: string;
  creator?: string;
  /** Invite-only room (declared by its `create`): joins need an invite, messages are sealed. */
  private: boolean;
  /** Epoch of the room key to write with (private rooms). */
  epoch?: string;
  invited: Set<string>;
  /**
   * Who was handed the current epoch's key, as the events say (its maker, the targets of its
   * `rekey`, invitees given it). Informational, never part of a verdict: moderators compare it
   * with who may read, to re-send a key someone missed or rotate one that someone removed holds.
   */
  keyed: Set<string>;
}

export function emptyRoomState(): RoomState {
  return {
    members: new Map(),
    roles: new Map(),
    banned: new Set(),
    private: false,
    invited: new Set(),
    keyed: new Set(),
  };
}

/** Peers who may read an invite-only room: members and invitees. */
export function entitledReaders(s: RoomState): Set<string> {
  return new Set([...s.members.keys(), ...s.invited]);
}

function isModerator(s: RoomState, peerId: string): boolean {
  return s.members.has(peerId) && RANK[roleOf(s, peerId)] >= RANK.moderator;
}

export interface RuleEvent {
  author: string;
  type: string;
  body: Record<string, unknown>;
  /** A message stripped of its content by a delete: it was sealed or not, nobody can tell now. */
  redacted?: unknown;
  /** For a reaction, an edit or a delete: the author of the message it is about. */
  targetAuthor?: string;
}

export type Verdict = { ok: true } | { ok: false; reason: 'not_member' | 'forbidden' | 'banned' | 'invalid' | 'malformed' };

const RANK: Record<Role, number> = { owner: 3, moderator: 2, member: 1 };

export function roleOf(s: RoomState, peerId: string): Role {
  return s.roles.get(peerId) ?? 'member';
}

/** May `actor` kick or ban `target`? Owners act on anyone but themselves and the creator, moderators on plain members. */
export function canModerate(s: RoomState, actor: string, target: string): boolean {
  if (actor === target || target === s.creator || !s.members.has(actor)) return false;
  const a = roleOf(s, actor);
  if (a === 'owner') return true;
  return a === 'moderator' && RANK[roleOf(s, target)] < RANK[a];
}

function keysOf(ev: RuleEvent): { epoch?: unknown; target?: unknown }[] {
  return Array.isArray(ev.body.keys) ? (ev.body.keys as { epoch?: unknown; target?: unknown }[]) : [];
}

/** Members who are not banned write; an invite-only room carries only sealed content. */
function mayWrite(s: RoomState, ev: RuleEvent): Verdict {
  if (s.banned.has(ev.author)) return { ok: false, reason: 'banned' };
  if (!s.members.has(ev.author)) return { ok: false, reason: 'not_member' };
  if (s.private && ev.body.ct === undefined && !ev.redacted) return { ok: false, reason: 'invalid' };
  return { ok: true };
}

/** Judges one event against the state before it; mutates `s` only when the event is accepted. */
export function applyEvent(s: RoomState, ev: RuleEvent): Verdict {
  const target = typeof ev.body.target === 'string' ? ev.body.target : '';
  // Everything else in a room descends from its create (the replica checks the DAG), so this holds only for malformed input.
  if (ev.type !== 'create' && s.creator === undefined) return { ok: false, reason: 'invalid' };
  switch (ev.type) {
    case 'create': {
      if (s.creator !== undefined) return { ok: false, reason: 'invalid' };
      s.name = String(ev.body.name);
      s.creator = ev.author;
      s.roles.set(ev.author, 'owner');
      s.members.set(ev.author, { nick: String(ev.body.nick) });
      if (ev.body.private === true && typeof ev.body.epoch === 'string') {
        s.private = true;
        s.epoch = ev.body.epoch;
        s.invited.add(ev.author);
        s.keyed = new Set([ev.author]);
      }
      return { ok: true };
    }
    case 'join': {
      if (s.banned.has(ev.author)) return { ok: false, reason: 'banned' };
      if (s.private && !s.invited.has(ev.author)) {
        return { ok: false, reason: 'forbidden' };
      } else if (!s.members.has(ev.author) && s.members.size >= LIMITS.membersMax) {
        return { ok: false, reason: 'forbidden' };
      }
      s.members.set(ev.author, { nick: String(ev.body.nick) });
      return { ok: true };
    }
    case 'leave':
      if (!s.members.delete(ev.author)) return { ok: false, reason: 'not_member' };
      s.invited.delete(ev.author); // coming back to an invite-only room takes a new invite
      return { ok: true };
    case 'msg':
    case 'react':
    case 'unreact':
      return mayWrite(s, ev);
    case 'edit':
      if (ev.targetAuthor !== ev.author) return { ok: false, reason: 'forbidden' };
      return mayWrite(s, ev);
    case 'delete':
      // an author may always take back their own words; moderators remove others' (not their betters')
      if (ev.targetAuthor === ev.author) return { ok: true };
      if (ev.targetAuthor === undefined || !canModerate(s, ev.author, ev.targetAuthor)) return { ok: false, reason: 'forbidden' };
      return { ok: true };
    case 'invite':
      if (!s.private) return { ok: false, reason: 'invalid' };
      if (!isModerator(s, ev.author)) return { ok: false, reason: 'forbidden' };
      if (s.banned.has(target)) return { ok: false, reason: 'banned' };
      s.invited.add(target);
      if (keysOf(ev).some((k) => k.epoch === s.epoch)) s.keyed.add(target);
      return { ok: true };
    case 'rekey':
      if (!s.private) return { ok: false, reason: 'invalid' };
      if (!isModerator(s, ev.author)) return { ok: false, reason: 'forbidden' };
      s.epoch = String(ev.body.epoch);
      s.keyed = new Set([ev.author, ...keysOf(ev).flatMap((k) => (typeof k.target === 'string' ? [k.target] : []))]);
      return { ok: true };
    case 'kick':
      if (!s.members.has(target)) return { ok: false, reason: 'invalid' };
      if (!canModerate(s, ev.author, target)) return { ok: false, reason: 'forbidden' };
      s.members.delete(target);
      s.invited.delete(target); // in an invite-only room, coming back takes a new invite
      return { ok: true };
    case 'ban':
      if (!canModerate(s, ev.author, target)) return { ok: false, reason: 'forbidden' };
      s.members.delete(target);
      s.invited.delete(target);
      s.banned.add(target);
      return { ok: true };
    case 'unban':
      if (!isModerator(s, ev.author)) return { ok: false, reason: 'forbidden' };
      if (!s.banned.delete(target)) return { ok: false, reason: 'invalid' };
      return { ok: true };
    case 'role': {
      // the creator stays owner: a co-owner cannot take the room from them
      if (!s.members.has(ev.author) || roleOf(s, ev.author) !== 'owner' || target === ev.author || target === s.creator)
        return { ok: false, reason: 'forbidden' };
      const role = ev.body.role as Role;
      if (role === 'member') s.roles.delete(target);
      else s.roles.set(target, role);
      return { ok: true };
    }
    default:
      return { ok: false, reason: 'invalid' };
  }
}
