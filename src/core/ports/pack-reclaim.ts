/**
 * What reclaiming dead space in packs needs (ADR 0036), one role per side: the metadata's live
 * refs and the one-transaction switch ({@link BlobRefCatalogue}), and the blob store's mechanics
 * ({@link PackRewriter}). The decisions (which pack, when) are `core/archive/pack-reclaim.ts`'s.
 */
import type { PackUsage } from '../archive/pack-reclaim.js';

/** A catalogue row: a blob and the ref it is read at. */
export interface LiveRef {
  sha256: string;
  ref: string;
}

/** A row's ref changed from `from` to `to` (its copy, `storedSize` bytes stored). */
export interface RefMove {
  sha256: string;
  from: string;
  to: string;
  storedSize: number;
}

/** The metadata side: which records are live, and the switch. */
export interface BlobRefCatalogue {
  /** Every catalogue row's blob and ref. */
  liveRefs(): Promise<LiveRef[]>;
  /**
   * In one transaction: every row still at its move's `from` is set to its `to` (a row purged or
   * moved meanwhile is left alone), then the rows whose ref still starts with `vacated` are
   * counted (a row committed into the pack after its live refs were read: the pack then stays).
   */
  switchRefs(moves: readonly RefMove[], vacated: string | null): Promise<{ moved: number; remaining: number }>;
  /** A blob's ref now, or null when it has no row (a reader whose ref went stale asks again). */
  refOf(sha256: string): string | null;
}

/** The packs as a reclaim run sees them. */
export interface PackSurvey {
  packs: PackUsage[];
  /** The live refs in each pack (by pack id). */
  live: ReadonlyMap<number, readonly LiveRef[]>;
  /** Bytes of every blob file (packs, staging packs, redirects). */
  totalBytes: number;
}

/** A pack's live records copied to a new pack, durable and verified. */
export interface PackCopy {
  moves: RefMove[];
  /** The prefix of every ref into the old pack (what {@link BlobRefCatalogue.switchRefs} counts). */
  vacated: string;
  /** Records encrypted on the way. */
  encrypted: number;
}

/** The blob store's side: survey, copy, delete. */
export interface PackRewriter {
  /** Refs that read through a staging redirect, and where they read now (to be switched to it). */
  redirected(refs: readonly LiveRef[]): Promise<RefMove[]>;
  /** Deletes the staging redirects no ref in `refs` reads through and last written before `before`; how many. */
  dropRedirects(refs: readonly LiveRef[], before: number): Promise<number>;
  /** Every normal pack with its live records; `cipher`: count the live records stored in clear (reads their headers). */
  survey(refs: readonly LiveRef[], cipher: boolean): Promise<PackSurvey>;
  /**
   * Copies the live records `live` of pack `packId` into a new pack (verbatim, or encrypted with
   * `encrypt` when stored in clear), syncs it and its directory entry, and reads every copy back
   * verified against its SHA-256. Null, with the new pack removed, when a live record fails its
   * check (the old pack stays as it is: its damage is verify's to report).
   */
  copyLive(packId: number, live: readonly LiveRef[], encrypt: boolean): Promise<PackCopy | null>;
  /** Deletes pack `packId` (no live ref left) and syncs the directory. */
  deletePack(packId: number): Promise<void>;
  /** Whether new records are encrypted (a master key is configured). */
  readonly encrypting: boolean;
}
