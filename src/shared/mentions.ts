/**
 * When a text mentions a nick: the one rule behind the peer's mention counts (`ReadMarker.mentions`),
 * the desktop app's notifications and the UI's highlight, so all three agree. A mention is the nick
 * as a whole word, with or without `@`, in any case.
 */

export function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** What may not touch a nick for it to be a whole word: letters, digits, `_` and `-`. */
const WORD = '\\p{L}\\p{N}_-';

const cache = new Map<string, RegExp>();

function mentionRegExp(nick: string): RegExp {
  let re = cache.get(nick);
  if (!re) {
    re = new RegExp(`(^|[^${WORD}])(@?${escapeRegExp(nick)})(?![${WORD}])`, 'iu');
    if (cache.size > 50) cache.clear();
    cache.set(nick, re);
  }
  return re;
}

/** True when `text` mentions `nick`; never for an empty nick. */
export function mentions(text: string, nick: string | undefined | null): boolean {
  return !!nick && mentionRegExp(nick).test(text);
}
