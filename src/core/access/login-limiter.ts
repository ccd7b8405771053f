/**
 * Failed sign-ins limited per remote address (issue 14, "Login attempts are rate-limited";
 * ADR 0028): a console sign-in with a wrong token and a request with a Bearer token the archive
 * does not know both count as a failure of the address they came from; after
 * {@link LOGIN_LIMIT.maxFailures} within {@link LOGIN_LIMIT.windowMs}, that address is refused
 * (429 with Retry-After) until the oldest failure in the window is older than the window. A
 * token has 256 random bits, so the limit is not what keeps a guess from succeeding: it keeps a
 * scanner from costing the archive a look-up per request, and makes one visible in the log.
 * Pure: time from the `Clock`.
 */
import type { Clock } from '../ports/clock.js';

/** The limit, each bound with its reason. */
export const LOGIN_LIMIT = {
  /** Failures an address may have within the window; an operator mistyping a token a few times is never refused. */
  maxFailures: 10,
  /** The window, a minute. */
  windowMs: 60_000,
  /** The most addresses remembered at once: a spread-out scan cannot grow memory without bound (the oldest are forgotten first). */
  maxAddresses: 10_000,
} as const;

/** The limiter's answer for one address. */
export type LimitVerdict = { allowed: true } | { allowed: false; retryAfterMs: number };

/** Failed attempts per remote address in a sliding window. */
export class LoginLimiter {
  // Per address, the times of its failures within the window, oldest first; the map in the
  // order addresses last failed, so the first entry is the one to forget when full.
  private readonly failures = new Map<string, number[]>();

  constructor(
    private readonly clock: Pick<Clock, 'now'>,
    private readonly limit: { maxFailures: number; windowMs: number; maxAddresses: number } = LOGIN_LIMIT,
  ) {}

  /** Whether `address` may try now, and if not, in how long it may. */
  check(address: string): LimitVerdict {
    const times = this.recent(address, this.clock.now());
    if (times.length < this.limit.maxFailures) return { allowed: true };
    const oldest = times[times.length - this.limit.maxFailures]!;
    return { allowed: false, retryAfterMs: Math.max(1, oldest + this.limit.windowMs - this.clock.now()) };
  }

  /** Records a failed attempt from `address`. */
  fail(address: string): void {
    const now = this.clock.now();
    const times = this.recent(address, now);
    times.push(now);
    // Only the last maxFailures matter for the verdict.
    if (times.length > this.limit.maxFailures) times.splice(0, times.length - this.limit.maxFailures);
    this.failures.delete(address);
    this.failures.set(address, times);
    while (this.failures.size > this.limit.maxAddresses) {
      const first = this.failures.keys().next().value;
      if (first === undefined) break;
      this.failures.delete(first);
    }
  }

  /** How many addresses are remembered now. */
  get size(): number {
    return this.failures.size;
  }

  /** The failures of `address` still within the window (older ones dropped). */
  private recent(address: string, now: number): number[] {
    const times = this.failures.get(address);
    if (!times) return [];
    while (times.length > 0 && times[0]! <= now - this.limit.windowMs) times.shift();
    if (times.length === 0) this.failures.delete(address);
    return times;
  }
}
