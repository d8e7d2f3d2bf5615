/** Pure helpers for attached files on screen: icons, progress, picture sizes, names. No Vue, no DOM. */
import type { FileInfo, Message } from '../../../shared/api.js';

export { formatBytes } from '../../../shared/files.js';

/** The icon (Icon.vue) for a MIME type. */
export function iconForMime(mime: string): string {
  const m = mime.toLowerCase();
  if (m.startsWith('image/')) return 'image';
  if (m.startsWith('video/')) return 'film';
  if (m.startsWith('audio/')) return 'music';
  if (/zip|tar|gzip|x-7z|x-rar|x-bzip|x-xz|compressed/.test(m)) return 'archive';
  if (
    m === 'application/pdf' ||
    m.startsWith('text/') ||
    /document|msword|opendocument|rtf|spreadsheet|presentation|excel|powerpoint/.test(m)
  )
    return 'file-text';
  return 'file';
}

/** A short, readable kind: "PDF", "PNG", "ZIP", else the extension, else "File". */
export function kindLabel(name: string, mime: string): string {
  const ext = /\.([A-Za-z0-9]{1,8})$/.exec(name)?.[1];
  if (ext) return ext.toUpperCase();
  const sub = mime.split('/')[1];
  return sub && !sub.includes('octet') ? sub.toUpperCase() : 'File';
}

/** Whole percent of a transfer, 0–100 (an empty file is complete). */
export function percentOf(received: number, total: number): number {
  if (total <= 0) return 100;
  return Math.max(0, Math.min(100, Math.floor((received / total) * 100)));
}

/** Only a picture's own data URL is shown inline (never a link elsewhere). */
export function thumbnailSrc(file: FileInfo): string | undefined {
  const t = file.image?.thumbnail;
  return t && /^data:image\/(jpeg|png|webp|gif);base64,[A-Za-z0-9+/=]+$/.test(t) ? t : undefined;
}

/** On-screen size of a picture in the timeline: its aspect ratio, at most `max` wide and tall, never upscaled. */
export function pictureBox(file: FileInfo, max = { width: 360, height: 280 }): { width: number; height: number } {
  const w = file.image && file.image.width > 0 ? file.image.width : 4;
  const h = file.image && file.image.height > 0 ? file.image.height : 3;
  const scale = Math.min(1, max.width / w, max.height / h);
  return { width: Math.max(1, Math.round(w * scale)), height: Math.max(1, Math.round(h * scale)) };
}

/** A pasted picture's name: browsers call every one "image.png", so it gets the time it was pasted. */
export function pastedName(file: { name: string; type: string }, now = new Date()): string {
  if (file.name && !/^image\.\w+$/i.test(file.name)) return file.name;
  const ext = /^image\/(png|jpeg|gif|webp|bmp)$/.exec(file.type)?.[1]?.replace('jpeg', 'jpg') ?? 'png';
  const pad = (n: number): string => String(n).padStart(2, '0');
  const stamp = `${now.getFullYear()}-${pad(now.getMonth() + 1)}-${pad(now.getDate())} ${pad(now.getHours())}.${pad(now.getMinutes())}.${pad(now.getSeconds())}`;
  return `Pasted image ${stamp}.${ext}`;
}

/** A message in one line, for previews, notifications and labels: its text, else the file it carries. */
export function messageSummary(m: Pick<Message, 'text' | 'file'>): string {
  if (!m.file) return m.text;
  return m.text ? `${m.text} (file: ${m.file.name})` : `File: ${m.file.name}`;
}
