/**
 * Text that goes into a command line: a mailbox name as an IMAP astring, a flag list for STORE.
 * Both refuse what would change the command (CR, LF, NUL; a flag that is not an atom).
 */
import { ImapParseError } from './imap-response.js';

/**
 * A mailbox name as an IMAP astring, in modified UTF-7 (RFC 3501 §5.1.3): printable ASCII
 * as is (`&` as `&-`), anything else as `&<base64 of UTF-16BE with "," for "/">-`.
 */
export function quoteMailbox(name: string): string {
  if (/[\r\n\0]/.test(name)) throw new ImapParseError(`a mailbox name cannot hold CR, LF or NUL: ${JSON.stringify(name)}`);
  let out = '';
  let i = 0;
  while (i < name.length) {
    const c = name.charCodeAt(i);
    if (c >= 0x20 && c <= 0x7e) {
      out += c === 0x26 ? '&-' : name[i];
      i++;
      continue;
    }
    let j = i;
    while (j < name.length && !(name.charCodeAt(j) >= 0x20 && name.charCodeAt(j) <= 0x7e)) j++;
    const utf16 = Buffer.alloc((j - i) * 2);
    for (let k = i; k < j; k++) utf16.writeUInt16BE(name.charCodeAt(k), (k - i) * 2);
    out += `&${utf16.toString('base64').replace(/=+$/, '').replace(/\//g, ',')}-`;
    i = j;
  }
  // An atom when it can be one (as imapflow writes it), else a quoted string (RFC 3501 astring).
  if (/^[^\s(){%*"\\\]\x00-\x1f\x7f]+$/.test(out)) return out;
  return `"${out.replace(/[\\"]/g, '\\$&')}"`;
}

/** A flag list for STORE, refusing anything that is not a flag atom (it would change the command). */
export function flagList(flags: readonly string[]): string {
  for (const f of flags) {
    if (!/^\\?[^\s()"\\{\]%*\x00-\x1f\x7f]+$/.test(f)) throw new ImapParseError(`not an IMAP flag: ${JSON.stringify(f)}`);
  }
  return `(${flags.join(' ')})`;
}
