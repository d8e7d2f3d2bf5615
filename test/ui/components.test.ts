import { flushPromises, mount } from '@vue/test-utils';
import { createPinia, setActivePinia } from 'pinia';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { markRaw } from 'vue';
import type { Member, RoomInfo } from '../../src/shared/api.js';
import Composer from '../../src/renderer/src/components/Composer.vue';
import MemberPanel from '../../src/renderer/src/components/MemberPanel.vue';
import MessageList from '../../src/renderer/src/components/MessageList.vue';
import MessageRow from '../../src/renderer/src/components/MessageRow.vue';
import { addMessages, makeConversation, roomKey, useChatStore, type ChatItem } from '../../src/renderer/src/stores/chat';
import { BOB, CAROL, FakeClient, ME, msg } from './fake-client';

const member = (p: { peerId: string; nick: string }, role: Member['role'] = 'member'): Member => ({ ...p, role, online: true });
const room = (name: string, members: Member[]): RoomInfo => ({ room: name, joined: true, private: false, members }) as RoomInfo;

async function storeWith(rooms: RoomInfo[]) {
  setActivePinia(createPinia());
  localStorage.clear();
  const client = new FakeClient();
  client.handle('rooms', () => rooms);
  const store = useChatStore();
  store.init(client);
  await flushPromises();
  return { store, client };
}

describe('MessageList', () => {
  // happy-dom does no layout: give the scroller a viewport and rows a height.
  const sizes: Record<string, number> = { clientHeight: 600, clientWidth: 800, offsetHeight: 40, offsetWidth: 800 };
  const saved = Object.keys(sizes).map((k) => [k, Object.getOwnPropertyDescriptor(HTMLElement.prototype, k)] as const);
  beforeAll(() => {
    for (const [k, v] of Object.entries(sizes)) Object.defineProperty(HTMLElement.prototype, k, { configurable: true, get: () => v });
  });
  afterAll(() => {
    for (const [k, d] of saved) if (d) Object.defineProperty(HTMLElement.prototype, k, d);
  });

  it('renders only a window of a 100k-message room', async () => {
    const { store } = await storeWith([room('big', [member(ME, 'owner'), member(BOB)])]);
    const conv = store.conversations.get(roomKey('big'))!;
    const start = Date.now() - 100_000 * 1000;
    const msgs = Array.from({ length: 100_000 }, (_, i) => ({
      id: `big${i}`,
      room: 'big',
      from: i % 2 ? BOB : { peerId: ME.peerId, nick: ME.nick },
      text: `message number ${i}`,
      sentAt: start + i * 1000,
    }));
    addMessages(conv, msgs);
    conv.loaded = true;
    conv.hasMore = false;
    const wrapper = mount(MessageList, { props: { conv }, attachTo: document.body });
    await flushPromises();
    const rendered = wrapper.findAll('[data-testid="message"]');
    expect(rendered.length).toBeGreaterThan(0);
    expect(rendered.length).toBeLessThan(80);
    // A new message is one more row, not a re-render of the world.
    addMessages(conv, [{ id: 'last', room: 'big', from: BOB, text: 'the newest', sentAt: Date.now() }]);
    await flushPromises();
    expect(wrapper.findAll('[data-testid="message"]').length).toBeLessThan(80);
    wrapper.unmount();
  });
});

describe('MessageRow', () => {
  beforeEach(() => setActivePinia(createPinia()));

  it('shows fingerprints for shared nicks, late and reply markers, and highlights mentions', () => {
    const conv = makeConversation('room', 'r', 'r');
    const original = msg('r', BOB, 'the original question');
    addMessages(conv, [original]);
    const impostor = { peerId: 'X'.repeat(43), nick: 'bob' };
    const reply: ChatItem = markRaw(msg('r', impostor, 'answer for me', { replyTo: original.id, late: true }));
    const wrapper = mount(MessageRow, {
      props: {
        row: { kind: 'msg', key: reply.id, msg: reply, head: true },
        conv,
        myNick: 'me',
        myPeerId: ME.peerId,
        ambiguous: new Set(['bob']),
        flash: false,
      },
    });
    expect(wrapper.find('[data-testid="author-fingerprint"]').text()).toBe('XXXX-XXXX');
    expect(wrapper.find('[data-testid="late-marker"]').exists()).toBe(true);
    expect(wrapper.find('[data-testid="reply-ref"]').text()).toContain('the original question');
    expect(wrapper.classes()).toContain('mention');
    expect(wrapper.find('.at.me').text()).toBe('me');
  });

  it('renders links safely and emits reply', async () => {
    const conv = makeConversation('room', 'r', 'r');
    const m: ChatItem = markRaw(msg('r', BOB, '<b>hi</b> see https://example.com'));
    const wrapper = mount(MessageRow, {
      props: {
        row: { kind: 'msg', key: m.id, msg: m, head: false },
        conv,
        myNick: 'me',
        myPeerId: ME.peerId,
        ambiguous: new Set<string>(),
        flash: false,
      },
    });
    expect(wrapper.find('b').exists()).toBe(false);
    expect(wrapper.text()).toContain('<b>hi</b>');
    const a = wrapper.find('a');
    expect(a.attributes('href')).toBe('https://example.com');
    expect(a.attributes('rel')).toContain('noopener');
    await wrapper.find('[data-testid="reply-button"]').trigger('click');
    expect(wrapper.emitted('reply')?.[0]).toEqual([m]);
  });
});

