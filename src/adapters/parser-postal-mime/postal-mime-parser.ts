/**
 * The MessageParser adapter: postal-mime running in a small pool of worker threads, so parsing
 * never blocks the main thread (which runs the mailbox clients, the store and the buses) and
 * a hung or crashed parse costs one worker, not the process.
 */
import { parseOversized } from './postal-mime-attributes.js';
import { Worker } from 'node:worker_threads';
import type { MessageParser, ParseOutcome } from '../../core/ports/message-parser.js';
import { toParsedRecord, type ParsedRecord } from '../../core/message/parsed-record.js';
import { ownsItsMemory } from '../../core/ports/blob-store.js';
import { resolvePostalMimeParserConfig, type PostalMimeParserConfig, type PostalMimeParserOptions } from './postal-mime-parser-config.js';
import { mapWorkerError, type MappedParseError } from './postal-mime-error-map.js';
import type { WorkerInit, WorkerRequest, WorkerResponse } from './postal-mime-worker.js';
import type { AttachmentFinder } from '../../core/ports/attachment-finder.js';
import { MailsluiceError } from '../../core/errors/index.js';

/** What a `find` job answers: the attachments found, by SHA-256. */
type Found = { found: Map<string, Uint8Array> };
/** Any answer of a job, or a failure outcome of the pool (time limit, crash, close). */
type Answer = ParseOutcome | ParsedRecord | Found;

interface Job {
  id: number;
  raw: Uint8Array;
  /** Whether `raw.buffer` goes to the worker as a transfer (large) or a structured-clone copy. */
  transfer: boolean;
  /** `raw`'s length when queued (a transferred buffer reads 0 afterwards). */
  size: number;
  /** Answer in record form (built in the worker) rather than as the outcome. */
  record: boolean;
  /** Not a parse: the attachments with these SHA-256 hashes are wanted. */
  find?: string[];
  /** Takes the worker's answer, or a failure outcome of the pool (time limit, crash, close). */
  resolve: (o: Answer) => void;
}

interface Slot {
  worker: Worker;
  /** Jobs handed to this worker, in the order it parses them; the first is being parsed. */
  jobs: Job[];
  /** Raw bytes of `jobs`. */
  bytes: number;
  /** Time limit of the first job, re-armed as each answer arrives. */
  timer: NodeJS.Timeout | undefined;
  /**
   * Whether the thread has loaded its modules. A new thread can take hundreds of milliseconds to
   * start on a busy machine; counting that against the first job's parse time limit would fail
   * good messages queued behind a replaced worker.
   */
  ready: boolean;
  /** It parsed a large message: it takes no new job and is ended once its jobs are answered. */
  retiring: boolean;
}

/**
 * Jobs handed to one worker at once. A worker answers one job and takes the next from its own
 * queue without waiting for a round trip through the main thread; the main thread, in turn,
 * hands over several jobs in one message.
 */
const JOBS_PER_WORKER = 4;
/** A second job goes to a busy worker only while its queued bytes stay under this. */
const QUEUED_BYTES_PER_WORKER = 1024 * 1024;
/**
 * Up to this size the bytes are copied by structured clone: for small messages a copy is
 * several times cheaper than detaching and transferring an ArrayBuffer.
 */
const CLONE_MAX_BYTES = 64 * 1024;
/**
 * A worker that answered a job this large is ended and replaced. V8 keeps a thread's heap grown
 * after a large parse (the pages its garbage took are neither collected nor returned while the
 * thread idles): ~100 MB stayed resident after each 60 MB message, on top of the next one's
 * parse (ADR 0017). Starting a thread costs ~100 ms, small beside parsing such a message, and no
 * message of the usual sizes (the mixed set's largest is 2 MB) gets near it.
 */
const RETIRE_AFTER_BYTES = 16 * 1024 * 1024;

const CLOSED: ParseOutcome = { ok: false, code: 'PARSE_FAILED', reason: 'parser is closed' };

