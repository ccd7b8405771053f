/**
 * Whole-blob reads on a worker thread of their own (`read-worker.ts`): the main thread only
 * posts the refs and receives the raw bytes, batched per turn of the event loop like the
 * compression pool. Measured with `test/blob/read-cost.bench.ts`: ~110 µs of main-thread time per
 * small message read before (open, fstat, read, close, async brotli, SHA-256), see ADR 0001.
 *
 * A thread apart from the compression worker, so reads for the index stage never queue in front
 * of the drain's compression. One pool per process, shared by every store; the worker starts on
 * first use, does not keep the process alive while idle, and shuts down (closing its pack
 * descriptors first) after {@link IDLE_EXIT_MS} without reads.
 */
import { IdleExit } from './idle-exit.js';
import { Worker } from 'node:worker_threads';
import { PackReadError } from './pack-reader.js';
import type { ReadFailure, ReadJob } from './pack-reader.js';
import { READ_WORKER_MARK } from './read-worker.js';
import type { ReadReply, ReadRequest } from './read-worker.js';

const IDLE_EXIT_MS = 5_000;
const WORKER_URL = new URL('./read-worker.js', import.meta.url);

interface Waiter {
  resolve: (raw: Buffer) => void;
  reject: (err: PackReadError) => void;
}

/** See the module comment. */
export class ReadPool {
  #worker: Worker | null = null;
  readonly #waiting = new Map<number, Waiter>();
  #queue: ReadJob[] = [];
  #scheduled = false;
  readonly #idleExit = new IdleExit(IDLE_EXIT_MS);
  #nextId = 1;

  /** Reads one blob; rejects with a {@link PackReadError} on any failure. */
  read(job: Omit<ReadJob, 'id'>): Promise<Buffer> {
    const id = this.#nextId++;
    return new Promise<Buffer>((resolve, reject) => {
      this.#waiting.set(id, { resolve, reject });
      this.#queue.push({ ...job, id });
      if (!this.#scheduled) {
        this.#scheduled = true;
        setImmediate(() => this.#dispatch());
      }
    });
  }

  /** Closes the worker's descriptor of `path` (call before deleting the pack). */
  evict(path: string): void {
    this.#worker?.postMessage({ kind: 'evict', path } satisfies ReadRequest);
  }

  #dispatch(): void {
    this.#scheduled = false;
    if (this.#queue.length === 0) return;
    const jobs = this.#queue;
    this.#queue = [];
    let worker: Worker;
    try {
      worker = this.#worker ?? this.#start();
    } catch (err) {
      this.#failAll(jobs.map((j) => j.id), err);
      return;
    }
    this.#idleExit.busy(worker); // an awaited read must keep the process alive
    worker.postMessage({ kind: 'read', jobs } satisfies ReadRequest);
  }

  #start(): Worker {
    const worker = new Worker(WORKER_URL, { workerData: { role: READ_WORKER_MARK } });
    worker.on('message', (reply: ReadReply) => this.#onReply(reply));
    worker.on('error', (err) => this.#die(worker, err));
    worker.on('exit', (code) => this.#die(worker, new Error(`blob read worker exited with code ${code}`)));
    this.#worker = worker;
    return worker;
  }

  #onReply(reply: ReadReply): void {
    for (const r of reply.results) {
      const w = this.#waiting.get(r.id);
      this.#waiting.delete(r.id);
      if (!w) continue;
      if ('raw' in r) w.resolve(Buffer.from(r.raw.buffer, r.raw.byteOffset, r.raw.byteLength));
      else w.reject(new PackReadError(r.failure));
    }
    if (this.#waiting.size === 0) this.#idle();
  }

  #idle(): void {
    const worker = this.#worker;
    if (!worker) return;
    this.#idleExit.idle(
      worker,
      () => this.#waiting.size === 0 && this.#queue.length === 0 && this.#worker === worker,
      () => {
        this.#worker = null;
        // The worker closes its descriptors and ends itself; a later read starts a new one.
        worker.postMessage({ kind: 'shutdown' } satisfies ReadRequest);
      },
    );
  }

  #failAll(ids: number[], err: unknown): void {
    // With its errno (EMFILE when no thread could start): mapped as what it is, not as corruption.
    const code = (err as { code?: unknown } | null)?.code;
    const failure: ReadFailure = { kind: 'fs', message: `blob read worker failed: ${err instanceof Error ? err.message : String(err)}`, ...(typeof code === 'string' ? { code } : {}) };
    for (const id of ids) {
      const w = this.#waiting.get(id);
      this.#waiting.delete(id);
      w?.reject(new PackReadError(failure));
    }
  }

  #die(worker: Worker, err: Error): void {
    if (this.#worker !== worker) return;
    this.#worker = null;
    this.#failAll([...this.#waiting.keys()], err);
  }
}

let pool: ReadPool | null = null;

/** The process-wide read pool. */
export function readPool(): ReadPool {
  return (pool ??= new ReadPool());
}
