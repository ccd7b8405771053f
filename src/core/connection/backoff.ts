/**
 * Reconnect back-off with full jitter: each connection backs off on its own, so one failing
 * server neither hammers itself nor delays other connections (ARCHITECTURE convention 5).
 */
export interface BackoffPolicy {
  baseMs: number;
  maxMs: number;
}

/** The default: 1 s doubling up to 5 minutes. */
export const DEFAULT_BACKOFF: BackoffPolicy = { baseMs: 1000, maxMs: 5 * 60 * 1000 };

/** Delay before attempt `failures` (1 = first retry); `random` in [0,1) comes from a port. */
export function backoffDelay(failures: number, random: number, policy: BackoffPolicy = DEFAULT_BACKOFF): number {
  const ceiling = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.max(0, Math.min(failures - 1, 30)));
  // Half fixed, half random: never zero, never in lock-step with other connections.
  return Math.round(ceiling / 2 + (ceiling / 2) * random);
}
