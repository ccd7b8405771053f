/**
 * re2js's refusals → a sentence an operator can act on. The patterns operators bring are mostly
 * written for JavaScript or PCRE, so the constructs RE2 leaves out on purpose (lookaround and
 * backreferences need backtracking) and the JavaScript spellings RE2 writes differently are named
 * as such, with the RE2 way to write them where there is one; anything else keeps RE2's own words.
 */
import type { RE2JSSyntaxException } from 're2js';
import { re2jsLibrary } from './re2js-regex-config.js';

/** The construct a syntax error points at, as re2js reports it (without the `(?i)` it prepends for the flag). */
function fragment(err: RE2JSSyntaxException): string {
  return (err.input ?? '').replace(/^\(\?i\)/, '');
}

/** Why re2js refused `pattern`, in one sentence (no trailing period). */
export function re2jsRefusal(err: unknown): string {
  if (!(err instanceof re2jsLibrary().RE2JSSyntaxException)) return `is not a valid regular expression: ${err instanceof Error ? err.message : String(err)}`;
  const at = fragment(err);
  if (at.startsWith('(?=') || at.startsWith('(?!')) return `lookahead ${at.slice(0, 3)}…) is not supported`;
  if (at.startsWith('(?<=') || at.startsWith('(?<!')) return `lookbehind ${at.slice(0, 4)}…) is not supported`;
  if (/^\\[1-9]/.test(at)) return `backreference ${at} is not supported`;
  if (at.startsWith('\\k')) return 'named backreference \\k<…> is not supported';
  if (at.startsWith('\\u')) return 'the escape \\u is JavaScript syntax: write a code point as \\x{hhhh}';
  if (at.startsWith('\\c')) return 'control escapes \\cX are not supported: write \\x{hh}';
  if (at.startsWith('[^]')) return '[^] is JavaScript syntax: write [\\s\\S] for any character';
  if (/^\\[pP]\{/.test(at)) return `Unicode class ${at} is not supported: use RE2's names, such as \\p{L}, \\p{Lu}, \\p{N}, \\p{Greek}, \\p{Cyrillic}`;
  if (err.error === 'invalid repeat count') return `repetition count ${at} is too large: at most 1000, nested repetitions multiplied`;
  if (err.error === 'expression too large') return 'the pattern is too large';
  return `is not a valid regular expression: ${err.error}${at ? ` at \`${at}\`` : ''}`;
}
