/**
 * A packed blob's record: a 40-byte header, then the payload. The header makes a pack object
 * self-describing (a scan of the bucket finds every blob and its SHA-256 without the metadata,
 * as blob-fs's packs are) and lets a blob be verified when the caller does not pass its hash.
 *
 * ```
 * 0   4  magic "MSB1" (payload: the raw bytes) or "MSE1" (payload: the raw bytes sealed with
 *        AES-256-GCM, `crypto-node/record-cipher.ts`: 16 bytes of key number and nonce, the
 *        ciphertext, the 16-byte tag; ADR 0033's format)
 * 4   4  raw length, uint32 big-endian (packed bodies are at most packBodyLimit)
 * 8  32  SHA-256 of the raw bytes
 * 40  …  the payload
 * ```
 */
import { SEAL_OVERHEAD } from '../crypto-node/record-cipher.js';

export const PACK_RECORD_HEADER_BYTES = 40;
const MAGIC = Buffer.from('MSB1', 'latin1');
const SEALED_MAGIC = Buffer.from('MSE1', 'latin1');

/** The header of a record for `length` raw bytes hashing to `sha256` (hex), its payload sealed or not. */
export function packRecordHeader(length: number, sha256: string, sealed = false): Buffer {
  const h = Buffer.alloc(PACK_RECORD_HEADER_BYTES);
  (sealed ? SEALED_MAGIC : MAGIC).copy(h, 0);
  h.writeUInt32BE(length, 4);
  Buffer.from(sha256, 'hex').copy(h, 8);
  return h;
}

/** A record header read: the blob's SHA-256 (hex), raw length, and whether the payload is sealed. */
export interface PackRecordHeader {
  sha256: string;
  rawLength: number;
  sealed: boolean;
}

/**
 * The header of a record whose payload is `stored` bytes (the ref's length), or a sentence saying
 * why it is not one.
 */
export function readPackRecordHeader(h: Buffer, stored: number): PackRecordHeader | { problem: string } {
  if (h.length < PACK_RECORD_HEADER_BYTES) return { problem: 'no record header at the ref\'s offset (the pack was changed)' };
  const magic = h.subarray(0, 4);
  const sealed = magic.equals(SEALED_MAGIC);
  if (!sealed && !magic.equals(MAGIC)) return { problem: 'no record header at the ref\'s offset (the pack was changed)' };
  const rawLength = h.readUInt32BE(4);
  const expect = sealed ? rawLength + SEAL_OVERHEAD : rawLength;
  if (expect !== stored) return { problem: `the record header says ${rawLength} bytes${sealed ? ' sealed' : ''} where the ref says ${stored} are stored` };
  return { sha256: h.subarray(8, 40).toString('hex'), rawLength, sealed };
}
