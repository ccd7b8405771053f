/**
 * The probe message of a connection test (ADR 0027): found by its header in a parse result,
 * and marked `Probe: true` in the attributes the archive keeps. Pure; the index stage marks a
 * probe whose header the `ProbeVerifier` confirms and queues no delivery for it, so routes skip
 * it while the archive keeps it (it is mail that passed through).
 */
import type { MessageAttributes } from './attributes.js';
import type { ParseOutcome } from './parse-outcome.js';
import type { ParsedRecord } from './parsed-record.js';

/** The header a probe message carries: `<id>.<mac>`, the id in its Message-ID too. */
export const PROBE_HEADER = 'X-Mailsluice-Probe';

const HEADER_LOWER = PROBE_HEADER.toLowerCase();

/** The attributes of an outcome or record (parsed from JSON for a record). */
function attributesOf(outcome: ParseOutcome | ParsedRecord): Partial<MessageAttributes> {
  if ('record' in outcome) return JSON.parse(outcome.attributesJson) as Partial<MessageAttributes>;
  return outcome.ok ? outcome.attributes : (outcome.partial ?? {});
}

/**
 * The probe header's value in `outcome`, or undefined when it has none. A record is looked into
 * only when its JSON names the header at all: the common case costs one substring search.
 */
export function probeHeaderOf(outcome: ParseOutcome | ParsedRecord): string | undefined {
  if ('record' in outcome && !outcome.attributesJson.toLowerCase().includes(HEADER_LOWER)) return undefined;
  let attrs: Partial<MessageAttributes>;
  try {
    attrs = attributesOf(outcome);
  } catch {
    return undefined; // unreadable JSON is the store's to report, not a probe
  }
  return attrs.CustomHeaders?.find((h) => h.Name.toLowerCase() === HEADER_LOWER)?.Value.trim();
}

/** `outcome` with `Probe: true` in its attributes (a copy; the original is not changed). */
export function markProbe(outcome: ParseOutcome | ParsedRecord): ParseOutcome | ParsedRecord {
  if ('record' in outcome) return { ...outcome, attributesJson: JSON.stringify({ ...attributesOf(outcome), Probe: true }) };
  if (outcome.ok) return { ...outcome, attributes: { ...outcome.attributes, Probe: true } };
  return { ...outcome, partial: { ...(outcome.partial ?? {}), Probe: true } };
}
