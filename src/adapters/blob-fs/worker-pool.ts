/**
 * The blob store's helper threads (`blob-worker.ts`), one pool for both jobs: hashing and
 * compressing buffered bodies, and whole-blob reads. Every job started in one turn of the event
 * loop goes in one message (measured: ~20 µs of main-thread time per small put instead of ~50–100
 * µs, ~23 µs per small read instead of ~110 µs; ADR 0001, "Main-thread cost", "Read cost").
 *
 * Compression runs on `compressionThreads` lanes (the least busy takes the next batch), reads on a
 * lane of their own, so reads for the index stage never queue in front of the drain's compression.
 * Every lane is the same {@link WorkerLane}: started on first use, holding the process open only
 * while an answer is awaited, and shut down (its pack descriptors closed first) after a quiet
 * period, so an idle archive costs no thread and a finished CLI command exits.
 */
import { Worker } from 'node:worker_threads';
import { ownsItsMemory } from '../../core/ports/blob-store.js';
import { RECORD_HEADER_SIZE, type CodecName } from './pack-format.js';
import { BLOB_WORKER_MARK, compressBatch } from './blob-worker.js';
import type { BlobWorkerReply, BlobWorkerRequest, CompressJob, CompressResult } from './blob-worker.js';
import { PackReadError } from './pack-reader.js';
import type { ReadFailure, ReadJob } from './pack-reader.js';
import type { DataKey } from '../crypto-node/record-cipher.js';

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

const COMPRESS_QUIET_MS = 10_000;
const READ_QUIET_MS = 5_000;
const WORKER_URL = new URL('./blob-worker.js', import.meta.url);

interface Waiter {
  resolve: (value: never) => void;
  reject: (err: Error) => void;
}

/** A failure as the read side reports it: with its errno (EMFILE when no thread could start), so it maps as what it is. */
function laneFailure(err: unknown): PackReadError {
  const code = (err as { code?: unknown } | null)?.code;
  const failure: ReadFailure = { kind: 'fs', message: `blob worker failed: ${err instanceof Error ? err.message : String(err)}`, ...(typeof code === 'string' ? { code } : {}) };
  return new PackReadError(failure);
}

/** One helper thread and the answers it owes. */
export class WorkerLane {
  #worker: Worker | null = null;
  readonly #waiting = new Map<number, Waiter>();
  #timer: NodeJS.Timeout | null = null;

  constructor(private readonly quietMs: number) {}

  /** Jobs sent and not answered yet. */
  get outstanding(): number {
    return this.#waiting.size;
  }

  /** Sends a batch; every waiter is settled by the thread's reply, or rejected if it fails. */
  send(msg: BlobWorkerRequest, transfer: ArrayBuffer[], waiters: Map<number, Waiter>): void {
    let worker: Worker;
    try {
      worker = this.#worker ?? this.#start();
    } catch (err) {
      for (const w of waiters.values()) w.reject(laneFailure(err));
      return;
    }
    for (const [id, w] of waiters) this.#waiting.set(id, w);
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    worker.ref(); // an awaited answer must keep the process alive
    worker.postMessage(msg, transfer);
  }

  /** Tells a running thread something that needs no answer (a pack to stop reading). */
  tell(msg: BlobWorkerRequest): void {
    this.#worker?.postMessage(msg);
  }

  /** Starts the thread ahead of its first job, idle. */
  warm(): void {
    if (this.#worker) return;
    this.#start();
    this.#idle();
  }

  #start(): Worker {
    const worker = new Worker(WORKER_URL, { workerData: { role: BLOB_WORKER_MARK } });
    worker.on('message', (reply: BlobWorkerReply) => this.#onReply(reply));
    worker.on('error', (err) => this.#die(worker, err));
    worker.on('exit', (code) => this.#die(worker, new Error(`blob worker exited with code ${code}`)));
    this.#worker = worker;
    return worker;
  }

  #settle(id: number, ok: boolean, value: unknown): void {
    const w = this.#waiting.get(id);
    this.#waiting.delete(id);
    if (!w) return;
    if (ok) w.resolve(value as never);
    else w.reject(value as Error);
  }

  #onReply(reply: BlobWorkerReply): void {
    if (reply.kind === 'failed') for (const id of reply.ids) this.#settle(id, false, new Error(reply.error));
    else if (reply.kind === 'compressed') for (const r of reply.results) this.#settle(r.id, true, toRecord(r, reply.data, reply.payloads));
    else {
      for (const r of reply.results) {
        if ('raw' in r) this.#settle(r.id, true, Buffer.from(r.raw.buffer, r.raw.byteOffset, r.raw.byteLength));
        else this.#settle(r.id, false, new PackReadError(r.failure));
      }
    }
    if (this.#waiting.size === 0) this.#idle();
  }

  /** Nothing is awaited: let the process exit, and shut the thread down if still quiet later. */
  #idle(): void {
    const worker = this.#worker;
    if (!worker) return;
    worker.unref();
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = null;
      if (this.#waiting.size > 0 || this.#worker !== worker) return;
      this.#worker = null;
      // The thread closes its descriptors and ends itself; a later job starts a new one.
      worker.postMessage({ kind: 'shutdown' } satisfies BlobWorkerRequest);
    }, this.quietMs);
    this.#timer.unref();
  }

