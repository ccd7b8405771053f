/**
 * The blob store read back whole for `mailsluice verify` and the scrub (`BlobScanner`, ADR 0031):
 * each pack from its first byte to its last in large sequential reads (the disk's read-ahead
 * does the rest), every record checked as a read would check it (header CRC, payload CRC, it
 * decompresses, its length, the SHA-256 of its bytes against the one in its header, which is its
 * address), in batches on helper threads (`check-pool.ts`). Records over
 * {@link MAX_BUFFERED_RAW} are streamed through `streamRecord`, so memory stays bounded by one
 * read buffer and the few records being checked, whatever the messages. Past a record whose header cannot be read the scan looks
 * for the next one (`pack-search.ts`) and reports the stretch between as damaged; nothing after
 * it is a torn tail (a crash cut a write short, ADR 0001), which is not a problem. An encrypted
 * record's GCM tag (issue 16, item 1, ADR 0033) is one more check (`record-check.ts`).
 */
import { open, stat } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { basename } from 'node:path';
import { toMailsluiceError } from '../../core/errors/index.js';
import type { BlobScanner, BlobScanOptions, BlobScanTotals, ScannedBlob } from '../../core/ports/archive-check.js';
import type { FsBlobStore } from './fs-blob-store.js';
import { PACK_HEADER_SIZE, PACK_MAGIC, RECORD_HEADER_SIZE, decodeRecordHeader } from './pack-format.js';
import { formatFsBlobRef, packName, parseFsBlobRef, readFully, type FsBlobRef } from './pack-io.js';
import { nextRecordAfter } from './pack-search.js';
import { openPack, streamRecord } from './pack-stream.js';
import { mapFsError } from './fs-error-map.js';
import type { DataKeys } from '../crypto-node/record-cipher.js';
import { CheckPool } from './check-pool.js';

/** Bytes read from a pack at once: large enough for the disk to stream, small enough to hold twice. */
const READ_CHUNK = 8 * 1024 * 1024;
/** Records that decompress to more than this are streamed instead of decompressed whole. */
const MAX_BUFFERED_RAW = 16 * 1024 * 1024;

/** The id in a pack's name (`pack-00000003` → 3). */
function packIdOf(name: string): number {
  return Number(name.slice(name.indexOf('-') + 1));
}

/** Why a large record fails when streamed, or null. */
async function checkStreamed(path: string, ref: FsBlobRef, refText: string, keys: DataKeys | undefined): Promise<string | null> {
  try {
    for await (const chunk of streamRecord(await openPack(path), path, ref, refText, keys)) void chunk;
    return null;
  } catch (err) {
    return toMailsluiceError(err).message;
  }
}

/**
 * One pack's sequential read through one buffer of {@link READ_CHUNK} bytes, reused: a record's
 * bytes are copied out for checking before the next read refills it.
 */
class PackCursor {
  readonly #buf = Buffer.allocUnsafe(READ_CHUNK);
  #start = 0;
  #length = 0;
  bytesRead = 0;
  constructor(
    readonly fh: FileHandle,
    readonly path: string,
    readonly size: number,
  ) {}

  /** Whether `length` bytes at `pos` are not held, so {@link bytes} reads (and overwrites the buffer). */
  private needsRead(pos: number, length: number): boolean {
    return pos < this.#start || pos + length > this.#start + this.#length;
  }

  /** `length` bytes at `pos` if the buffer holds them, else null (then {@link bytes}). */
  held(pos: number, length: number): Buffer | null {
    return this.needsRead(pos, length) ? null : this.#buf.subarray(pos - this.#start, pos - this.#start + length);
  }

  /** `length` (at most {@link READ_CHUNK}) bytes at `pos`, read from disk when not held. */
  async bytes(pos: number, length: number): Promise<Buffer> {
    if (this.needsRead(pos, length)) {
      const n = Math.min(READ_CHUNK, this.size - pos);
      let got: number;
      try {
        got = await readFully(this.fh, this.#buf, n, pos);
      } catch (err) {
        throw mapFsError(err, 'reading', this.path);
      }
      this.#start = pos;
      this.#length = got;
      this.bytesRead += got;
    }
    return this.#buf.subarray(pos - this.#start, pos - this.#start + length);
  }
}

/** {@link BlobScanner} over a {@link FsBlobStore}'s directory. */
export class FsBlobScanner implements BlobScanner {
  /** Per pack (by name) the bytes the last scan covered. */
  readonly #extent = new Map<string, number>();
  #maxIdAtStart = 0;

  constructor(private readonly store: FsBlobStore) {}

  async resolve(ref: string): Promise<string> {
    try {
      const r = parseFsBlobRef(ref);
      if (!r.staging) return ref;
      const to = await this.store.redirects.lookup(r, true);
      return to ? formatFsBlobRef(to) : ref;
    } catch {
      return ref; // malformed, or a redirect without it: judged as a ref with no record
    }
  }

  newerThanScan(ref: string): boolean {
    let r: FsBlobRef;
    try {
      r = parseFsBlobRef(ref);
    } catch {
      return false;
    }
    const extent = this.#extent.get(packName(r.packId, r.staging === true));
    if (extent === undefined) return r.packId > this.#maxIdAtStart;
    return r.offset >= extent;
  }

