import { flushPromises, mount } from '@vue/test-utils';
import { createPinia, setActivePinia } from 'pinia';
import { beforeEach, describe, expect, it } from 'vitest';
import { markRaw } from 'vue';
import type { RoomInfo } from '../../src/shared/api.js';
import BrowseRooms from '../../src/renderer/src/components/BrowseRooms.vue';
import Composer from '../../src/renderer/src/components/Composer.vue';
import MemberPanel from '../../src/renderer/src/components/MemberPanel.vue';
import MessageList from '../../src/renderer/src/components/MessageList.vue';
import MessageRow from '../../src/renderer/src/components/MessageRow.vue';
import Sidebar from '../../src/renderer/src/components/Sidebar.vue';
import { addMessages, makeConversation, type ChatItem } from '../../src/renderer/src/stores/timeline';
import { BOB, CAROL, FakeClient, ME, member, msg, MY, roomInfo, startStores, withFakeLayout } from './fake-client';

const room = (name: string, members: RoomInfo['members'], opts: Parameters<typeof roomInfo>[2] = {}): RoomInfo =>
  roomInfo(name, members, opts);

async function storeWith(rooms: RoomInfo[]) {
  const client = new FakeClient();
  client.handle('rooms', () => rooms);
  const stores = startStores(client);
  await flushPromises();
  return stores;
}

