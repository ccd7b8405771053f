/**
 * The threads a blob scan checks records on (`verify-worker.ts`), started with the scan and ended
 * with it. Records are sent in batches of about {@link BATCH_BYTES}, each copied once into a
 * buffer that is transferred, so the scan's read buffer can be refilled at once and a thread pays
 * one message round trip per batch, not per record. Measured on 100,000 small messages (issue 16):
 * one async zlib call per record on the threadpool was ~94 µs a record, nearly all of it zlib's
 * per-call set-up (docs/adr/0031-verify-and-scrub.md, revision "record checks on helper threads").
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { DataKeys } from '../crypto-node/record-cipher.js';
import { checkBatch, VERIFY_WORKER_MARK, type CheckReply, type CheckRequest } from './verify-worker.js';

/** A batch is sent once it holds this many payload bytes… */
const BATCH_BYTES = 1024 * 1024;
/** …or this many records. */
const BATCH_RECORDS = 512;
/** At most this many threads, and never more than the machine's cores. */
const MAX_THREADS = 4;

const WORKER_URL = new URL('./verify-worker.js', import.meta.url);

/** A checked record, as the scan hands it on. */
export type Checked = (problem: string | null) => void;

/** A batch sent and not yet handed on: its records' callbacks, and its answer once it came. */
interface Sent {
  done: Checked[];
  problems: Array<[number, string]> | null;
  resolve: () => void;
  reject: (err: Error) => void;
}

interface Lane {
  worker: Worker;
  waiting: Map<number, Sent>;
}

/**
 * Checks whole records on helper threads, a batch at a time, and hands each record's problem on
 * in the order the records were added (disk order, as `BlobScanner` promises), whichever thread
 * answers first; {@link close} when the scan ends.
 */
export class CheckPool {
  readonly #lanes: Lane[] = [];
  /** Batches in the order they were sent, until handed on. */
  readonly #order: Sent[] = [];
  readonly #inFlight = new Set<Promise<void>>();
  readonly #maxInFlight: number;
  #nextId = 1;
  #data = new Uint8Array(BATCH_BYTES);
  #used = 0;
  #at: number[] = [];
  #refs: string[] = [];
  #done: Checked[] = [];

  constructor(private readonly keys: () => DataKeys | undefined) {
    const threads = Math.max(1, Math.min(MAX_THREADS, availableParallelism()));
    for (let i = 0; i < threads; i++) {
      const worker = new Worker(WORKER_URL, { workerData: { role: VERIFY_WORKER_MARK } });
      const lane: Lane = { worker, waiting: new Map() };
      worker.on('message', (r: CheckReply) => {
        const w = lane.waiting.get(r.id);
        lane.waiting.delete(r.id);
        if (!w) return;
        w.problems = r.problems;
        this.#handOn();
      });
      const failAll = (err: Error): void => {
        for (const w of lane.waiting.values()) w.reject(err);
        lane.waiting.clear();
      };
      worker.on('error', failAll);
      worker.on('exit', (code) => failAll(new Error(`record check thread exited with code ${code}`)));
      this.#lanes.push(lane);
    }
    // Two batches a thread: one being checked, one waiting, so no thread waits for the reader.
    this.#maxInFlight = 2 * threads;
  }

  /**
   * Queues the whole record `record` (header and payload, at `ref`) for checking; `done` gets its
   * problem. Copies it: the caller's buffer is free again when this returns. Answers a promise to
   * wait for when too many batches are in flight, else null: most records need no `await` (a
   * microtask and a promise each, on the scan's thread, which walks every record).
   */
  add(record: Uint8Array, ref: string, done: Checked): Promise<void> | null {
    if (this.#used + record.length > this.#data.length && this.#at.length > 0) this.#sendQueued();
    if (record.length > this.#data.length) this.#data = new Uint8Array(record.length);
    this.#data.set(record, this.#used);
    this.#at.push(this.#used);
    this.#refs.push(ref);
    this.#done.push(done);
    this.#used += record.length;
    if (this.#used >= BATCH_BYTES || this.#at.length >= BATCH_RECORDS) this.#sendQueued();
    return this.#inFlight.size >= this.#maxInFlight ? this.#room() : null;
  }

  /** Sends what is queued, then waits while too many batches are in flight. */
  async flush(): Promise<void> {
    this.#sendQueued();
    await this.#room();
  }

  /** Waits while too many batches are in flight. */
  async #room(): Promise<void> {
    while (this.#inFlight.size >= this.#maxInFlight) await Promise.race(this.#inFlight);
  }

  /** Sends the queued records as one batch, if any. */
  #sendQueued(): void {
    if (this.#at.length === 0) return;
    // The batch's own buffer, cut to what it holds (a copy only when mostly empty).
    const data = this.#used < this.#data.length / 2 ? this.#data.slice(0, this.#used) : this.#data;
    const req: CheckRequest = { id: this.#nextId++, keys: this.keys(), data, at: Int32Array.from(this.#at), refs: this.#refs };
    const done = this.#done;
    this.#at = [];
    this.#refs = [];
    this.#done = [];
    this.#data = new Uint8Array(BATCH_BYTES);
    this.#used = 0;
    const p = this.#send(req, done);
    this.#inFlight.add(p);
    void p.finally(() => this.#inFlight.delete(p)).catch(() => undefined);
  }

  /** Sends what is queued and waits for every answer. */
  async drain(): Promise<void> {
    await this.flush();
    await Promise.all(this.#inFlight);
  }

  /** Ends the threads. */
  async close(): Promise<void> {
    await Promise.all(this.#lanes.map((l) => l.worker.terminate()));
  }

  /** Hands on the answered batches at the head of the order. */
  #handOn(): void {
    while (this.#order.length > 0 && this.#order[0]!.problems !== null) {
      const b = this.#order.shift()!;
      const failed = new Map(b.problems!);
      b.done.forEach((done, k) => done(failed.get(k) ?? null));
      b.resolve();
    }
  }

  #send(req: CheckRequest, done: Checked[]): Promise<void> {
    const lane = this.#lanes.reduce((a, b) => (b.waiting.size < a.waiting.size ? b : a));
    return new Promise<void>((resolve, reject) => {
      const sent: Sent = { done, problems: null, resolve, reject };
      this.#order.push(sent);
      lane.waiting.set(req.id, sent);
      try {
        lane.worker.postMessage(req, [req.data.buffer as ArrayBuffer]);
      } catch {
        // A thread that cannot take it (gone): checked here instead.
        lane.waiting.delete(req.id);
        sent.problems = checkBatch(req);
        this.#handOn();
      }
    });
  }
}

