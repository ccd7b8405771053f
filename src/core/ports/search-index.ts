/** The search index: archived messages found by text and by their search columns. */
import type { QueryNode } from '../search/query-language.js';

/** One search hit. */
export interface SearchHit {
  id: number;
  sha256: string;
  connection: string;
  from: string;
  subject: string;
  date: string | null;
  size: number;
  /** True for a connection test's probe message (ADR 0027); absent otherwise. */
  probe?: true;
}

/** Search filters beyond the full-text query. */
export interface SearchQuery {
  /** A parsed query in the search language (core/search/query-language.ts; docs/search.md). */
  query?: QueryNode;
  /** A substring of the sender. */
  from?: string;
  /** A substring of the recipients (To, Cc, Bcc). */
  to?: string;
  connection?: string;
  /** ISO 8601: messages dated at or after. */
  since?: string;
  /** ISO 8601: messages dated before. */
  before?: string;
  hasAttachment?: boolean;
  /** The Message-ID, without angle brackets, exactly (a probe test finds its probe by it). */
  messageId?: string;
  /** Only messages with an id below this (the next page after a hit of this id: the cursor, newest first). */
  beforeId?: number;
  /** At most this many hits, newest first; default 100. */
  limit?: number;
}

/** A count of search hits: exact when `more` is false; else `total` were counted and more match. */
export interface SearchCount {
  total: number;
  more: boolean;
}

/** Finds archived messages. */
export interface SearchIndex {
  /** The messages matching every filter of `query`, newest first; a journal report merged into another is not listed (its primary is). */
  search(query: SearchQuery): Promise<SearchHit[]>;
  /**
   * How many messages `search` would list without a limit: exact, or (`more`) at least `total` and
   * more besides, when counting stopped at `query.limit` (so a broad query stops early) or after
   * `withinMs` milliseconds (so a query whose matches are costly to confirm, such as a phrase of
   * common words, does not hold its page up).
   */
  count(query: SearchQuery, withinMs?: number): Promise<SearchCount>;
}
