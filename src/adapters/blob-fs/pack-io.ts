/**
 * What the store, its writer and its compactor share about pack files: the ref syntax, the file
 * names, exact reads and writes over short transfers, and the codec streams.
 *
 * Blob refs have the form `pack-<id>:<offset>:<storedSize>`, e.g. `pack-00000003:16:2210`: the
 * pack file `pack-00000003.mspack` in the store directory, the byte offset of the record header
 * in it, and the length of the stored (compressed) payload that follows the 64-byte header. A
 * staging pack (`stage-<id>`) holds large bodies stored raw until the compactor rewrites them.
 */
import type { FileHandle } from 'node:fs/promises';
import type { Transform } from 'node:stream';
import { constants as zc, createBrotliCompress, createBrotliDecompress, createDeflateRaw, createInflateRaw } from 'node:zlib';
import { MailsluiceError } from '../../core/errors/index.js';
import { PACK_HEADER_SIZE } from './pack-format.js';
import type { CodecName } from './pack-format.js';

/** A pack file's name: kind and id. */
export const PACK_FILE = /^(pack|stage)-(\d{8,})\.mspack$/;
const REF = /^(pack|stage)-(\d{8,}):(\d+):(\d+)$/;

/** A parsed blob ref. */
export interface FsBlobRef {
  /** Pack number. */
  packId: number;
  /** A staging pack (`stage-<id>`: large bodies stored raw until the compactor rewrites them). */
  staging?: boolean;
  /** Offset of the record header in the pack. */
  offset: number;
  /** Length of the stored payload. */
  storedSize: number;
}

/** Formats a pack id as its name inside refs and file names (`pack-00000007`, `stage-00000008`). */
export function packName(packId: number, staging = false): string {
  return `${staging ? 'stage' : 'pack'}-${String(packId).padStart(8, '0')}`;
}

/** Builds the ref string stored in the metadata database for a record. */
export function formatFsBlobRef(ref: FsBlobRef): string {
  return `${packName(ref.packId, ref.staging === true)}:${ref.offset}:${ref.storedSize}`;
}

/** Parses a ref; a string that is not one gives STORE_NOT_FOUND (no blob can live there). */
export function parseFsBlobRef(ref: string): FsBlobRef {
  const m = REF.exec(ref);
  const packId = Number(m?.[2]);
  const offset = Number(m?.[3]);
  const storedSize = Number(m?.[4]);
  if (!m || !Number.isSafeInteger(packId) || !Number.isSafeInteger(offset) || !Number.isSafeInteger(storedSize) || offset < PACK_HEADER_SIZE) {
    throw new MailsluiceError('STORE_NOT_FOUND', `"${ref}" is not a blob ref of the file-system store ((pack|stage)-<id>:<offset>:<storedSize>)`);
  }
  return m[1] === 'stage' ? { packId, staging: true, offset, storedSize } : { packId, offset, storedSize };
}

/** The bytes of a chunk as a Buffer, without a copy. */
export function asBuffer(chunk: Uint8Array): Buffer {
  return Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
}

/** A STORE_CORRUPT error. */
export function corrupt(message: string, cause?: unknown): MailsluiceError {
  return new MailsluiceError('STORE_CORRUPT', message, cause === undefined ? {} : { cause });
}

/** A streaming compressor for `codec`, or null for `none`. */
export function compressorStream(codec: CodecName, level: number): Transform | null {
  if (codec === 'brotli') return createBrotliCompress({ params: { [zc.BROTLI_PARAM_QUALITY]: level, [zc.BROTLI_PARAM_MODE]: zc.BROTLI_MODE_TEXT } });
  if (codec === 'deflate-raw') return createDeflateRaw({ level });
  return null;
}

/** A streaming decompressor for `codec`, or null for `none`. */
export function decompressorStream(codec: CodecName): Transform | null {
  if (codec === 'brotli') return createBrotliDecompress();
  if (codec === 'deflate-raw') return createInflateRaw();
  return null;
}

/** Writes every byte of `buffers` at `position`, looping over short writes. */
export async function writeFully(fh: FileHandle, buffers: Buffer[], position: number): Promise<number> {
  let total = 0;
  let pending = buffers.filter((b) => b.length > 0);
  while (pending.length > 0) {
    const { bytesWritten } = await fh.writev(pending, position + total);
    if (bytesWritten === 0) throw Object.assign(new Error('write made no progress'), { code: 'EIO' });
    total += bytesWritten;
    let skip = bytesWritten;
    const rest: Buffer[] = [];
    for (const b of pending) {
      if (skip >= b.length) skip -= b.length;
      else {
        rest.push(skip > 0 ? b.subarray(skip) : b);
        skip = 0;
      }
    }
    pending = rest;
  }
  return total;
}

/** Reads exactly `length` bytes at `position`, or fewer only at end of file. */
export async function readFully(fh: FileHandle, buf: Buffer, length: number, position: number): Promise<number> {
  let got = 0;
  while (got < length) {
    const { bytesRead } = await fh.read(buf, got, length - got, position + got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return got;
}
