/**
 * The master key's escrow parts on disk (issue 16, item 2; docs/encryption.md): Shamir's secret
 * sharing over GF(256) by `shamir-secret-sharing` (Privy's, audited, no dependencies:
 * docs/dependencies.md), the part files written 0600 and never over a file. What a part says and
 * when parts may be combined is `core/archive/key-escrow.ts`.
 *
 * The library cannot tell fewer parts than the threshold from enough: it interpolates whatever it
 * is given and answers a wrong key. So the set is checked first (`combineRefusal`), and the key
 * rebuilt is checked against the key id the parts carry.
 */
import { hash } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import { combine, split } from 'shamir-secret-sharing';
import { MailsluiceError } from '../../core/errors/index.js';
import { combineRefusal, keyPartText, parseKeyPart, splitRefusal, type KeyPart } from '../../core/archive/key-escrow.js';
import { keyIdOfDigest } from '../../core/archive/encryption.js';
import { writeNewPrivateFile } from '../fs-node/private-files.js';
import { keyPartFile } from './shamir-escrow-config.js';
import { partUnreadable, partWriteError, partsInvalid } from './shamir-error-map.js';

const sha256Hex = (text: string): string => hash('sha256', text, 'hex');


/**
 * Splits `key` into `parts` part files of which any `threshold` rebuild it (`keyPartFile` names
 * them); none is written when one exists already, and those written are removed again when a
 * later one fails. Answers the files.
 */
export async function writeKeyParts(key: Uint8Array, out: string, parts: number, threshold: number): Promise<string[]> {
  const refusal = splitRefusal(parts, threshold);
  if (refusal) throw new MailsluiceError('CLI_USAGE', refusal);
  const keyId = keyIdOfDigest(hash('sha256', key, 'hex'));
  // The library checks the constructor itself: a Buffer is refused, a plain Uint8Array taken.
  const shares = await split(new Uint8Array(key), parts, threshold);
  const written: string[] = [];
  try {
    for (let i = 0; i < parts; i++) {
      const file = keyPartFile(out, i + 1, parts);
      const part: KeyPart = { keyId, part: i + 1, parts, threshold, share: Buffer.from(shares[i]!).toString('base64') };
      await writeNewPrivateFile(file, keyPartText(part, sha256Hex)).catch((err: unknown) => {
        throw partWriteError(file, err);
      });
      written.push(file);
    }
  } catch (err) {
    // Half a split is no escrow: nothing is left of it.
    await Promise.all(written.map((f) => rm(f, { force: true })));
    throw err;
  }
  return written;
}

/** Reads part files; throws KEY_PARTS_INVALID naming the first that is unreadable or no part. */
export async function readKeyParts(files: readonly string[]): Promise<{ file: string; part: KeyPart }[]> {
  const out: { file: string; part: KeyPart }[] = [];
  for (const file of files) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      throw partUnreadable(file, err);
    }
    const part = parseKeyPart(text, file, sha256Hex);
    if (typeof part === 'string') throw partsInvalid(part);
    out.push({ file, part });
  }
  return out;
}

/**
 * Rebuilds the master key from `parts` (as `readKeyParts` answers them); throws
 * KEY_PARTS_INVALID when they are too few, of different keys or splits, or do not rebuild the
 * key they name. Answers the key and its id.
 */
export async function combineKeyParts(parts: readonly { file: string; part: KeyPart }[]): Promise<{ key: Buffer; keyId: string }> {
  const refusal = combineRefusal(parts);
  if (refusal) throw partsInvalid(refusal);
  const keyId = parts[0]!.part.keyId;
  let key: Buffer;
  try {
    key = Buffer.from(await combine(parts.map((p) => new Uint8Array(Buffer.from(p.part.share, 'base64')))));
  } catch (err) {
    throw partsInvalid(`the parts do not rebuild key ${keyId} (${(err as Error).message})`, err);
  }
  const rebuilt = keyIdOfDigest(hash('sha256', key, 'hex'));
  if (rebuilt !== keyId) throw partsInvalid(`the parts do not rebuild key ${keyId} (they give key ${rebuilt}): a part was altered after its checksum was made`);
  return { key, keyId };
}
