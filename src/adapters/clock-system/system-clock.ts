/**
 * The Clock port on the real time (`Date.now()`) and Node's timers; the core never reads either
 * directly (test/architecture/dependency-rule.test.ts).
 */
import type { Clock } from '../../core/ports/clock.js';

/** The real clock: `now()` is `Date.now()`, `sleep` a timer that an abort ends at once (it resolves, never rejects). */
export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve) => {
      if (signal?.aborted) return resolve();
      const done = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal?.addEventListener('abort', done, { once: true });
    }),
};
