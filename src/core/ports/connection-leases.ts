/**
 * Connection leases (issue 20, item 4; ADR 0053): in scale-out, each connection (or each folder of
 * it) is drained by one worker at a time. A worker holds a lease on the connection's key for a
 * term; every grant carries a **fencing token** that only grows, so a store can refuse the
 * commit of a worker whose lease another has taken since (`CommitFence`, checked by
 * `DrainLedger.commitTaken` in the commit's own transaction). Workers announce themselves with
 * heartbeats so each knows how many share the connections.
 *
 * Terms are durations, never instants: the store measures them on its own clock (PostgreSQL's),
 * so the workers' clocks need not agree, and a worker counts its term from the moment it sent the
 * request (before the store's start of it, so its own deadline always falls earlier).
 */

/** A lease as the store holds it now. */
export interface HeldLease {
  key: string;
  holder: string;
  /** The fencing token of this grant: larger than every token granted before, on any key. */
  token: number;
  /** How long it still runs, by the store's clock, when it was read. */
  remainingMs: number;
}

/** What a commit names to be refused once its lease is lost (`LEASE_LOST`). */
export interface CommitFence {
  key: string;
  token: number;
}

/** The lease store: grants, renewals, releases, and who is alive. */
export interface ConnectionLeases {
  /**
   * Grants `key` to `holder` for `termMs` when nobody holds it or its lease has expired (or
   * `holder` holds it already), with a new token; null when another holds it unexpired.
   */
  acquire(key: string, holder: string, termMs: number): Promise<number | null>;
  /**
   * Extends the leases of `holder` named with their tokens by `termMs` from now; answers the keys
   * renewed. A lease that expired, was released or was granted anew is not renewed: it is lost.
   */
  renew(holder: string, leases: readonly CommitFence[], termMs: number): Promise<Set<string>>;
  /** Gives the lease up at once (when `holder` still holds it under `token`; else nothing). */
  release(key: string, holder: string, token: number): Promise<void>;
  /** Every unexpired lease. */
  holdings(): Promise<HeldLease[]>;
  /** `worker` is alive for `termMs` more (its heartbeat). */
  heartbeat(worker: string, termMs: number): Promise<void>;
  /** The workers whose heartbeat has not expired, sorted. */
  liveWorkers(): Promise<string[]>;
  /** `worker` stopped cleanly: it counts as gone at once. */
  leave(worker: string): Promise<void>;
}