describe('MessageList', () => {
  withFakeLayout();

  it('renders only a window of a 100k-message room', async () => {
    const big = room('big', [member(ME, 'owner'), member(BOB)]);
    const { conversations } = await storeWith([big]);
    const conv = conversations.room(big.id)!;
    const start = Date.now() - 100_000 * 1000;
    const msgs = Array.from({ length: 100_000 }, (_, i) => ({
      id: `big${i}`,
      room: big.id,
      roomName: 'big',
      from: i % 2 ? BOB : MY,
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
    addMessages(conv, [{ id: 'last', room: big.id, roomName: 'big', from: BOB, text: 'the newest', sentAt: Date.now() }]);
    await flushPromises();
    expect(wrapper.findAll('[data-testid="message"]').length).toBeLessThan(80);
    wrapper.unmount();
  });
});

describe('MessageRow', () => {
  beforeEach(() => setActivePinia(createPinia()));

  it('shows fingerprints for shared nicks, late and reply markers, and highlights mentions', () => {
    const r = room('r', [member(ME)]);
    const conv = makeConversation('room', r.id, 'r');
    const original = msg(r, BOB, 'the original question');
    addMessages(conv, [original]);
    const impostor = { peerId: 'X'.repeat(43), nick: 'bob' };
    const reply: ChatItem = markRaw(msg(r, impostor, 'answer for me', { replyTo: original.id, late: true }));
    const wrapper = mount(MessageRow, {
      props: {
        row: { kind: 'msg', key: reply.id, msg: reply, head: true },
        conv,
        title: 'r',
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
    const r = room('r', [member(ME)]);
    const conv = makeConversation('room', r.id, 'r');
    const m: ChatItem = markRaw(msg(r, BOB, '<b>hi</b> see https://example.com'));
    const wrapper = mount(MessageRow, {
      props: {
        row: { kind: 'msg', key: m.id, msg: m, head: false },
        conv,
        title: 'r',
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
    const general = room('general', [member(ME), member(BOB)]);
    const { conversations, client } = await storeWith([general]);
    const conv = conversations.room(general.id)!;
    const sent: string[] = [];
    client.handle('send', (p) => {
      sent.push(p.text);
      return msg(general, MY, p.text);
    });
    const wrapper = mount(Composer, { props: { conv } });
    const input = wrapper.find('textarea');
    await input.setValue('line one');
    expect(client.callsOf('typing')).toEqual([{ room: general.id }]);
    await input.trigger('keydown', { key: 'Enter', shiftKey: true });
    expect(sent).toEqual([]);
    await input.trigger('keydown', { key: 'Enter' });
    await flushPromises();
    expect(sent).toEqual(['line one']);
    expect(conv.draft).toBe('');
    expect(conv.messages.map((m) => m.text)).toEqual(['line one']);
  });

  it('is disabled in a room I am not in', async () => {
    const general = room('general', [member(ME)]);
    const { conversations } = await storeWith([general]);
    const conv = conversations.room(general.id)!;
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
    const { conversations, client } = await storeWith(rooms);
    client.handle('setRole', () => ({}));
    const wrapper = mount(MemberPanel, { props: { conv: conversations.room(rooms[0]!.id)! } });
    expect(wrapper.findAll('[data-testid="member"]').map((m) => m.attributes('data-role'))).toEqual(['owner', 'moderator', 'member']);
    await wrapper.find('[data-nick="bob"] [data-testid="member-menu-button"]').trigger('click');
    expect(wrapper.find('[data-testid="member-action-kick"]').exists()).toBe(true);
    expect(wrapper.find('[data-testid="member-action-ban"]').exists()).toBe(true);
    await wrapper.find('[data-testid="member-action-mod"]').trigger('click');
    await flushPromises();
    expect(client.callsOf('setRole')).toEqual([{ room: rooms[0]!.id, peer: BOB.peerId, role: 'moderator' }]);
  });

  it('offers only a direct message to a plain member', async () => {
    const { conversations } = await storeWith(rooms);
    const wrapper = mount(MemberPanel, { props: { conv: conversations.room(rooms[1]!.id)! } });
    await wrapper.find('[data-nick="bob"] [data-testid="member-menu-button"]').trigger('click');
    expect(wrapper.find('[data-testid="member-action-dm"]').exists()).toBe(true);
    expect(wrapper.find('[data-testid="member-action-kick"]').exists()).toBe(false);
    expect(wrapper.find('[data-testid="member-action-mod"]').exists()).toBe(false);
    // No menu at all for myself.
    expect(wrapper.find('[data-nick="me"] [data-testid="member-menu-button"]').exists()).toBe(false);
  });
});

describe('rooms that share a name', () => {
  const DAVE = { peerId: 'D'.repeat(43), nick: 'dave' };
  const townBob = room('town', [member(BOB, 'owner'), member(ME), member(CAROL)], { tag: 'townB' });
  const townDave = room('town', [member(DAVE, 'owner')], { tag: 'townD', joined: false });
  const general = room('general', [member(ME, 'owner')]);

  it('are listed apart in the sidebar, and the name typed to join offers both, joining the one picked by id', async () => {
    const { client, navigation } = await storeWith([general, townBob, townDave]);
    client.handle('join', () => ({
      room: townDave.id,
      id: townDave.id,
      name: 'town',
      owner: DAVE,
      members: [member(DAVE, 'owner'), member(ME)],
      history: [],
    }));
    const wrapper = mount(Sidebar, { attachTo: document.body });
    const items = wrapper.findAll('[data-testid="room-item"]');
    expect(items.map((i) => [i.attributes('data-room'), i.text()])).toEqual([
      [general.id, 'general'],
      [townBob.id, 'town · bob (BBBB-BBBB)'],
    ]);

    await wrapper.find('[data-testid="add-room"]').trigger('click');
    await wrapper.find('[data-testid="join-room-input"]').setValue('town');
    await wrapper.find('form').trigger('submit');
    await flushPromises();
    const choices = wrapper.findAll('[data-testid="join-choice"]');
    expect(choices.map((c) => c.attributes('data-room'))).toEqual([townBob.id, townDave.id]);
    expect(choices[1]!.text()).toContain('town · dave (DDDD-DDDD)');
    expect(choices[1]!.text()).toContain('1 member');
    expect(client.callsOf('join')).toEqual([]);
    await choices[1]!.trigger('click');
    await flushPromises();
    expect(client.callsOf('join')).toEqual([{ room: townDave.id }]);
    expect(navigation.active?.id).toBe(townDave.id);
    expect(wrapper.find('[data-testid="join-choices"]').exists()).toBe(false);
    wrapper.unmount();
  });

  it('are both in "browse rooms", each with its owner and member count', async () => {
    const { client } = await storeWith([general, townBob, townDave]);
    client.handle('join', () => ({ room: townDave.id, id: townDave.id, name: 'town', owner: DAVE, members: [], history: [] }));
    const wrapper = mount(BrowseRooms, { attachTo: document.body });
    await flushPromises();
    const rows = wrapper.findAll('[data-testid="browse-room"]');
    const byId = new Map(rows.map((r) => [r.attributes('data-room'), r]));
    expect(byId.get(townBob.id)!.text()).toContain('town · bob (BBBB-BBBB)');
    expect(byId.get(townBob.id)!.find('[data-testid="browse-room-meta"]').text()).toContain('3 members');
    expect(byId.get(townDave.id)!.find('.name').text()).toBe('town · dave (DDDD-DDDD)');
    expect(byId.get(townDave.id)!.find('[data-testid="browse-room-meta"]').text()).toMatch(/^1 member · 1 online/);
    expect(byId.get(general.id)!.find('.name').text()).toBe('general'); // a unique name stays alone…
    expect(byId.get(general.id)!.find('[data-testid="browse-room-meta"]').text()).toContain('owned by me (MMMM-MMMM)'); // …its owner below
    await byId.get(townDave.id)!.find('[data-testid="browse-join"]').trigger('click');
    await flushPromises();
    expect(client.callsOf('join')).toEqual([{ room: townDave.id }]);
    wrapper.unmount();
  });
});
