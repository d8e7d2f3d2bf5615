/**
 * Files in the renderer: the transfers store (events over snapshots), sending files from the
 * composer (attach, paste, drop; the text goes with the first), and how an attached file shows:
 * a card through its transfer's states, a picture with its thumbnail and full-size viewer.
 */
import { flushPromises, mount } from '@vue/test-utils';
import { describe, expect, it } from 'vitest';
import { markRaw, nextTick } from 'vue';
import type { FileInfo, Message, RoomInfo, Transfer } from '../../src/shared/api.js';
import { RpcCallError } from '../../src/shared/jsonrpc.js';
import Composer from '../../src/renderer/src/components/Composer.vue';
import FileAttachment from '../../src/renderer/src/components/FileAttachment.vue';
import FileDropZone from '../../src/renderer/src/components/FileDropZone.vue';
import ImageViewer from '../../src/renderer/src/components/ImageViewer.vue';
import MessageRow from '../../src/renderer/src/components/MessageRow.vue';
import PictureAttachment from '../../src/renderer/src/components/PictureAttachment.vue';
import { iconForMime, kindLabel, messageSummary, pastedName, percentOf, pictureBox, thumbnailSrc } from '../../src/renderer/src/lib/files';
import { estimateRow } from '../../src/renderer/src/lib/rows';
import { useTransfersStore } from '../../src/renderer/src/stores/transfers';
import { useUiStore } from '../../src/renderer/src/stores/ui';
import { useUploadsStore } from '../../src/renderer/src/stores/uploads';
import { makeConversation, type ChatItem } from '../../src/renderer/src/stores/timeline';
import { BOB, FakeClient, ME, member, msg, MY, roomInfo, startStores } from './fake-client';

const THUMB = 'data:image/jpeg;base64,/9j/4AAQSkZJRgABAQAAAQABAAD/2w==';
let fileSeq = 0;

function fileInfo(extra: Partial<FileInfo> = {}): FileInfo {
  fileSeq++;
  return {
    id: `${'f'.repeat(40)}${String(fileSeq).padStart(3, '0')}`,
    name: 'report.pdf',
    size: 3 * 1024 * 1024,
    mime: 'application/pdf',
    sha256: 'x'.repeat(43),
    ...extra,
  };
}

const picture = (extra: Partial<FileInfo> = {}): FileInfo =>
  fileInfo({ name: 'beach.jpg', mime: 'image/jpeg', size: 2_400_000, image: { width: 1600, height: 900, thumbnail: THUMB }, ...extra });

const transfer = (file: FileInfo, t: Omit<Transfer, 'file' | 'total'> & { total?: number }): Transfer => ({
  file: file.id,
  total: file.size,
  ...t,
});

async function started(rooms: RoomInfo[] = []) {
  const client = new FakeClient();
  client.handle('rooms', () => rooms);
  const stores = startStores(client);
  await flushPromises();
  return { ...stores, transfers: useTransfersStore(), uploads: useUploadsStore(), ui: useUiStore() };
}

