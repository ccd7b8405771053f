/**
 * The index's terms that are not words of the message (ADR 0042): written into a full-text row
 * by the index writer (fts-writer-worker.ts) and looked for by the translation (fts-translate.ts)
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
