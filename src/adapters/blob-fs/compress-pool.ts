/**
 * Hashes and compresses buffered bodies on worker threads, batching every put started in one
 * turn of the event loop into one message per worker. Measured on the drain's workload this
 * costs the main thread ~20 µs per small message, against ~50 µs for SHA-256 plus the async
 * zlib call (threadpool) and ~100 µs for doing both synchronously (ADR 0001).
 *
 * One pool per thread count, shared by every store in the process; workers start on first use,
 * never keep the process alive while idle (unref'd), and exit after {@link IDLE_EXIT_MS} idle.
 */
import { IdleExit } from './idle-exit.js';
import { ownsItsMemory } from '../../core/ports/blob-store.js';
import { Worker } from 'node:worker_threads';
import { RECORD_HEADER_SIZE, type CodecName } from './pack-format.js';
import { COMPRESS_WORKER_MARK, compressBatch } from './compress-worker.js';
import type { CompressBatch, CompressJob, CompressReply, CompressResult } from './compress-worker.js';

/** A finished record from the pool. */
export interface CompressedRecord {
  sha256: string;
  size: number;
  /** Header then payload, ready to append (one buffer, or two when a large raw payload came back as is). */
  parts: Buffer[];
  /** Their total length. */
  length: number;
  /** Payload length (the ref's storedSize). */
  storedSize: number;
}

const IDLE_EXIT_MS = 10_000;
const WORKER_URL = new URL('./compress-worker.js', import.meta.url);

interface Waiter {
  resolve: (r: CompressedRecord) => void;
  reject: (err: Error) => void;
}

class Lane {
  #worker: Worker | null = null;
  readonly #waiting = new Map<number, Waiter>();
  readonly #idleExit = new IdleExit(IDLE_EXIT_MS);

  get outstanding(): number {
    return this.#waiting.size;
  }

  send(batch: CompressBatch, waiters: Map<number, Waiter>): void {
    const worker = this.#worker ?? this.#start();
    for (const [id, w] of waiters) this.#waiting.set(id, w);
    this.#idleExit.busy(worker); // an awaited compression must keep the process alive
    worker.postMessage(batch, [...new Set(batch.jobs.flatMap((j) => j.body.map((p) => p.buffer as ArrayBuffer)))]);
  }

