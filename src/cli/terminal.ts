/**
 * The interactive terminal chat of the headless peer: type to talk in the
 * current room, slash commands for everything else.
 */
import { createInterface, type Interface } from 'node:readline';
import { styleText } from 'node:util';
import {
  ChattyError,
  type ChattyService,
  type Message,
  type MethodName,
  type MethodResults,
  type ParamsOf,
  type Peer,
  type RoomInfo,
} from '../shared/api.js';
import { formatBytes } from '../shared/files.js';
import { callValidated, toRpcError } from '../shared/jsonrpc.js';
import { ownerTag, roomLabel, type RoomIdentity } from '../shared/room-label.js';

const HELP = `Commands:
  /join ROOM            join (or create) a room and make it current; ROOM is a name or, where
                        several rooms share a name, the id /rooms shows
  /private ROOM         create an invite-only, end-to-end encrypted room
  /invite PEER          invite a peer to the current invite-only room
  /leave [ROOM]         leave a room (default: current)
  /rooms                list rooms on the network
  /who [ROOM]           members of a room
  /peers                peers on the LAN
  /send PATH [TEXT]     send a file (a path with spaces in "quotes") to the current room
  /sendto PEER PATH     send a file as a direct message
  /get FILE [PATH]      download a file (FILE: the id or its first characters, as shown)
  /msg PEER TEXT        direct message (peer id or unique nick)
  /dms PEER             direct-message history with a peer
  /history [N]          last N messages of the current room
  /nick NAME            change your nickname
  /kick PEER [REASON]   /ban PEER [REASON]   /unban PEER
  /role PEER owner|moderator|member
  /react EMOJI          react to the last message of the current room (again: take it back)
  /edit TEXT            change the text of your last message in the current room
  /delete               delete your last message in the current room
  /status online|away|busy [TEXT]   what others see of you
  /search TEXT          search your rooms and DMs
  /connect ws://HOST:PORT
  /quit                 leave the chat (the peer stops)
Anything else is sent to the current room.`;

type Style = Parameters<typeof styleText>[0];
const paint = (style: Style, text: string) => (process.stdout.isTTY ? styleText(style, text) : text);
const time = (ms: number) => new Date(ms).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });

export class Terminal {
  /** Id of the current room. */
  private room?: string;
  /** The rooms seen, by id: their labels name the owner where several share a name. */
  private readonly rooms = new Map<string, RoomIdentity>();
  private rl?: Interface;
  /** Files seen in messages, by id: `/get` takes the first characters of an id. */
  private readonly files = new Map<string, { name: string }>();
  /** Per room, the last message shown and the last one of ours: what /react, /edit and /delete act on. */
  private readonly last = new Map<string, { any?: Message; mine?: Message }>();

  constructor(
    private readonly service: ChattyService,
    private readonly onQuit: () => void,
  ) {}

