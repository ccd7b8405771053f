/**
 * S3 Object Lock (WORM) of the raw store, as decisions without I/O (issue 20, item 2; ADR 0049):
 * how long the object that holds a message is locked, and what the purge and the reclaim do with
 * an object still locked.
 *
 * **The purge does not wait for a lock.** A message whose retention is over is purged as on any
 * store: its rows (and its `blobs` row when no other message shares it) go in the purge's
 * transaction, so search, export and the API stop showing it when the policy says. The bytes are
 * not the purge's business (`ports/retention-store.ts`): the object that held them stays in the
 * bucket, referenced by no row, until its lock ends, and the reclaim deletes it at its first run
 * after that ({@link objectReclaimStep}). A delete the server refuses because the object is still
 * locked (a lock lengthened by hand, a clock ahead of the server's) is an outcome, not a failure
 * ({@link afterObjectRemoval}): the object is tried again after its retain-until, and nothing in
 * the metadata changes, so the index never points at a deleted object and never loses a live one.
 * The lock can only delay the freeing of bytes, never keep a message the policy purges: the
 * retention rules say what the archive shows, the lock that nobody (not even mailsluice) removes
 * the bytes before their time.
 */

/** S3's two retention modes. */
export const OBJECT_LOCK_MODES = ['GOVERNANCE', 'COMPLIANCE'] as const;
/** `GOVERNANCE`: a user with the bypass permission may still remove; `COMPLIANCE`: nobody may, until it ends. */
export type ObjectLockMode = (typeof OBJECT_LOCK_MODES)[number];

const DAY_MS = 86_400_000;

/**
 * A message's lock class: the retain-until of the object that holds it, `days` after `now` or the
 * message's own `retainUntil` (ms since the epoch) if later, rounded up to the next midnight UTC.
 * Packs hold the messages of one class only, so a pack's lock (its class) is the latest
 * retain-until of its records, and a day's messages of one retention share a pack.
 */
export function objectLockClass(now: number, days: number, retainUntil?: number): number {
  const until = Math.max(now + days * DAY_MS, retainUntil ?? 0);
  return Math.ceil(until / DAY_MS) * DAY_MS;
}

/**
 * An object written less than this long ago is never removed by the reclaim: a writer's row
 * pointing into it (its put synced, its batch not committed yet) may still arrive. The same
 * five minutes as the file store's reclaim (`pack-reclaim.ts`'s `RECLAIM_QUIET_MS`).
 */
export const OBJECT_QUIET_MS = 5 * 60_000;

/** One object of the bucket as the reclaim sees it. */
export interface ObjectUsage {
  /** Catalogue rows whose ref is in it. */
  live: number;
  /** When its lock ends (ms since the epoch), or null: not locked. */
  retainUntil: number | null;
  /** When it was written (ms since the epoch). */
  modifiedAt: number;
}

/** What the reclaim does with one object now. */
export type ObjectReclaimStep =
  | { action: 'keep'; why: 'live' | 'recent' }
  | { action: 'wait'; until: number }
  | { action: 'delete' };

/**
 * An object a row references is kept; one written too recently is kept; one no row references
 * but still locked waits for its retain-until; the rest is deleted.
 */
export function objectReclaimStep(o: ObjectUsage, now: number): ObjectReclaimStep {
  if (o.live > 0) return { action: 'keep', why: 'live' };
  if (now - o.modifiedAt < OBJECT_QUIET_MS) return { action: 'keep', why: 'recent' };
  if (o.retainUntil !== null && o.retainUntil > now) return { action: 'wait', until: o.retainUntil };
  return { action: 'delete' };
}

/** How a delete of an object ended, as the blob store reports it. */
export type ObjectRemoval = { outcome: 'deleted' } | { outcome: 'missing' } | { outcome: 'locked'; retainUntil: number | null };

/**
 * What a delete's outcome means for the reclaim: `gone` (deleted, or gone already: the same), or
 * `retry` after `at` (the server refused: still locked; unknown retain-until: the next run).
 */
export function afterObjectRemoval(r: ObjectRemoval, now: number): { state: 'gone' } | { state: 'retry'; at: number } {
  if (r.outcome !== 'locked') return { state: 'gone' };
  return { state: 'retry', at: r.retainUntil !== null && r.retainUntil > now ? r.retainUntil : now };
}
