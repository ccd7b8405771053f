/**
 * Messages per second over the last minute (issue 14, item 1: a connection's status shows its
 * "rate over the last minute"): counts in one-second buckets of a ring of sixty, so a burst of
 * commits costs no memory beyond the ring and the rate falls back to 0 a minute after the last
 * one. Pure: the caller passes the time.
 */

/** The window, in seconds. */
export const RATE_WINDOW_SECONDS = 60;

/** A sliding one-minute count of events. */
export class RateWindow {
  private readonly counts = new Array<number>(RATE_WINDOW_SECONDS).fill(0);
  /** The second (since the epoch) each bucket holds the count of. */
  private readonly seconds = new Array<number>(RATE_WINDOW_SECONDS).fill(-1);

  /** Counts `n` events at `now` (ms since the epoch). */
  add(now: number, n: number): void {
    const second = Math.floor(now / 1000);
    const i = second % RATE_WINDOW_SECONDS;
    if (this.seconds[i] !== second) {
      this.seconds[i] = second;
      this.counts[i] = 0;
    }
    this.counts[i]! += n;
  }

  /** Events per second over the minute before `now` (the current second included), to two decimals. */
  perSecond(now: number): number {
    const second = Math.floor(now / 1000);
    let sum = 0;
    for (let i = 0; i < RATE_WINDOW_SECONDS; i++) {
      const s = this.seconds[i]!;
      if (s > second - RATE_WINDOW_SECONDS && s <= second) sum += this.counts[i]!;
    }
    return Math.round((sum / RATE_WINDOW_SECONDS) * 100) / 100;
  }
}
