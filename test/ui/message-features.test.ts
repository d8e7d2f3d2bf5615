/** Issue #16 in the components: reactions, the picker, inline edit, delete, quotes, Seen, the divider, my status. */
import { flushPromises, mount } from '@vue/test-utils';
import { afterEach, describe, expect, it } from 'vitest';
import type { Message, RoomInfo } from '../../src/shared/api.js';
import App from '../../src/renderer/src/App.vue';
import Composer from '../../src/renderer/src/components/Composer.vue';
import EmojiPicker from '../../src/renderer/src/components/EmojiPicker.vue';
import MessageRow from '../../src/renderer/src/components/MessageRow.vue';
import MyStatus from '../../src/renderer/src/components/MyStatus.vue';
import ReactionBar from '../../src/renderer/src/components/ReactionBar.vue';
import { RowBuilder } from '../../src/renderer/src/lib/rows';
import { useUiStore } from '../../src/renderer/src/stores/ui';
import type { ChatItem, Conversation } from '../../src/renderer/src/stores/timeline';
import { BOB, CAROL, FakeClient, flush, ME, member, msg, MY, roomInfo, startStores } from './fake-client';

const GENERAL = roomInfo('general', [member(ME, 'owner'), member(BOB)]);

async function setup(history: Message[] = [], rooms: RoomInfo[] = [GENERAL]) {
  const client = new FakeClient();
  client.handle('rooms', () => rooms);
  client.handle('history', (p) => (p.room === GENERAL.id ? history : []));
  const stores = startStores(client);
  await flush(40);
  return { ...stores, conv: stores.conversations.room(GENERAL.id)! };
}

function row(conv: Conversation, m: ChatItem, extra: { seen?: boolean; editing?: boolean } = {}) {
  return mount(MessageRow, {
    props: {
      row: { kind: 'msg', key: m.id, msg: m, head: true },
      conv,
      title: 'general',
      myNick: 'me',
      myPeerId: ME.peerId,
      ambiguous: new Set<string>(),
      flash: false,
      ...extra,
    },
    attachTo: document.body,
  });
}

afterEach(() => {
  document.body.innerHTML = '';
});

describe('ReactionBar', () => {
  it('shows each emoji with its count, pressed when mine, named with who reacted; a click toggles', async () => {
    const m = msg(GENERAL, BOB, 'ship it', {
      reactions: [
        { emoji: '👍', count: 2, peers: [BOB, MY], mine: true },
        { emoji: '🎉', count: 1, peers: [CAROL], mine: false },
      ],
    });
    const { client } = await setup([m]);
    client.handle('unreact', () => ({ ...m, reactions: m.reactions!.slice(1) }));
    client.handle('react', (p) => ({ ...m, reactions: [...m.reactions!, { emoji: p.emoji, count: 1, peers: [MY], mine: true }] }));
    const bar = mount(ReactionBar, { props: { msg: m, myPeerId: ME.peerId } });
    const buttons = bar.findAll('[data-testid="reaction"]');
    expect(buttons.map((b) => b.text())).toEqual(['👍2', '🎉1']);
    expect(buttons.map((b) => b.attributes('aria-pressed'))).toEqual(['true', 'false']);
    expect(buttons[0]!.attributes('aria-label')).toBe('👍 2: thumbs up, by bob and you');
    expect(buttons[1]!.attributes('aria-label')).toContain('🎉 1');
    await buttons[0]!.trigger('click');
    await buttons[1]!.trigger('click');
    await flushPromises();
    expect(client.callsOf('unreact')).toEqual([{ message: m.id, emoji: '👍' }]);
    expect(client.callsOf('react')).toEqual([{ message: m.id, emoji: '🎉' }]);
  });
});

describe('EmojiPicker', () => {
  it('takes the focus, moves with the arrow keys, picks with a click and closes on Escape', async () => {
    const picker = mount(EmojiPicker, { attachTo: document.body });
    await flushPromises();
    const options = picker.findAll('[data-testid="emoji-option"]');
    expect(document.activeElement).toBe(options[0]!.element);
    expect(options[0]!.attributes('aria-label')).toBe('👍 thumbs up');
    await options[0]!.trigger('keydown', { key: 'ArrowRight' });
    expect(document.activeElement).toBe(options[1]!.element);
    await options[1]!.trigger('keydown', { key: 'ArrowDown' });
    expect(document.activeElement).toBe(options[9]!.element);
    await options[9]!.trigger('click');
    expect(picker.emitted('pick')).toEqual([[options[9]!.attributes('data-emoji')]]);
    await options[9]!.trigger('keydown', { key: 'Escape' });
    expect(picker.emitted('close')).toHaveLength(1);
    picker.unmount();
  });
});

