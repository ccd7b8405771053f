/**
 * `LeaseKeeper` (scale-out, ADR 0053): keeps this worker's connection leases. Every tick it
 * heartbeats, renews what is due, reads who is alive and who holds what, and acts on the core's
 * plan (`core/connection/lease-plan.ts`): a key given up has its run stopped first and its lease
 * released only once that run ended (renewed meanwhile, so the run's last commit still passes its
 * fence); a key granted starts a run with a signal of its own, which the keeper aborts when the
 * lease is lost. A lease is lost when a renewal is refused, another holder shows in the table, or
 * its local deadline (`leaseTimes`) passes without a confirmed renewal; that deadline is watched
 * by a timer of its own, so a store that hangs cannot keep a run going past it. A clean stop
 * stops every run, releases every lease and leaves; a stop without release (a crash, in tests)
 * leaves the leases to expire.
 *
 * `app/scale-out.ts` runs one keeper per worker over the enabled connections (a key per
 * connection; per folder with `leaseKeyOf` is not used yet), the pipeline starting and stopping
 * each connection's runners as its lease comes and goes, and `fence(key)` checked by every
 * commit and server action (ADR 0055).
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { DEFAULT_LEASE_TERM_MS, leaseTickMs, leaseTimes, planLeases } from '../core/connection/lease-plan.js';
import { mapInLanes } from '../core/concurrency/lanes.js';
import type { CommitFence, ConnectionLeases } from '../core/ports/connection-leases.js';
import type { Clock } from '../core/ports/clock.js';
import type { Logger } from '../core/ports/logger.js';

/** What a run started on a lease gets: the token to fence its commits with, and its stop. */
export interface GrantedLease {
  key: string;
  token: number;
  /** Aborted when the lease is lost or given up, or the keeper stops. */
  signal: AbortSignal;
}

/** How the keeper is set up. */
export interface LeaseKeeperOptions {
  leases: ConnectionLeases;
  /** This worker's name in the lease table (default: `workerName()`). */
  worker?: string;
  /** The keys to drain, read at every tick (a reload may change them). */
  keys: () => readonly string[];
  /** Starts the run of a key; resolves (or rejects) when the run ended after its signal aborted. */
  run: (lease: GrantedLease) => Promise<void>;
  /** The lease term (default `DEFAULT_LEASE_TERM_MS`). */
  termMs?: number;
  /** How often it ticks (default a sixth of the term). */
  tickMs?: number;
  clock: Clock;
  logger: Logger;
}

/** One lease this worker holds. */
interface Holding {
  token: number;
  renewAt: number;
  lostAt: number;
  stop: AbortController;
  /** Settles when the run ended. */
  done: Promise<void>;
  releasing: boolean;
}

/** Grants asked at once (each a round trip and a WAL flush, ~8 ms; the pool has 10 connections). */
const ACQUIRE_LANES = 4;

