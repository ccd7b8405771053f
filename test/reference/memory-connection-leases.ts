/**
 * The in-memory reference adapter of `ConnectionLeases`: maps of leases and heartbeats, one
 * counter for the tokens, expiry on the clock it is handed. Held to
 * `test/contract/connection-leases.contract.ts`; what a second lease backend must do, at the least.
 * `fenceHolds` is what a store's commit checks inside its transaction (`CommitFence`).
 */
import type { CommitFence, ConnectionLeases, HeldLease } from '../../src/core/ports/connection-leases.js';

interface Lease {
  holder: string;
  token: number;
  expiresAt: number;
}

/** See the module comment. */
export class MemoryConnectionLeases implements ConnectionLeases {
  private readonly leases = new Map<string, Lease>();
  private readonly workers = new Map<string, number>();
  private lastToken = 0;

  constructor(private readonly now: () => number = Date.now) {}

  private live(key: string): Lease | undefined {
    const l = this.leases.get(key);
    return l && l.expiresAt > this.now() ? l : undefined;
  }

  async acquire(key: string, holder: string, termMs: number): Promise<number | null> {
    const l = this.live(key);
    if (l && l.holder !== holder) return null;
    const token = ++this.lastToken;
    this.leases.set(key, { holder, token, expiresAt: this.now() + termMs });
    return token;
  }

  async renew(holder: string, leases: readonly CommitFence[], termMs: number): Promise<Set<string>> {
    const renewed = new Set<string>();
    for (const { key, token } of leases) {
      const l = this.live(key);
      if (!l || l.holder !== holder || l.token !== token) continue;
      l.expiresAt = this.now() + termMs;
      renewed.add(key);
    }
    return renewed;
  }

  async release(key: string, holder: string, token: number): Promise<void> {
    const l = this.leases.get(key);
    if (l && l.holder === holder && l.token === token) this.leases.delete(key);
  }

  async holdings(): Promise<HeldLease[]> {
    const now = this.now();
    return [...this.leases]
      .filter(([, l]) => l.expiresAt > now)
      .map(([key, l]) => ({ key, holder: l.holder, token: l.token, remainingMs: l.expiresAt - now }))
      .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async heartbeat(worker: string, termMs: number): Promise<void> {
    this.workers.set(worker, this.now() + termMs);
  }

  async liveWorkers(): Promise<string[]> {
    const now = this.now();
    return [...this.workers].filter(([, until]) => until > now).map(([w]) => w).sort();
  }

  async leave(worker: string): Promise<void> {
    this.workers.delete(worker);
  }

  /** Whether a commit under `fence` may go ahead: the lease held under that token, unexpired. */
  fenceHolds(fence: CommitFence): boolean {
    return this.live(fence.key)?.token === fence.token;
  }
}
