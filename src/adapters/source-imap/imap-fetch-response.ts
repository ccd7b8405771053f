/**
 * Reading FETCH answers: which literal is a message body that may stream (its UID already read,
 * found with a few string operations rather than a token tree), and the items of a whole FETCH
 * response (UID, BODY[] with its origin, FLAGS, RFC822.SIZE).
 */
import { ImapParseError, LiteralParts, tokenize } from './imap-response.js';

/** The UID of a FETCH response's text so far, or -1. */
function uidIn(text: string): number {
  const at = text.indexOf('UID ');
  if (at < 0) return -1;
  // "UID" must be an item name: preceded by "(" or " ".
  const before = text.charCodeAt(at - 1);
  if (before !== 40 && before !== 32) return -1;
  let v = 0;
  let i = at + 4;
  const start = i;
  for (; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 48 || c > 57) break;
    v = v * 10 + (c - 48);
  }
  return i > start ? v : -1;
}

/**
 * Whether the literal that starts after `textSoFar` (an untagged response's text, ending in the
 * literal's mark) is the `BODY[]` of a FETCH whose UID came before it: its UID and origin, else
 * null. A server that sends the body before the UID gets it buffered: the consumer needs the UID
 * first.
 */
export function streamableBody(textSoFar: string): { uid: number; offset?: number } | null {
  if (!/^\* \d+ FETCH \(/i.test(textSoFar)) return null;
  const before = textSoFar.slice(0, -1);
  const item = /(?:^|[ (])(BODY\[\](?:<(\d+)>)?) $/i.exec(before);
  if (!item) return null;
  const uid = uidIn(before);
  if (uid < 0) return null;
  return item[2] !== undefined ? { uid, offset: Number(item[2]) } : { uid };
}

/** The items of one FETCH response the drain reads; -1 or null where the response had none. */
export interface FetchItems {
  uid: number;
  /** `BODY[]`, as the pieces it arrived in (null: none, or NIL). */
  body: Buffer[] | null;
  size: number;
  /** The origin of a partial `BODY[]<offset>`. */
  offset: number | undefined;
  flags: string[] | null;
  rfc822Size: number;
}

/** Reads the item list of `* n FETCH (...)` (`listText` starts at its parenthesis). */
export function parseFetchItems(listText: string, literals: Array<Buffer | LiteralParts>, where: string): FetchItems {
  const tokens = tokenize(listText, literals);
  const list = tokens[0];
  if (!Array.isArray(list)) throw new ImapParseError(`${where} sent a FETCH response without its list: ${JSON.stringify(listText.slice(0, 120))}`);
  const out: FetchItems = { uid: -1, body: null, size: 0, offset: undefined, flags: null, rfc822Size: -1 };
  for (let i = 0; i + 1 < list.length; i += 2) {
    const name = list[i];
    if (typeof name !== 'string') continue;
    const upper = name.toUpperCase();
    const value = list[i + 1]!;
    if (upper === 'UID') out.uid = Number(value);
    else if (upper === 'FLAGS' && Array.isArray(value)) out.flags = value.filter((f): f is string => typeof f === 'string');
    else if (upper === 'RFC822.SIZE') out.rfc822Size = Number(value);
    else if (upper.startsWith('BODY[]')) {
      const m = /^BODY\[\](?:<(\d+)>)?$/.exec(upper);
      if (!m) continue;
      if (m[1] !== undefined) out.offset = Number(m[1]);
      if (Buffer.isBuffer(value)) [out.body, out.size] = [[value], value.length];
      else if (value instanceof LiteralParts) [out.body, out.size] = [value.parts, value.length];
      else if (typeof value === 'object' && !Array.isArray(value)) {
        const b = Buffer.from(value.quoted, 'latin1');
        [out.body, out.size] = [[b], b.length];
      }
      // NIL: Dovecot's answer for a message another session expunged meanwhile (no body: skipped).
    }
  }
  return out;
}