describe('file helpers', () => {
  it('pick icons, kinds, percents and on-screen picture sizes', () => {
    expect(iconForMime('image/png')).toBe('image');
    expect(iconForMime('application/pdf')).toBe('file-text');
    expect(iconForMime('application/zip')).toBe('archive');
    expect(iconForMime('video/mp4')).toBe('film');
    expect(iconForMime('application/octet-stream')).toBe('file');
    expect(kindLabel('report.pdf', 'application/pdf')).toBe('PDF');
    expect(kindLabel('blob', 'application/octet-stream')).toBe('File');
    expect(percentOf(0, 0)).toBe(100);
    expect(percentOf(1, 3)).toBe(33);
    expect(percentOf(5, 3)).toBe(100);
    expect(pictureBox(picture())).toEqual({ width: 360, height: 203 });
    expect(pictureBox(picture({ image: { width: 300, height: 1200 } }))).toEqual({ width: 70, height: 280 });
    expect(pictureBox(picture({ image: { width: 40, height: 30 } }))).toEqual({ width: 40, height: 30 }); // never upscaled
  });

  it('show only a picture’s own data URL as its thumbnail', () => {
    expect(thumbnailSrc(picture())).toBe(THUMB);
    expect(thumbnailSrc(picture({ image: { width: 1, height: 1, thumbnail: 'https://evil.example/x.png' } }))).toBeUndefined();
    expect(thumbnailSrc(picture({ image: { width: 1, height: 1, thumbnail: 'data:text/html;base64,PGI+' } }))).toBeUndefined();
    expect(thumbnailSrc(fileInfo())).toBeUndefined();
  });

  it('name pasted pictures by when they were pasted, and sum up messages with files', () => {
    const when = new Date(2025, 0, 2, 3, 4, 5);
    expect(pastedName({ name: 'image.png', type: 'image/png' }, when)).toBe('Pasted image 2025-01-02 03.04.05.png');
    expect(pastedName({ name: '', type: 'image/jpeg' }, when)).toBe('Pasted image 2025-01-02 03.04.05.jpg');
    expect(pastedName({ name: 'diagram.png', type: 'image/png' }, when)).toBe('diagram.png');
    expect(messageSummary({ text: 'hi' })).toBe('hi');
    expect(messageSummary({ text: '', file: fileInfo() })).toBe('File: report.pdf');
    expect(messageSummary({ text: 'look', file: fileInfo() })).toBe('look (file: report.pdf)');
  });

  it('give rows with files room in the first estimate', () => {
    const m = (file?: FileInfo): ChatItem => ({ ...msg(null, BOB, ''), ...(file ? { file } : {}) });
    expect(estimateRow({ kind: 'msg', key: 'a', msg: m(), head: false })).toBe(28);
    expect(estimateRow({ kind: 'msg', key: 'b', msg: m(fileInfo()), head: false })).toBe(98);
    expect(estimateRow({ kind: 'msg', key: 'c', msg: m(picture()), head: false })).toBe(28 + 203 + 30);
  });
});

describe('transfers store', () => {
  it('starts from the message’s snapshot and follows transfer events', async () => {
    const { client, transfers } = await started();
    const file = fileInfo({ transfer: { received: 1024, total: 3 * 1024 * 1024, state: 'running' } });
    expect(transfers.of(file)).toEqual({ received: 1024, total: file.size, state: 'running' });
    expect(transfers.of(fileInfo())).toBeUndefined(); // nothing downloaded yet
    client.emit('transfer', transfer(file, { received: 2048, state: 'running' }));
    expect(transfers.of(file)?.received).toBe(2048);
    client.emit('transfer', transfer(file, { received: file.size, state: 'done', path: '/downloads/report.pdf' }));
    expect(transfers.of(file)).toEqual({ received: file.size, total: file.size, state: 'done', path: '/downloads/report.pdf' });
  });

  it('downloads and cancels, keeping events that came in before the answer', async () => {
    const { client, transfers } = await started();
    const file = fileInfo();
    let answer: (t: Transfer) => void = () => {};
    client.handle('download', () => new Promise<Transfer>((r) => (answer = r)));
    const done = transfers.download(file);
    await flushPromises();
    expect(client.callsOf('download')).toEqual([{ file: file.id }]);
    client.emit('transfer', transfer(file, { received: 1000, state: 'running' }));
    answer(transfer(file, { received: 0, state: 'running' })); // older than the event: ignored
    expect(await done).toBe(true);
    expect(transfers.of(file)?.received).toBe(1000);

    client.handle('cancelTransfer', () => transfer(file, { received: 1000, state: 'cancelled' }));
    expect(await transfers.cancel(file)).toBe(true);
    expect(transfers.of(file)?.state).toBe('cancelled');
  });

  it('reports a refused download and leaves the state as it was', async () => {
    const { client, transfers, notices } = await started();
    const file = fileInfo();
    client.handle('download', () => {
      throw new RpcCallError(1005, 'report.pdf is 3 GiB; this peer fetches files of at most 2 GiB', { reason: 'too_large' });
    });
    expect(await transfers.download(file)).toBe(false);
    expect(transfers.of(file)).toBeUndefined();
    expect(notices.toasts.at(-1)).toMatchObject({ kind: 'error', text: 'report.pdf is 3 GiB; this peer fetches files of at most 2 GiB' });
  });
});