  #die(worker: Worker, err: Error): void {
    if (this.#worker !== worker) return;
    this.#worker = null;
    const failure = laneFailure(err);
    for (const w of this.#waiting.values()) w.reject(failure);
    this.#waiting.clear();
  }
}

/** Jobs collected during one turn of the event loop, sent together. */
class TurnBatch<J extends { id: number }> {
  jobs: J[] = [];
  waiters = new Map<number, Waiter>();
  #scheduled = false;

  constructor(private readonly send: (jobs: J[], waiters: Map<number, Waiter>) => void) {}

  add<T>(job: J): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.jobs.push(job);
      this.waiters.set(job.id, { resolve: resolve as (v: never) => void, reject });
      if (!this.#scheduled) {
        this.#scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  flush(): void {
    this.#scheduled = false;
    if (this.jobs.length === 0) return;
    const { jobs, waiters } = this;
    this.jobs = [];
    this.waiters = new Map();
    this.send(jobs, waiters);
  }
}

/** The helper threads of the blob stores of this process; see the module comment. */
export class BlobWorkerPool {
  readonly #compressLanes: WorkerLane[];
  readonly #readLane: WorkerLane;
  #codec: { codec: CodecName; level: number; seal: DataKey | undefined } | null = null;
  readonly #compressing: TurnBatch<CompressJob>;
  readonly #reading: TurnBatch<ReadJob>;
  #nextId = 1;

  constructor(threads: number, readLane: WorkerLane) {
    this.#compressLanes = Array.from({ length: threads }, () => new WorkerLane(COMPRESS_QUIET_MS));
    this.#readLane = readLane;
    this.#compressing = new TurnBatch((jobs, waiters) => this.#sendCompress(jobs, waiters));
    this.#reading = new TurnBatch((jobs, waiters) => this.#readLane.send({ kind: 'read', jobs }, [], waiters));
  }

  /** Starts the compression threads now, so the first puts do not wait for one to load (~50 ms). */
  warm(): void {
    for (const l of this.#compressLanes) l.warm();
  }

  /**
   * Hashes and compresses `raw`. It is copied first, so the caller keeps its buffer, unless
   * `owned` says the caller gives it away and it spans its whole ArrayBuffer: then it moves to the
   * thread as it is (and is detached here), which spares copying large bodies.
   */
  compress(raw: Uint8Array | readonly Uint8Array[], codec: CodecName, level: number, owned = false, seal?: DataKey): Promise<CompressedRecord> {
    // One codec (and data key) per batch: a put with another sends what was collected first.
    if (this.#codec && (this.#codec.codec !== codec || this.#codec.level !== level || this.#codec.seal !== seal)) this.#compressing.flush();
    this.#codec = { codec, level, seal };
    const body = (raw instanceof Uint8Array ? [raw] : raw).map((p) => (owned && ownsItsMemory(p) ? p : new Uint8Array(p)));
    return this.#compressing.add<CompressedRecord>({ id: this.#nextId++, body });
  }

  /** Reads and verifies one whole blob; rejects with a {@link PackReadError} on any failure. */
  read(job: Omit<ReadJob, 'id'>): Promise<Buffer> {
    return this.#reading.add<Buffer>({ ...job, id: this.#nextId++ });
  }

  /** Closes the read thread's descriptor of `path` (call before deleting the pack). */
  evict(path: string): void {
    this.#readLane.tell({ kind: 'evict', path });
  }

  #sendCompress(jobs: CompressJob[], waiters: Map<number, Waiter>): void {
    const codec = this.#codec;
    this.#codec = null;
    if (!codec) return;
    let lane = this.#compressLanes[0] as WorkerLane;
    for (const l of this.#compressLanes) if (l.outstanding < lane.outstanding) lane = l;
    const transfer = [...new Set(jobs.flatMap((j) => j.body.map((p) => p.buffer as ArrayBuffer)))];
    lane.send({ kind: 'compress', batch: { ...codec, jobs } }, transfer, waiters);
  }
}

const readLane = new WorkerLane(READ_QUIET_MS);
const pools = new Map<number, BlobWorkerPool>();

/** The process-wide pool with `threads` compression threads (and the one read thread). */
export function workerPool(threads: number): BlobWorkerPool {
  let pool = pools.get(threads);
  if (!pool) {
    pool = new BlobWorkerPool(threads, readLane);
    pools.set(threads, pool);
  }
  return pool;
}

/** The same compression done synchronously on the calling thread (`compressionThreads: 0`). */
export function compressInline(raw: Uint8Array, codec: CodecName, level: number, seal?: DataKey): CompressedRecord {
  const { results, data, payloads } = compressBatch({ codec, level, seal, jobs: [{ id: 0, body: [raw] }] });
  const r = results[0];
  if (!r) throw new Error('compression produced no record');
  return toRecord(r, data, payloads);
}

/** A thread's result as the record to append: its header (and payload) from `data`, or its payload as it came back. */
function toRecord(r: CompressResult, data: Uint8Array, payloads: Uint8Array[]): CompressedRecord {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const base = { sha256: r.sha256, size: r.size, length: r.length, storedSize: r.length - RECORD_HEADER_SIZE };
  if (r.payload === undefined) return { ...base, parts: [buf.subarray(r.offset, r.offset + r.length)] };
  const pieces = r.payload.map((i) => payloads[i]!).map((p) => Buffer.from(p.buffer, p.byteOffset, p.byteLength));
  return { ...base, parts: [buf.subarray(r.offset, r.offset + RECORD_HEADER_SIZE), ...pieces] };
}