  async scan(visit: (blob: ScannedBlob) => void, options: BlobScanOptions = {}): Promise<BlobScanTotals> {
    const paths = await this.store.listPacks();
    const sizes: number[] = [];
    this.#extent.clear();
    for (const p of paths) {
      const name = basename(p, '.mspack');
      // A staging pack the compactor deleted since the listing counts as empty.
      const size = await stat(p).then((st) => st.size, () => 0);
      sizes.push(size);
      this.#extent.set(name, size);
      this.#maxIdAtStart = Math.max(this.#maxIdAtStart, packIdOf(name));
    }
    const totals: BlobScanTotals = { containers: 0, records: 0, bytesRead: 0, rawBytes: 0, damaged: [] };
    const all = sizes.reduce((a, b) => a + b, 0);
    // Keys read per batch: a key added during a long scrub is there for the records after it.
    const pool = new CheckPool(() => this.store.keyring?.keys);
    try {
      for (let i = 0; i < paths.length; i++) {
        if (options.signal?.aborted) break;
        await this.#scanPack(paths[i]!, sizes[i]!, visit, options, totals, all, pool);
        totals.containers++;
      }
      await pool.drain();
    } finally {
      await pool.close();
    }
    return totals;
  }

  async #scanPack(path: string, size: number, visit: (blob: ScannedBlob) => void, options: BlobScanOptions, totals: BlobScanTotals, all: number, pool: CheckPool): Promise<void> {
    const name = basename(path, '.mspack');
    let fh: FileHandle;
    try {
      fh = await open(path, 'r');
    } catch (err) {
      if ((err as { code?: string }).code === 'ENOENT') return; // a staging pack the compactor deleted meanwhile: its records are where its redirect says
      throw mapFsError(err, 'reading', path);
    }
    const cursor = new PackCursor(fh, path, size);
    let counted = 0;
    const account = async (): Promise<void> => {
      const fresh = cursor.bytesRead - counted;
      counted = cursor.bytesRead;
      totals.bytesRead += fresh;
      options.progress?.(totals.bytesRead, all);
      if (fresh > 0) await options.pace?.(fresh);
    };
    try {
      const head = size >= PACK_HEADER_SIZE ? Buffer.from(await cursor.bytes(0, PACK_HEADER_SIZE)) : Buffer.alloc(0);
      let pos = PACK_HEADER_SIZE;
      if (!head.subarray(0, PACK_MAGIC.length).equals(PACK_MAGIC)) {
        totals.damaged.push({ container: name, from: 0, to: size, why: 'pack header is missing', tail: size <= PACK_HEADER_SIZE });
        pos = size;
      }
      while (pos < size && !options.signal?.aborted) {
        // Most records are in the buffer already: no await for them (this loop walks every record).
        const read = (at: number, length: number): Buffer | Promise<Buffer> => cursor.held(at, length) ?? cursor.bytes(at, length);
        const head = pos + RECORD_HEADER_SIZE <= size ? read(pos, RECORD_HEADER_SIZE) : null;
        const h = head === null ? 'record header is cut short' : decodeRecordHeader(head instanceof Buffer ? head : await head);
        const bad = typeof h === 'string' ? h : pos + RECORD_HEADER_SIZE + h.storedSize > size ? 'record runs past the end of the pack' : null;
        if (bad !== null || typeof h === 'string') {
          const next = await nextRecordAfter(path, pos, size);
          totals.damaged.push({ container: name, from: pos, to: next < 0 ? size : next, why: `${bad ?? 'unreadable record'} at offset ${pos}`, tail: next < 0 });
          if (next < 0) break;
          pos = next;
          continue;
        }
        const ref = { packId: packIdOf(name), ...(name.startsWith('stage-') ? { staging: true } : {}), offset: pos, storedSize: h.storedSize };
        const refText = formatFsBlobRef(ref);
        const whole = RECORD_HEADER_SIZE + h.storedSize <= READ_CHUNK && h.rawSize <= MAX_BUFFERED_RAW;
        const seen = (problem: string | null): void => {
          totals.records++;
          if (problem === null) totals.rawBytes += h.rawSize;
          visit({ ref: refText, sha256: h.sha256, size: h.rawSize, storedSize: h.storedSize, problem });
        };
        if (whole) {
          // The reads stay in order on this loop; the checks run on the pool's threads.
          const record = read(pos, RECORD_HEADER_SIZE + h.storedSize);
          const wait = pool.add(record instanceof Buffer ? record : await record, refText, seen);
          if (wait) await wait;
        } else {
          // In disk order: what is queued is handed on first.
          await pool.drain();
          seen(await checkStreamed(path, ref, refText, this.store.keyring?.keys));
          cursor.bytesRead += RECORD_HEADER_SIZE + h.storedSize;
        }
        // Progress and pace are about bytes read: only a read changes them.
        if (cursor.bytesRead !== counted) await account();
        pos += RECORD_HEADER_SIZE + h.storedSize;
      }
      await account();
    } finally {
      await fh.close();
    }
  }
}
