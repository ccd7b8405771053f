/**
 * Which messages an export holds (issue 17, item 2): the one place that turns what was asked
 * (`--query`, the API's filters) into the archived messages to write, so a new query language
 * changes this function and nothing that writes the export.
 *
 * With a query or a filter the messages are those `search` lists, newest first, read a page at a
 * time through the search port's cursor (`beforeId`: hits with a lower id), so an export is not
 * capped at a search limit and holds one page in memory. Without either it is every archived
 * message (of one connection when named), oldest first, as `listForExport` lists them.
 */
import type { ArchiveReader, ExportItem } from '../ports/archive-reader.js';
import type { SearchIndex, SearchQuery } from '../ports/search-index.js';

/** The manifest's name in an export zip (docs/export.md). */
export const MANIFEST_NAME = 'manifest.jsonl';

/** The version of the manifest's format (its first line's `mailsluiceExport`). */
export const MANIFEST_VERSION = 1;

/** What an export selects: a query's text and the search filters beside it; none of them is everything. */
export type ExportQuery = Omit<SearchQuery, 'beforeId' | 'limit'>;

/** What the selection reads of the store. */
export type ExportSelectionStore = Pick<SearchIndex, 'search'> & Pick<ArchiveReader, 'listForExport' | 'exportItemsOf'>;

/** Hits per search page: one `exportItemsOf` statement each, and what the selection holds at once. */
export const EXPORT_SEARCH_PAGE = 500;

/**
 * Opens the selection of `query`: the first page is read before this resolves, so a query the
 * store cannot read (`SEARCH_QUERY_INVALID`) fails before anything is written; the rest is read
 * as the returned iterable is walked. Only `connection` given: that connection's messages, all.
 */
export async function openExportSelection(store: ExportSelectionStore, query: ExportQuery, pageSize = EXPORT_SEARCH_PAGE): Promise<AsyncIterable<ExportItem>> {
  const onlyConnection = Object.entries(query).every(([k, v]) => k === 'connection' || v === undefined || v === '' || v === false);
  if (onlyConnection) return store.listForExport(query.connection || undefined);
  const first = await store.search({ ...query, limit: pageSize });
  return searchPages(store, query, pageSize, first);
}

async function* searchPages(store: ExportSelectionStore, query: ExportQuery, pageSize: number, first: Awaited<ReturnType<SearchIndex['search']>>): AsyncGenerator<ExportItem> {
  let hits = first;
  for (;;) {
    // A page's messages read together; one purged since the search is left out.
    yield* await store.exportItemsOf(hits.map((h) => h.id));
    if (hits.length < pageSize) return;
    hits = await store.search({ ...query, limit: pageSize, beforeId: hits[hits.length - 1]!.id });
  }
}