describe('sending files', () => {
  const general = roomInfo('general', [member(ME), member(BOB)]);
  const sentFile = (path: string, text?: string): Message =>
    msg(general, MY, text ?? '', { file: fileInfo({ name: path.split('/').pop()!, transfer: { received: 1, total: 1, state: 'done' } }) });

  it('stages each file, sends it with its path, and the composer’s text goes with the first', async () => {
    const { client, conversations, uploads, composer } = await started([general]);
    const conv = conversations.room(general.id)!;
    client.handle('sendFile', (p) => sentFile(p.path, p.text));
    composer.setDraft(conv, 'the files you asked for');
    const sent = await uploads.send(conv, [new File(['a'], 'a.txt'), new File(['bb'], 'b.txt')]);
    expect(sent).toBe(2);
    expect(client.staged).toEqual(['a.txt', 'b.txt']);
    expect(client.callsOf('sendFile')).toEqual([
      { room: general.id, path: '/uploads/a.txt', text: 'the files you asked for' },
      { room: general.id, path: '/uploads/b.txt' },
    ]);
    expect(conv.draft).toBe('');
    expect(conv.messages.map((m) => m.file?.name)).toEqual(['a.txt', 'b.txt']);
    expect(uploads.pending).toEqual([]);
  });

  it('sends to a DM by the peer, and a command in the composer stays there', async () => {
    const { client, conversations, uploads, composer } = await started();
    const dm = conversations.ensureDm(BOB.peerId, BOB.nick);
    client.handle('sendFile', (p) => ({ ...sentFile(p.path), room: null, to: BOB }));
    composer.setDraft(dm, '/nick someone');
    expect(await uploads.send(dm, [new File(['x'], 'x.png', { type: 'image/png' })])).toBe(1);
    expect(client.callsOf('sendFile')).toEqual([{ to: BOB.peerId, path: '/uploads/x.png' }]);
    expect(dm.draft).toBe('/nick someone');
  });

  it('shows progress while staging, and moves the text on when a file fails', async () => {
    const { client, conversations, uploads, notices, composer } = await started([general]);
    const conv = conversations.room(general.id)!;
    let release: () => void = () => {};
    client.stager = (file, onProgress) => {
      if (file.name === 'huge.iso') return Promise.reject(new Error('That file is over the limit of 2 GB for sending files'));
      onProgress?.(1);
      return new Promise((r) => (release = () => r(`/uploads/${file.name}`)));
    };
    client.handle('sendFile', (p) => sentFile(p.path, p.text));
    composer.setDraft(conv, 'two files');
    const sending = uploads.send(conv, [new File(['0'], 'huge.iso'), new File(['12'], 'ok.txt')]);
    await flushPromises();
    expect(notices.toasts.at(-1)).toMatchObject({
      title: 'huge.iso was not sent',
      text: 'That file is over the limit of 2 GB for sending files',
    });
    expect(uploads.of(conv)).toMatchObject([{ name: 'ok.txt', size: 2, sent: 1, phase: 'staging' }]);
    release();
    expect(await sending).toBe(1);
    expect(client.callsOf('sendFile')).toEqual([{ room: general.id, path: '/uploads/ok.txt', text: 'two files' }]);
  });

  it('gives the text back when no file went out, and refuses while disconnected', async () => {
    const { client, conversations, uploads, notices, composer } = await started([general]);
    const conv = conversations.room(general.id)!;
    client.handle('sendFile', () => {
      throw new RpcCallError(1011, 'cannot read /uploads/a.txt', { reason: 'io_error' });
    });
    composer.setDraft(conv, 'caption');
    expect(await uploads.send(conv, [new File(['a'], 'a.txt')])).toBe(0);
    expect(conv.draft).toBe('caption');
    client.setState('closed');
    expect(await uploads.send(conv, [new File(['a'], 'a.txt')])).toBe(0);
    expect(notices.toasts.at(-1)?.title).toBe('Not connected to Chatty');
    expect(client.staged).toEqual(['a.txt']);
  });
});

