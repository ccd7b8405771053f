/**
 * A pause that an abort ends early: a source's wait between polls, a throttled request's back-off.
 */

/** Longest delay `setTimeout` takes (about 24.8 days); longer ones would fire at once. */
const MAX_TIMER_MS = 2_147_483_647;

/**
 * Resolves after `ms`, or as soon as `signal` aborts (at once when it already has); never rejects.
 * `onStart` receives a function that ends the pause early (a notification that new mail came).
 */
export function pause(ms: number, signal?: AbortSignal, onStart?: (end: () => void) => void): Promise<void> {
  return new Promise<void>((resolve) => {
    if (signal?.aborted) return resolve();
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, Math.min(Math.max(0, ms), MAX_TIMER_MS));
    signal?.addEventListener('abort', done, { once: true });
    onStart?.(done);
  });
}