  start(banner: string): void {
    this.rl = createInterface({ input: process.stdin, output: process.stdout, prompt: '> ' });
    this.print(banner);
    this.print('Type /help for commands, /join ROOM to start.');
    this.service.on('message', (m) => {
      this.remember(m);
      this.print(this.formatMessage(m));
    });
    this.service.on('update', (m) => {
      if (m.room !== this.room) return;
      const what = m.deleted
        ? 'was deleted'
        : `now reads: ${m.text}${m.edited ? ' (edited)' : ''}${m.reactions?.length ? `  ${m.reactions.map((r) => `${r.emoji} ${r.count}`).join(' ')}` : ''}`;
      this.print(paint('gray', `* ${m.from.nick}'s message of ${time(m.sentAt)} ${what}`));
    });
    this.service.on('status', (e) => {
      if (e.status !== 'online' && e.status !== 'offline')
        this.print(paint('gray', `* ${e.nick} is ${e.status}${e.statusText ? `: ${e.statusText}` : ''}`));
    });
    this.service.on('dm', (m) => this.print(paint('magenta', `${time(m.sentAt)} [DM ${m.from.nick} → ${m.to?.nick ?? '?'}] `) + m.text));
    this.service.on('member', (e) =>
      this.print(
        paint(
          'gray',
          `* ${e.nick} ${e.change}${e.role ? ` (${e.role})` : ''} in ${this.label(e.room, e.roomName)}${e.reason ? `: ${e.reason}` : ''}`,
        ),
      ),
    );
    this.service.on('transfer', (t) => {
      const name = this.files.get(t.file)?.name ?? t.file.slice(0, 8);
      if (t.state === 'done') this.print(paint('green', `* ${name} saved to ${t.path}`));
      else if (t.state === 'failed') this.print(paint('red', `* ${name} could not be fetched: ${t.error ?? 'unknown error'}`));
    });
    this.service.on('peer', (e) => this.print(paint('gray', `* peer ${e.nick} is ${e.state === 'up' ? 'online' : 'offline'}`)));
    this.service.on('identity', (e) =>
      this.print(paint('yellow', `! "${e.nick}" is now also used by another key (${e.peerId.slice(0, 8)}); they are not the same person`)),
    );
    this.rl.on('line', (line) => void this.handle(line.trim()).finally(() => this.rl?.prompt()));
    this.rl.on('close', () => this.onQuit());
    this.rl.prompt();
  }

  private print(text: string): void {
    if (!this.rl) return void console.log(text);
    process.stdout.write(`\r\x1b[K${text}\n`);
    this.rl.prompt(true);
  }

  /** `#name`, or `#name · owner (fingerprint)` where several known rooms have that name. */
  private label(id: string, name?: string): string {
    const room = this.rooms.get(id);
    return `#${room ? roomLabel(room, this.rooms.values()) : (name ?? id)}`;
  }

  private async refreshRooms(): Promise<RoomInfo[]> {
    const rooms = await this.call('rooms', {});
    for (const r of rooms) this.rooms.set(r.id, r);
    return rooms;
  }

  private remember(m: Message): void {
    if (m.room === null) return;
    const last = this.last.get(m.room) ?? {};
    last.any = m;
    if (m.from.peerId === this.me) last.mine = m;
    this.last.set(m.room, last);
  }

  /** This peer's id, once known (its own messages are what /edit and /delete act on). */
  private me?: string;

  private lastOf(room: string, which: 'any' | 'mine'): Message {
    const m = this.last.get(room)?.[which];
    if (!m) throw new ChattyError('not_found', which === 'mine' ? 'you have sent nothing here yet' : 'no message here yet');
    return m;
  }

  private formatMessage(m: Message): string {
    const room = m.room === this.room || m.room === null ? '' : paint('cyan', `${this.label(m.room, m.roomName)} `);
    return `${paint('gray', time(m.sentAt))} ${room}${paint('bold', m.from.nick)}: ${m.text}${this.formatFile(m)}${m.late ? paint('gray', ' (arrived late)') : ''}`;
  }

  /** ` [file: name, size — /get id]`, remembering the file for `/get`. */
  private formatFile(m: Message): string {
    if (!m.file) return '';
    this.files.set(m.file.id, { name: m.file.name });
    const done = m.file.transfer?.state === 'done' ? ` at ${m.file.transfer.path}` : ` — /get ${m.file.id.slice(0, 8)}`;
    return paint('cyan', `${m.text ? ' ' : ''}[file: ${m.file.name}, ${formatBytes(m.file.size)}${done}]`);
  }

  /** A file id from its first characters, among the files shown. */
  private fileId(prefix: string): string {
    const ids = [...this.files.keys()].filter((id) => id.startsWith(prefix));
    if (ids.length === 1) return ids[0]!;
    if (prefix.length === 43) return prefix;
    throw new ChattyError(
      ids.length ? 'ambiguous' : 'not_found',
      ids.length ? `several files start with ${prefix}` : `no file ${prefix} shown yet`,
    );
  }

