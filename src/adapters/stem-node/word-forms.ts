/**
 * Word forms for the full-text index (issue 17, item 3; ADR 0041): the contract the index
 * writer and the query translation share. The writer fills the index's stem column with
 * {@link stemText} of a message's text; a bare query word matches {@link stemWord} of it there,
 * so "письмо" finds "письма" and "invoices" finds "invoice" (a quoted phrase still matches the
 * exact words in the other columns).
 *
 * Words are cut exactly where FTS5's `unicode61 remove_diacritics 2` tokenizer cuts them (runs of
 * letters, digits, private-use characters and combining marks; everything else separates: `_`,
 * `'`, `-`, `@`, `.`), so a stem always belongs to a word the body column holds. Each word's
 * language is its script: a word of Latin letters only (diacritics removed, as unicode61 does:
 * "café" is "cafe") goes to the Porter2 English stemmer (`porter2`), a word of the Russian
 * alphabet to the Snowball Russian stemmer (`@orama/stemmers`). Unicode61 keeps a precomposed
 * "ё" apart from "е" (and "й" apart from "и"); the stems fold "ё" into "е" (as Snowball's Russian
 * algorithm does, and as Russian is mostly typed) and keep "й", so "елка" and "ёлка" meet in the
 * stem column. Not stemmed (no stem written, `stemWord` null, so the query matches the exact
 * form): a word with a digit in it (numbers, "x86", hashes), a word under two or over
 * {@link MAX_STEMMED_CHARS} characters (base64 and the like), a word that mixes scripts or has a
 * letter outside the two alphabets (German "ß", Ukrainian "і", Chinese, Greek).
 */
import { stem as stemEnglish } from 'porter2';
import { stemmer as stemRussian } from '@orama/stemmers/russian';

/** Longer words are not stemmed: no English or Russian word is this long; base64 runs and tokens are. */
export const MAX_STEMMED_CHARS = 40;

// What unicode61 takes as a word: categories L*, N*, Co, and the combining marks it strips.
const WORD = /[\p{L}\p{N}\p{Co}\p{M}]+/gu;
const ONE_WORD = /^[\p{L}\p{N}\p{Co}\p{M}]+$/u;
const ENGLISH = /^[a-z]+$/;
const RUSSIAN = /^[а-яё]+$/;
const MARKS = /\p{M}/gu;

/** The stem of one lowercased word, or null when it is not stemmed (see the module comment). */
function stemOf(word: string): string | null {
  if (word.length < 2 || word.length > MAX_STEMMED_CHARS) return null;
  // The common cases first: no normalisation needed.
  if (ENGLISH.test(word)) return stemEnglish(word) || null;
  if (RUSSIAN.test(word)) return stemRussian(word.replace(/ё/g, 'е')) || null;
  // Diacritics: Latin ones go (NFD, marks stripped), as unicode61 removes them; a Cyrillic
  // "й" or "ё" written decomposed is composed again (NFC) so it meets the precomposed one.
  const latin = word.normalize('NFD').replace(MARKS, '');
  if (latin.length >= 2 && ENGLISH.test(latin)) return stemEnglish(latin) || null;
  const cyrillic = word.normalize('NFC').replace(MARKS, '');
  if (cyrillic.length >= 2 && RUSSIAN.test(cyrillic)) return stemRussian(cyrillic.replace(/ё/g, 'е')) || null;
  return null;
}

/**
 * Stems of words seen lately, by word: mail repeats its words (a message's, and the same
 * signatures and boilerplate across messages), and a lookup costs a fraction of a stemming.
 * Emptied when full, so memory stays bounded (some 64k short strings).
 */
const recent = new Map<string, string | null>();
const RECENT_MAX = 65_536;

function cachedStemOf(word: string): string | null {
  let s = recent.get(word);
  if (s === undefined) {
    s = stemOf(word);
    if (recent.size >= RECENT_MAX) recent.clear();
    recent.set(word, s);
  }
  return s;
}

/**
 * The stems of the words of `text` (Russian and English), each once, space-separated in the
 * order of their first word: what the index's stem column gets. Each stem is itself one unicode61
 * word (lowercase letters), so the column's tokenizer keeps it as it is. Positions are not kept
 * (a stem once per message), so the stem column answers word queries, not phrases: phrases are
 * matched in the exact columns.
 */
export function stemText(text: string): string {
  const words = text.toLowerCase().match(WORD);
  if (!words) return '';
  const stems = new Set<string>();
  for (const w of words) {
    const s = cachedStemOf(w);
    if (s !== null) stems.add(s);
  }
  return [...stems].join(' ');
}

/**
 * The stem a bare query word is matched by in the stem column, or null to match its exact form
 * only: for a word {@link stemText} writes no stem for (a number, a word with a digit, one
 * character, a very long word, another script), and for text that is not one unicode61 word
 * ("e-mail", "a b": the caller splits words). The stem may equal the word ("run"): it still finds
 * the other forms ("running", "runs").
 */
export function stemWord(word: string): string | null {
  const w = word.toLowerCase();
  if (!ONE_WORD.test(w)) return null;
  return stemOf(w);
}