describe('MessageRow', () => {
  it('offers edit and delete on my messages, only reply and react on others’ where I do not moderate', async () => {
    const mine = msg(GENERAL, MY, 'mine');
    const RANDOM = roomInfo('random', [member(ME), member(BOB, 'owner')]);
    const theirs = msg(RANDOM, BOB, 'theirs');
    const { conv, conversations } = await setup([mine], [GENERAL, RANDOM]);
    const w1 = row(conv, conv.index.get(mine.id)!);
    expect(w1.find('[data-testid="edit-button"]').exists()).toBe(true);
    expect(w1.find('[data-testid="delete-button"]').exists()).toBe(true);
    expect(w1.find('[role="toolbar"]').attributes('aria-label')).toBe('Message actions');
    const w2 = row(conversations.room(RANDOM.id)!, theirs);
    expect(w2.find('[data-testid="reply-button"]').exists()).toBe(true);
    expect(w2.find('[data-testid="add-reaction"]').exists()).toBe(true);
    expect(w2.find('[data-testid="edit-button"]').exists()).toBe(false);
    expect(w2.find('[data-testid="delete-button"]').exists()).toBe(false);
  });

  it('adds a reaction from the picker and gives the focus back to its button', async () => {
    const m = msg(GENERAL, BOB, 'hello');
    const { conv, client } = await setup([m]);
    client.handle('react', (p) => ({ ...m, reactions: [{ emoji: p.emoji, count: 1, peers: [MY], mine: true }] }));
    const w = row(conv, conv.index.get(m.id)!);
    const open = w.find('[data-testid="add-reaction"]');
    await open.trigger('click');
    expect(open.attributes('aria-expanded')).toBe('true');
    await w.find('[data-emoji="🎉"]').trigger('click');
    await flushPromises();
    expect(client.callsOf('react')).toEqual([{ message: m.id, emoji: '🎉' }]);
    expect(w.find('[data-testid="emoji-picker"]').exists()).toBe(false);
    expect(document.activeElement).toBe(open.element);
    // The row shows the message as it is now.
    expect(w.find('[data-testid="reaction"]').attributes('data-emoji')).toBe('🎉');
  });

  it('edits inline: Enter saves, Escape cancels; the "(edited)" marker opens the history', async () => {
    const m = msg(GENERAL, MY, 'helo');
    const { conv, client, actions } = await setup([m]);
    client.handle('edit', (p) => ({ ...m, text: p.text, edited: m.sentAt + 1000 }));
    actions.startEdit(conv, conv.index.get(m.id)!);
    const w = row(conv, conv.index.get(m.id)!, { editing: true });
    await flushPromises();
    const input = w.find('[data-testid="edit-input"]');
    expect(document.activeElement).toBe(input.element);
    expect(w.find('[data-testid="add-reaction"]').exists()).toBe(false); // no toolbar over the editor
    await input.trigger('keydown', { key: 'Escape' });
    expect(actions.editing).toBeNull();
    expect(client.callsOf('edit')).toEqual([]);

    actions.startEdit(conv, conv.index.get(m.id)!);
    await input.setValue('hello');
    await input.trigger('keydown', { key: 'Enter' });
    await flushPromises();
    expect(client.callsOf('edit')).toEqual([{ message: m.id, text: 'hello' }]);
    expect(actions.editing).toBeNull();
    await w.setProps({ editing: false });
    expect(w.find('[data-testid="message-text"]').text()).toContain('hello');
    const marker = w.find('[data-testid="edited-marker"]');
    expect(marker.text()).toBe('(edited)');
    await marker.trigger('click');
    expect(useUiStore().historyOf?.id).toBe(m.id);
  });

  it('shows a deleted message as a muted row, naming the moderator who deleted it', async () => {
    const m = msg(GENERAL, BOB, 'oops', { text: '', deleted: true, deletedBy: CAROL });
    const { conv } = await setup([m]);
    const w = row(conv, conv.index.get(m.id)!);
    expect(w.find('[data-testid="message-deleted"]').text()).toBe('This message was deleted by carol');
    expect(w.find('[data-testid="message-text"]').exists()).toBe(false);
    expect(w.find('[data-testid="add-reaction"]').exists()).toBe(false);
    expect(w.classes()).toContain('deleted');
  });

  it('quotes a reply’s original: "loading…" while unknown, then the text, then "deleted message"', async () => {
    const original = msg(GENERAL, BOB, 'what time?');
    const reply = msg(GENERAL, MY, 'five', { replyTo: original.id });
    const { conv, client } = await setup([reply]);
    let answer: (v: Message) => void = () => {};
    client.handle('message', () => new Promise<Message>((r) => (answer = r)));
    const w = row(conv, conv.index.get(reply.id)!);
    await flushPromises();
    expect(w.find('[data-testid="reply-loading"]').text()).toBe('loading…');
    answer(original);
    await flushPromises();
    expect(w.find('[data-testid="reply-ref"]').text()).toContain('what time?');
    client.emit('update', { ...original, text: '', deleted: true });
    await flushPromises();
    expect(w.find('[data-testid="reply-deleted"]').text()).toBe('deleted message');
  });

  it('says "Seen" under the message it is told to', async () => {
    const m = msg(null, MY, 'hi', { to: BOB, seen: true });
    const { conversations, client } = await setup();
    client.emit('dm', m);
    const conv = conversations.byKey.get(`dm:${BOB.peerId}`)!;
    expect(row(conv, conv.index.get(m.id)!, { seen: true }).find('[data-testid="seen-marker"]').text()).toBe('Seen');
    expect(row(conv, conv.index.get(m.id)!).find('[data-testid="seen-marker"]').exists()).toBe(false);
  });
});

