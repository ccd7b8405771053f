/**
 * Checks what a script's `handle` returned before it becomes the delivery's server response.
 * The value comes from user code, so it is checked here, on the service's side of the thread
 * boundary: a typo (`movTo`) or a flag with a space would otherwise reach the IMAP server as a
 * broken command, after the message was already handled.
 */
import type { ServerResponse } from '../../core/ports/scenario-action.js';

/** The result of {@link validateScriptResponse}. */
export type ResponseCheck = { ok: true; response?: ServerResponse } | { ok: false; problem: string };

/** At most this many flags in one response: more is a script bug, not a use. */
const MAX_FLAGS = 64;
/** Longest folder name accepted (Dovecot's own limit on a mailbox name is about 1,000 bytes). */
const MAX_FOLDER_CHARS = 1000;
/**
 * An IMAP flag (RFC 3501 `flag`): an atom, or `\` and an atom. Atom characters are printable
 * ASCII except `( ) { SP % * " \ ]`, so a flag can be sent as it is, never quoted.
 */
const IMAP_FLAG = /^\\?[\x21\x23-\x24\x26-\x27\x2b-\x5b\x5e-\x7a\x7c\x7e]+$/;

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return `a string (${JSON.stringify(value.length > 40 ? value.slice(0, 40) + '…' : value)})`;
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

/**
 * Accepts `undefined`/`null` (no response) or `{ addFlags?: string[], moveTo?: string }` with no
 * other keys; returns the response with only what is set, or the problem in words.
 */
export function validateScriptResponse(value: unknown): ResponseCheck {
  if (value === undefined || value === null) return { ok: true };
  if (typeof value !== 'object' || Array.isArray(value)) {
    return { ok: false, problem: `handle returned ${describe(value)}; return nothing or an object { addFlags?: string[], moveTo?: string }` };
  }
  const obj = value as Record<string, unknown>;
  const unknown = Object.keys(obj).filter((k) => k !== 'addFlags' && k !== 'moveTo');
  if (unknown.length > 0) {
    return { ok: false, problem: `the response has unknown key(s) ${unknown.map((k) => JSON.stringify(k)).join(', ')}; only addFlags and moveTo are allowed` };
  }
  const response: ServerResponse = {};
  const flags = obj['addFlags'];
  if (flags !== undefined) {
    if (!Array.isArray(flags)) return { ok: false, problem: `addFlags is ${describe(flags)}, not an array of IMAP flags` };
    if (flags.length > MAX_FLAGS) return { ok: false, problem: `addFlags has ${flags.length} flags, more than ${MAX_FLAGS}` };
    for (const [i, f] of flags.entries()) {
      if (typeof f !== 'string' || !IMAP_FLAG.test(f)) {
        return {
          ok: false,
          problem: `addFlags[${i}] is ${describe(f)}, not an IMAP flag (an atom such as $Processed, or \\ and an atom such as \\Seen; no spaces, quotes or ( ) { } % * ])`,
        };
      }
    }
    if (flags.length > 0) response.addFlags = [...new Set(flags as string[])];
  }
  const moveTo = obj['moveTo'];
  if (moveTo !== undefined) {
    if (typeof moveTo !== 'string' || moveTo.trim() === '') return { ok: false, problem: `moveTo is ${describe(moveTo)}, not a folder name` };
    if (/[\r\n\0]/.test(moveTo)) return { ok: false, problem: 'moveTo contains a line break or NUL, which no folder name can hold' };
    if (moveTo.length > MAX_FOLDER_CHARS) return { ok: false, problem: `moveTo is ${moveTo.length} characters long, more than ${MAX_FOLDER_CHARS}` };
    response.moveTo = moveTo;
  }
  return response.addFlags || response.moveTo !== undefined ? { ok: true, response } : { ok: true };
}
