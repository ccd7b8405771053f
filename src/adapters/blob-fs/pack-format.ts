/**
 * The on-disk pack format. Kept apart from the store so that an index rebuild or `fsck` can
 * read packs without a running store.
 *
 * A pack is a 16-byte file header followed by records. Every record is self-describing, so the
 * metadata index can be rebuilt by scanning packs:
 *
 * ```
 * offset size  field
 *      0    4  magic "MSLR"
 *      4    1  format version (1)
 *      5    1  codec (0 none, 1 deflate-raw, 2 brotli)
 *      6    2  flags (bit 0: payload encrypted, `record-cipher.ts`, ADR 0033; others 0)
 *      8    8  raw size (u64 LE)
 *     16    8  stored (payload) size (u64 LE)
 *     24   32  SHA-256 of the raw bytes
 *     56    4  CRC-32 of the stored payload
 *     60    4  CRC-32 of header bytes 0..59
 *     64    …  payload (stored size bytes)
 * ```
 *
 * A record whose header is all zeros, fails its CRC, or whose payload runs past the end of the
 * file or fails its CRC is a torn write; scanning stops there.
 */
import { open } from 'node:fs/promises';
import { crc32 } from 'node:zlib';

/** Magic at the start of every pack file ("MSLPACK" + format version 1). */
export const PACK_MAGIC = Buffer.from('MSLPACK\x01', 'latin1');
/** Size of the pack file header; the first record starts here. */
export const PACK_HEADER_SIZE = 16;
/** Size of a record header. */
export const RECORD_HEADER_SIZE = 64;
const RECORD_MAGIC = 0x524c534d; // "MSLR" read as u32 LE
const RECORD_VERSION = 1;

/** Codec ids as stored in a record header; never renumber (old packs must stay readable). */
export const CODEC_IDS = { none: 0, 'deflate-raw': 1, brotli: 2 } as const;
/** A codec name. */
export type CodecName = keyof typeof CODEC_IDS;

/** The fields of one record header. */
export interface RecordHeader {
  /** How the payload is compressed. */
  codec: CodecName;
  /** Size of the raw (uncompressed) message. */
  rawSize: number;
  /** Size of the payload as stored. */
  storedSize: number;
  /** Hex SHA-256 of the raw bytes. */
  sha256: string;
  /** CRC-32 of the stored payload. */
  payloadCrc: number;
  /** The payload is the compressed bytes encrypted with AES-256-GCM (`record-cipher.ts`); absent: in clear. */
  encrypted?: boolean;
}
const FLAG_ENCRYPTED = 0x0001;

/** Builds the pack file header. */
export function encodePackHeader(): Buffer {
  const b = Buffer.alloc(PACK_HEADER_SIZE);
  PACK_MAGIC.copy(b, 0);
  return b;
}

/** Encodes a record header into 64 bytes. */
export function encodeRecordHeader(h: RecordHeader): Buffer {
  const b = Buffer.alloc(RECORD_HEADER_SIZE);
  b.writeUInt32LE(RECORD_MAGIC, 0);
  b.writeUInt8(RECORD_VERSION, 4);
  b.writeUInt8(CODEC_IDS[h.codec], 5);
  b.writeUInt16LE(h.encrypted === true ? FLAG_ENCRYPTED : 0, 6);
  b.writeBigUInt64LE(BigInt(h.rawSize), 8);
  b.writeBigUInt64LE(BigInt(h.storedSize), 16);
  Buffer.from(h.sha256, 'hex').copy(b, 24);
  b.writeUInt32LE(h.payloadCrc >>> 0, 56);
  b.writeUInt32LE(crc32(b.subarray(0, 60)) >>> 0, 60);
  return b;
}

