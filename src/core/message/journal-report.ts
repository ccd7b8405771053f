/**
 * Exchange journal reports ("envelope journaling"), the pure part: telling a report from other
 * mail, reading its envelope, merging the envelopes of several reports of one message, and
 * deciding which envelope recipients are blind copies.
 *
 * A journal report is a message from Exchange's journaling agent with the header
 * `X-MS-Journal-Report`, a multipart/mixed body whose first part is a text/plain envelope and whose
 * second part is the original message (message/rfc822), attached unaltered. The envelope has one
 * field per line (Microsoft's ABNF for Exchange 2007 and later):
 *
 * ```
 * Sender: alice@contoso.com
 * Subject: Budget
 * Message-Id: <1234@contoso.com>
 * On-Behalf-Of: boss@contoso.com
 * To: bob@contoso.com
 * Cc: member@contoso.com, Expanded: team@contoso.com
 * Bcc: carol@contoso.com
 * Recipient: partner@fabrikam.com, Forwarded: old@contoso.com
 * ```
 *
 * `To`/`Cc`/`Bcc` are written when Exchange could verify how the recipient was addressed (MAPI or
 * authenticated submission); otherwise the recipient is listed as `Recipient`. The envelope is
 * the only record of blind copies: the original's headers never show them.
 *
 * Finding the parts in the MIME tree is the parser adapter's job; this module works on header
 * names and decoded text only, does no I/O, and never throws on bad input.
 */
import type { Address, JournalEnvelope } from './attributes.js';

/** The header that marks a journal report (Exchange writes it with an empty value). */
export const JOURNAL_REPORT_HEADER = 'X-MS-Journal-Report';

/** One recipient line of a journal envelope. */
export type JournalRecipient = JournalEnvelope['Recipients'][number];

/** How the recipient was addressed: `Recipient` means Exchange could not verify it. */
export type JournalRecipientKind = JournalRecipient['Kind'];

/**
 * What the parser did with a journal report, reported beside the attributes of a parse outcome
 * (`ParseOutcome.journal`). Absent for messages that are not journal reports.
 */
export interface JournalUnwrap {
  /**
   * True when the attributes are those of the original message (and carry `Journal`); false when
   * the report could not be unwrapped and the attributes are the report's own.
   */
  unwrapped: boolean;
  /**
   * Where the original message lies verbatim inside the raw report, so a consumer (the forward
   * action, export of originals) can slice it out of the archived bytes without parsing again.
   * Null when the original was transfer-encoded inside the report (its bytes are not stored
   * verbatim), was cut short, or was not unwrapped.
   */
  original: { offset: number; length: number } | null;
  /**
   * The envelope as read, also when the report was not unwrapped (then the attributes carry no
   * `Journal`, which SPEC reserves for unwrapped messages). Null when no envelope was readable.
   */
  envelope: JournalEnvelope | null;
  /** Everything that did not go as the format says, one sentence each; empty when all was clean. */
  notes: string[];
}

/**
 * Whether a message is an Exchange journal report: it carries the `X-MS-Journal-Report` header
 * (any case, any value; Exchange writes it empty). Takes the message's top-level headers, e.g.
 * `MessageAttributes.CustomHeaders`.
 */
export function isJournalReport(headers: ReadonlyArray<{ readonly Name: string }>): boolean {
  const wanted = JOURNAL_REPORT_HEADER.toLowerCase();
  for (const h of headers) if (typeof h?.Name === 'string' && h.Name.trim().toLowerCase() === wanted) return true;
  return false;
}

/** A journal envelope as read from the report's text part, with what else the text said. */
export interface JournalEnvelopeReading {
  envelope: JournalEnvelope;
  /** The envelope's `Message-Id` without angle brackets, or "" when absent. */
  messageId: string;
  /** The envelope's `Subject`, or "" when absent. */
  subject: string;
  /**
   * Whether the text looked like an envelope at all: it named a sender or at least one
   * recipient. A report whose envelope is not recognised is not unwrapped.
   */
  recognised: boolean;
  /** Lines that were not understood, one sentence each (at most {@link MAX_PROBLEMS}). */
  problems: string[];
}

/** At most this many problems are listed: a garbled envelope can have thousands of bad lines. */
export const MAX_PROBLEMS = 20;

