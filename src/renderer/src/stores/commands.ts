/**
 * Slash commands typed in the composer: /join room, /leave [room], /nick name, /msg nick text,
 * /help. A composable over the stores, not a store: it holds no state of its own.
 */
import { useComposerStore } from './composer';
import { useConversationsStore } from './conversations';
import { useMembershipStore } from './membership';
import { useNoticesStore } from './notices';
import { useSessionStore } from './session';
import type { Conversation } from './timeline';
import { useUiStore } from './ui';

export function useCommands() {
  const session = useSessionStore();
  const notices = useNoticesStore();
  const conversations = useConversationsStore();
  const composer = useComposerStore();
  const membership = useMembershipStore();
  const ui = useUiStore();

  /** `/join name`: joins it, or, when several known rooms have that name, lets the user pick in "browse rooms". */
  async function join(arg: string): Promise<boolean> {
    const res = await membership.joinNamed(arg);
    if (!Array.isArray(res)) return res;
    ui.openBrowse(arg.trim().replace(/^#/, ''));
    return true;
  }

  /** `/leave [room]`: the room given by name (one I am in) or id, else the current one. */
  async function leave(conv: Conversation, arg: string): Promise<boolean> {
    const name = arg.replace(/^#/, '');
    if (!name) {
      if (conv.kind === 'room') return membership.leave(conv.id);
      notices.toast('error', 'Which room?', 'Type /leave room-name');
      return false;
    }
    const mine = conversations.joinedRooms.filter((c) => c.id === name || c.title === name);
    if (mine.length === 1) return membership.leave(mine[0]!.id);
    if (mine.length === 0) notices.toast('error', `You are not in #${name}`);
    else notices.toast('error', `You are in ${mine.length} rooms called #${name}`, 'Open the one to leave and use its leave button.');
    return false;
  }

  /**
   * Runs `text` as a command. Returns whether the command worked, or null when `text` is not a
   * command (`//text` sends "/text").
   */
  async function command(conv: Conversation, text: string): Promise<boolean | null> {
    const m = /^\/([a-z]+)(?:\s+([\s\S]*))?$/i.exec(text.trim());
    if (!m || text.trim().startsWith('//')) return null;
    const name = (m[1] ?? '').toLowerCase();
    const arg = (m[2] ?? '').trim();
    switch (name) {
      case 'join':
        return arg ? join(arg) : (notices.toast('error', 'Which room?', 'Type /join room-name'), false);
      case 'leave':
        return leave(conv, arg);
      case 'nick':
        return arg ? session.setNick(arg) : (notices.toast('error', 'Which nickname?', 'Type /nick new-name'), false);
      case 'msg':
      case 'dm': {
        const [to = '', ...rest] = arg.split(/\s+/);
        const body = rest.join(' ').trim();
        if (!to || !body) return (notices.toast('error', 'Usage', '/msg nick message'), false);
        return composer.sendDirect(to.replace(/^@/, ''), body);
      }
      case 'help':
        notices.toast(
          'info',
          'Commands',
          '/join room · /leave [room] · /nick name · /msg nick text · start with // to send a leading /',
          12000,
        );
        return true;
      default:
        notices.toast('error', `Unknown command /${name}`, 'Type /help for the list, or start with // to send it as text.');
        return false;
    }
  }

  return { command };
}
