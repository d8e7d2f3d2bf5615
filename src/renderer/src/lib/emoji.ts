/** The emoji the reaction picker offers, with the names screen readers say for them. */
export const COMMON_EMOJI: readonly { emoji: string; name: string }[] = [
  { emoji: '👍', name: 'thumbs up' },
  { emoji: '❤️', name: 'red heart' },
  { emoji: '😂', name: 'tears of joy' },
  { emoji: '🎉', name: 'party popper' },
  { emoji: '😮', name: 'surprised' },
  { emoji: '😢', name: 'crying' },
  { emoji: '🙏', name: 'folded hands' },
  { emoji: '👀', name: 'eyes' },
  { emoji: '✅', name: 'check mark' },
  { emoji: '🔥', name: 'fire' },
  { emoji: '👏', name: 'clapping hands' },
  { emoji: '🤔', name: 'thinking' },
  { emoji: '🚀', name: 'rocket' },
  { emoji: '💯', name: 'hundred points' },
  { emoji: '😅', name: 'sweat smile' },
  { emoji: '👎', name: 'thumbs down' },
];

const NAMES = new Map(COMMON_EMOJI.map((e) => [e.emoji, e.name]));

/** A spoken name for an emoji of the list, else the emoji itself. */
export function emojiName(emoji: string): string {
  return NAMES.get(emoji) ?? emoji;
}

/** "alice", "alice and bob", "alice, bob and 3 others". */
export function whoList(nicks: readonly string[], max = 5): string {
  if (nicks.length <= 1) return nicks[0] ?? '';
  const shown = nicks.slice(0, max);
  const rest = nicks.length - shown.length;
  if (rest > 0) return `${shown.join(', ')} and ${rest} other${rest === 1 ? '' : 's'}`;
  return `${shown.slice(0, -1).join(', ')} and ${shown[shown.length - 1]}`;
}