/** Decodes a record header, or returns a sentence saying why it is not one. */
export function decodeRecordHeader(b: Buffer): RecordHeader | string {
  if (b.length < RECORD_HEADER_SIZE) return 'record header is cut short';
  if (b.readUInt32LE(0) !== RECORD_MAGIC) return 'record magic is missing';
  if (b.readUInt32LE(60) !== crc32(b.subarray(0, 60)) >>> 0) return 'record header checksum does not match';
  if (b.readUInt8(4) !== RECORD_VERSION) return `unknown record version ${b.readUInt8(4)}`;
  const codecId = b.readUInt8(5);
  const codec = (Object.keys(CODEC_IDS) as CodecName[]).find((k) => CODEC_IDS[k] === codecId);
  if (codec === undefined) return `unknown codec id ${codecId}`;
  const flags = b.readUInt16LE(6);
  if ((flags & ~FLAG_ENCRYPTED) !== 0) return `unknown record flags ${flags}`;
  const rawSize = b.readBigUInt64LE(8);
  const storedSize = b.readBigUInt64LE(16);
  if (rawSize > BigInt(Number.MAX_SAFE_INTEGER) || storedSize > BigInt(Number.MAX_SAFE_INTEGER)) return 'record sizes are out of range';
  return {
    codec,
    rawSize: Number(rawSize),
    storedSize: Number(storedSize),
    sha256: b.subarray(24, 56).toString('hex'),
    payloadCrc: b.readUInt32LE(56),
    ...((flags & FLAG_ENCRYPTED) !== 0 ? { encrypted: true } : {}),
  };
}

/** One valid record found by {@link scanPack}. */
export interface ScannedRecord extends RecordHeader {
  /** Offset of the record header in the pack. */
  offset: number;
}

/** What {@link scanPack} found. */
export interface PackScan {
  /** Number of valid records. */
  records: number;
  /** Offset just past the last valid record; everything after it is a torn write. */
  validEnd: number;
  /** Size of the file. */
  fileSize: number;
  /** Why scanning stopped before the end of the file, when it did (a torn tail after a crash). */
  tornTail: string | null;
}

/**
 * Reads a pack from start to end, checking every record, and calls `onRecord` for each valid one.
 * Reads in bounded chunks, so packs of any size scan in constant memory.
 */
export async function scanPack(path: string, onRecord?: (r: ScannedRecord) => void | Promise<void>): Promise<PackScan> {
  const fh = await open(path, 'r');
  try {
    const fileSize = (await fh.stat()).size;
    const head = Buffer.alloc(PACK_HEADER_SIZE);
    await fh.read(head, 0, PACK_HEADER_SIZE, 0);
    if (fileSize < PACK_HEADER_SIZE || !head.subarray(0, PACK_MAGIC.length).equals(PACK_MAGIC)) {
      return { records: 0, validEnd: 0, fileSize, tornTail: 'pack header is missing' };
    }
    let pos = PACK_HEADER_SIZE;
    let records = 0;
    const hdr = Buffer.alloc(RECORD_HEADER_SIZE);
    const chunk = Buffer.alloc(1 << 20);
    while (pos < fileSize) {
      const { bytesRead } = await fh.read(hdr, 0, RECORD_HEADER_SIZE, pos);
      const h = decodeRecordHeader(hdr.subarray(0, bytesRead));
      if (typeof h === 'string') return { records, validEnd: pos, fileSize, tornTail: `${h} at offset ${pos}` };
      const end = pos + RECORD_HEADER_SIZE + h.storedSize;
      if (end > fileSize) return { records, validEnd: pos, fileSize, tornTail: `record at offset ${pos} runs past the end of the pack` };
      let crc = 0;
      for (let p = pos + RECORD_HEADER_SIZE; p < end; ) {
        const n = Math.min(chunk.length, end - p);
        const r = await fh.read(chunk, 0, n, p);
        if (r.bytesRead === 0) break;
        crc = crc32(chunk.subarray(0, r.bytesRead), crc);
        p += r.bytesRead;
      }
      if (crc >>> 0 !== h.payloadCrc) return { records, validEnd: pos, fileSize, tornTail: `payload checksum of record at offset ${pos} does not match` };
      await onRecord?.({ ...h, offset: pos });
      records++;
      pos = end;
    }
    return { records, validEnd: pos, fileSize, tornTail: null };
  } finally {
    await fh.close();
  }
}
