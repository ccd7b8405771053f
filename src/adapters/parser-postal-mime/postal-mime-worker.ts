/**
 * Worker-thread entry of the postal-mime parser: receives raw messages, answers with outcomes.
 * Runs only as a worker (started by postal-mime-parser.ts); importing it elsewhere does nothing.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { ParseLimits } from '../../core/message/limits.js';
import type { ParseOutcome } from '../../core/ports/message-parser.js';
import { toParsedRecord, type ParsedRecord } from '../../core/message/parsed-record.js';
import { parseToOutcome } from './postal-mime-attributes.js';
import { installWorkerBlob } from './worker-blob.js';
import { findAttachmentContents } from './attachment-finder.js';
import { ownsItsMemory } from '../../core/ports/blob-store.js';

/** Jobs sent to the worker in one message; it parses them in order. */
export interface WorkerRequest {
  /**
   * `raw` arrives as a copy (small) or a transferred ArrayBuffer view (large). A job with `find`
   * is not a parse: it asks for the decoded bytes of the attachments with these SHA-256 hashes.
   */
  jobs: Array<{ id: number; raw: Uint8Array; record: boolean; find?: string[] }>;
}

/**
 * The worker's answer to one job, posted as soon as that job is parsed: the outcome, or for a
 * `record` job the record the store saves (flat strings: cheaper to clone than the attribute
 * tree, and formatted here rather than on the main thread).
 */
export type WorkerResponse =
  | { id: number; outcome: ParseOutcome; record?: undefined }
  | { id: number; outcome?: undefined; record: ParsedRecord }
  /** A `find` job's answer: the attachments found, by hash, their bytes transferred. */
  | { id: number; outcome?: undefined; record?: undefined; found: Array<[sha256: string, bytes: Uint8Array]> }
  /** Sent once the thread has loaded its modules: parse time limits start counting from here. */
  | { ready: true };

/** Data the pool hands each worker at start. */
export interface WorkerInit {
  limits: ParseLimits;
}

const port = parentPort;
if (port) {
  // postal-mime joins every part's chunks through the global Blob; in this thread that is a
  // plain in-memory join (worker-blob.ts explains why this is safe and how it is guarded).
  installWorkerBlob();
  const { limits } = workerData as WorkerInit;
  // One job at a time, in the order given: the pool times each job from the previous answer.
  const queue: WorkerRequest['jobs'] = [];
  let running = false;
  const run = async (): Promise<void> => {
    running = true;
    for (let job = queue.shift(); job; job = queue.shift()) {
      if (job.find) {
        // findAttachmentContents never rejects for bad mail; a bug answers with nothing found.
        const found = await findAttachmentContents(job.raw, new Set(job.find)).catch(() => new Map<string, Uint8Array>());
        // Each answer owns its bytes, so they move to the pool's thread without a copy.
        const pairs = [...found].map(([h, b]): [string, Uint8Array] => [h, ownsItsMemory(b) ? b : new Uint8Array(b)]);
        port.postMessage({ id: job.id, found: pairs } satisfies WorkerResponse, pairs.map(([, b]) => b.buffer as ArrayBuffer));
        continue;
      }
      // parseToOutcome never rejects; the catch is a last line so a bug answers the job
      // instead of leaving it to the time limit.
      const outcome = await parseToOutcome(job.raw, limits).catch(
        (err: unknown): ParseOutcome => ({ ok: false, code: 'PARSE_FAILED', reason: `parser bug: ${String(err)}` }),
      );
      port.postMessage((job.record ? { id: job.id, record: toParsedRecord(outcome) } : { id: job.id, outcome }) satisfies WorkerResponse);
    }
    running = false;
  };
  port.on('message', (req: WorkerRequest) => {
    queue.push(...req.jobs);
    if (!running) void run();
  });
  port.postMessage({ ready: true } satisfies WorkerResponse);
}