/** A worker name unique to this process: host, pid and a random suffix (a restarted pid is another worker). */
export function workerName(): string {
  return `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
}

/** See the module comment. */
export class LeaseKeeper {
  readonly worker: string;
  readonly termMs: number;
  readonly tickMs: number;
  private readonly held = new Map<string, Holding>();
  private readonly halt = new AbortController();
  private loop: Promise<void> | null = null;
  private deadlines: NodeJS.Timeout | null = null;

  constructor(private readonly o: LeaseKeeperOptions) {
    this.worker = o.worker ?? workerName();
    this.termMs = o.termMs ?? DEFAULT_LEASE_TERM_MS;
    this.tickMs = o.tickMs ?? leaseTickMs(this.termMs);
  }

  /** Starts ticking (the first tick at once). */
  start(): void {
    if (this.loop) return;
    this.deadlines = setInterval(() => this.checkDeadlines(), Math.max(20, Math.floor(this.tickMs / 2)));
    this.loop = this.ticking();
  }

  /** The keys this worker holds now (its runs under way or stopping). */
  holding(): string[] {
    return [...this.held.keys()].sort();
  }

  /**
   * The fence for a commit or a server action on `key`: its token while the lease is held and its
   * local deadline has not passed (read from the clock now, so a worker resumed after a pause sees
   * it gone before any timer fires), else null: the caller must not commit or act.
   */
  fence(key: string): CommitFence | null {
    const h = this.held.get(key);
    return h && this.o.clock.now() < h.lostAt ? { key, token: h.token } : null;
  }

  /**
   * Stops ticking. With `release` (a clean stop) every run is stopped and awaited, every lease
   * released and the worker leaves; without, the runs are stopped and the leases left to expire,
   * as after a crash.
   */
  async stop(opts: { release: boolean } = { release: true }): Promise<void> {
    this.pause();
    await this.loop;
    const all = [...this.held];
    for (const [, h] of all) h.stop.abort();
    await Promise.all(all.map(([, h]) => h.done));
    if (!opts.release) {
      this.held.clear();
      return;
    }
    await Promise.all(all.map(([key, h]) => this.releaseNow(key, h)));
    await this.o.leases.leave(this.worker).catch((err: unknown) => this.o.logger.warn('could not record that this worker stopped; the others see it gone when its heartbeat expires', { error: String(err) }));
  }

  /** Stops every timer and does nothing more: runs, holdings and leases stay as they are (a paused process). */
  pause(): void {
    this.halt.abort();
    if (this.deadlines) clearInterval(this.deadlines);
    this.deadlines = null;
  }

  private async ticking(): Promise<void> {
    while (!this.halt.signal.aborted) {
      const started = this.o.clock.now();
      try {
        await this.tick();
      } catch (err) {
        // The lease store cannot be reached: the leases held run out by their local deadlines.
        this.o.logger.warn('lease keeping failed this tick; tried again at the next', { error: err instanceof Error ? err.message : String(err) });
      }
      await this.o.clock.sleep(Math.max(0, this.tickMs - (this.o.clock.now() - started)), this.halt.signal);
    }
  }

  /** One tick: heartbeat, renewals, the survey, and the plan acted on. */
  private async tick(): Promise<void> {
    const { leases } = this.o;
    const tickStart = this.o.clock.now();
    this.checkDeadlines();
    await leases.heartbeat(this.worker, this.termMs);
    await this.renewDue();
    const [workers, table] = await Promise.all([leases.liveWorkers(), leases.holdings()]);
    if (this.halt.signal.aborted) return;
    const holders = new Map<string, string>();
    for (const l of table) {
      const mine = this.held.get(l.key);
      if (mine && (l.holder !== this.worker || l.token !== mine.token)) this.lose(l.key, 'another worker holds it');
      // A lease of this worker it no longer counts on (lost, its run stopped) is not free yet.
      holders.set(l.key, l.holder === this.worker && !this.held.has(l.key) ? '' : l.holder);
    }
    for (const key of this.held.keys()) if (!holders.has(key)) this.lose(key, 'its lease is gone from the table');
    const plan = planLeases({ self: this.worker, keys: this.o.keys(), workers, holders });
    for (const key of plan.giveUp) this.giveUp(key);
    await this.takeSome(plan.take, tickStart);
  }

  /**
   * Tries the plan's free keys, `ACQUIRE_LANES` at a time, for at most half a tick: a worker
   * starting beside a thousand free keys takes them over several ticks, and its renewals are
   * never kept waiting behind a long run of grants.
   */
  private async takeSome(keys: readonly string[], tickStart: number): Promise<void> {
    const enough = new AbortController();
    const stopOnHalt = (): void => enough.abort();
    this.halt.signal.addEventListener('abort', stopOnHalt, { once: true });
    try {
      await mapInLanes(keys, ACQUIRE_LANES, async (key) => {
        if (this.o.clock.now() - tickStart > this.tickMs / 2) return enough.abort();
        const sentAt = this.o.clock.now();
        const token = await this.o.leases.acquire(key, this.worker, this.termMs);
        if (token === null) return;
        // Granted after a halt (a stop under way): not started, and given back at once.
        if (this.halt.signal.aborted) await this.o.leases.release(key, this.worker, token).catch(() => undefined);
        else this.begin(key, token, sentAt);
      }, enough.signal);
    } finally {
      this.halt.signal.removeEventListener('abort', stopOnHalt);
    }
  }

  /** Renews the leases whose renewal is due; a refused one is lost. */
  private async renewDue(): Promise<void> {
    const now = this.o.clock.now();
    const due = [...this.held].filter(([, h]) => now >= h.renewAt).map(([key, h]) => ({ key, token: h.token }));
    if (due.length === 0) return;
    const renewed = await this.o.leases.renew(this.worker, due, this.termMs);
    for (const { key, token } of due) {
      const h = this.held.get(key);
      if (!h || h.token !== token) continue;
      if (!renewed.has(key)) this.lose(key, 'its renewal was refused');
      else Object.assign(h, leaseTimes(now, this.termMs));
    }
  }

  /** Loses every lease whose local deadline passed. */
  private checkDeadlines(): void {
    const now = this.o.clock.now();
    for (const [key, h] of this.held) if (now >= h.lostAt) this.lose(key, 'no renewal was confirmed within its term');
  }

  /** A lease granted: its run starts. */
  private begin(key: string, token: number, sentAt: number): void {
    const stop = new AbortController();
    const h: Holding = { token, ...leaseTimes(sentAt, this.termMs), stop, done: Promise.resolve(), releasing: false };
    this.held.set(key, h);
    this.o.logger.info('lease taken', { key, token });
    h.done = Promise.resolve()
      .then(() => this.o.run({ key, token, signal: stop.signal }))
      .catch((err: unknown) => this.o.logger.error('a run on a lease failed', { key, token, error: err instanceof Error ? err.message : String(err) }));
  }

  /** The lease is not ours any more: its run is stopped, nothing released (it may be another's). */
  private lose(key: string, why: string): void {
    const h = this.held.get(key);
    if (!h) return;
    this.held.delete(key);
    h.stop.abort();
    this.o.logger.warn('lease lost; the connection stops here', { key, token: h.token, why });
  }

  /** Over the quota: the run stops, and the lease is released once it ended (renewed until then). */
  private giveUp(key: string): void {
    const h = this.held.get(key);
    if (!h || h.releasing) return;
    h.releasing = true;
    h.stop.abort();
    this.o.logger.info('giving a lease up to even the spread', { key, token: h.token });
    void h.done.then(() => (this.held.get(key) === h && !this.halt.signal.aborted ? this.releaseNow(key, h) : undefined));
  }

  private async releaseNow(key: string, h: Holding): Promise<void> {
    this.held.delete(key);
    await this.o.leases.release(key, this.worker, h.token).catch((err: unknown) =>
      this.o.logger.warn('could not release a lease; it expires at the end of its term', { key, error: err instanceof Error ? err.message : String(err) }),
    );
  }
}
