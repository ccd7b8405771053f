/** A query in the search language as the store's port takes it: parsed, as the API and the commands parse it. */
import { parseSearchQuery, type QueryNode } from '../../src/core/search/query-language.js';

/** `text` parsed against the clock now; throws when it holds no term. */
export function textQuery(text: string): QueryNode {
  const node = parseSearchQuery(text, { now: Date.now() });
  if (!node) throw new Error(`${JSON.stringify(text)} holds no search term`);
  return node;
}
