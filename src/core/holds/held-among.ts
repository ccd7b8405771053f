/**
 * Which active holds keep which messages (issue 16, item 4): what the purge asks before it
 * removes anything. Each active hold's query is evaluated once per call, restricted to the ids
 * asked about, so a batch of a thousand costs one index look-up per hold, not one per message.
 */
import type { HoldStore } from '../ports/hold-store.js';

/** For the given message ids, the names of the active holds that keep each (ids no hold keeps are absent). */
export type HeldAmong = (ids: readonly number[]) => Promise<Map<number, string[]>>;

/** {@link HeldAmong} over `store`: a hold keeps a message it names by id or its query matches. */
export function createHeldAmong(store: Pick<HoldStore, 'listHolds' | 'matchAmong'>): HeldAmong {
  return async (ids) => {
    const held = new Map<number, string[]>();
    if (ids.length === 0) return held;
    const asked = new Set(ids);
    const keep = (id: number, name: string): void => {
      const names = held.get(id);
      if (!names) held.set(id, [name]);
      else if (!names.includes(name)) names.push(name);
    };
    // Asked at every call: a hold placed a moment ago protects the next batch.
    for (const hold of await store.listHolds()) {
      for (const id of hold.ids) if (asked.has(id)) keep(id, hold.name);
      if (hold.query !== null) for (const id of await store.matchAmong(hold.query, ids)) keep(id, hold.name);
    }
    return held;
  };
}