describe('the delete dialog', () => {
  it('deletes after a confirm, then gives the focus to the composer', async () => {
    const m = msg(GENERAL, MY, 'regret');
    const { conv, client, actions } = await setup([m]);
    client.handle('delete', () => ({ ...m, text: '', deleted: true }));
    const app = mount(App, { attachTo: document.body });
    await flushPromises();
    actions.askDelete(conv, conv.index.get(m.id)!);
    await flushPromises();
    const dialog = app.find('[data-testid="delete-dialog"]');
    expect(dialog.attributes('role')).toBe('dialog');
    expect(dialog.text()).toContain('regret');
    await app.find('[data-testid="delete-confirm"]').trigger('click');
    await flushPromises();
    expect(client.callsOf('delete')).toEqual([{ message: m.id }]);
    expect(app.find('[data-testid="delete-dialog"]').exists()).toBe(false);
    expect(conv.index.get(m.id)?.deleted).toBe(true);
    expect(document.activeElement?.getAttribute('data-testid')).toBe('composer-input');
    app.unmount();
  });
});

describe('Composer', () => {
  it('edits my last message on Up in an empty composer', async () => {
    const m = msg(GENERAL, MY, 'last words');
    const { conv, actions } = await setup([msg(GENERAL, BOB, 'hi'), m, msg(GENERAL, BOB, 'after')]);
    const w = mount(Composer, { props: { conv } });
    const input = w.find('textarea');
    await input.setValue('draft');
    await input.trigger('keydown', { key: 'ArrowUp' });
    expect(actions.editing).toBeNull(); // not over a draft
    await input.setValue('');
    await input.trigger('keydown', { key: 'ArrowUp' });
    expect(actions.editing).toEqual({ key: conv.key, id: m.id });
  });
});

describe('the "New messages" divider', () => {
  it('follows the last message read', () => {
    const a = msg(GENERAL, BOB, 'a');
    const b = msg(GENERAL, BOB, 'b');
    const rows = new RowBuilder().build([a, b], true, a.id);
    expect(rows.map((r) => r.kind)).toEqual(['day', 'msg', 'new', 'msg']);
    expect(rows[3]).toMatchObject({ kind: 'msg', head: true }); // after the divider a new group starts
  });
});

describe('MyStatus', () => {
  it('picks a status and a text, and turns read receipts off; Escape gives the focus back', async () => {
    const { client, session } = await setup();
    client.handle('setStatus', (p) => ({ status: p.status, ...(p.text ? { statusText: p.text } : {}) }));
    client.handle('setReadReceipts', (p) => ({ enabled: p.enabled }));
    const w = mount(MyStatus, { attachTo: document.body });
    const toggle = w.find('[data-testid="my-status"]');
    expect(toggle.text()).toContain('Online');
    await toggle.trigger('click');
    await flushPromises();
    expect(document.activeElement).toBe(w.find('[data-testid="status-online"]').element);
    await w.find('[data-testid="status-busy"]').setValue(true);
    await w.find('[data-testid="status-text-input"]').setValue('deep work');
    await w.find('[data-testid="read-receipts-toggle"]').setValue(false);
    await w.find('form').trigger('submit');
    await flushPromises();
    expect(client.callsOf('setStatus')).toEqual([{ status: 'busy', text: 'deep work' }]);
    expect(client.callsOf('setReadReceipts')).toEqual([{ enabled: false }]);
    expect(session.me).toMatchObject({ status: 'busy', statusText: 'deep work', readReceipts: false });
    expect(w.find('[data-testid="status-panel"]').exists()).toBe(false);
    expect(toggle.text()).toContain('Busy: deep work');
    expect(document.activeElement).toBe(toggle.element);

    await toggle.trigger('click');
    await flushPromises();
    await w.find('[data-testid="status-panel"]').trigger('keydown', { key: 'Escape' });
    await flushPromises();
    expect(w.find('[data-testid="status-panel"]').exists()).toBe(false);
    expect(document.activeElement).toBe(toggle.element);
    w.unmount();
  });
});
