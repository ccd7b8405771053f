/**
 * Streams one record of a pack back, decompressed, in bounded memory, checking it as it flows:
 * a mismatch (payload CRC, size or SHA-256 against the record header) rejects the iteration with
 * STORE_CORRUPT at its end, so a consumer must not treat the bytes as good before it finishes.
 * Used by `FsBlobStore.stream` (export of large messages) and by the compactor, which reads each
 * staged record through it while writing the compressed copy.
 */
import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { Readable, pipeline as pipelineCb } from 'node:stream';
import { crc32 } from 'node:zlib';
import { MailsluiceError } from '../../core/errors/index.js';
import { RECORD_HEADER_SIZE, decodeRecordHeader } from './pack-format.js';
import type { RecordHeader } from './pack-format.js';
import { corrupt, decompressorStream, readFully } from './pack-io.js';
import type { FsBlobRef } from './pack-io.js';
import { mapFsError } from './fs-error-map.js';
import { RecordCipherError, openStream } from '../crypto-node/record-cipher.js';
import type { DataKeys } from '../crypto-node/record-cipher.js';

/** Read size when streaming a blob back. */
const READ_CHUNK_BYTES = 256 * 1024;

/** Opens a pack for reading; a missing file is STORE_NOT_FOUND (see `mapFsError`). */
export async function openPack(path: string): Promise<FileHandle> {
  try {
    return await open(path, 'r');
  } catch (err) {
    throw mapFsError(err, 'reading', path);
  }
}

/**
 * Streams the record `ref` of the open pack `fh` (at `path`); `refText` names it in messages;
 * `keys` decrypt an encrypted record (ADR 0033). Closes `fh` at the end.
 */
export async function* streamRecord(fh: FileHandle, path: string, ref: FsBlobRef, refText: string, keys?: DataKeys): AsyncGenerator<Uint8Array> {
  try {
    await checkExtent(fh, ref, path);
    const hbuf = Buffer.alloc(RECORD_HEADER_SIZE);
    let got: number;
    try {
      got = await readFully(fh, hbuf, RECORD_HEADER_SIZE, ref.offset);
    } catch (err) {
      throw mapFsError(err, 'reading', path);
    }
    const header = checkHeader(hbuf.subarray(0, got), ref, path);
    const payload = payloadChunks(fh, path, ref);
    const stored: AsyncIterable<Buffer> = header.encrypted === true ? openStream(keys, payload.chunks) : payload.chunks;
    const decompressor = decompressorStream(header.codec);
    let pipeError: unknown;
    const source: AsyncIterable<Buffer> = decompressor
      ? pipelineCb(Readable.from(stored), decompressor, (err) => {
          if (err) pipeError = err;
        })
      : stored;
    const hash = createHash('sha256');
    let size = 0;
    try {
      for await (const chunk of source) {
        size += chunk.length;
        if (size > header.rawSize) throw corrupt(`blob at ${refText} in ${path} is longer than its recorded ${header.rawSize} bytes`);
        hash.update(chunk);
        yield chunk;
      }
    } catch (err) {
      if (err instanceof MailsluiceError) throw err;
      if (err instanceof RecordCipherError) throw corrupt(`record at offset ${ref.offset} of ${path} does not decrypt: ${err.message}`);
      throw corrupt(`blob at ${refText} in ${path} does not decompress`, err);
    } finally {
      if (decompressor && !decompressor.destroyed) decompressor.destroy();
    }
    if (pipeError instanceof MailsluiceError) throw pipeError;
    if (pipeError instanceof RecordCipherError) throw corrupt(`record at offset ${ref.offset} of ${path} does not decrypt: ${pipeError.message}`);
    if (pipeError) throw corrupt(`blob at ${refText} in ${path} does not decompress`, pipeError);
    if (payload.crc() >>> 0 !== header.payloadCrc) throw corrupt(`payload checksum of record at offset ${ref.offset} of ${path} does not match`);
    if (size !== header.rawSize) throw corrupt(`blob at ${refText} in ${path} is ${size} bytes, expected ${header.rawSize}`);
    const actual = hash.digest('hex');
    if (actual !== header.sha256) throw corrupt(`blob at ${refText} in ${path} hashes to ${actual}, expected ${header.sha256}`);
  } finally {
    await fh.close();
  }
}

/** The stored payload in chunks, with its CRC-32 so far. */
function payloadChunks(fh: FileHandle, path: string, ref: FsBlobRef): { chunks: AsyncGenerator<Buffer>; crc: () => number } {
  let crc = 0;
  const chunks = async function* (): AsyncGenerator<Buffer> {
    const end = ref.offset + RECORD_HEADER_SIZE + ref.storedSize;
    for (let pos = ref.offset + RECORD_HEADER_SIZE; pos < end; ) {
      const buf = Buffer.allocUnsafe(Math.min(READ_CHUNK_BYTES, end - pos));
      let n: number;
      try {
        n = await readFully(fh, buf, buf.length, pos);
      } catch (err) {
        throw mapFsError(err, 'reading', path);
      }
      if (n < buf.length) throw corrupt(`record at offset ${ref.offset} of ${path} is cut short`);
      crc = crc32(buf, crc);
      pos += n;
      yield buf;
    }
  };
  return { chunks: chunks(), crc: () => crc };
}

/** Rejects a ref that points past the end of its pack before anything is allocated for it. */
async function checkExtent(fh: FileHandle, ref: FsBlobRef, path: string): Promise<void> {
  let size: number;
  try {
    size = (await fh.stat()).size;
  } catch (err) {
    throw mapFsError(err, 'reading', path);
  }
  if (ref.offset + RECORD_HEADER_SIZE + ref.storedSize > size) {
    throw corrupt(`record at offset ${ref.offset} of ${path} (${ref.storedSize} stored bytes) runs past the end of the pack (${size} bytes)`);
  }
}

function checkHeader(buf: Buffer, ref: FsBlobRef, path: string): RecordHeader {
  const header = decodeRecordHeader(buf);
  if (typeof header === 'string') throw corrupt(`${header} at offset ${ref.offset} of ${path}`);
  if (header.storedSize !== ref.storedSize) {
    throw corrupt(`record at offset ${ref.offset} of ${path} stores ${header.storedSize} bytes, the ref says ${ref.storedSize}`);
  }
  return header;
}