/** Field names of the envelope, lowercase, with the recipient kind they introduce. */
const RECIPIENT_FIELDS: Readonly<Record<string, JournalRecipientKind>> = {
  to: 'To',
  cc: 'Cc',
  bcc: 'Bcc',
  recipient: 'Recipient',
  // Exchange 2003 envelope journaling listed every recipient on one `Recipients:` line; its
  // addressing was never verified, so they are of the basic kind.
  recipients: 'Recipient',
};
const OTHER_FIELDS = new Set(['sender', 'subject', 'message-id', 'on-behalf-of', 'expanded', 'forwarded']);
const FIELD_LINE = /^([A-Za-z][A-Za-z-]*)[ \t]*:[ \t]*(.*)$/s;

/**
 * Reads a journal envelope (the decoded text of the report's text/plain part), leniently: field
 * names in any case, spaces around the colon, folded lines (a line starting with white space
 * continues the previous one unless it starts a field of its own), several recipients on one line
 * separated by commas, `Name <addr>` and `SMTP:addr` forms, and the Exchange 2003 `Recipients:`
 * line. Repeated recipients (same address, case-insensitive, and kind) are listed once. Never
 * throws: what it cannot read goes to `problems`.
 */
export function readJournalEnvelope(text: string): JournalEnvelopeReading {
  const reading: JournalEnvelopeReading = { envelope: { Sender: '', Recipients: [] }, messageId: '', subject: '', recognised: false, problems: [] };
  try {
    readInto(typeof text === 'string' ? text : '', reading);
  } catch (err) {
    // Not expected (the reader only slices strings); a last line so bad input never escapes.
    problem(reading, `envelope reader failed: ${String(err)}`);
  }
  reading.recognised = reading.envelope.Sender !== '' || reading.envelope.Recipients.length > 0;
  return reading;
}

/** The envelope of {@link readJournalEnvelope} alone. Never throws. */
export function parseJournalEnvelope(text: string): JournalEnvelope {
  return readJournalEnvelope(text).envelope;
}

function readInto(text: string, reading: JournalEnvelopeReading): void {
  const env = reading.envelope;
  const index = new Map<string, JournalRecipient>();
  let last: JournalRecipient | undefined;
  for (const line of logicalLines(text)) {
    const m = FIELD_LINE.exec(line);
    const name = m?.[1]?.toLowerCase();
    const value = (m?.[2] ?? '').trim();
    if (!m || name === undefined) {
      problem(reading, `not a field: ${clip(line)}`);
      continue;
    }
    const kind = RECIPIENT_FIELDS[name];
    if (kind) {
      const added = readRecipients(value, kind, index, env, reading, line);
      if (added) last = added;
      continue;
    }
    switch (name) {
      case 'sender': {
        const address = addressOf(value);
        if (!address) problem(reading, `no address in: ${clip(line)}`);
        else if (!env.Sender) env.Sender = address;
        else if (env.Sender.toLowerCase() !== address.toLowerCase()) problem(reading, `second sender ignored: ${clip(line)}`);
        break;
      }
      case 'subject':
        if (!reading.subject) reading.subject = value;
        break;
      case 'message-id':
        if (!reading.messageId) reading.messageId = value.replace(/^<+|>+$/g, '').trim();
        break;
      case 'on-behalf-of': {
        const address = addressOf(value);
        if (!address) problem(reading, `no address in: ${clip(line)}`);
        else if (env.OnBehalfOf === undefined) env.OnBehalfOf = address;
        break;
      }
      case 'expanded':
      case 'forwarded':
        // A redirection written on a line of its own (some renderings break the line before it)
        // belongs to the recipient just above.
        if (!last || !redirect(last, name, value)) problem(reading, `${name} without a recipient: ${clip(line)}`);
        break;
      default:
        if (!OTHER_FIELDS.has(name)) problem(reading, `unknown field: ${clip(line)}`);
    }
  }
}

/**
 * Reads one recipient line's value: one or more addresses, each optionally followed by
 * `Expanded: dl` or `Forwarded: addr` (comma-separated). Returns the last recipient added or
 * updated, for a redirection on the following line.
 */
