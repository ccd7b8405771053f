/**
 * Looks for a whole record header past a point in a pack: how the compactor tells a torn tail
 * (nothing valid after the first bad record: written after the last sync, never referenced) from
 * damage in the middle of a pack (a valid record follows), which it must not delete.
 */
import { open } from 'node:fs/promises';
import { RECORD_HEADER_SIZE, decodeRecordHeader } from './pack-format.js';

/** "MSLR", the record magic as it appears on disk. */
const RECORD_MAGIC_BYTES = Buffer.from('MSLR', 'latin1');
const CHUNK = 1 << 20;

/**
 * Whether a record header that decodes (magic, version, codec, header CRC-32) and fits in the
 * file starts anywhere after `from`. Reads in bounded chunks.
 */
export async function findRecordAfter(path: string, from: number): Promise<boolean> {
  return (await nextRecordAfter(path, from)) !== -1;
}

/**
 * The offset of the first record header that decodes and fits in the file (or its first `end`
 * bytes) after `from`, or -1: where a scan picks up again past damage in the middle of a pack
 * (`pack-verify.ts`, which passes the size it started with: a pack a writer appends to meanwhile
 * must not turn its torn tail into damage).
 */
export async function nextRecordAfter(path: string, from: number, end?: number): Promise<number> {
  const fh = await open(path, 'r');
  try {
    const size = Math.min((await fh.stat()).size, end ?? Number.MAX_SAFE_INTEGER);
    const buf = Buffer.alloc(CHUNK + RECORD_HEADER_SIZE);
    for (let base = from + 1; base + RECORD_HEADER_SIZE <= size; base += CHUNK) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, base);
      const view = buf.subarray(0, bytesRead);
      for (let at = view.indexOf(RECORD_MAGIC_BYTES); at !== -1 && at < CHUNK; at = view.indexOf(RECORD_MAGIC_BYTES, at + 1)) {
        if (at + RECORD_HEADER_SIZE > view.length) break;
        const h = decodeRecordHeader(view.subarray(at, at + RECORD_HEADER_SIZE));
        if (typeof h !== 'string' && base + at + RECORD_HEADER_SIZE + h.storedSize <= size) return base + at;
      }
    }
    return -1;
  } finally {
    await fh.close();
  }
}
