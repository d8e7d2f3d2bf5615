/**
 * Screen-reader and keyboard behaviour that axe cannot see (issue #18): new messages read out
 * through a polite live region, a burst summed up once the room is quiet; the member menu's
 * keyboard, and where the focus goes when it or a dialog closes.
 */
import { flushPromises, mount } from '@vue/test-utils';
import { afterEach, describe, expect, it, vi } from 'vitest';
import MemberPanel from '../../src/renderer/src/components/MemberPanel.vue';
import MessageList from '../../src/renderer/src/components/MessageList.vue';
import Modal from '../../src/renderer/src/components/Modal.vue';
import { announcementOf, Announcer, MAX_WAIT_MS, QUIET_MS } from '../../src/renderer/src/lib/announce';
import { addMessages } from '../../src/renderer/src/stores/timeline';
import { BOB, CAROL, FakeClient, ME, member, msg, MY, roomInfo, startStores, withFakeLayout } from './fake-client';

describe('announcements of new messages', () => {
  afterEach(() => vi.useRealTimers());

  it('reads one message as itself and a burst as a count with its authors', () => {
    expect(announcementOf([])).toBe('');
    expect(announcementOf([{ nick: 'bob', text: 'hello' }])).toBe('bob: hello');
    expect(announcementOf([{ nick: '', text: 'carol joined', system: true }])).toBe('carol joined');
    expect(
      announcementOf([
        { nick: 'alice', text: 'a' },
        { nick: 'bob', text: 'b' },
        { nick: 'alice', text: 'c' },
      ]),
    ).toBe('3 new messages from alice and bob');
  });

  it('waits for a quiet moment, and no longer than the longest wait in a room that never stops', () => {
    vi.useFakeTimers();
    const said: string[] = [];
    const a = new Announcer((t) => said.push(t));
    a.add({ nick: 'bob', text: 'one' });
    vi.advanceTimersByTime(QUIET_MS - 1);
    a.add({ nick: 'carol', text: 'two' });
    vi.advanceTimersByTime(QUIET_MS - 1);
    expect(said).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(said).toEqual(['2 new messages from bob and carol']);

    // A message every second: read out at the longest wait, not never.
    for (let t = 0; t < MAX_WAIT_MS; t += 1000) {
      a.add({ nick: 'bob', text: `m${t}` });
      vi.advanceTimersByTime(1000);
    }
    expect(said).toEqual(['2 new messages from bob and carol', '6 new messages from bob']);
    a.clear();
    vi.advanceTimersByTime(MAX_WAIT_MS);
    expect(said).toHaveLength(2);
  });
});

describe('MessageList live region', () => {
  withFakeLayout();
  afterEach(() => vi.useRealTimers());

  it('is a log of articles, each named by author and time, and reads what others wrote, coalesced', async () => {
    const r = roomInfo('busy', [member(ME), member(BOB), member(CAROL)]);
    const client = new FakeClient();
    client.handle('rooms', () => [r]);
    const { conversations } = startStores(client);
    await flushPromises();
    const conv = conversations.room(r.id)!;
    addMessages(conv, [msg(r, BOB, 'earlier')]);
    conv.loaded = true;
    conv.hasMore = false;
    const wrapper = mount(MessageList, { props: { conv }, attachTo: document.body });
    await flushPromises();
    const log = wrapper.find('[role="log"]');
    expect(log.attributes('aria-label')).toBe('Messages in busy');
    const article = wrapper.find('article[data-testid="message"]');
    expect(article.attributes('aria-label')).toMatch(/^bob at \d{1,2}:\d{2}.*: earlier$/);
    const region = wrapper.find('[data-testid="new-messages-announcement"]');
    expect(region.attributes('aria-live')).toBe('polite');

    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    addMessages(conv, [msg(r, BOB, 'one'), msg(r, CAROL, 'two')]);
    await flushPromises();
    addMessages(conv, [msg(r, MY, 'mine is not read to me'), msg(r, BOB, 'three')]);
    await flushPromises();
    expect(region.text()).toBe(''); // not while the room is busy
    vi.advanceTimersByTime(QUIET_MS);
    await flushPromises();
    expect(region.text()).toBe('3 new messages from bob and carol');

    addMessages(conv, [msg(r, CAROL, 'alone')]);
    await flushPromises();
    vi.advanceTimersByTime(QUIET_MS);
    await flushPromises();
    expect(region.text()).toBe('carol: alone');
    wrapper.unmount();
  });
});

describe('member menu', () => {
  it('moves with the arrow keys and gives the focus back to its button on Escape', async () => {
    const r = roomInfo('owned', [member(ME, 'owner'), member(BOB)]);
    const client = new FakeClient();
    client.handle('rooms', () => [r]);
    const { conversations } = startStores(client);
    await flushPromises();
    const wrapper = mount(MemberPanel, { props: { conv: conversations.room(r.id)! }, attachTo: document.body });
    const button = wrapper.find('[data-nick="bob"] [data-testid="member-menu-button"]');
    await button.trigger('click');
    await flushPromises();
    const items = wrapper.findAll('[role="menuitem"]');
    expect(items.length).toBeGreaterThan(2);
    expect(items.every((i) => i.attributes('tabindex') === '-1')).toBe(true);
    expect(document.activeElement).toBe(items[0]!.element);
    const menu = wrapper.find('[role="menu"]');
    await menu.trigger('keydown', { key: 'ArrowDown' });
    expect(document.activeElement).toBe(items[1]!.element);
    await menu.trigger('keydown', { key: 'ArrowUp' });
    await menu.trigger('keydown', { key: 'ArrowUp' });
    expect(document.activeElement).toBe(items[items.length - 1]!.element);
    await menu.trigger('keydown', { key: 'Escape' });
    await flushPromises();
    expect(wrapper.find('[role="menu"]').exists()).toBe(false);
    expect(document.activeElement).toBe(button.element);
    wrapper.unmount();
  });
});

describe('Modal', () => {
  it('takes the focus on open, keeps Tab inside, and gives it back to its opener on close', async () => {
    const opener = document.createElement('button');
    document.body.append(opener);
    opener.focus();
    const wrapper = mount(Modal, {
      props: { title: 'A dialog' },
      slots: { default: '<input data-testid="first" /><button data-testid="last">OK</button>' },
      attachTo: document.body,
    });
    await flushPromises();
    const dialog = wrapper.find('[role="dialog"]');
    expect(dialog.attributes('aria-modal')).toBe('true');
    expect(document.getElementById(dialog.attributes('aria-labelledby')!)?.textContent).toBe('A dialog');
    expect(document.activeElement).toBe(wrapper.find('[data-testid="first"]').element);
    // Tab from the last control comes back to the first one (the close button), Shift+Tab the other way.
    (wrapper.find('[data-testid="last"]').element as HTMLElement).focus();
    await dialog.trigger('keydown', { key: 'Tab' });
    expect(document.activeElement?.getAttribute('aria-label')).toBe('Close dialog');
    await dialog.trigger('keydown', { key: 'Tab', shiftKey: true });
    expect(document.activeElement).toBe(wrapper.find('[data-testid="last"]').element);
    wrapper.unmount();
    expect(document.activeElement).toBe(opener);
    opener.remove();
  });
});