function readRecipients(
  value: string,
  kind: JournalRecipientKind,
  index: Map<string, JournalRecipient>,
  env: JournalEnvelope,
  reading: JournalEnvelopeReading,
  line: string,
): JournalRecipient | undefined {
  let current: JournalRecipient | undefined;
  for (const token of splitList(value)) {
    const redirection = /^(expanded|forwarded)[ \t]*:[ \t]*(.*)$/is.exec(token);
    if (redirection) {
      const which = redirection[1]!.toLowerCase() as 'expanded' | 'forwarded';
      if (!current || !redirect(current, which, redirection[2]!)) problem(reading, `${which} without a recipient: ${clip(line)}`);
      continue;
    }
    const address = addressOf(token);
    if (!address) {
      problem(reading, `no address in: ${clip(line)}`);
      continue;
    }
    const key = `${kind}\u0000${address.toLowerCase()}`;
    const seen = index.get(key);
    if (seen) current = seen;
    else {
      current = { Address: address, Kind: kind };
      index.set(key, current);
      env.Recipients.push(current);
    }
  }
  if (!current && value === '') problem(reading, `empty recipient field: ${clip(line)}`);
  return current;
}

/** Sets Expanded/Forwarded once (the first value wins, as in a merge); false without an address. */
function redirect(r: JournalRecipient, which: 'expanded' | 'forwarded', value: string): boolean {
  const address = addressOf(value);
  if (!address) return false;
  if (which === 'expanded') r.Expanded ??= address;
  else r.Forwarded ??= address;
  return true;
}

/**
 * The logical lines of the text: line ends of any kind, a leading byte-order mark dropped, blank
 * lines skipped, and a line that starts with white space joined to the one before unless it starts
 * a field itself (some copies indent every line; a real fold never starts with `To:`).
 */
function logicalLines(text: string): string[] {
  const out: string[] = [];
  for (const raw of text.replace(/^\uFEFF/, '').split(/\r\n|\r|\n/)) {
    const trimmed = raw.trim();
    if (trimmed === '') continue;
    const folded = /^[ \t]/.test(raw) && out.length > 0 && !startsKnownField(trimmed);
    if (folded) out[out.length - 1] += ' ' + trimmed;
    else out.push(trimmed);
  }
  return out;
}

function startsKnownField(line: string): boolean {
  const name = FIELD_LINE.exec(line)?.[1]?.toLowerCase();
  return name !== undefined && name !== 'expanded' && name !== 'forwarded' && (name in RECIPIENT_FIELDS || OTHER_FIELDS.has(name));
}

/** Splits on commas outside quotes and angle brackets (`"Doe, Jane" <jd@x>` is one entry). */
function splitList(value: string): string[] {
  const out: string[] = [];
  let quoted = false;
  let angle = 0;
  let start = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    if (c === '"') quoted = !quoted;
    else if (!quoted && c === '<') angle++;
    else if (!quoted && c === '>' && angle > 0) angle--;
    else if (!quoted && angle === 0 && (c === ',' || c === ';')) {
      out.push(value.slice(start, i));
      start = i + 1;
    }
  }
  out.push(value.slice(start));
  return out.map((s) => s.trim()).filter((s) => s !== '');
}

/**
 * The bare address in an envelope value: the part in angle brackets when there is one, without a
 * `SMTP:` prefix, quotes or trailing punctuation; "" when nothing address-like is left.
 */
