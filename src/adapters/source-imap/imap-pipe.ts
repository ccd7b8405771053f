/**
 * The queue between the socket and a consumer of FETCH answers or of one streaming body: the
 * socket pushes, the consumer pulls, and the bytes waiting count toward ImapWire's back-pressure.
 */

/**
 * A queue between the socket (push) and an async consumer (pull). Its bytes count toward the
 * loop's back-pressure; a consumer that stops early cancels it and later pushes are dropped.
 */
export class Pipe<T> implements AsyncIterable<T> {
  private items: T[] = [];
  private head = 0;
  private waiter: { resolve: (r: IteratorResult<T>) => void; reject: (e: unknown) => void } | null = null;
  private ended = false;
  private error: unknown = undefined;
  /** Whether the consumer has gone (see {@link cancel}). */
  cancelled = false;

  constructor(
    private readonly sizeOf: (item: T) => number,
    private readonly taken: (bytes: number) => void,
    private readonly onCancel: () => void,
  ) {}

  /** Adds an item; returns its bytes if they now wait in the queue (0 if handed over or dropped). */
  push(item: T): number {
    if (this.cancelled || this.ended) return 0;
    const w = this.waiter;
    if (w) {
      this.waiter = null;
      w.resolve({ value: item, done: false });
      return 0;
    }
    this.items.push(item);
    return this.sizeOf(item);
  }

  /** No more items; with `error`, the consumer's next read fails with it. */
  end(error?: unknown): void {
    if (this.ended) return;
    this.ended = true;
    this.error = error;
    const w = this.waiter;
    if (!w) return;
    this.waiter = null;
    if (error !== undefined) w.reject(error);
    else w.resolve({ value: undefined, done: true });
  }

  /** The next item, waiting for one if none is queued. */
  next(): Promise<IteratorResult<T>> {
    if (this.head < this.items.length) {
      const item = this.items[this.head]!;
      this.items[this.head++] = undefined as T;
      if (this.head === this.items.length) {
        this.items = [];
        this.head = 0;
      }
      this.taken(this.sizeOf(item));
      return Promise.resolve({ value: item, done: false });
    }
    if (this.ended) return this.error !== undefined ? Promise.reject(this.error) : Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => (this.waiter = { resolve, reject }));
  }

  /** The consumer is gone: what waits is dropped and its bytes released. */
  cancel(): void {
    if (this.cancelled) return;
    this.cancelled = true;
    let bytes = 0;
    for (let i = this.head; i < this.items.length; i++) bytes += this.sizeOf(this.items[i]!);
    this.items = [];
    this.head = 0;
    if (bytes > 0) this.taken(bytes);
    this.onCancel();
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return {
      next: () => this.next(),
      return: (): Promise<IteratorResult<T>> => {
        this.cancel();
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }
}