  /** Starts the thread ahead of its first job, idle (it neither holds the process nor lives past the quiet period). */
  warm(): void {
    if (this.#worker) return;
    this.#start();
    this.#idle();
  }

  #start(): Worker {
    const worker = new Worker(WORKER_URL, { workerData: { role: COMPRESS_WORKER_MARK } });
    worker.on('message', (reply: CompressReply) => this.#onReply(reply));
    worker.on('error', (err) => this.#die(worker, err));
    worker.on('exit', (code) => this.#die(worker, new Error(`compression worker exited with code ${code}`)));
    this.#worker = worker;
    return worker;
  }

  #onReply(reply: CompressReply): void {
    if ('error' in reply) {
      for (const id of reply.ids) {
        const w = this.#waiting.get(id);
        this.#waiting.delete(id);
        w?.reject(new Error(reply.error));
      }
    } else {
      for (const r of reply.results) {
        const w = this.#waiting.get(r.id);
        this.#waiting.delete(r.id);
        w?.resolve(toRecord(r, reply.data, reply.payloads));
      }
    }
    if (this.#waiting.size === 0) this.#idle();
  }

  #idle(): void {
    const worker = this.#worker;
    if (!worker) return;
    this.#idleExit.idle(
      worker,
      () => this.#waiting.size === 0 && this.#worker === worker,
      () => {
        this.#worker = null;
        void worker.terminate();
      },
    );
  }

  #die(worker: Worker, err: Error): void {
    if (this.#worker !== worker) return;
    this.#worker = null;
    for (const w of this.#waiting.values()) w.reject(err);
    this.#waiting.clear();
  }
}

/** A set of compression workers; see the module comment. */
export class CompressPool {
  readonly #lanes: Lane[];
  #queue: CompressJob[] = [];
  #queueWaiters = new Map<number, Waiter>();
  #queueCodec: { codec: CodecName; level: number } | null = null;
  #scheduled = false;
  #nextId = 1;

  constructor(threads: number) {
    this.#lanes = Array.from({ length: threads }, () => new Lane());
  }

  /**
   * Starts the threads now, so the first puts do not wait for a thread to load its modules
   * (~50 ms on this machine kind, on the drain's first cycle).
   */
  warm(): void {
    for (const l of this.#lanes) l.warm();
  }

  /**
   * Hashes and compresses `raw`. It is copied first, so the caller keeps its buffer, unless
   * `owned` says the caller gives it away and it spans its whole ArrayBuffer: then it moves to the
   * worker as it is (and is detached here), which spares copying large bodies.
   */
  compress(raw: Uint8Array | readonly Uint8Array[], codec: CodecName, level: number, owned = false): Promise<CompressedRecord> {
    if (this.#queueCodec && (this.#queueCodec.codec !== codec || this.#queueCodec.level !== level)) this.#dispatch();
    this.#queueCodec = { codec, level };
    const id = this.#nextId++;
    // Otherwise a copy in an ArrayBuffer of its own: transferring it moves no bytes and never
    // detaches the caller's (possibly pooled or shared) buffer.
    const body = (raw instanceof Uint8Array ? [raw] : raw).map((p) => (owned && ownsItsMemory(p) ? p : new Uint8Array(p)));
    return new Promise<CompressedRecord>((resolve, reject) => {
      this.#queue.push({ id, body });
      this.#queueWaiters.set(id, { resolve, reject });
      if (!this.#scheduled) {
        this.#scheduled = true;
        // Batch every put started in this turn of the event loop into one message.
        setImmediate(() => this.#dispatch());
      }
    });
  }

  #dispatch(): void {
    this.#scheduled = false;
    if (this.#queue.length === 0 || !this.#queueCodec) return;
    let lane = this.#lanes[0] as Lane;
    for (const l of this.#lanes) if (l.outstanding < lane.outstanding) lane = l;
    const batch: CompressBatch = { ...this.#queueCodec, jobs: this.#queue };
    const waiters = this.#queueWaiters;
    this.#queue = [];
    this.#queueWaiters = new Map();
    this.#queueCodec = null;
    try {
      lane.send(batch, waiters);
    } catch (err) {
      for (const w of waiters.values()) w.reject(err as Error);
    }
  }
}

const pools = new Map<number, CompressPool>();

/** The process-wide pool with `threads` workers. */
export function compressPool(threads: number): CompressPool {
  let pool = pools.get(threads);
  if (!pool) {
    pool = new CompressPool(threads);
    pools.set(threads, pool);
  }
  return pool;
}

/** The same work done synchronously on the calling thread (`compressionThreads: 0`). */
export function compressInline(raw: Uint8Array, codec: CodecName, level: number): CompressedRecord {
  const { results, data, payloads } = compressBatch({ codec, level, jobs: [{ id: 0, body: [raw] }] });
  const r = results[0];
  if (!r) throw new Error('compression produced no record');
  return toRecord(r, data, payloads);
}

/** A worker result as the record to append: its header (and payload) from `data`, or its payload as it came back. */
function toRecord(r: CompressResult, data: Uint8Array, payloads: Uint8Array[]): CompressedRecord {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const base = { sha256: r.sha256, size: r.size, length: r.length, storedSize: r.length - RECORD_HEADER_SIZE };
  if (r.payload === undefined) return { ...base, parts: [buf.subarray(r.offset, r.offset + r.length)] };
  const pieces = r.payload.map((i) => payloads[i]!).map((p) => Buffer.from(p.buffer, p.byteOffset, p.byteLength));
  return { ...base, parts: [buf.subarray(r.offset, r.offset + RECORD_HEADER_SIZE), ...pieces] };
}
