/**
 * The master key's escrow parts as decisions (issue 16, item 2; docs/encryption.md): what a part
 * file says, how it is read, and when a set of parts may be combined. The splitting itself
 * (Shamir's secret sharing over GF(256)) is the `escrow-shamir` adapter's; this module does no
 * arithmetic and no I/O, and takes the SHA-256 it needs as a function.
 *
 * A part is a small JSON text, printable for a paper copy: the master key's id, its own number,
 * how many parts were made and how many rebuild the key, the share, and a checksum over all of
 * these, so a part mistyped or altered is named before anything is combined.
 */

/** The `format` of a part file; a later layout gets another. */
export const KEY_PART_FORMAT = 'mailsluice-key-part/1';
/** The most parts a key is split into (the field's 255 non-zero points). */
export const MAX_KEY_PARTS = 255;

/** One escrow part of a master key. */
export interface KeyPart {
  /** The master key's id (`masterKeyId`): the key this part belongs to. */
  keyId: string;
  /** This part's number, 1 to `parts`. */
  part: number;
  /** How many parts the key was split into. */
  parts: number;
  /** How many parts rebuild the key. */
  threshold: number;
  /** The share, base64. */
  share: string;
}

/** SHA-256 of a UTF-8 string as 64 hex digits, handed in (the core has no crypto). */
export type Sha256Hex = (text: string) => string;

function checksumOf(p: KeyPart, sha256: Sha256Hex): string {
  return sha256(`${KEY_PART_FORMAT}\n${p.keyId}\n${p.part}\n${p.parts}\n${p.threshold}\n${p.share}`).slice(0, 16);
}

/** Why `parts` and `threshold` cannot split a key, or null: 2 ≤ threshold ≤ parts ≤ 255. */
export function splitRefusal(parts: number, threshold: number): string | null {
  if (!Number.isInteger(parts) || parts < 2 || parts > MAX_KEY_PARTS) return `--parts must be a whole number from 2 to ${MAX_KEY_PARTS}`;
  if (!Number.isInteger(threshold) || threshold < 2 || threshold > parts) return `--threshold must be a whole number from 2 to --parts (${parts})`;
  return null;
}

/** The text of a part file: JSON with a sentence for whoever finds it, and the checksum. */
export function keyPartText(p: KeyPart, sha256: Sha256Hex): string {
  const doc = {
    format: KEY_PART_FORMAT,
    about: `Part ${p.part} of ${p.parts} of mailsluice master key ${p.keyId}; any ${p.threshold} of the parts rebuild the key with "mailsluice keys combine". Keep each part apart from the others and from the backups.`,
    keyId: p.keyId,
    part: p.part,
    parts: p.parts,
    threshold: p.threshold,
    share: p.share,
    checksum: checksumOf(p, sha256),
  };
  return `${JSON.stringify(doc, null, 2)}\n`;
}

/** Reads a part file's text (`name` for the sentence): the part, or why it is no part. */
export function parseKeyPart(text: string, name: string, sha256: Sha256Hex): KeyPart | string {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return `${name} is not a key part (not JSON)`;
  }
  const d = doc as Record<string, unknown>;
  if (typeof d !== 'object' || d === null || d.format !== KEY_PART_FORMAT) return `${name} is not a key part (format is not ${KEY_PART_FORMAT})`;
  const { keyId, part, parts, threshold, share, checksum } = d;
  if (typeof keyId !== 'string' || typeof share !== 'string' || typeof checksum !== 'string' || typeof part !== 'number' || typeof parts !== 'number' || typeof threshold !== 'number') {
    return `${name} is not a key part (a field is missing)`;
  }
  const p: KeyPart = { keyId, part, parts, threshold, share };
  if (splitRefusal(parts, threshold) !== null || !Number.isInteger(part) || part < 1 || part > parts) return `${name} is damaged (its part numbers do not add up)`;
  if (checksumOf(p, sha256) !== checksum) return `${name} is damaged or altered (its checksum does not match)`;
  return p;
}

/**
 * Why `parts` (each with the file it came from) cannot rebuild a key, or null: they must all be
 * of one key and one split, numbered apart, and at least the threshold of them.
 */
export function combineRefusal(parts: readonly { file: string; part: KeyPart }[]): string | null {
  const first = parts[0];
  if (!first) return 'no key parts given';
  const other = parts.find((p) => p.part.keyId !== first.part.keyId);
  if (other) return `the parts are of different keys: ${first.file} is of key ${first.part.keyId}, ${other.file} of key ${other.part.keyId}`;
  const split = parts.find((p) => p.part.parts !== first.part.parts || p.part.threshold !== first.part.threshold);
  if (split) return `the parts are of different splits of key ${first.part.keyId}: ${first.file} is ${first.part.threshold} of ${first.part.parts}, ${split.file} ${split.part.threshold} of ${split.part.parts}`;
  const seen = new Map<number, string>();
  for (const p of parts) {
    const twice = seen.get(p.part.part);
    if (twice !== undefined) return `${twice} and ${p.file} are the same part (${p.part.part} of ${p.part.parts})`;
    seen.set(p.part.part, p.file);
  }
  if (parts.length < first.part.threshold) {
    return `key ${first.part.keyId} needs ${first.part.threshold} of its ${first.part.parts} parts; ${parts.length} given (${[...seen.keys()].sort((a, b) => a - b).join(', ')})`;
  }
  return null;
}
