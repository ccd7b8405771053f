/**
 * The blob store's read thread: reads whole records from packs (descriptors kept open), checks
 * CRC-32, decompresses and verifies SHA-256 off the main thread, and returns each raw blob in an
 * ArrayBuffer of its own (transferred, so a parser can take it on without a copy).
 *
 * Runs as a `worker_threads` worker started by `read-pool.ts`.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { PackReadError, PackReader } from './pack-reader.js';
import type { ReadFailure, ReadJob } from './pack-reader.js';

/** Messages to the read worker. */
export type ReadRequest = { kind: 'read'; jobs: ReadJob[] } | { kind: 'evict'; path: string } | { kind: 'shutdown' };

/** One job's outcome. */
export type ReadResult = { id: number; raw: Uint8Array } | { id: number; failure: ReadFailure };

/** The reply to one batch of reads. */
export interface ReadReply {
  results: ReadResult[];
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

/** Marks the worker this module is meant to serve. */
export const READ_WORKER_MARK = 'mailsluice-blob-read';

if (parentPort && (workerData as { role?: string } | undefined)?.role === READ_WORKER_MARK) {
  const port = parentPort;
  const reader = new PackReader();
  port.on('message', (msg: ReadRequest) => {
    if (msg.kind === 'read') {
      const results = readBatch(reader, msg.jobs);
      const transfer = results.flatMap((r) => ('raw' in r ? [r.raw.buffer as ArrayBuffer] : []));
      port.postMessage({ results } satisfies ReadReply, transfer);
    } else if (msg.kind === 'evict') {
      reader.evict(msg.path);
    } else {
      // Descriptors are the process's, not the thread's: close them before the thread ends.
      reader.closeAll();
      port.close();
    }
  });
}
