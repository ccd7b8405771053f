/**
 * Worker-thread entry of the postal-mime parser: receives raw messages, answers with outcomes.
 * Runs only as a worker (started by postal-mime-parser.ts); importing it elsewhere does nothing.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { ParseLimits } from '../../core/message/limits.js';
import type { ParseOutcome } from '../../core/ports/message-parser.js';
import { parseToOutcome } from './postal-mime-attributes.js';
import { installWorkerBlob } from './worker-blob.js';

/** A job sent to the worker. `raw` arrives as a transferred ArrayBuffer view. */
export interface WorkerRequest {
  id: number;
  raw: Uint8Array;
}

/** The worker's answer to one job. */
export interface WorkerResponse {
  id: number;
  outcome: ParseOutcome;
}

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
  port.on('message', (req: WorkerRequest) => {
    // parseToOutcome never rejects; the catch is a last line so a bug answers the job
    // instead of leaving it to the time limit.
    void parseToOutcome(req.raw, limits)
      .catch((err: unknown): ParseOutcome => ({ ok: false, code: 'PARSE_FAILED', reason: `parser bug: ${String(err)}` }))
      .then((outcome) => port.postMessage({ id: req.id, outcome } satisfies WorkerResponse));
  });
}
