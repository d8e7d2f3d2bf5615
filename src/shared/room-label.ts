/**
 * How a room is named on screen. A room is its id; its name is for people, and several rooms may
 * share one (two LAN partitions that each created `town`). A name alone is enough while it is
 * unique among the rooms this peer knows; beside a twin, the owner (the creator, owner for good)
 * tells them apart. Pure and shared: the UI and the terminal name rooms alike.
 */
import { fingerprint, type Peer } from './api.js';

export interface RoomIdentity {
  id: string;
  name: string;
  owner: Peer;
}

/** `alice (7Xk2-9fQa)`: the owner's nick and key fingerprint (a nick alone can be taken by anyone). */
export function ownerTag(room: Pick<RoomIdentity, 'id' | 'owner'>): string {
  // Not known yet (a room seen only through a member event): its id is what we have.
  if (!room.owner.peerId) return room.id.slice(1, 9);
  return `${room.owner.nick || '?'} (${fingerprint(room.owner.peerId)})`;
}

/**
 * `general` when no other known room is called `general`, `general · alice (7Xk2-9fQa)` when
 * several are. `known` is every room this peer knows (the room itself may or may not be in it).
 */
export function roomLabel(room: RoomIdentity, known: Iterable<Pick<RoomIdentity, 'id' | 'name'>>): string {
  for (const other of known) {
    if (other.name === room.name && other.id !== room.id) return `${room.name} · ${ownerTag(room)}`;
  }
  return room.name;
}

/** `roomLabel` of every room at once, in one pass over the names (the directory may hold thousands). */
export function roomLabels(rooms: readonly RoomIdentity[]): Map<string, string> {
  const ids = new Map<string, Set<string>>();
  for (const r of rooms) {
    let set = ids.get(r.name);
    if (!set) ids.set(r.name, (set = new Set()));
    set.add(r.id);
  }
  const labels = new Map<string, string>();
  for (const r of rooms) labels.set(r.id, (ids.get(r.name)?.size ?? 0) > 1 ? `${r.name} · ${ownerTag(r)}` : r.name);
  return labels;
}