  private async handle(line: string): Promise<void> {
    if (!line) return;
    try {
      if (!line.startsWith('/')) {
        if (!this.room) throw new ChattyError('not_member', 'join a room first: /join ROOM');
        await this.call('send', { room: this.room, text: line });
        return;
      }
      const [cmd = '', ...args] = line.slice(1).split(/\s+/);
      const rest = line.slice(1 + cmd.length).trim();
      await this.command(cmd.toLowerCase(), args, rest);
    } catch (err) {
      const e = toRpcError(err);
      this.print(paint('red', `error: ${e.message}`));
      // same-named rooms: show what tells them apart, and the ids to pick one with
      const candidates = e.data?.reason === 'ambiguous' && e.data.candidates;
      if (Array.isArray(candidates) && candidates.every((c: { id?: unknown }) => typeof c.id === 'string')) {
        for (const c of candidates as { id: string; name: string; owner?: Peer; members?: number }[])
          this.print(
            `  ${c.id}  #${c.name}${c.owner ? ` · ${ownerTag({ id: c.id, owner: c.owner })}` : ''}${c.members !== undefined ? `, ${c.members} members` : ''}`,
          );
      }
    }
  }

  /** Every command goes through the API's schemas, like any other front end. */
  private call<M extends MethodName>(method: M, params: ParamsOf<M>): Promise<MethodResults[M]> {
    return callValidated(this.service, method, params);
  }