/**
 * Creates the parser. Workers start lazily on the first parse and are replaced when one times
 * out or dies; `close()` stops them. Idle workers do not keep the process alive.
 */
export function createPostalMimeParser(options: PostalMimeParserOptions = {}): MessageParser {
  return new PostalMimeParser(resolvePostalMimeParserConfig(options));
}

/** An attachment finder with worker threads of its own, to close when done with. */
export interface PooledAttachmentFinder extends AttachmentFinder {
  close(): Promise<void>;
}

/**
 * The `AttachmentFinder` port on a pool of parser workers of its own (default one thread, started
 * on the first request): for the API, whose thread is the drain's, so a large or hostile message
 * is taken apart elsewhere and under the parse time limit (ADR 0010's revision). The webhook
 * action, already on the dispatcher's thread, uses `postalMimeAttachmentFinder` in-thread.
 */
export function createPostalMimeAttachmentFinder(options: PostalMimeParserOptions = {}): PooledAttachmentFinder {
  const pool = new PostalMimeParser(resolvePostalMimeParserConfig({ workers: 1, ...options }));
  return { find: (raw, wanted) => pool.findAttachments(raw, wanted), close: () => pool.close() };
}

class PostalMimeParser implements MessageParser {
  readonly #config: PostalMimeParserConfig;
  readonly #slots = new Set<Slot>();
  readonly #queue: Job[] = [];
  #nextId = 1;
  #pumpScheduled = false;
  #closed = false;

  constructor(config: PostalMimeParserConfig) {
    this.#config = config;
  }

