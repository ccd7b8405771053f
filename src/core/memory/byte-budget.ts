/**
 * One budget for the bytes of message data the process holds in memory at once, shared by every
 * stage that holds whole messages (the drain's buffered bodies on their way to the blob writer,
 * the parse, the API's attachment reads). Per-stage caps each looked harmless and added up: six
 * 60 MB messages drained at once held ~760 MB, most of it the index stage reading and parsing
 * all of them together (ADR 0017). A stage asks for the bytes it is about to hold and gives them
 * back when it lets go; while the budget is spent, it waits.
 *
 * Rules, in order of importance:
 * - A request larger than the whole budget is granted alone (once nothing else is held), so a
 *   message bigger than the budget still moves, and nothing can exceed budget + one message.
 * - Requests are granted in the order they were made: a large request is not starved by a
 *   stream of small ones (the small ones queue behind it until it is granted).
 * - Uncontended requests are granted synchronously ({@link ByteBudget.tryAcquire}), so stages
 *   moving thousands of small messages per second pay no promise per message.
 *
 * Pure: no timers, no I/O. The composition root creates one and hands it to each stage.
 */

/** Gives the bytes back; calling it again does nothing. */
export type Release = () => void;

interface Waiter {
  charge: number;
  grant: (release: Release) => void;
  reject: (reason: unknown) => void;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

/** A counting semaphore over bytes; see the module comment. */
export class ByteBudget {
  #inUse = 0;
  #peak = 0;
  readonly #queue: Waiter[] = [];

  /** @param capacity bytes that may be held at once (a positive integer). */
  constructor(readonly capacity: number) {
    if (!Number.isSafeInteger(capacity) || capacity < 1) throw new RangeError(`a byte budget needs a positive whole number of bytes, got ${capacity}`);
  }

  /** Bytes held now. */
  get inUse(): number {
    return this.#inUse;
  }

  /** The most bytes held at once so far (for reports and tests). */
  get peak(): number {
    return this.#peak;
  }

  /** Requests waiting for bytes. */
  get waiting(): number {
    return this.#queue.length;
  }

  /** What a request of `bytes` counts against the budget: never more than all of it. */
  #chargeOf(bytes: number): number {
    return Math.min(Math.max(0, Math.ceil(bytes)), this.capacity);
  }

  #fits(charge: number): boolean {
    return this.#inUse + charge <= this.capacity;
  }

  #take(charge: number): Release {
    this.#inUse += charge;
    if (this.#inUse > this.#peak) this.#peak = this.#inUse;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#inUse -= charge;
      this.#grantWaiting();
    };
  }

  #grantWaiting(): void {
    while (this.#queue.length > 0 && this.#fits(this.#queue[0]!.charge)) {
      const w = this.#queue.shift()!;
      if (w.onAbort) w.signal?.removeEventListener('abort', w.onAbort);
      w.grant(this.#take(w.charge));
    }
  }

  /**
   * The bytes at once if they are free and nobody waits before us, else null (then call
   * {@link acquire}). Never waits.
   */
  tryAcquire(bytes: number): Release | null {
    const charge = this.#chargeOf(bytes);
    if (this.#queue.length > 0 || !this.#fits(charge)) return null;
    return this.#take(charge);
  }

  /**
   * Resolves with a {@link Release} once `bytes` are granted (in request order). A request over
   * the capacity is granted when nothing else is held. Rejects with the signal's reason if
   * `signal` aborts first (nothing is then held).
   */
  acquire(bytes: number, signal?: AbortSignal): Promise<Release> {
    const now = this.tryAcquire(bytes);
    if (now) return Promise.resolve(now);
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise<Release>((resolve, reject) => {
      const w: Waiter = { charge: this.#chargeOf(bytes), grant: resolve, reject, signal, onAbort: undefined };
      if (signal) {
        w.onAbort = () => {
          const i = this.#queue.indexOf(w);
          if (i < 0) return;
          this.#queue.splice(i, 1);
          reject(signal.reason);
          // A large request leaving the head may let smaller ones behind it through.
          this.#grantWaiting();
        };
        signal.addEventListener('abort', w.onAbort, { once: true });
      }
      this.#queue.push(w);
    });
  }

  /** Runs `fn` holding `bytes`, and gives them back however it ends. */
  async with<T>(bytes: number, fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    const release = await this.acquire(bytes, signal);
    try {
      return await fn();
    } finally {
      release();
    }
  }
}

/**
 * The default budget: room for one parse of the largest fully parsed message (64 MiB, charged
 * twice: see {@link PARSE_CHARGE_FACTOR}) beside the drain's buffered bodies, and far more than
 * any set of small messages holds at once, so normal drains never wait on it (ADR 0017).
 */
export const DEFAULT_IN_FLIGHT_BYTES = 160 * 1024 * 1024;

/**
 * A parse holds its message about twice over: the raw bytes (handed to the parser thread) and
 * the decoded parts built from them (a base64 attachment decodes to 3/4 of its text, joined from
 * chunks into one buffer). Charging the raw size once let two 60 MB parses run together at
 * ~480 MB (ADR 0017).
 */
export const PARSE_CHARGE_FACTOR = 2;
