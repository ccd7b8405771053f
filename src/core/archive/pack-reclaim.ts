/**
 * Reclaiming the space of dead records in normal packs (issue 16, item 3; ADR 0036), as
 * decisions: which packs to rewrite or delete, in which order, and which are not to be touched
 * yet. The blob store does the copying (`blob-fs/pack-reclaim.ts`), the metadata store switches
 * the refs, the app (`app/reclaim-space.ts`) runs the steps in order. No I/O here.
 *
 * A record is live when a `blobs` row points at it; a purge (h/retention) deletes rows, and the
 * bytes of the records they pointed at stay in their packs, dead, until a pack is rewritten.
 */

/**
 * A pack is rewritten once more than this share of its bytes is dead. At 25 % the archive holds
 * at most 1 / (1 - 0.25) ≈ 1.33× the bytes its live records need, and a rewrite copies at most
 * three live bytes per dead byte it frees (0.75 / 0.25): a lower threshold copies ever more per
 * byte won (at 10 %: nine), a higher one leaves half-empty packs for a long time.
 */
export const RECLAIM_DEAD_FRACTION = 0.25;

/**
 * A pack last written less than this long ago is not touched: a writer that rolled away from it
 * may still commit rows that point into it (a put's row follows its `sync` within one batch of
 * the drain), and a copy the staging compactor is writing has no row until its redirect is
 * written. Five minutes is far beyond one batch and one staging pack's compaction.
 */
export const RECLAIM_QUIET_MS = 5 * 60_000;

/**
 * A staging redirect that no row needs any more is deleted only once it is this old: a row
 * committed just after the compactor wrote it (a drain's batch synced before, committed after)
 * may still arrive and need it.
 */
export const REDIRECT_KEEP_MS = 10 * 60_000;

/** What a reclaim run is for. */
export type ReclaimPurpose =
  /** Free the space of dead records (after a purge). */
  | 'space'
  /** Encrypt every live record still stored in clear (`keys encrypt-existing`), freeing dead space on the way. */
  | 'encrypt';

/** One normal pack as the blob store and the live refs see it. */
export interface PackUsage {
  /** Pack id (`pack-<id>`). */
  packId: number;
  /** Size of the pack file. */
  fileBytes: number;
  /** Bytes of its live records (header and payload). */
  liveBytes: number;
  /** Live records in it. */
  liveRecords: number;
  /** Live records stored in clear (not encrypted). */
  plainRecords: number;
  /** When it was last written (ms since the epoch). */
  modifiedAt: number;
  /** A writer of this process may still append to it. */
  writing: boolean;
  /** A staging redirect still points into it (rows read it through the redirect). */
  redirected: boolean;
}

/** What to do with one pack. */
export interface ReclaimStep {
  packId: number;
  /** `delete`: no live record left; `rewrite`: copy the live records to a new pack, switch, delete. */
  action: 'delete' | 'rewrite';
  /** Bytes the step frees (the file's bytes that no live record uses). */
  deadBytes: number;
}

/** Options of {@link planReclaim}. */
export interface ReclaimPolicy {
  purpose: ReclaimPurpose;
  /** Now (ms since the epoch). */
  now: number;
  /** Default {@link RECLAIM_DEAD_FRACTION}. */
  deadFraction?: number;
  /** Default {@link RECLAIM_QUIET_MS}. */
  quietMs?: number;
}

/** The bytes of a pack file no live record uses (its 16-byte header counted as used). */
export function deadBytesOf(p: PackUsage): number {
  return Math.max(0, p.fileBytes - 16 - p.liveBytes);
}

/** Why a pack is left alone now, or null when it may be reclaimed. */
export function untouchable(p: PackUsage, policy: ReclaimPolicy): string | null {
  if (p.writing) return 'a writer may still append to it';
  if (p.redirected) return 'a staging redirect still points into it';
  if (policy.now - p.modifiedAt < (policy.quietMs ?? RECLAIM_QUIET_MS)) return 'written too recently';
  return null;
}

/**
 * The steps of a run, in order: packs with no live record first (deleted, nothing to copy), then
 * the rewrites, most dead bytes first (`space`: the most space for the least copying), or every
 * pack holding a record in clear in pack order (`encrypt`). Packs a writer may still append to,
 * packs a staging redirect reads into and packs written too recently are never in it.
 */
export function planReclaim(packs: readonly PackUsage[], policy: ReclaimPolicy): ReclaimStep[] {
  const threshold = policy.deadFraction ?? RECLAIM_DEAD_FRACTION;
  const deletes: ReclaimStep[] = [];
  const rewrites: ReclaimStep[] = [];
  for (const p of packs) {
    if (untouchable(p, policy) !== null) continue;
    const deadBytes = deadBytesOf(p);
    if (p.liveRecords === 0) deletes.push({ packId: p.packId, action: 'delete', deadBytes });
    else if (policy.purpose === 'encrypt' ? p.plainRecords > 0 : p.fileBytes > 0 && deadBytes / p.fileBytes > threshold) {
      rewrites.push({ packId: p.packId, action: 'rewrite', deadBytes });
    }
  }
  deletes.sort((a, b) => a.packId - b.packId);
  rewrites.sort(policy.purpose === 'encrypt' ? (a, b) => a.packId - b.packId : (a, b) => b.deadBytes - a.deadBytes || a.packId - b.packId);
  return [...deletes, ...rewrites];
}

/** What a reclaim run did (the app's `reclaimSpace` answer, and `keys encrypt-existing`'s progress). */
export interface ReclaimTotals {
  /** Packs whose live records were copied to a new pack (and the old one deleted). */
  packsRewritten: number;
  /** Packs deleted with no live record in them. */
  packsDeleted: number;
  /** Live records copied. */
  recordsCopied: number;
  /** Of them, records encrypted on the way (`encrypt`). */
  recordsEncrypted: number;
  /** Packs left as they were because a live record in them failed its check (reported by the log). */
  packsSkipped: number;
  /** Rows moved off staging redirects, and redirect files deleted. */
  rowsNormalised: number;
  redirectsDropped: number;
  /** Bytes of the pack files before and after. */
  bytesBefore: number;
  bytesAfter: number;
}

/** Totals of a run that did nothing yet. */
export function emptyReclaimTotals(): ReclaimTotals {
  return { packsRewritten: 0, packsDeleted: 0, recordsCopied: 0, recordsEncrypted: 0, packsSkipped: 0, rowsNormalised: 0, redirectsDropped: 0, bytesBefore: 0, bytesAfter: 0 };
}
