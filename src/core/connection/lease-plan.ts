/**
 * Which connection leases a worker takes, keeps and gives up (issue 20, item 4; ADR 0053), and
 * when it renews them. Pure: the app's `LeaseKeeper` reads the lease store, asks `planLeases`,
 * and acts.
 *
 * Spread: with N keys and W live workers every worker's share is ⌊N/W⌋ or ⌈N/W⌉. Which workers
 * get the larger share is decided from what they hold already (most first, then by name), so a
 * worker that holds its share keeps it and a join or a leave moves as few keys as it can. Every
 * worker computes the same quotas from the same view, so they agree without talking.
 *
 * Never two holders: a worker only takes a key nobody holds (released, or its lease expired);
 * one over its quota gives keys up first and another takes them after the release (or after the
 * expiry, when the one over its quota died). The lease store's grant is atomic; the plan only
 * chooses which free keys to try, each worker in an order of its own (`affinity`), so several
 * workers after the same few free keys mostly try different ones.
 */

/** The lease key of a connection's folder: the connection's name alone when it drains one folder. */
export function leaseKeyOf(connection: string, folder?: string): string {
  // Connection names are system names (no "/"), so the first "/" splits the key unambiguously.
  return folder === undefined ? connection : `${connection}/${folder}`;
}

/** What the worker sees: the wanted keys, who is alive, who holds what (unexpired). */
export interface LeaseView {
  /** This worker. */
  self: string;
  /** Every key that should be drained (the enabled connections' folders). */
  keys: readonly string[];
  /** Workers whose heartbeat is current (this one counts whether listed or not). */
  workers: readonly string[];
  /** Unexpired leases: key → holder. */
  holders: ReadonlyMap<string, string>;
}

/** What the worker should do now. */
export interface LeasePlan {
  /** Free keys to try to acquire, best first (at most what the quota leaves room for). */
  take: string[];
  /** Keys this worker holds and should give up: over its quota, or no longer wanted. */
  giveUp: string[];
  /** This worker's quota. */
  quota: number;
}

/** 32-bit FNV-1a: a stable, cheap hash for the affinity order (no crypto in the core). */
function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/** How much `worker` prefers `key` (rendezvous hashing): higher first, the same on every worker. */
export function affinity(worker: string, key: string): number {
  return fnv1a(`${worker}\u0000${key}`);
}

/** `keys` in `worker`'s order of preference (highest affinity first, then by name). */
function byAffinity(worker: string, keys: Iterable<string>): string[] {
  return [...keys].sort((a, b) => affinity(worker, b) - affinity(worker, a) || (a < b ? -1 : a > b ? 1 : 0));
}

/**
 * Every live worker's quota: ⌈N/W⌉ for the first N mod W workers ordered by how many wanted keys
 * they hold (most first, then by name), ⌊N/W⌋ for the rest.
 */
export function quotas(keys: readonly string[], workers: readonly string[], holders: ReadonlyMap<string, string>): Map<string, number> {
  const live = [...new Set(workers)];
  const out = new Map<string, number>();
  if (live.length === 0) return out;
  const held = new Map<string, number>(live.map((w) => [w, 0]));
  for (const k of new Set(keys)) {
    const h = holders.get(k);
    if (h !== undefined && held.has(h)) held.set(h, held.get(h)! + 1);
  }
  const n = new Set(keys).size;
  const base = Math.floor(n / live.length);
  const extra = n % live.length;
  live
    .sort((a, b) => held.get(b)! - held.get(a)! || (a < b ? -1 : a > b ? 1 : 0))
    .forEach((w, i) => out.set(w, base + (i < extra ? 1 : 0)));
  return out;
}

/** The plan for `view.self`: see the module comment. */
export function planLeases(view: LeaseView): LeasePlan {
  const wanted = new Set(view.keys);
  const workers = view.workers.includes(view.self) ? view.workers : [...view.workers, view.self];
  const quota = quotas([...wanted], workers, view.holders).get(view.self) ?? 0;
  const mine: string[] = [];
  const unwanted: string[] = [];
  for (const [key, holder] of view.holders) {
    if (holder !== view.self) continue;
    if (wanted.has(key)) mine.push(key);
    else unwanted.push(key);
  }
  // Over the quota: give up the keys this worker likes least, so that the choice is stable from
  // one tick to the next (the same keys while their runs stop) and differs between workers.
  const excess = Math.max(0, mine.length - quota);
  const giveUp = [...unwanted.sort(), ...byAffinity(view.self, mine).slice(mine.length - excess)];
  const free = [...wanted].filter((k) => !view.holders.has(k));
  const take = excess > 0 ? [] : byAffinity(view.self, free).slice(0, Math.max(0, quota - mine.length));
  return { take, giveUp, quota };
}

/**
 * When a lease granted (or renewed) by a request sent at `sentAt` must be renewed, and when this
 * worker must stop counting on it. The term runs on the store's clock from when the store
 * handled the request, which is after `sentAt`: counting from `sentAt` keeps the worker's deadline
 * before the store's. `lostAt` keeps a tenth of the term (at most 2 s) more in hand for clocks that
 * run at slightly different rates and for the time a stop takes.
 */
export function leaseTimes(sentAt: number, termMs: number): { renewAt: number; lostAt: number } {
  return { renewAt: sentAt + Math.floor(termMs / 3), lostAt: sentAt + termMs - Math.min(2000, Math.floor(termMs / 10)) };
}

/**
 * The default term and tick: a killed worker's connections resume elsewhere within term + tick
 * (issue 20 asks under 10 s); renewed at a third of the term, so two renewals can fail in a row
 * (a slow PostgreSQL, a lost packet) before the lease is in danger; the tick a sixth of the term
 * so a renewal is never more than a sixth late.
 */
export const DEFAULT_LEASE_TERM_MS = 6000;

/** The keeper's tick for a term (see `DEFAULT_LEASE_TERM_MS`). */
export function leaseTickMs(termMs: number): number {
  return Math.max(50, Math.floor(termMs / 6));
}
