/**
 * Synchronous whole-record reads with the integrity checks of the store (record header, payload
 * CRC-32, decompression with a bound, raw size, SHA-256), over pack file descriptors kept open
 * in a small LRU with the pack sizes they were last seen at.
 *
 * Runs on the read lane of the helper threads (`blob-worker.ts`), where blocking is fine, or on the calling
 * thread with `compressionThreads: 0`. A read costs one pread instead of open, fstat, read and
 * close: the size is re-read (fstat) only when a ref points past the size last seen, which is how
 * records appended since are found. Descriptors close themselves after {@link IDLE_CLOSE_MS}
 * without reads, on {@link PackReader.closeAll}, and when a pack is deleted ({@link PackReader.evict}).
 */
import { closeSync, fstatSync, openSync, readvSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { brotliDecompressSync, crc32, inflateRawSync } from 'node:zlib';
import { RECORD_HEADER_SIZE, decodeRecordHeader } from './pack-format.js';
import { ownsItsMemory } from '../../core/ports/blob-store.js';
import { openPayload } from '../crypto-node/record-cipher.js';
import type { DataKeys } from '../crypto-node/record-cipher.js';

/** One whole-blob read. */
export interface ReadJob {
  id: number;
  /** Pack file path. */
  path: string;
  /** Offset of the record header. */
  offset: number;
  /** Stored payload length from the ref. */
  storedSize: number;
  /** Expected hex SHA-256 (lower case). */
  sha256: string;
  /** The ref, for messages. */
  ref: string;
  /**
   * Hash the bytes and compare (the default). False trusts the record header's SHA-256 (checked
   * against `sha256`) with the payload's CRC-32, which still catches torn and corrupted records.
   */
  hash?: boolean;
  /** The archive's data keys, for an encrypted record (ADR 0033). */
  keys?: DataKeys;
}

/** Why a read failed: a file-system error (mapped by the store) or a corrupt record. */
export interface ReadFailure {
  /** `key`: an encrypted record's data key is not among the job's keys (the keyring may have grown since). */
  kind: 'fs' | 'corrupt' | 'key';
  message: string;
  /** errno code of a file-system error. */
  code?: string;
}

/** Thrown by {@link PackReader.read}; plain data, so it crosses a worker boundary. */
export class PackReadError extends Error {
  readonly failure: ReadFailure;
  constructor(failure: ReadFailure) {
    super(failure.message);
    this.failure = failure;
  }
}

/** Open descriptors kept at most (packs roll at 256 MiB, so this covers GiBs of recent mail). */
const MAX_OPEN = 16;
/** Descriptors are closed after this long without a read. */
const IDLE_CLOSE_MS = 2_000;

interface OpenFile {
  fd: number;
  /** Size when last seen; re-read only when a ref points past it. */
  size: number;
}

function fsFailure(err: unknown): PackReadError {
  const code = (err as { code?: unknown } | null)?.code;
  return new PackReadError({ kind: 'fs', message: err instanceof Error ? err.message : String(err), ...(typeof code === 'string' ? { code } : {}) });
}

function corrupt(message: string): PackReadError {
  return new PackReadError({ kind: 'corrupt', message });
}

/** A byte array that owns its whole ArrayBuffer (transferable without detaching anything else). */
function owned(b: Uint8Array): Uint8Array {
  return ownsItsMemory(b) ? b : new Uint8Array(b);
}

/** See the module comment. */
export class PackReader {
  /** Insertion order is recency order (re-inserted on use). */
  readonly #open = new Map<string, OpenFile>();
  #idleTimer: NodeJS.Timeout | null = null;

  #file(path: string): OpenFile {
    const hit = this.#open.get(path);
    if (hit) {
      this.#open.delete(path);
      this.#open.set(path, hit);
      return hit;
    }
    let fd: number;
    try {
      fd = openSync(path, 'r');
    } catch (err) {
      throw fsFailure(err);
    }
    let size: number;
    try {
      size = fstatSync(fd).size;
    } catch (err) {
      closeSync(fd);
      throw fsFailure(err);
    }
    const f = { fd, size };
    this.#open.set(path, f);
    while (this.#open.size > MAX_OPEN) {
      const [oldest] = this.#open.keys();
      if (oldest === undefined) break;
      this.evict(oldest);
    }
    return f;
  }

  #touch(): void {
    if (this.#idleTimer) this.#idleTimer.refresh();
    else {
      this.#idleTimer = setTimeout(() => this.closeAll(), IDLE_CLOSE_MS);
      this.#idleTimer.unref();
    }
  }

  /** Reads and verifies one whole blob; throws {@link PackReadError}. The result owns its ArrayBuffer. */
  read(job: ReadJob): Uint8Array {
    this.#touch();
    const f = this.#file(job.path);
    const end = job.offset + RECORD_HEADER_SIZE + job.storedSize;
    if (end > f.size) {
      // Appended since we last looked? Only then is the size read again.
      try {
        f.size = fstatSync(f.fd).size;
      } catch (err) {
        throw fsFailure(err);
      }
      if (end > f.size) {
        throw corrupt(`record at offset ${job.offset} of ${job.path} (${job.storedSize} stored bytes) runs past the end of the pack (${f.size} bytes)`);
      }
    }
    // Header and payload in buffers of their own (one readv): a payload stored raw is then the
    // blob itself, handed on without a copy.
    const head = Buffer.allocUnsafe(RECORD_HEADER_SIZE);
    const payload = Buffer.allocUnsafeSlow(job.storedSize);
    const total = RECORD_HEADER_SIZE + job.storedSize;
    let got = 0;
    try {
      while (got < total) {
        const n = readvSync(f.fd, got < RECORD_HEADER_SIZE ? [head.subarray(got), payload] : [payload.subarray(got - RECORD_HEADER_SIZE)], job.offset + got);
        if (n === 0) break;
        got += n;
      }
    } catch (err) {
      throw fsFailure(err);
    }
    const header = decodeRecordHeader(got >= RECORD_HEADER_SIZE ? head : head.subarray(0, got));
    if (typeof header === 'string') throw corrupt(`${header} at offset ${job.offset} of ${job.path}`);
    if (header.storedSize !== job.storedSize) {
      throw corrupt(`record at offset ${job.offset} of ${job.path} stores ${header.storedSize} bytes, the ref says ${job.storedSize}`);
    }
    if (got < total) throw corrupt(`record at offset ${job.offset} of ${job.path} is cut short (${got} of ${total} bytes)`);
    if (crc32(payload) >>> 0 !== header.payloadCrc) throw corrupt(`payload checksum of record at offset ${job.offset} of ${job.path} does not match`);
    if (header.sha256 !== job.sha256) throw corrupt(`record at ${job.ref} in ${job.path} holds blob ${header.sha256}, not ${job.sha256}`);
    let compressed: Uint8Array = payload;
    if (header.encrypted === true) {
      const id = payload.length >= 4 ? payload.readUInt32LE(0) : 0;
      if (job.keys !== undefined && !job.keys.has(id)) {
        throw new PackReadError({ kind: 'key', message: `record at offset ${job.offset} of ${job.path} does not decrypt: its data key ${id} is not in the keyring` });
      }
      const opened = openPayload(job.keys, payload);
      if (typeof opened === 'string') throw corrupt(`record at offset ${job.offset} of ${job.path} does not decrypt: ${opened}`);
      compressed = opened;
    }
    let raw: Uint8Array;
    try {
      // maxOutputLength stops a corrupted header from inflating without bound.
      const maxOutputLength = Math.max(1, header.rawSize);
      raw =
        header.codec === 'brotli'
          ? brotliDecompressSync(compressed, { maxOutputLength })
          : header.codec === 'deflate-raw'
            ? inflateRawSync(compressed, { maxOutputLength })
            : compressed;
    } catch (err) {
      throw corrupt(`blob ${job.sha256} at ${job.ref} in ${job.path} does not decompress: ${err instanceof Error ? err.message : String(err)}`);
    }
    if (raw.length !== header.rawSize) throw corrupt(`blob ${job.sha256} at ${job.ref} in ${job.path} is ${raw.length} bytes, expected ${header.rawSize}`);
    if (job.hash !== false) {
      const actual = createHash('sha256').update(raw).digest('hex');
      if (actual !== job.sha256) throw corrupt(`blob at ${job.ref} in ${job.path} hashes to ${actual}, expected ${job.sha256}`);
    }
    return owned(raw);
  }

  /** Closes the descriptor of one pack, if open (before it is deleted, or when evicted). */
  evict(path: string): void {
    const f = this.#open.get(path);
    if (!f) return;
    this.#open.delete(path);
    try {
      closeSync(f.fd);
    } catch {
      // Nothing to do: the descriptor is gone either way.
    }
  }

  /** Closes every descriptor (idle, store closed, worker shutting down). */
  closeAll(): void {
    for (const path of [...this.#open.keys()]) this.evict(path);
    if (this.#idleTimer) clearTimeout(this.#idleTimer);
    this.#idleTimer = null;
  }

  /** Open descriptors (for tests). */
  get openCount(): number {
    return this.#open.size;
  }
}
