/**
 * The MessageParser adapter: postal-mime running in a small pool of worker threads, so parsing
 * never blocks the main thread (which runs the mailbox clients, the store and the buses) and
 * a hung or crashed parse costs one worker, not the process.
 */
import { parseHeadersOnly } from './postal-mime-attributes.js';
import { Worker } from 'node:worker_threads';
import type { MessageParser, ParseOutcome } from '../../core/ports/message-parser.js';
import { resolvePostalMimeParserConfig, type PostalMimeParserConfig, type PostalMimeParserOptions } from './postal-mime-parser-config.js';
import { mapWorkerError, type MappedParseError } from './postal-mime-error-map.js';
import type { WorkerInit, WorkerRequest, WorkerResponse } from './postal-mime-worker.js';

interface Job {
  id: number;
  raw: Uint8Array;
  transfer: boolean;
  resolve: (o: ParseOutcome) => void;
}

interface Slot {
  worker: Worker;
  job: Job | undefined;
  timer: NodeJS.Timeout | undefined;
}

/**
 * Creates the parser. Workers start lazily on the first parse and are replaced when one times
 * out or dies; `close()` stops them. Idle workers do not keep the process alive.
 */
export function createPostalMimeParser(options: PostalMimeParserOptions = {}): MessageParser {
  return new PostalMimeParser(resolvePostalMimeParserConfig(options));
}

class PostalMimeParser implements MessageParser {
  readonly #config: PostalMimeParserConfig;
  readonly #slots = new Set<Slot>();
  readonly #idle: Slot[] = [];
  readonly #queue: Job[] = [];
  #nextId = 1;
  #closed = false;

  constructor(config: PostalMimeParserConfig) {
    this.#config = config;
  }

  parse(raw: Buffer, totalSize?: number): Promise<ParseOutcome> {
    if (this.#closed) {
      return Promise.resolve({ ok: false, code: 'PARSE_FAILED', reason: 'parser is closed' });
    }
    if (totalSize !== undefined && totalSize > raw.byteLength) return this.#headersOfPrefix(raw, totalSize);
    return new Promise<ParseOutcome>((resolve) => {
      // A Buffer that owns its whole ArrayBuffer may be transferred (zero copy) when the caller
      // allowed it; otherwise one copy into a fresh ArrayBuffer, which is then transferred so
      // structured clone does not copy it a second time. Pooled small Buffers share a slab
      // with other Buffers and must never be transferred.
      const owns = raw.byteOffset === 0 && raw.byteLength === raw.buffer.byteLength && raw.buffer instanceof ArrayBuffer;
      const bytes = this.#config.transferRaw && owns ? raw : new Uint8Array(raw);
      this.#queue.push({ id: this.#nextId++, raw: bytes, transfer: true, resolve });
      this.#pump();
    });
  }

  /**
   * A message over the full-parse limit arrives as its first bytes only, so the whole message
   * never sits in memory; its headers are cheap enough to read on this thread.
   */
  async #headersOfPrefix(prefix: Buffer, totalSize: number): Promise<ParseOutcome> {
    const partial = await parseHeadersOnly(prefix, this.#config.limits);
    return {
      ok: false,
      code: 'PARSE_LIMIT_EXCEEDED',
      reason: `message is ${totalSize} bytes, over the full-parse limit of ${this.#config.limits.maxFullParseBytes}; only headers were read`,
      ...(partial ? { partial } : {}),
    };
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const job of this.#queue.splice(0)) job.resolve({ ok: false, code: 'PARSE_FAILED', reason: 'parser closed before the message was parsed' });
    const slots = [...this.#slots];
    this.#slots.clear();
    this.#idle.length = 0;
    await Promise.all(
      slots.map(async (slot) => {
        this.#finish(slot, { ok: false, code: 'PARSE_FAILED', reason: 'parser closed while the message was being parsed' });
        slot.worker.removeAllListeners();
        await slot.worker.terminate();
      }),
    );
  }

  /** Hands queued jobs to idle workers, starting workers up to the configured count. */
  #pump(): void {
    while (this.#queue.length > 0) {
      let slot = this.#idle.pop();
      if (!slot) {
        if (this.#slots.size >= this.#config.workers) return;
        slot = this.#spawn();
      }
      const job = this.#queue.shift()!;
      this.#dispatch(slot, job);
    }
  }

  #dispatch(slot: Slot, job: Job): void {
    slot.job = job;
    slot.worker.ref();
    slot.timer = setTimeout(() => this.#timeout(slot), this.#config.limits.parseTimeoutMs);
    const msg: WorkerRequest = { id: job.id, raw: job.raw };
    slot.worker.postMessage(msg, job.transfer ? [job.raw.buffer as ArrayBuffer] : []);
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
    const slot: Slot = { worker, job: undefined, timer: undefined };
    worker.on('message', (res: WorkerResponse) => {
      if (slot.job?.id !== res.id) return;
      this.#finish(slot, res.outcome);
      this.#release(slot);
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

  /** Resolves the slot's job, if any, and clears its timer. */
  #finish(slot: Slot, outcome: ParseOutcome): void {
    if (slot.timer) clearTimeout(slot.timer);
    slot.timer = undefined;
    const job = slot.job;
    slot.job = undefined;
    job?.resolve(outcome);
  }

  #release(slot: Slot): void {
    if (!this.#slots.has(slot)) return;
    slot.worker.unref();
    this.#idle.push(slot);
    this.#pump();
  }

  #timeout(slot: Slot): void {
    const ms = this.#config.limits.parseTimeoutMs;
    this.#finish(slot, { ok: false, code: 'PARSE_TIMEOUT', reason: `parsing took longer than ${ms} ms; the parser worker was replaced` });
    this.#discard(slot);
  }

  /** A worker died (error or exit): its job fails, and the pool carries on without it. */
  #replace(slot: Slot, failure: MappedParseError): void {
    if (!this.#slots.has(slot)) return;
    this.#finish(slot, { ok: false, code: failure.code, reason: failure.reason });
    this.#discard(slot);
  }

  /** Drops a worker; the next pump starts a fresh one if jobs are waiting. */
  #discard(slot: Slot): void {
    this.#slots.delete(slot);
    const i = this.#idle.indexOf(slot);
    if (i >= 0) this.#idle.splice(i, 1);
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