  private async command(cmd: string, args: string[], rest: string): Promise<void> {
    const room = () => {
      if (!this.room) throw new ChattyError('not_member', 'no current room: /join ROOM first');
      return this.room;
    };
    switch (cmd) {
      case 'help':
        return this.print(HELP);
      case 'join': {
        const r = await this.call('join', { room: args[0] ?? '' });
        this.room = r.id;
        await this.refreshRooms();
        this.print(paint('green', `joined ${this.label(r.id)} (${r.members.length} members)`));
        this.me ??= (await this.call('whoami', {})).peerId;
        for (const m of r.history.slice(-20)) {
          this.remember(m);
          this.print(this.formatMessage(m));
        }
        return;
      }
      case 'private': {
        const r = await this.call('join', { room: args[0] ?? '', private: true });
        this.room = r.id;
        await this.refreshRooms();
        return this.print(paint('green', `joined invite-only ${this.label(r.id)}; /invite PEER to add people`));
      }
      case 'invite':
        await this.call('invite', { room: room(), peer: args[0] ?? '' });
        return this.print(`invited ${args[0]} to ${this.label(room())}`);
      case 'leave': {
        const r = await this.call('leave', { room: args[0] ?? room() });
        if (r.room === this.room) this.room = undefined;
        return this.print(`left ${this.label(r.room)}`);
      }
      case 'rooms': {
        const rooms = await this.refreshRooms();
        if (!rooms.length) return this.print('no rooms yet: /join NAME creates one');
        return this.print(
          rooms.map((r) => `${r.joined ? '*' : ' '} ${this.label(r.id)} (${r.members.length} members)  ${r.id}`).join('\n'),
        );
      }
      case 'who': {
        const ref = args[0] ?? room();
        const rooms = await this.refreshRooms();
        const named = rooms.filter((x) => x.id === ref || x.name === ref);
        if (named.length > 1)
          throw new ChattyError('ambiguous', `${named.length} rooms are called "${ref}": give the room's id`, { candidates: named });
        const r = named[0];
        if (!r) throw new ChattyError('not_found', `no room ${ref}`);
        return this.print(
          r.members.map((m) => `${m.online ? '●' : '○'} ${m.nick} [${m.peerId.slice(0, 8)}] ${m.role}`).join('\n') || 'nobody',
        );
      }
      case 'peers': {
        const peers = await this.call('peers', {});
        if (!peers.length) return this.print('no peers found yet. Multicast may be blocked: try /connect ws://HOST:7447');
        return this.print(
          peers.map((p) => `${p.connected ? '●' : '○'} ${p.nick} [${p.fingerprint}] ${p.state} ${p.addresses.join(' ')}`).join('\n'),
        );
      }
      case 'send': {
        const [path, text] = splitPath(rest);
        const m = await this.call('sendFile', { room: room(), path, ...(text ? { text } : {}) });
        return this.print(this.formatMessage(m));
      }
      case 'sendto': {
        const [to = ''] = args;
        const [path, text] = splitPath(rest.slice(to.length).trim());
        const m = await this.call('sendFile', { to, path, ...(text ? { text } : {}) });
        return this.print(paint('magenta', `[DM → ${to}] `) + this.formatFile(m));
      }
      case 'get': {
        const [file = '', ...where] = args;
        const t = await this.call('download', { file: this.fileId(file), ...(where.length ? { path: where.join(' ') } : {}) });
        const name = this.files.get(t.file)?.name ?? file;
        return this.print(t.state === 'done' ? `${name} is at ${t.path}` : `fetching ${name} to ${t.path}…`);
      }
      case 'msg': {
        const [to = '', ...words] = args;
        await this.call('dm', { to, text: words.join(' ') });
        return this.print(paint('magenta', `[DM → ${to}] `) + words.join(' '));
      }
      case 'dms':
        for (const m of await this.call('dmHistory', { peer: args[0] ?? '' }))
          this.print(`${time(m.sentAt)} ${m.from.nick}: ${m.text}${this.formatFile(m)}`);
        return;
      case 'history':
        for (const m of await this.call('history', { room: room(), limit: Number(args[0] ?? 20) })) this.print(this.formatMessage(m));
        return;
      case 'nick':
        return this.print(`you are now ${(await this.call('setNick', { nick: rest })).nick}`);
      case 'kick':
      case 'ban':
      case 'unban': {
        const [peer = '', ...why] = args;
        const reason = why.join(' ') || undefined;
        await this.call(cmd, { room: room(), peer, ...(reason ? { reason } : {}) });
        return;
      }
      case 'role':
        await this.call('setRole', { room: room(), peer: args[0] ?? '', role: (args[1] ?? '') as 'member' });
        return;
      case 'react': {
        const target = this.lastOf(room(), 'any');
        const mine = (await this.call('message', { id: target.id })).reactions?.some((r) => r.emoji === rest && r.mine);
        await this.call(mine ? 'unreact' : 'react', { message: target.id, emoji: rest });
        return;
      }
      case 'edit':
        await this.call('edit', { message: this.lastOf(room(), 'mine').id, text: rest });
        return;
      case 'delete':
        await this.call('delete', { message: this.lastOf(room(), 'mine').id });
        return;
      case 'status': {
        const [status = '', ...words] = args;
        const r = await this.call('setStatus', { status: status as 'online', ...(words.length ? { text: words.join(' ') } : {}) });
        return this.print(`you are ${r.status}${r.statusText ? `: ${r.statusText}` : ''}`);
      }
      case 'search':
        for (const m of await this.call('search', { query: rest })) this.print(this.formatMessage(m));
        return;
      case 'connect':
        return this.print(`connected to ${(await this.call('connect', { url: args[0] ?? '' })).peerId.slice(0, 8)}`);
      case 'quit':
      case 'exit':
        this.rl?.close();
        return;
      default:
        throw new ChattyError('not_found', `unknown command /${cmd}; /help lists them`);
    }
  }
}

/** `"a path with spaces" the text` or `path the text`. */
function splitPath(rest: string): [string, string] {
  const quoted = /^"([^"]+)"\s*(.*)$/.exec(rest);
  if (quoted) return [quoted[1]!, quoted[2]!];
  const [path = '', ...words] = rest.split(/\s+/);
  return [path, words.join(' ')];
}
