/**
 * A packed blob's record: a 40-byte header, then the raw bytes. The header makes a pack object
 * self-describing (a scan of the bucket finds every blob and its SHA-256 without the metadata,
 * as blob-fs's packs are) and lets a blob be verified when the caller does not pass its hash.
 *
 * ```
 * 0   4  magic "MSB1"
 * 4   4  raw length, uint32 big-endian (packed bodies are at most packBodyLimit)
 * 8  32  SHA-256 of the raw bytes
 * 40  …  the raw bytes
 * ```
 */
export const PACK_RECORD_HEADER_BYTES = 40;
const MAGIC = Buffer.from('MSB1', 'latin1');

/** The header of a record for `length` raw bytes hashing to `sha256` (hex). */
export function packRecordHeader(length: number, sha256: string): Buffer {
  const h = Buffer.alloc(PACK_RECORD_HEADER_BYTES);
  MAGIC.copy(h, 0);
  h.writeUInt32BE(length, 4);
  Buffer.from(sha256, 'hex').copy(h, 8);
  return h;
}

/** The header's SHA-256 (hex), or a sentence saying why it is not a header for `length` bytes. */
export function readPackRecordHeader(h: Buffer, length: number): { sha256: string } | { problem: string } {
  if (h.length < PACK_RECORD_HEADER_BYTES || !h.subarray(0, 4).equals(MAGIC)) return { problem: 'no record header at the ref\'s offset (the pack was changed)' };
  const stored = h.readUInt32BE(4);
  if (stored !== length) return { problem: `the record header says ${stored} bytes where the ref says ${length}` };
  return { sha256: h.subarray(8, 40).toString('hex') };
}