describe('Composer', () => {
  it('sends on Enter, keeps Shift+Enter for new lines, and says it is typing', async () => {
    const { store, client } = await storeWith([room('general', [member(ME), member(BOB)])]);
    const conv = store.conversations.get(roomKey('general'))!;
    const sent: string[] = [];
    client.handle('send', (p) => {
      sent.push(p.text);
      return msg('general', { peerId: ME.peerId, nick: ME.nick }, p.text);
    });
    const wrapper = mount(Composer, { props: { conv } });
    const input = wrapper.find('textarea');
    await input.setValue('line one');
    expect(client.callsOf('typing')).toEqual([{ room: 'general' }]);
    await input.trigger('keydown', { key: 'Enter', shiftKey: true });
    expect(sent).toEqual([]);
    await input.trigger('keydown', { key: 'Enter' });
    await flushPromises();
    expect(sent).toEqual(['line one']);
    expect(conv.draft).toBe('');
    expect(conv.messages.map((m) => m.text)).toEqual(['line one']);
  });

  it('is disabled in a room I am not in', async () => {
    const { store } = await storeWith([room('general', [member(ME)])]);
    const conv = store.conversations.get(roomKey('general'))!;
    conv.joined = false;
    const wrapper = mount(Composer, { props: { conv } });
    expect(wrapper.find('textarea').attributes('disabled')).toBeDefined();
    expect(wrapper.find('textarea').attributes('placeholder')).toBe('You are not in #general');
  });
});

describe('MemberPanel', () => {
  const rooms: RoomInfo[] = [
    room('owned', [member(ME, 'owner'), member(BOB), member(CAROL, 'moderator')]),
    room('plain', [member(ME), member(BOB, 'owner')]),
  ];

  it('offers kick, ban and roles to the owner', async () => {
    const { store, client } = await storeWith(rooms);
    client.handle('setRole', () => ({}));
    const wrapper = mount(MemberPanel, { props: { conv: store.conversations.get(roomKey('owned'))! } });
    expect(wrapper.findAll('[data-testid="member"]').map((m) => m.attributes('data-role'))).toEqual(['owner', 'moderator', 'member']);
    await wrapper.find('[data-nick="bob"] [data-testid="member-menu-button"]').trigger('click');
    expect(wrapper.find('[data-testid="member-action-kick"]').exists()).toBe(true);
    expect(wrapper.find('[data-testid="member-action-ban"]').exists()).toBe(true);
    await wrapper.find('[data-testid="member-action-mod"]').trigger('click');
    await flushPromises();
    expect(client.callsOf('setRole')).toEqual([{ room: 'owned', peer: BOB.peerId, role: 'moderator' }]);
  });

  it('offers only a direct message to a plain member', async () => {
    const { store } = await storeWith(rooms);
    const wrapper = mount(MemberPanel, { props: { conv: store.conversations.get(roomKey('plain'))! } });
    await wrapper.find('[data-nick="bob"] [data-testid="member-menu-button"]').trigger('click');
    expect(wrapper.find('[data-testid="member-action-dm"]').exists()).toBe(true);
    expect(wrapper.find('[data-testid="member-action-kick"]').exists()).toBe(false);
    expect(wrapper.find('[data-testid="member-action-mod"]').exists()).toBe(false);
    // No menu at all for myself.
    expect(wrapper.find('[data-nick="me"] [data-testid="member-menu-button"]').exists()).toBe(false);
  });
});
