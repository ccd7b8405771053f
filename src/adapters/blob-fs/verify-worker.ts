/**
 * The helper thread of a blob scan (`pack-verify.ts`): checks a batch of whole records copied out
 * of a pack (`record-check.ts`) and answers a problem (or null) per record. Started by the scan
 * and ended with it; keeps nothing between batches.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { RECORD_HEADER_SIZE, decodeRecordHeader } from './pack-format.js';
import { checkRecord } from './record-check.js';
import type { DataKeys } from '../crypto-node/record-cipher.js';
import { RecordInflater } from './record-inflater.js';

/**
 * A batch to check: whole records (header and payload, as in the pack) copied one after another
 * into `data` (transferred), where each begins (`at`) and its ref (for a problem's sentence).
 * Flat on purpose: cloning an object per record cost the scan's thread more than the copy.
 */
export interface CheckRequest {
  id: number;
  keys: DataKeys | undefined;
  data: Uint8Array;
  at: Int32Array;
  refs: string[];
}

/** The answer to one batch: the records that failed, by index in the batch, each with why. */
export interface CheckReply {
  id: number;
  problems: Array<[number, string]>;
}

/** Marks the thread this module serves. */
export const VERIFY_WORKER_MARK = 'mailsluice-verify-worker';

/** Checks every record of `req`; answers those that fail. `inflater`: one kept by the thread across batches. */
export function checkBatch(req: CheckRequest, inflater?: RecordInflater): Array<[number, string]> {
  const out: Array<[number, string]> = [];
  const b = Buffer.from(req.data.buffer, req.data.byteOffset, req.data.byteLength);
  for (let i = 0; i < req.at.length; i++) {
    const at = req.at[i]!;
    // The scan decoded this header to find the record; it is read again here, not sent.
    const h = decodeRecordHeader(b.subarray(at, at + RECORD_HEADER_SIZE));
    const problem = typeof h === 'string' ? h : checkRecord(h, b.subarray(at + RECORD_HEADER_SIZE, at + RECORD_HEADER_SIZE + h.storedSize), req.refs[i]!, req.keys, inflater);
    if (problem !== null) out.push([i, problem]);
  }
  return out;
}

if (parentPort && (workerData as { role?: string } | undefined)?.role === VERIFY_WORKER_MARK) {
  const port = parentPort;
  // One decoder for the thread's life: its set-up was most of a small record's check.
  const inflater = new RecordInflater();
  port.on('message', (req: CheckRequest) => {
    port.postMessage({ id: req.id, problems: checkBatch(req, inflater) } satisfies CheckReply);
  });
}
