/**
 * The blob store's helper thread, one script for both of its jobs (`worker-pool.ts` runs it):
 *
 * - **compress**: hashes and compresses buffered bodies off the main thread and returns finished
 *   records (64-byte header + payload), so the main thread only copies them into its write
 *   buffer. Jobs arrive in batches (every put started in one turn of the event loop), so one
 *   message round trip serves several puts (docs/adr/0001-blob-layout.md, "Main-thread cost").
 * - **read**: reads whole records from packs (descriptors kept open), checks CRC-32, decompresses
 *   and verifies SHA-256, and returns each raw blob in an ArrayBuffer of its own (transferred, so
 *   a parser can take it on without a copy).
 *
 * A thread never keeps state between batches except its pack descriptors, which it closes when
 * told to shut down (descriptors are the process's, not the thread's).
 */
import { createHash, hash } from 'node:crypto';
import { parentPort, workerData } from 'node:worker_threads';
import { brotliCompressSync, constants as zc, crc32, deflateRawSync } from 'node:zlib';
import { RECORD_HEADER_SIZE, encodeRecordHeader } from './pack-format.js';
import type { CodecName } from './pack-format.js';
import { ownsItsMemory } from '../../core/ports/blob-store.js';
import { PackReadError, PackReader } from './pack-reader.js';
import type { ReadFailure, ReadJob } from './pack-reader.js';
import { sealPayload } from '../crypto-node/record-cipher.js';
import type { DataKey } from '../crypto-node/record-cipher.js';

/** One body to hash and compress, in one or more pieces that each own their ArrayBuffer (transferred). */
export interface CompressJob {
  id: number;
  body: Uint8Array[];
}

/** A batch sent to the worker. */
export interface CompressBatch {
  codec: CodecName;
  level: number;
  /** Encrypt every record of the batch with this data key after compressing it (ADR 0033). */
  seal?: DataKey | undefined;
  jobs: CompressJob[];
}

/** Where one finished record sits in the reply's `data` (and `payloads`). */
export interface CompressResult {
  id: number;
  sha256: string;
  size: number;
  /** Offset of the record (header + payload, or only the header when `payload` is set) in `data`. */
  offset: number;
  /** Record length: header + stored payload. */
  length: number;
  /**
   * Indexes in `payloads` when the stored payload is the job's own body, its pieces sent back as
   * they came (transferred) instead of copied into `data`: a large body stored raw.
   */
  payload?: number[];
}

/**
 * A raw payload at least this large goes back as its own transferred buffer rather than being
 * copied into the reply: copying the large bodies of a drain (staged raw) doubled their memory
 * traffic and the garbage the main thread collects.
 */
const RETURN_AS_IS_BYTES = 64 * 1024;

function compress(codec: CodecName, level: number, raw: Uint8Array): Uint8Array {
  if (codec === 'brotli') {
    return brotliCompressSync(raw, {
      params: { [zc.BROTLI_PARAM_QUALITY]: level, [zc.BROTLI_PARAM_SIZE_HINT]: raw.length, [zc.BROTLI_PARAM_MODE]: zc.BROTLI_MODE_TEXT },
    });
  }
  if (codec === 'deflate-raw') return deflateRawSync(raw, { level });
  return raw;
}

