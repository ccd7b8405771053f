/**
 * A message's full-text row on PostgreSQL: one `tsvector` (`message_search.doc`, GIN-indexed),
 * built here from the words the embedded index holds (core/search/index-terms.ts `indexWords`,
 * cut and folded as FTS5's unicode61 does, and stem-node/word-forms.ts `stemText`), not by a
 * PostgreSQL text-search configuration, whose parser cuts "agenda.pdf" or "e-mail" otherwise and
 * whose stemmers are not Snowball's current ones: both stores find the same messages.
 *
 * FTS5 has a column per field; a tsvector has four weights, so the fields are told apart thus
 * (`LEXEME` says how the translation, postgres-search-translate.ts, looks for each):
 *
 * - subject weight A, the address fields' words B, attachment names C, the body D, each field
 *   starting two positions after the last (a phrase never runs from one field into the next);
 * - an address field's words also as `f~word` (From), `t~` (To), `c~` (Cc), `b~` (Bcc), at the
 *   same positions (so `from:"alice archer"` is a phrase there), and each whole address as its
 *   `addressToken` with that prefix;
 * - the stems (what a bare word also matches) as `~stem`, and `~` + `ATTACHMENT_MARK` for a
 *   message with an attachment, at position 1: `~` is never part of a word, so a stem is never
 *   taken for a word of the message, nor a word for a stem.
 *
 * PostgreSQL keeps positions up to 16,383 and 256 per lexeme: a word further into a long body is
 * found by a word query as before; a phrase there is matched as if at the last position (it may
 * find a message whose words there are not in that order). Lexemes stop at 1,000,000 bytes
 * (tsvector's limit is 1 MiB): words new past that in a huge body are not indexed.
 */
import type pg from 'pg';
import type { IndexEntry } from '../../core/message/parsed-record.js';
import { addressesIn, addressToken, ATTACHMENT_MARK, indexWords } from '../../core/search/index-terms.js';
import { stemText } from '../stem-node/word-forms.js';

/** How a field's words are written: their weight, and the prefix of their field-only copy. */
export const LEXEME = {
  subject: { weight: 'A' },
  address: { weight: 'B' },
  attachment: { weight: 'C' },
  body: { weight: 'D' },
  from: { prefix: 'f~' },
  to: { prefix: 't~' },
  cc: { prefix: 'c~' },
  bcc: { prefix: 'b~' },
  stem: { prefix: '~' },
} as const;

/** The lexeme `~` + `ATTACHMENT_MARK`: `has:attachment`. */
export const ATTACHMENT_LEXEME = `${LEXEME.stem.prefix}${ATTACHMENT_MARK}`;

/** PostgreSQL's last position (MAXENTRYPOS - 1), positions per lexeme (MAXNUMPOS) and lexeme bytes (under MAXSTRPOS). */
const LAST_POSITION = 16_383;
const MAX_POSITIONS = 256;
const MAX_LEXEME_BYTES = 1_000_000;

/** A lexeme as tsvector and tsquery input write it (quoted; our lexemes hold no quote or backslash, escaped anyway). */
export const quoteLexeme = (lexeme: string): string => `'${lexeme.replace(/['\\]/g, (c) => c + c)}'`;

/** Builds one tsvector's input text. */
class VectorText {
  private readonly entries = new Map<string, string[]>();
  private bytes = 0;
  /** The last position used. */
  private at = 0;

  /** `lexeme` at `position` (clamped) with `weight`. */
  add(lexeme: string, position: number, weight: string): void {
    let list = this.entries.get(lexeme);
    if (list === undefined) {
      const size = Buffer.byteLength(lexeme);
      if (this.bytes + size > MAX_LEXEME_BYTES) return;
      this.bytes += size;
      list = [];
      this.entries.set(lexeme, list);
    }
    const entry = `${Math.min(position, LAST_POSITION)}${weight}`;
    if (list.length < MAX_POSITIONS && list[list.length - 1] !== entry) list.push(entry);
  }

  /** `text`'s words from two positions after the last field, with `weight`, and again with `prefix` when given. */
  field(text: string, weight: string, prefix?: string): void {
    this.at += 1;
    for (const w of indexWords(text)) {
      this.at += 1;
      this.add(w, this.at, weight);
      if (prefix !== undefined) this.add(prefix + w, this.at, weight);
    }
    if (prefix === undefined) return;
    // Each whole address as one lexeme (from:alice@north.example is that address, not its words).
    this.at += 1;
    for (const a of addressesIn(text)) this.add(prefix + addressToken(a), this.at, weight);
  }

  /** Marks `lexeme` once, at position 1 (no phrase is matched on stems). */
  mark(lexeme: string, weight: string): void {
    this.add(lexeme, 1, weight);
    this.at = Math.max(this.at, 1);
  }

  toString(): string {
    const out: string[] = [];
    for (const [lexeme, positions] of this.entries) out.push(`${quoteLexeme(lexeme)}:${positions.join(',')}`);
    return out.join(' ');
  }
}

/** The `message_search.doc` of `e` as tsvector input text (see the module comment). */
export function searchVectorText(e: IndexEntry): string {
  const v = new VectorText();
  // Stems first, at position 1: a long body's clamped positions never meet them.
  for (const stem of stemText(`${e.subject}\n${e.body}\n${e.attachmentNames}`).split(' ')) if (stem !== '') v.mark(LEXEME.stem.prefix + stem, LEXEME.address.weight);
  if (e.hasAttachments) v.mark(ATTACHMENT_LEXEME, LEXEME.address.weight);
  v.field(e.subject, LEXEME.subject.weight);
  v.field(e.from, LEXEME.address.weight, LEXEME.from.prefix);
  v.field(e.to, LEXEME.address.weight, LEXEME.to.prefix);
  v.field(e.cc, LEXEME.address.weight, LEXEME.cc.prefix);
  v.field(e.bcc, LEXEME.address.weight, LEXEME.bcc.prefix);
  v.field(e.attachmentNames, LEXEME.attachment.weight);
  v.field(e.body, LEXEME.body.weight);
  return v.toString();
}

/**
 * Writes (or replaces) the full-text rows of `entries`, in the transaction of `c` (the parse
 * save's: a message is marked parsed exactly when its row is there). An id given twice is written
 * once, its last entry (a primary's merged recipients after its own result).
 */
export async function writeSearchRows(c: pg.PoolClient, entries: readonly IndexEntry[]): Promise<void> {
  if (entries.length === 0) return;
  const byId = new Map<number, IndexEntry>();
  for (const e of entries) byId.set(e.id, e);
  const rows = [...byId.values()];
  await c.query(
    `INSERT INTO message_search (id, doc) SELECT * FROM unnest($1::bigint[], $2::text[]::tsvector[])
     ON CONFLICT (id) DO UPDATE SET doc = EXCLUDED.doc`,
    [rows.map((e) => e.id), rows.map(searchVectorText)],
  );
}
