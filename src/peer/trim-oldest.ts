/**
 * Bounding a Map kept in insertion order (oldest first). V8 leaves a hole for every deleted entry
 * until the table is rebuilt, and `keys().next()` walks over all of them: deleting the first key
 * once per insertion costs a scan of up to the map's capacity each time (12 µs an event at 20,000
 * entries, most of a catch-up's tree bookkeeping). So the map may grow an eighth past `max`, and
 * then one pass drops the oldest back to `max`.
 */
export function trimOldest<K, V>(map: Map<K, V>, max: number): void {
  if (map.size <= max + (max >> 3)) return;
  let excess = map.size - max;
  for (const key of map.keys()) {
    if (excess-- <= 0) break;
    map.delete(key);
  }
}
