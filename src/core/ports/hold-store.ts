/**
 * Where legal holds are kept (issue 16, item 4; `core/holds/legal-hold.ts`), and how a hold's
 * query is held against archived messages: the store's own search, so a hold matches what
 * `search` with the same words finds.
 */
import type { LegalHold } from '../holds/legal-hold.js';

export type { LegalHold } from '../holds/legal-hold.js';

/** The holds, placed and released, and the messages they keep. */
export interface HoldStore {
  /**
   * Keeps a new active hold. Throws `HOLD_EXISTS` when a hold of that name was ever placed, and
   * `HOLD_INVALID` (by field) for ids no archived message has or a query the search cannot read.
   */
  placeHold(hold: LegalHold): Promise<void>;
  /** Marks active hold `name` released; `HOLD_NOT_FOUND` when none is, `HOLD_RELEASED` when it was already. */
  releaseHold(name: string, release: { by: string; at: number; reason: string }): Promise<LegalHold>;
  /** Hold `name`, active or released, or null. */
  getHold(name: string): Promise<LegalHold | null>;
  /** The active holds (with `all`, released ones too), active first, each by name. */
  listHolds(options?: { all?: boolean }): Promise<LegalHold[]>;
  /**
   * Of `ids`, those `query` matches, as `search` matches it (a journal report merged into another
   * matches through its primary); a message not parsed yet cannot be told apart and is answered
   * as matching, so nothing is purged before its text is known.
   */
  matchAmong(query: string, ids: readonly number[]): Promise<number[]>;
  /** How many archived messages `hold` keeps now (its ids still archived, and what its query matches). */
  countHeld(hold: Pick<LegalHold, 'query' | 'ids'>): Promise<number>;
  /** The message ids whose raw bytes are `sha256` (one per connection that took it). */
  messageIdsOf(sha256: string): Promise<number[]>;
}
