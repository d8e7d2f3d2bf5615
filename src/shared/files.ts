/**
 * Small pure helpers for attached files, shared by the renderer and the hosts that serve it (the UI
 * server, the desktop's main process): file ids, sizes for people, safe file names and headers.
 * No runtime imports: it runs in the browser and in Node alike.
 */

/** A file id: base64url SHA-256 of the file's manifest (43 characters). */
export const FILE_ID_RE = /^[A-Za-z0-9_-]{43}$/;

const UNITS = ['KB', 'MB', 'GB', 'TB'] as const;

/** "512 bytes", "1.5 KB", "23 MB", "2 GB" (binary multiples, as file managers show them). */
export function formatBytes(n: number): string {
  if (!Number.isFinite(n) || n < 0) return '';
  if (n < 1024) return `${n} ${n === 1 ? 'byte' : 'bytes'}`;
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < UNITS.length - 1) {
    v /= 1024;
    i++;
  }
  const shown = v < 10 ? v.toFixed(1).replace(/\.0$/, '') : String(Math.round(v));
  return `${shown} ${UNITS[i]}`;
}

/** Bidirectional controls, which can make "evil‮gnp.exe" read as "evilexe.png". */
const BIDI = /[\u200e\u200f\u202a-\u202e\u2066-\u2069]/gu;
/** Control characters and what Windows, macOS or Linux refuse in a name. */
const UNSAFE = /[\p{Cc}<>:"/\\|?*]/gu;
const RESERVED = /^(con|prn|aux|nul|com[0-9]|lpt[0-9])(\..*)?$/i;
/** Bytes of a file name on common file systems. */
export const FILE_NAME_MAX_BYTES = 255;

const utf8Length = (s: string): number => new TextEncoder().encode(s).length;

/**
 * A name that is safe as the last segment of a path on any OS: no folders, no control or
 * reserved characters, no leading or trailing dots and spaces, no device names, at most 255
 * bytes of UTF-8 (the extension kept). Never empty.
 */
export function sanitizeFileName(raw: string, fallback = 'file'): string {
  const last = raw.normalize('NFC').split(/[/\\]/).pop() ?? '';
  let name = last
    .replace(BIDI, '')
    .replace(UNSAFE, '_')
    .replace(/^[\s.]+|[\s.]+$/gu, '');
  if (!name) name = fallback;
  if (RESERVED.test(name)) name = `_${name}`;
  if (utf8Length(name) <= FILE_NAME_MAX_BYTES) return name;
  const dot = name.lastIndexOf('.');
  const ext = dot > 0 && name.length - dot <= 16 ? name.slice(dot) : '';
  const stem = Array.from(name.slice(0, name.length - ext.length)).slice(0, FILE_NAME_MAX_BYTES);
  while (stem.length > 1 && utf8Length(stem.join('') + ext) > FILE_NAME_MAX_BYTES) stem.pop();
  return stem.join('') + ext;
}

/** A `Content-Disposition` value naming the file, with an ASCII fallback and the UTF-8 name (RFC 6266). */
export function contentDisposition(type: 'inline' | 'attachment', name: string): string {
  const ascii = name.replace(/[^\x20-\x7e]|["\\]/g, '_');
  const encoded = encodeURIComponent(name).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return `${type}; filename="${ascii}"; filename*=UTF-8''${encoded}`;
}

/** A MIME type fit for a header: `type/subtype` only, else `application/octet-stream`. */
export function safeMime(mime: string): string {
  const base = (mime.split(';')[0] ?? '').trim().toLowerCase();
  return /^[a-z0-9][a-z0-9!#$&^_.+-]*\/[a-z0-9][a-z0-9!#$&^_.+-]*$/.test(base) ? base : 'application/octet-stream';
}

const ACTIVE = new Set([
  'text/html',
  'application/xhtml+xml',
  'image/svg+xml',
  'text/xml',
  'application/xml',
  'text/xsl',
  'text/javascript',
  'application/javascript',
  'application/x-javascript',
]);

/** Types a browser would run as a page (markup, scripts): served as downloads, never inline. */
export function isActiveMime(mime: string): boolean {
  return ACTIVE.has(safeMime(mime));
}
