/**
 * A wait with a time limit that an abort also ends: a broker's acknowledgement (the publish
 * actions), which the clients' own APIs take no AbortSignal for.
 */

/** Why {@link bounded} gave up: the time limit passed, or the signal aborted. */
export class BoundedWaitEnded extends Error {
  constructor(readonly why: 'timeout' | 'aborted') {
    super(why === 'timeout' ? 'the time limit passed' : 'the wait was aborted');
    this.name = 'BoundedWaitEnded';
  }
}

/**
 * Settles as `work` does, or rejects with {@link BoundedWaitEnded} once `ms` have passed or
 * `signal` aborts (at once when it already has). `work` keeps running: a rejection of it after
 * the wait ended is swallowed, so it never surfaces as an unhandled one.
 */
export function bounded<T>(work: Promise<T>, ms: number, signal?: AbortSignal): Promise<T> {
  work.catch(() => undefined);
  return new Promise<T>((resolve, reject) => {
    const end = (why: 'timeout' | 'aborted'): void => {
      cleanup();
      reject(new BoundedWaitEnded(why));
    };
    const onAbort = (): void => end('aborted');
    const timer = setTimeout(() => end('timeout'), ms);
    const cleanup = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    };
    if (signal?.aborted) return end('aborted');
    signal?.addEventListener('abort', onAbort, { once: true });
    work.then(
      (v) => {
        cleanup();
        resolve(v);
      },
      (err: unknown) => {
        cleanup();
        reject(err);
      },
    );
  });
}
