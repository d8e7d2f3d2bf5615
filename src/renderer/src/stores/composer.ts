/**
 * What is written and sent in a conversation: its draft, the message it replies to, and sending
 * the text there; also `/msg`'s DM to a peer named in the command, whose conversation then opens.
 */
import { defineStore } from 'pinia';
import { useConversationsStore } from './conversations';
import { useNavigationStore } from './navigation';
import { useNoticesStore } from './notices';
import { useSessionStore } from './session';
import { addMessages, type ChatItem, type Conversation } from './timeline';
import { useTypingStore } from './typing';

export const useComposerStore = defineStore('composer', () => {
  const session = useSessionStore();
  const notices = useNoticesStore();
  const conversations = useConversationsStore();
  const navigation = useNavigationStore();
  const typing = useTypingStore();

  /** Sends the text to the conversation. Returns false (and shows why) when it failed. */
  async function send(conv: Conversation, text: string): Promise<boolean> {
    const body = text.trim();
    if (!body) return false;
    try {
      const reply = conv.replyTo && !conv.replyTo.system ? { replyTo: conv.replyTo.id } : {};
      const msg =
        conv.kind === 'room'
          ? await session.api().call('send', { room: conv.id, text: body, ...reply })
          : await session.api().call('dm', { to: conv.id, text: body, ...reply });
      addMessages(conv, [msg]);
      conv.replyTo = null;
      typing.sent(conv);
      return true;
    } catch (err) {
      notices.reportError(err);
      return false;
    }
  }

  /** `/msg nick text`: a DM to a peer named by nick or id, then its conversation. */
  async function sendDirect(to: string, text: string): Promise<boolean> {
    try {
      const sent = await session.api().call('dm', { to, text });
      if (sent.to) {
        const dm = conversations.ensureDm(sent.to.peerId, sent.to.nick);
        addMessages(dm, [sent]);
        navigation.open(dm.key);
      }
      return true;
    } catch (err) {
      notices.reportError(err);
      return false;
    }
  }

  function setDraft(conv: Conversation, text: string): void {
    conv.draft = text;
  }

  function setReply(conv: Conversation, msg: ChatItem | null): void {
    conv.replyTo = msg && !msg.system ? msg : null;
  }

  return { send, sendDirect, setDraft, setReply };
});
