/**
 * The runners of a pipeline run, by connection, so that applying a changed configuration can
 * stop and start those of one connection without touching the others (ADR 0024). Each
 * connection's runners share a stop of their own, a child of the run's: the whole run stops them
 * all, a reload stops one connection's.
 */
import type { ConnectionConfig } from '../config/loader.js';
import type { EmbeddedApp, SourceMaker } from './embedded.js';
import { createRunners, type Runner } from './runners.js';

/** One connection's runners (one per folder) and what stops them. */
interface ConnectionRun {
  runners: Runner[];
  stop: AbortController;
  /** Settles when every one of its runners' `run` ended (continuous); resolved until it runs. */
  done: Promise<void>;
  /** Removes the run's stop listener of this connection's stop. */
  detach(): void;
}

/** The runners of the connections a run takes from, by connection. */
export class ConnectionRuns {
  private readonly runs = new Map<string, ConnectionRun>();

  /**
   * @param signal the run's stop: every connection's runners stop with it.
   * @param onFailure a runner whose `run` threw (never expected while continuous: it retries).
   */
  constructor(
    private readonly app: EmbeddedApp,
    private readonly signal: AbortSignal,
    private readonly onFailure: (connection: string, err: unknown) => void,
    /** How the runners' sources are made (default: the app's, by protocol). */
    private readonly createSource: SourceMaker = app.createSource,
  ) {}

  /** Every runner, in the order their connections were added. */
  all(): Runner[] {
    return [...this.runs.values()].flatMap((r) => r.runners);
  }

  /** The runners of `connection` (none when it does not run here). */
  of(connection: string): readonly Runner[] {
    return this.runs.get(connection)?.runners ?? [];
  }

  /** The names of the connections that run. */
  names(): string[] {
    return [...this.runs.keys()];
  }

  /** Makes the runners of `c` (one per folder), not running yet. */
  add(c: ConnectionConfig): void {
    const stop = new AbortController();
    const onStop = (): void => stop.abort();
    if (this.signal.aborted) stop.abort();
    else this.signal.addEventListener('abort', onStop, { once: true });
    this.runs.set(c.name, {
      runners: createRunners(this.app, [c], this.createSource),
      stop,
      done: Promise.resolve(),
      detach: () => this.signal.removeEventListener('abort', onStop),
    });
  }

  /** Runs the runners of `connection` until it is stopped or the run is (`continuous`). */
  run(connection: string): void {
    const run = this.runs.get(connection);
    if (!run) return;
    run.done = Promise.all(run.runners.map((r) => r.run({ once: false, signal: run.stop.signal }))).then(
      () => undefined,
      (err: unknown) => this.onFailure(connection, err),
    );
  }

  /** Adds `c` and runs it at once. */
  start(c: ConnectionConfig): void {
    this.add(c);
    this.run(c.name);
  }

  /**
   * Stops the runners of `connection` and waits for them to end. A cycle under way finishes
   * first (a drain cycle does not look at the stop): its batches commit and their server
   * actions are applied or left pending for the next session, as at a service stop.
   */
  async stop(connection: string): Promise<void> {
    const run = this.runs.get(connection);
    if (!run) return;
    run.stop.abort();
    await run.done;
    run.detach();
    this.runs.delete(connection);
  }

  /** Settles once every running connection's runners ended. */
  async settled(): Promise<void> {
    await Promise.all([...this.runs.values()].map((r) => r.done));
  }
}
