/**
 * One pack record held whole, checked as a read would check it (ADR 0031): payload CRC-32, the
 * GCM tag of an encrypted one (ADR 0033), that it decompresses to the length its header gives,
 * and the SHA-256 of those bytes against its address. Synchronous, for `verify-worker.ts`: a
 * small record's check is mostly fixed cost, which a batch on a helper thread pays without a
 * threadpool round trip per record, and which a decoder kept across records (`record-inflater.ts`)
 * mostly removes.
 */
import { hash } from 'node:crypto';
import { brotliDecompressSync, crc32, inflateRawSync } from 'node:zlib';
import type { RecordHeader } from './pack-format.js';
import { openPayload, type DataKeys } from '../crypto-node/record-cipher.js';
import type { RecordInflater } from './record-inflater.js';

/** zlib's output chunk when the raw size is unknown or large; a small record gets one chunk of its own size. */
const DEFAULT_CHUNK = 64 * 1024;

/**
 * Why the record `stored` (its payload as in the pack, header `h`, at `ref`) fails, or null.
 * With `inflater`, a record is first decompressed through it; only bytes that hash to the
 * record's address are taken from it as a verdict: anything else is judged again with zlib's
 * public functions, whose sentence is the answer.
 */
export function checkRecord(h: RecordHeader, stored: Uint8Array, ref: string, keys: DataKeys | undefined, inflater?: RecordInflater): string | null {
  if (crc32(stored) >>> 0 !== h.payloadCrc) return `payload checksum of ${ref} does not match`;
  let payload: Uint8Array = stored;
  if (h.encrypted === true) {
    const opened = openPayload(keys, stored);
    if (typeof opened === 'string') return `${ref} does not decrypt: ${opened}`;
    payload = opened;
  }
  if (inflater && h.codec !== 'none') {
    const fast = inflater.inflate(h.codec, payload, h.rawSize);
    if (fast !== null && hash('sha256', fast, 'hex') === h.sha256) return null;
  }
  let raw: Uint8Array;
  try {
    // One more byte than the header says: a record that decompresses longer is caught, not cut.
    const limit = Math.max(1, h.rawSize + 1);
    const options = { maxOutputLength: limit, chunkSize: Math.max(64, Math.min(DEFAULT_CHUNK, limit)) };
    raw = h.codec === 'brotli' ? brotliDecompressSync(payload, options) : h.codec === 'deflate-raw' ? inflateRawSync(payload, options) : payload;
  } catch {
    return `${ref} does not decompress`;
  }
  if (raw.length !== h.rawSize) return `${ref} is ${raw.length} bytes, its header says ${h.rawSize}`;
  const actual = hash('sha256', raw, 'hex');
  return actual === h.sha256 ? null : `${ref} hashes to ${actual}, not its address ${h.sha256}`;
}