  parse(raw: Buffer, totalSize?: number): Promise<ParseOutcome> {
    if (this.#closed) return Promise.resolve(CLOSED);
    if (totalSize !== undefined && totalSize > raw.byteLength) return this.#headersOfPrefix(raw, totalSize);
    return new Promise<ParseOutcome>((resolve) => this.#enqueue(raw, false, resolve as (o: Answer) => void));
  }

  parseToRecord(raw: Buffer, totalSize?: number): Promise<ParsedRecord> {
    if (this.#closed) return Promise.resolve(toParsedRecord(CLOSED));
    if (totalSize !== undefined && totalSize > raw.byteLength) return this.#headersOfPrefix(raw, totalSize).then(toParsedRecord);
    return new Promise<ParsedRecord>((resolve) => this.#enqueue(raw, true, (o) => resolve('record' in o ? o : toParsedRecord(o as ParseOutcome))));
  }

  /**
   * The decoded bytes of the attachments of `raw` whose SHA-256 is in `wanted`, found in a worker
   * under the parse time limit. Missing from the map: not found. Throws (the pool's failure code:
   * PARSE_TIMEOUT, PARSE_FAILED, PARSE_LIMIT_EXCEEDED) when the worker could not answer.
   */
  findAttachments(raw: Uint8Array, wanted: ReadonlySet<string>): Promise<Map<string, Uint8Array>> {
    if (wanted.size === 0) return Promise.resolve(new Map());
    if (this.#closed) return Promise.reject(new MailsluiceError('PARSE_FAILED', 'the attachment finder is closed'));
    return new Promise<Map<string, Uint8Array>>((resolve, reject) =>
      this.#enqueue(raw, false, (o) => {
        if ('found' in o) resolve(o.found);
        else if (!o.ok && !('record' in o)) reject(new MailsluiceError(o.code, `finding attachments failed: ${o.reason}`));
        else reject(new MailsluiceError('INTERNAL', 'the parser worker answered a find job with a parse'));
      }, [...wanted]),
    );
  }

  #enqueue(raw: Uint8Array, record: boolean, resolve: (o: Answer) => void, find?: string[]): void {
    // A Buffer that owns its whole ArrayBuffer is sent as it is: cloned when small, or
    // transferred (zero copy) when large and the caller allowed it. Otherwise one copy into a
    // fresh ArrayBuffer, so a pooled Buffer's slab is never cloned whole or transferred.
    const owns = ownsItsMemory(raw);
    const small = raw.byteLength <= CLONE_MAX_BYTES;
    const bytes = owns && (small || this.#config.transferRaw) ? raw : new Uint8Array(raw);
    this.#queue.push({ id: this.#nextId++, raw: bytes, transfer: !small, size: raw.byteLength, record, resolve, ...(find ? { find } : {}) });
    if (!this.#pumpScheduled) {
      // Jobs queued in the same turn go out together, one message per worker.
      this.#pumpScheduled = true;
      queueMicrotask(() => {
        this.#pumpScheduled = false;
        this.#pump();
      });
    }
  }

  /**
   * A message over the full-parse limit arrives as its first bytes only, so the whole message
   * never sits in memory; its headers are cheap enough to read on this thread.
   */
  #headersOfPrefix(prefix: Buffer, totalSize: number): Promise<ParseOutcome> {
    return parseOversized(prefix, totalSize, this.#config.limits);
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const job of this.#queue.splice(0)) job.resolve({ ok: false, code: 'PARSE_FAILED', reason: 'parser closed before the message was parsed' });
    const slots = [...this.#slots];
    this.#slots.clear();
    await Promise.all(
      slots.map(async (slot) => {
        this.#failAll(slot, { ok: false, code: 'PARSE_FAILED', reason: 'parser closed while the message was being parsed' });
        slot.worker.removeAllListeners();
        await slot.worker.terminate();
      }),
    );
  }

  /**
   * Hands queued jobs to workers: first to idle ones (starting workers up to the configured
   * count), then a few more to busy ones, so a worker never waits for the main thread between
   * two messages. Each worker gets its share in one message.
   */
  #pump(): void {
    if (this.#closed) return;
    let idle = 0;
    for (const s2 of this.#slots) if (s2.jobs.length === 0 && !s2.retiring) idle++;
    while (this.#queue.length > idle && this.#slots.size < this.#config.workers) {
      this.#spawn();
      idle++;
    }
    const slots = [...this.#slots].filter((s2) => !s2.retiring);
    for (let depth = 1; depth <= JOBS_PER_WORKER && this.#queue.length > 0; depth++) {
      for (const slot of slots) {
        if (this.#queue.length === 0) break;
        if (slot.jobs.length >= depth) continue;
        const job = this.#queue[0]!;
        if (slot.jobs.length > 0 && slot.bytes + job.raw.byteLength > QUEUED_BYTES_PER_WORKER) continue;
        this.#queue.shift();
        this.#assign(slot, job);
      }
    }
    for (const slot of slots) this.#send(slot);
  }

  /** Jobs assigned by the current pump and not yet posted, per slot. */
  readonly #outbox = new Map<Slot, Job[]>();

  #assign(slot: Slot, job: Job): void {
    slot.jobs.push(job);
    slot.bytes += job.raw.byteLength;
    const out = this.#outbox.get(slot);
    if (out) out.push(job);
    else this.#outbox.set(slot, [job]);
    if (!slot.timer && slot.ready) this.#arm(slot);
  }

  #send(slot: Slot): void {
    const out = this.#outbox.get(slot);
    if (!out) return;
    this.#outbox.delete(slot);
    slot.worker.ref();
    const msg: WorkerRequest = { jobs: out.map((j) => ({ id: j.id, raw: j.raw, record: j.record, ...(j.find ? { find: j.find } : {}) })) };
    slot.worker.postMessage(msg, out.flatMap((j) => (j.transfer ? [j.raw.buffer as ArrayBuffer] : [])));
  }

  #arm(slot: Slot): void {
    slot.timer = setTimeout(() => this.#timeout(slot), this.#config.limits.parseTimeoutMs);
  }

  #spawn(): Slot {
    const init: WorkerInit = { limits: this.#config.limits };
    const worker = new Worker(new URL('./postal-mime-worker.js', import.meta.url), {
      workerData: init,
      resourceLimits: { maxOldGenerationSizeMb: this.#config.workerHeapMb },
      // The worker's stdout/stderr are not ours to print; a parser must be silent.
      stdout: true,
      stderr: true,
    });
    const slot: Slot = { worker, jobs: [], bytes: 0, timer: undefined, ready: false, retiring: false };
    worker.on('message', (res: WorkerResponse) => {
      if ('ready' in res) {
        slot.ready = true;
        if (slot.jobs.length > 0 && !slot.timer) this.#arm(slot);
        return;
      }
      // The worker answers in the order it was given its jobs.
      if (slot.jobs[0]?.id !== res.id) return;
      if (slot.jobs[0].size >= RETIRE_AFTER_BYTES) slot.retiring = true;
      this.#finishFirst(slot, res.outcome ?? res.record ?? { found: new Map(res.found) });
      if (slot.retiring && slot.jobs.length === 0) return this.#discard(slot);
      if (slot.jobs.length === 0) slot.worker.unref();
      if (this.#queue.length > 0) this.#pump();
    });
    worker.on('error', (err) => this.#replace(slot, mapWorkerError(err)));
    worker.on('exit', (code) => this.#replace(slot, { code: 'PARSE_FAILED', reason: `parser worker exited with code ${code}` }));
    // Drain the piped streams so a chatty library cannot fill the pipe and block the worker.
    worker.stdout.resume();
    worker.stderr.resume();
    worker.unref();
    this.#slots.add(slot);
    return slot;
  }

  /** Resolves the job being parsed and starts the next one's time limit. */
  #finishFirst(slot: Slot, outcome: Answer): void {
    if (slot.timer) clearTimeout(slot.timer);
    slot.timer = undefined;
    const job = slot.jobs.shift();
    if (job) slot.bytes -= job.raw.byteLength;
    if (slot.jobs.length > 0) this.#arm(slot);
    job?.resolve(outcome);
  }

  /** Fails the job being parsed; the others queued on this worker go back to the front of the queue. */
  #failAll(slot: Slot, outcome: ParseOutcome): void {
    if (slot.timer) clearTimeout(slot.timer);
    slot.timer = undefined;
    const [first, ...rest] = slot.jobs;
    slot.jobs = [];
    slot.bytes = 0;
    this.#outbox.delete(slot);
    if (this.#closed) {
      for (const j of rest) j.resolve(outcome);
    } else {
      // Never parsed: they get another worker. Transferred bytes went with the dead worker's
      // message only if it was posted; a transferred buffer is detached, so such a job fails.
      for (const j of rest.reverse()) {
        if (j.transfer && j.raw.byteLength === 0) j.resolve({ ok: false, code: 'PARSE_FAILED', reason: 'parser worker died before the message was parsed' });
        else this.#queue.unshift(j);
      }
    }
    first?.resolve(outcome);
  }

  #timeout(slot: Slot): void {
    const ms = this.#config.limits.parseTimeoutMs;
    this.#failAll(slot, { ok: false, code: 'PARSE_TIMEOUT', reason: `parsing took longer than ${ms} ms; the parser worker was replaced` });
    this.#discard(slot);
  }

  /** A worker died (error or exit): its current job fails, and the pool carries on without it. */
  #replace(slot: Slot, failure: MappedParseError): void {
    if (!this.#slots.has(slot)) return;
    this.#failAll(slot, { ok: false, code: failure.code, reason: failure.reason });
    this.#discard(slot);
  }

  /** Drops a worker; the next pump starts a fresh one if jobs are waiting. */
  #discard(slot: Slot): void {
    this.#slots.delete(slot);
    slot.worker.removeAllListeners('message');
    slot.worker.removeAllListeners('exit');
    // Keep an error listener: terminate() can still emit one, and an unhandled 'error' event
    // would end the process.
    slot.worker.removeAllListeners('error');
    slot.worker.on('error', () => undefined);
    void slot.worker.terminate();
    if (!this.#closed) this.#pump();
  }
}