describe('Composer with files', () => {
  const general = roomInfo('general', [member(ME), member(BOB)]);

  it('attaches several files from the file input', async () => {
    const { client, conversations } = await started([general]);
    const conv = conversations.room(general.id)!;
    client.handle('sendFile', (p) => msg(general, MY, p.text ?? '', { file: fileInfo({ name: p.path }) }));
    const wrapper = mount(Composer, { props: { conv } });
    const attach = wrapper.find('[data-testid="attach-button"]');
    expect(attach.attributes('aria-label')).toBe('Attach files');
    const input = wrapper.find<HTMLInputElement>('[data-testid="file-input"]');
    expect(input.attributes('multiple')).toBeDefined();
    const files = [new File(['1'], 'one.txt'), new File(['2'], 'two.txt')];
    Object.defineProperty(input.element, 'files', { value: files, configurable: true });
    await input.trigger('change');
    await flushPromises();
    expect(client.staged).toEqual(['one.txt', 'two.txt']);
    expect(client.callsOf('sendFile')).toHaveLength(2);
  });

  it('sends a pasted picture under a readable name, and leaves pasted text alone', async () => {
    const { client, conversations } = await started([general]);
    const conv = conversations.room(general.id)!;
    client.handle('sendFile', (p) => msg(general, MY, '', { file: fileInfo({ name: p.path }) }));
    const wrapper = mount(Composer, { props: { conv } });
    const textarea = wrapper.find('textarea');

    const paste = (types: string[], files: File[]): Event => {
      const e = new Event('paste', { bubbles: true, cancelable: true });
      Object.defineProperty(e, 'clipboardData', { value: { types, files } });
      textarea.element.dispatchEvent(e);
      return e;
    };
    const withText = paste(['text/plain', 'Files'], [new File(['x'], 'image.png', { type: 'image/png' })]);
    expect(withText.defaultPrevented).toBe(false);
    const image = paste(['Files'], [new File(['png'], 'image.png', { type: 'image/png' })]);
    expect(image.defaultPrevented).toBe(true);
    await flushPromises();
    expect(client.staged).toHaveLength(1);
    expect(client.staged[0]).toMatch(/^Pasted image \d{4}-\d\d-\d\d \d\d\.\d\d\.\d\d\.png$/);
  });
});

describe('FileDropZone', () => {
  it('shows a drop zone while files are dragged over it and hands the dropped files on', async () => {
    const wrapper = mount(FileDropZone, { props: { label: 'Drop files to send them to #general' }, slots: { default: '<p>chat</p>' } });
    const files = [new File(['a'], 'a.txt')];
    const drag = (type: string, types = ['Files']): Event => {
      const e = new Event(type, { bubbles: true, cancelable: true });
      Object.defineProperty(e, 'dataTransfer', { value: { types, files, dropEffect: 'none' } });
      wrapper.find('p').element.dispatchEvent(e);
      return e;
    };
    drag('dragenter', ['text/plain']); // dragging text: not for us
    await nextTick();
    expect(wrapper.find('[data-testid="drop-zone"]').exists()).toBe(false);
    expect(drag('dragenter').defaultPrevented).toBe(true);
    await nextTick();
    expect(wrapper.find('[data-testid="drop-zone"]').text()).toBe('Drop files to send them to #general');
    drag('dragleave');
    await nextTick();
    expect(wrapper.find('[data-testid="drop-zone"]').exists()).toBe(false);
    drag('dragenter');
    expect(drag('drop').defaultPrevented).toBe(true);
    await nextTick();
    expect(wrapper.find('[data-testid="drop-zone"]').exists()).toBe(false);
    expect(wrapper.emitted('files')).toEqual([[files]]);
  });

  it('takes nothing while disabled', async () => {
    const wrapper = mount(FileDropZone, { props: { label: 'x', disabled: true }, slots: { default: '<p>chat</p>' } });
    const e = new Event('dragenter', { bubbles: true, cancelable: true });
    Object.defineProperty(e, 'dataTransfer', { value: { types: ['Files'], files: [] } });
    wrapper.find('p').element.dispatchEvent(e);
    await nextTick();
    expect(wrapper.find('[data-testid="drop-zone"]').exists()).toBe(false);
  });
});