/** Hashes and compresses a batch; exported for tests and the benchmark. */
export function compressBatch(batch: CompressBatch): { results: CompressResult[]; data: Uint8Array; payloads: Uint8Array[] } {
  const parts: { id: number; sha256: string; size: number; header: Buffer; payload: Uint8Array[]; storedSize: number; asIs: boolean }[] = [];
  const payloads: Uint8Array[] = [];
  let total = 0;
  for (const { id, body: pieces } of batch.jobs) {
    let size = 0;
    for (const p of pieces) size += p.byteLength;
    let sha256: string;
    if (pieces.length === 1) sha256 = hash('sha256', pieces[0]!, 'hex');
    else {
      const h = createHash('sha256');
      for (const p of pieces) h.update(p);
      sha256 = h.digest('hex');
    }
    let codec = batch.codec;
    let payload: Uint8Array[] = pieces;
    if (codec !== 'none') {
      const body = pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces, size);
      const packed = compress(codec, batch.level, body);
      // Already-compressed content: keeping it raw saves space and decompression on read.
      if (packed.length >= size) codec = 'none';
      else payload = [packed];
    }
    if (batch.seal) payload = sealPayload(batch.seal, payload);
    let storedSize = 0;
    let crc = 0;
    for (const p of payload) {
      storedSize += p.byteLength;
      crc = crc32(p, crc);
    }
    const header = encodeRecordHeader({ codec, rawSize: size, storedSize, sha256, payloadCrc: crc, ...(batch.seal ? { encrypted: true } : {}) });
    const asIs = payload === pieces && size >= RETURN_AS_IS_BYTES && pieces.every(ownsItsMemory);
    parts.push({ id, sha256, size, header, payload, storedSize, asIs });
    total += RECORD_HEADER_SIZE + (asIs ? 0 : storedSize);
  }
  // One buffer of its own, so it can be transferred (not copied) back to the main thread.
  const data = new Uint8Array(new ArrayBuffer(total));
  const results: CompressResult[] = [];
  let at = 0;
  for (const p of parts) {
    data.set(p.header, at);
    const length = RECORD_HEADER_SIZE + p.storedSize;
    if (p.asIs) {
      results.push({ id: p.id, sha256: p.sha256, size: p.size, offset: at, length, payload: p.payload.map((_, i) => payloads.length + i) });
      payloads.push(...p.payload);
      at += RECORD_HEADER_SIZE;
    } else {
      let w = at + RECORD_HEADER_SIZE;
      for (const piece of p.payload) {
        data.set(piece, w);
        w += piece.byteLength;
      }
      results.push({ id: p.id, sha256: p.sha256, size: p.size, offset: at, length });
      at += length;
    }
  }
  return { results, data, payloads };
}

/** Reads a batch with `reader`; never throws (failures are per job). */
export function readBatch(reader: PackReader, jobs: ReadJob[]): ReadResult[] {
  return jobs.map((job) => {
    try {
      return { id: job.id, raw: reader.read(job) };
    } catch (err) {
      const failure: ReadFailure = err instanceof PackReadError ? err.failure : { kind: 'corrupt', message: err instanceof Error ? err.message : String(err) };
      return { id: job.id, failure };
    }
  });
}

/** Messages to the thread. */
export type BlobWorkerRequest =
  | { kind: 'compress'; batch: CompressBatch }
  | { kind: 'read'; jobs: ReadJob[] }
  | { kind: 'evict'; path: string }
  | { kind: 'shutdown' };

/** One read job's outcome. */
export type ReadResult = { id: number; raw: Uint8Array } | { id: number; failure: ReadFailure };

/** The thread's reply to one batch. */
export type BlobWorkerReply =
  | { kind: 'compressed'; results: CompressResult[]; data: Uint8Array; payloads: Uint8Array[] }
  | { kind: 'failed'; error: string; ids: number[] }
  | { kind: 'read'; results: ReadResult[] };

/** Marks the worker this module is meant to serve (it may also be imported inside other workers). */
export const BLOB_WORKER_MARK = 'mailsluice-blob-worker';

if (parentPort && (workerData as { role?: string } | undefined)?.role === BLOB_WORKER_MARK) {
  const port = parentPort;
  const reader = new PackReader();
  port.on('message', (msg: BlobWorkerRequest) => {
    if (msg.kind === 'compress') {
      let done: ReturnType<typeof compressBatch>;
      try {
        done = compressBatch(msg.batch);
      } catch (err) {
        port.postMessage({ kind: 'failed', error: err instanceof Error ? err.message : String(err), ids: msg.batch.jobs.map((j) => j.id) } satisfies BlobWorkerReply);
        return;
      }
      const transfer = [done.data.buffer as ArrayBuffer, ...new Set(done.payloads.map((b) => b.buffer as ArrayBuffer))];
      port.postMessage({ kind: 'compressed', ...done } satisfies BlobWorkerReply, transfer);
    } else if (msg.kind === 'read') {
      const results = readBatch(reader, msg.jobs);
      const transfer = results.flatMap((r) => ('raw' in r ? [r.raw.buffer as ArrayBuffer] : []));
      port.postMessage({ kind: 'read', results } satisfies BlobWorkerReply, transfer);
    } else if (msg.kind === 'evict') {
      reader.evict(msg.path);
    } else {
      reader.closeAll();
      port.close();
    }
  });
}