function addressOf(value: string): string {
  let s = value.trim();
  const angled = /<([^<>]*)>/.exec(s);
  if (angled) s = angled[1]!.trim();
  s = s.replace(/^smtp:/i, '').replace(/^["']+|["',;.]+$/g, '').trim();
  if (s === '') return '';
  if (!/\s/.test(s)) return s;
  // "Jane Doe jane@x" and other prose: keep the one word that looks like an address.
  const word = s.split(/\s+/).find((w) => w.includes('@'));
  return word ? word.replace(/^["'<(]+|[>"',;.)]+$/g, '') : '';
}

function problem(reading: JournalEnvelopeReading, sentence: string): void {
  if (reading.problems.length < MAX_PROBLEMS) reading.problems.push(sentence);
}

function clip(s: string): string {
  const line = s.replace(/\s+/g, ' ');
  return line.length > 120 ? line.slice(0, 120) + '…' : line;
}

/**
 * Merges the envelopes of two reports of the same message. Exchange writes several reports of
 * one message when it bifurcates it (recipients on different servers or with different
 * properties, distribution groups expanded separately); each report lists only its share of the
 * recipients, so the message's full recipient list is their union.
 *
 * Recipients are kept in order (those of `a`, then those only `b` has), one per address
 * (case-insensitive) and kind; when both list one, the first `Expanded`/`Forwarded` found is kept.
 * `Sender` and `OnBehalfOf` come from `a`, or from `b` when `a` has none. The inputs are not
 * changed. Never throws.
 */
export function mergeJournalEnvelopes(a: JournalEnvelope, b: JournalEnvelope): JournalEnvelope {
  const merged: JournalEnvelope = { Sender: a?.Sender || b?.Sender || '', Recipients: [] };
  const onBehalfOf = a?.OnBehalfOf || b?.OnBehalfOf;
  if (onBehalfOf) merged.OnBehalfOf = onBehalfOf;
  const index = new Map<string, JournalRecipient>();
  for (const r of [...(a?.Recipients ?? []), ...(b?.Recipients ?? [])]) {
    if (!r || typeof r.Address !== 'string' || r.Address === '') continue;
    const key = `${r.Kind}\u0000${r.Address.toLowerCase()}`;
    const seen = index.get(key);
    if (seen) {
      if (r.Expanded && !seen.Expanded) seen.Expanded = r.Expanded;
      if (r.Forwarded && !seen.Forwarded) seen.Forwarded = r.Forwarded;
      continue;
    }
    const copy: JournalRecipient = { Address: r.Address, Kind: r.Kind };
    if (r.Expanded) copy.Expanded = r.Expanded;
    if (r.Forwarded) copy.Forwarded = r.Forwarded;
    index.set(key, copy);
    merged.Recipients.push(copy);
  }
  return merged;
}

/**
 * The `Bcc` attribute of an unwrapped message: who received it without being shown in its
 * headers. The rule (docs/journal-reports.md, "Bcc"):
 *
 * 1. every envelope recipient of kind `Bcc`, including members of a distribution group that was
 *    addressed by Bcc (`Bcc: member, Expanded: dl`);
 * 2. every envelope recipient of kind `Recipient` (addressing not verified, e.g. mail from the
 *    internet) that the original's To and Cc do not show: neither its address, nor the group it
 *    was expanded from, nor the address it was forwarded from;
 * 3. any Bcc header the original carries itself (a sender's copy).
 *
 * Recipients of kind `To`/`Cc` are never blind copies: the envelope says they were addressed
 * visibly, also when they got the message through a group or a forward. Each address appears once
 * (case-insensitive), in envelope order, then the original's own Bcc header; the display name is
 * taken from the original's headers when it names the address, else "".
 */
export function journalBcc(envelope: JournalEnvelope, original: { To: readonly Address[]; Cc: readonly Address[]; Bcc?: readonly Address[] }): Address[] {
  const lower = (s: string | undefined): string => (s ?? '').trim().toLowerCase();
  const visible = new Set<string>([...original.To, ...original.Cc].map((x) => lower(x.Address)).filter((s) => s !== ''));
  const names = new Map<string, string>();
  for (const x of [...original.To, ...original.Cc, ...(original.Bcc ?? [])]) if (x.Name && !names.has(lower(x.Address))) names.set(lower(x.Address), x.Name);
  const out: Address[] = [];
  const taken = new Set<string>();
  const take = (address: string, name?: string): void => {
    const key = lower(address);
    if (key === '' || taken.has(key)) return;
    taken.add(key);
    out.push({ Name: name ?? names.get(key) ?? '', Address: address.trim() });
  };
  for (const r of envelope?.Recipients ?? []) {
    if (r.Kind === 'Bcc') take(r.Address);
    else if (r.Kind === 'Recipient' && !visible.has(lower(r.Address)) && !visible.has(lower(r.Expanded)) && !visible.has(lower(r.Forwarded))) take(r.Address);
  }
  for (const x of original.Bcc ?? []) take(x.Address, x.Name);
  return out;
}
