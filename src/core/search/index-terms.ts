/**
 * The index's terms that are not words of the message (ADR 0042): written into a full-text row
 * by the index writers (store-sqlite/fts-writer-worker.ts, store-postgres/postgres-search-rows.ts) and looked
 * for by the translations (store-sqlite/fts-translate.ts, store-postgres/postgres-search-translate.ts)
 * once the index's version carries them (fts-version.ts: `ATTACHMENT_MARK_VERSION`,
 * `ADDRESS_TOKEN_VERSION`).
 */

/** A whole address as one token: `at0` and the address, lowercase, each character but a letter or digit a `0`. */
export function addressToken(address: string): string {
  return `at0${address.toLowerCase().replace(/[^\p{L}\p{N}]/gu, '0')}`;
}

/** The addresses in an address column's text (`Name <a@b.c>, d@e.f`). */
const ADDRESS_IN_TEXT = /[^\s<>,;:"'()[\]]+@[^\s<>,;:"'()[\]]+/gu;

/** The addresses in an address column's text, as written. */
export function addressesIn(text: string): string[] {
  return text.match(ADDRESS_IN_TEXT) ?? [];
}

/** An address column's text with the {@link addressToken} of every address in it after it. */
export function withAddressTokens(text: string): string {
  const addresses = addressesIn(text);
  return addresses.length > 0 ? `${text}\n${addresses.map(addressToken).join(' ')}` : text;
}

/** Whether a `from:`/`to:`/`cc:`/`bcc:` value is a whole address (then matched as one, by its token). */
export function isWholeAddress(value: string): boolean {
  return /^[^\s@<>,;:"'()[\]]+@[^\s@<>,;:"'()[\]]+\.[^\s@<>,;:"'()[\].]+$/u.test(value);
}

/**
 * The token the `stems` column of a message with an attachment holds (from index version 3): then
 * `has:attachment` is a term the index intersects with the words, not a flag every match is
 * looked up for. Digits inside keep it from being any word's stem; a query word that stems to it
 * anyway is looked for in the exact columns only (fts-translate.ts).
 */
export const ATTACHMENT_MARK = 'mailsluice0has0attachment';

/** What FTS5's unicode61 tokenizer takes as a word: categories L*, N*, Co, and the combining marks it strips. */
const WORD = /[\p{L}\p{N}\p{Co}\p{M}]+/gu;
/** A Latin letter with the combining marks after it (NFD): unicode61 `remove_diacritics 2` drops those marks. */
const LATIN_MARKS = /(\p{Script=Latin})\p{M}+/gu;
const NON_ASCII = /[^\x00-\x7f]/u;

/**
 * The words of `text` as the embedded index's tokenizer (`unicode61 remove_diacritics 2`) cuts
 * and folds them: runs of letters, digits, private-use characters and marks, lowercase, a Latin
 * letter's diacritics removed ("Café" is "cafe"), other scripts' kept ("ё" stays apart from "е").
 * A store without that tokenizer (PostgreSQL: its own parser splits "agenda.pdf" and "e-mail"
 * otherwise) indexes and queries these words, so both stores find the same messages.
 */
export function indexWords(text: string): string[] {
  const words = text.toLowerCase().match(WORD);
  if (!words) return [];
  return words.map((w) => (NON_ASCII.test(w) ? w.normalize('NFD').replace(LATIN_MARKS, '$1').normalize('NFC') : w));
}