describe('FileAttachment', () => {
  it('goes from Download to a progress bar with Cancel, then Open', async () => {
    const { client, transfers } = await started();
    const file = fileInfo();
    client.handle('download', () => transfer(file, { received: 0, state: 'running' }));
    const wrapper = mount(FileAttachment, { props: { file } });
    expect(wrapper.attributes('data-state')).toBe('none');
    expect(wrapper.find('[data-testid="file-name"]').text()).toBe('report.pdf');
    expect(wrapper.text()).toContain('3 MB · PDF');
    const download = wrapper.find('[data-testid="file-download"]');
    expect(download.text()).toBe('Download');
    expect(download.attributes('aria-label')).toBe('Download report.pdf');
    await download.trigger('click');
    await flushPromises();
    expect(client.callsOf('download')).toEqual([{ file: file.id }]);

    client.emit('transfer', transfer(file, { received: Math.round(file.size * 0.42), state: 'running' }));
    await nextTick();
    const bar = wrapper.find('[data-testid="transfer-progress"]');
    expect(bar.attributes('role')).toBe('progressbar');
    expect(bar.attributes('aria-valuenow')).toBe('42');
    expect(wrapper.find('[data-testid="transfer-percent"]').text()).toBe('42%');
    const cancel = wrapper.find('[data-testid="file-cancel"]');
    expect(cancel.attributes('aria-label')).toContain(cancel.text());

    client.emit('transfer', transfer(file, { received: file.size, state: 'done', path: '/dl/report.pdf' }));
    await nextTick();
    expect(wrapper.find('[data-testid="transfer-progress"]').exists()).toBe(false);
    const open = wrapper.find('[data-testid="file-open"]');
    expect(open.element.tagName).toBe('A'); // the browser opens the served file
    expect(open.attributes('href')).toBe(`/files/${file.id}`);
    expect(open.attributes('rel')).toContain('noopener');
    expect(wrapper.find('[data-testid="file-show"]').exists()).toBe(false);
    expect(transfers.of(file)?.path).toBe('/dl/report.pdf');
  });

  it('opens and shows the file in its folder on the desktop', async () => {
    const { client } = await started();
    client.opensFiles = true;
    const file = fileInfo({ transfer: { received: 10, total: 10, state: 'done' } });
    const wrapper = mount(FileAttachment, { props: { file } });
    await wrapper.find('[data-testid="file-open"]').trigger('click');
    await wrapper.find('[data-testid="file-show"]').trigger('click');
    await flushPromises();
    expect(client.revealed).toEqual([
      ['open', file.id],
      ['show', file.id],
    ]);
    expect(wrapper.find('[data-testid="file-show"]').attributes('aria-label')).toBe('Show in folder: report.pdf');
  });

  it('says why a download failed and retries it, and resumes a cancelled one', async () => {
    const { client } = await started();
    const failed = fileInfo({ transfer: { received: 5, total: 10, state: 'failed', error: 'no peer holding it answered' } });
    client.handle('download', (p) => ({ file: p.file, received: 5, total: 10, state: 'running' }));
    const wrapper = mount(FileAttachment, { props: { file: failed } });
    expect(wrapper.find('[data-testid="transfer-error"]').text()).toBe('no peer holding it answered');
    expect(wrapper.find('[data-testid="transfer-error"]').attributes('role')).toBe('alert');
    await wrapper.find('[data-testid="file-retry"]').trigger('click');
    await flushPromises();
    expect(wrapper.attributes('data-state')).toBe('running');

    const cancelled = fileInfo({ transfer: { received: 5, total: 10, state: 'cancelled' } });
    const other = mount(FileAttachment, { props: { file: cancelled } });
    expect(other.find('[data-testid="file-download"]').text()).toBe('Resume');
    await other.find('[data-testid="file-download"]').trigger('click');
    await flushPromises();
    expect(client.callsOf('download')).toEqual([{ file: failed.id }, { file: cancelled.id }]);
  });
});

describe('PictureAttachment and ImageViewer', () => {
  it('shows the thumbnail at the picture’s shape and downloads it on a click while not here', async () => {
    const { client, ui } = await started();
    const file = picture();
    client.handle('download', () => transfer(file, { received: 0, state: 'running' }));
    const wrapper = mount(PictureAttachment, { props: { file } });
    const img = wrapper.find('[data-testid="picture-thumbnail"]');
    expect(img.attributes('src')).toBe(THUMB);
    expect(img.attributes('alt')).toBe('beach.jpg');
    const button = wrapper.find('[data-testid="picture-button"]');
    expect(button.attributes('style')).toContain('width: 360px');
    expect(button.attributes('style')).toContain('aspect-ratio: 360 / 203');
    expect(button.attributes('aria-label')).toBe('Download beach.jpg');
    await button.trigger('click');
    await flushPromises();
    expect(client.callsOf('download')).toEqual([{ file: file.id }]);
    expect(ui.viewing).toBeNull();
    await nextTick();
    expect(wrapper.find('[data-testid="transfer-progress"]').exists()).toBe(true);
    await button.trigger('click'); // running: a second click starts nothing
    expect(client.callsOf('download')).toHaveLength(1);

    client.emit('transfer', transfer(file, { received: file.size, state: 'done' }));
    await nextTick();
    expect(button.attributes('aria-label')).toBe('View beach.jpg');
    expect(img.attributes('src')).toBe(THUMB); // still the thumbnail inline
    await button.trigger('click');
    expect(ui.viewing).toStrictEqual(file);
  });

  it('shows the picture itself once here when it came without a thumbnail', async () => {
    await started();
    const file = picture({ image: { width: 800, height: 600 }, transfer: { received: 1, total: 1, state: 'done' } });
    const wrapper = mount(PictureAttachment, { props: { file } });
    expect(wrapper.find('[data-testid="picture-thumbnail"]').attributes('src')).toBe(`/files/${file.id}`);
  });

  it('opens full size in a dialog that takes the focus and gives it back', async () => {
    const { ui } = await started();
    const file = picture({ transfer: { received: 1, total: 1, state: 'done' } });
    const opener = document.createElement('button');
    document.body.appendChild(opener);
    opener.focus();
    ui.viewing = file;
    const wrapper = mount(ImageViewer, { props: { file }, attachTo: document.body });
    await flushPromises();
    const dialog = wrapper.find('[data-testid="image-viewer"]');
    expect(dialog.attributes('role')).toBe('dialog');
    expect(dialog.attributes('aria-modal')).toBe('true');
    expect(dialog.text()).toContain('beach.jpg');
    expect(dialog.text()).toContain('1600 × 900');
    const img = wrapper.find('[data-testid="image-viewer-picture"]');
    expect(img.attributes('src')).toBe(`/files/${file.id}`);
    expect(img.attributes('alt')).toBe('beach.jpg');
    expect(dialog.element.contains(document.activeElement)).toBe(true);
    await wrapper.find('[data-testid="image-viewer-close"]').trigger('click');
    expect(wrapper.emitted('close')).toHaveLength(1);
    wrapper.unmount();
    expect(document.activeElement).toBe(opener);
    opener.remove();
  });
});

describe('MessageRow with a file', () => {
  it('shows the card or the picture under the text, and no empty text', async () => {
    await started();
    const r = roomInfo('r', [member(ME)]);
    const conv = makeConversation('room', r.id, 'r');
    const row = (m: Message) =>
      mount(MessageRow, {
        props: {
          row: { kind: 'msg', key: m.id, msg: markRaw(m), head: true },
          conv,
          title: 'r',
          myNick: 'me',
          myPeerId: ME.peerId,
          ambiguous: new Set<string>(),
          flash: false,
        },
      });
    const withText = row(msg(r, BOB, 'the report', { file: fileInfo() }));
    expect(withText.find('[data-testid="message-text"]').text()).toBe('the report');
    expect(withText.find('[data-testid="file-attachment"]').exists()).toBe(true);
    expect(withText.attributes('aria-label')).toContain('the report (file: report.pdf)');
    const bare = row(msg(r, BOB, '', { file: picture() }));
    expect(bare.find('[data-testid="message-text"]').exists()).toBe(false);
    expect(bare.find('[data-testid="picture-attachment"]').exists()).toBe(true);
    expect(bare.find('[data-testid="file-attachment"]').exists()).toBe(false);
  });
});
