/**
 * The one pipeline root `drain` and `start` share: the API, a runner per connection (and
 * folder), the index stage behind them, the compress stage, and the dispatcher on its own thread,
 * started and ended in one order. The mode is what differs: `once` (`drain`) takes until every
 * mailbox is empty and then waits for each stage behind in turn, reporting the first failure of
 * each after the runners stopped; `continuous` (`start`) runs every stage until the stop signal,
 * pauses the background stages on a full disk, and stops everything when one of them fails.
 */
import { setMaxListeners } from 'node:events';
import { runIndexStage, type IndexTotals } from '../core/archive/index-stage.js';
import { createCompressSchedule, emptyCompressTotals, type CompressTotals } from '../core/archive/compress-stage.js';
import type { DispatchTotals } from '../core/bus/dispatcher.js';
import type { ConnectionStatus } from '../core/connection/connection-runner.js';
import type { ConnectionConfig } from '../config/loader.js';
import type { RouteConfig } from '../config/schema.js';
import { assertRoutesRunnable } from './action-factory.js';
import { startDispatchThread, type DispatchThread } from './dispatch-thread.js';
import { runPausingWhileDiskFull } from './disk-full-pause.js';
import { createRunners, indexStageDeps, runnersByConnection, type Runner } from './runners.js';
import { startApi, type ApiContext, type RunningApi } from './api.js';
import { startControlSocket } from './control-socket.js';
import { createRunMetrics, type RunMetrics } from './metrics.js';
import type { EmbeddedApp } from './embedded.js';

/** `once`: the `drain` command, until every mailbox is empty; `continuous`: the service, until stopped. */
export type PipelineMode = 'once' | 'continuous';

/**
 * `drain` keeps going while a failed delivery's retry is due within this; one due later is left
 * pending (counted `failed`) and the command exits. With the default back-off (1 s doubling) that
 * is about five retries.
 */
export const DRAIN_RETRY_HORIZON_MS = 30_000;

/** What a `once` run is waiting for: taking from the servers, parsing, delivering, compressing, applying responses. */
export type PipelineStage = 'taking' | 'parsing' | 'delivering' | 'compressing' | 'responses';

/** What a run has done so far, reported twice a second while it runs. */
export interface PipelineProgress {
  statuses: ConnectionStatus[];
  /** Messages parsed (and unparsable) so far. */
  index: IndexTotals;
  /** Per route, deliveries so far (none without routes). */
  deliveries: DispatchTotals['routes'];
  stage: PipelineStage;
}

/** Options of {@link runPipeline}. */
export interface PipelineOptions {
  mode: PipelineMode;
  /** The connections to take from (their runners, one per folder). */
  connections: readonly ConnectionConfig[];
  /** The enabled routes the dispatcher runs (none: no dispatcher thread). */
  routes: readonly RouteConfig[];
  signal?: AbortSignal;
  onProgress?: (p: PipelineProgress) => void;
}

/** What a run did (`drain` builds its summary from it). */
export interface PipelineResult {
  statuses: ConnectionStatus[];
  /** The first runner that ended with a final error (`once`), if any. */
  failure?: unknown;
  index: IndexTotals;
  compressed: CompressTotals;
  dispatched: DispatchTotals;
  /** When the run began, every mailbox was empty, everything was indexed, compressed and delivered (ms since the epoch). */
  at: { started: number; empty: number; indexed: number; compressed: number; delivered: number };
}

/**
 * Runs the pipeline in `mode`: the routes checked, the API started first (a port in use stops the
 * command before it takes anything; `once` starts it only while a webhook route may hand out
 * attachment references for it to serve), the stages run, the API closed.
 */
export async function runPipeline(app: EmbeddedApp, options: PipelineOptions): Promise<PipelineResult> {
  const started = app.clock.now();
  assertRoutesRunnable(options.routes);
  const needsApi = options.mode === 'continuous' || options.routes.some((r) => r.scenario.some((a) => a.action === 'webhook'));
  let run: PipelineRun | null = null;
  // Read at scrape time only (`GET /metrics`), so only beside an API.
  const metrics = needsApi && app.config.api.enabled ? await createRunMetrics(app) : null;
  const context: ApiContext = { statuses: () => run?.statuses() ?? [], runNow: (name) => run?.runNow(name) ?? 0, ...(metrics ? { metrics: metrics.metrics } : {}) };
  // The service's commands' way in (ADR 0025): `continuous` only, whatever `api.enabled` says;
  // before the TCP API, so a client that saw `/readyz` answer finds the socket too.
  const control = options.mode === 'continuous' ? await startControlSocket(app, context) : null;
  const api = needsApi
    ? await startApi(app, context).catch(async (err: unknown) => {
        await control?.close();
        throw err;
      })
    : null;
  try {
    run = new PipelineRun(app, options, api, started, metrics);
    return await run.run();
  } finally {
    await control?.close();
    await api?.close();
    await metrics?.close();
  }
}

/** A stage's end: its value, or the error it failed with. */
type Settled<T> = { ok: true; value: T } | { ok: false; error: unknown };

function settle<T>(p: Promise<T>): Promise<Settled<T>> {
  return p.then(
    (value): Settled<T> => ({ ok: true, value }),
    (error: unknown): Settled<T> => ({ ok: false, error }),
  );
}

/** One run of the pipeline, from its runners' start to the last stage's end. */
class PipelineRun {
  private readonly once: boolean;
  private readonly runners: Runner[];
  private readonly thread: DispatchThread | null;
  private readonly index: IndexTotals = { parsed: 0, unparsable: 0, bytes: 0 };
  /** The run's own stop: the caller's signal, or (`continuous`) a background stage failing. */
  private readonly ac = new AbortController();
  /** `continuous`: the first stage failure, thrown once everything stopped. */
  private failure: unknown;
  /** `once`: false once every runner ended, so the index stage may finish when its queue is empty. */
  private taking = true;
  private stage: PipelineStage = 'taking';

  constructor(
    private readonly app: EmbeddedApp,
    private readonly options: PipelineOptions,
    api: RunningApi | null,
    private readonly started: number,
    metrics: RunMetrics | null,
  ) {
    this.once = options.mode === 'once';
    // Every runner, index lane waiting for the byte budget and sleeping stage listens to this one
    // signal at once (each removes its listener when done): more than Node's default of 10 is the
    // design, not a leak, and the warning would only alarm an operator reading the log.
    setMaxListeners(0, this.ac.signal);
    const signal = options.signal;
    if (signal?.aborted) this.ac.abort();
    else signal?.addEventListener('abort', () => this.ac.abort(), { once: true });
    if (!this.once) {
      app.logger.info('mailsluice started', { connections: options.connections.map((c) => c.name), dataDir: app.config.dataDir, ...(api ? { api: api.address } : {}) });
    }
    this.runners = createRunners(app, options.connections);
    metrics?.attachRunners(this.runners);
    const runnerOf = runnersByConnection(this.runners);
    // The buses, on the dispatcher's own thread (ADR 0007), handed the bodies it needs in memory
    // (ADR 0011). A delivery that ends with a server response wakes its connection's runner,
    // which applies it before its next cycle. `once`: it ends once indexing is done (nothing more
    // will be queued) and nothing is due soon; `continuous`: at the stop, an attempt in flight is
    // aborted and, not recorded done, runs again after the restart (at least once).
    this.thread =
      options.routes.length > 0
        ? startDispatchThread(app, {
            routes: options.routes,
            onWake: (connection) => runnerOf.get(connection)?.forEach((r) => r.wake()),
            ...(this.once ? { untilIdle: { retryHorizonMs: DRAIN_RETRY_HORIZON_MS } } : {}),
            urlSigning: api?.urlSigning,
            onLatency: metrics ? (route, seconds) => metrics.metrics.observeDeliveryLatencies(route, seconds) : undefined,
          })
        : null;
    metrics?.attachRoutes(() => this.thread?.progress().routes ?? {});
    this.ac.signal.addEventListener('abort', () => this.thread?.abort(), { once: true });
  }

  /** Runs every stage to its end; the progress reported until then. */
  async run(): Promise<PipelineResult> {
    const report = (): void => this.options.onProgress?.(this.progress());
    const ticker = this.options.onProgress ? setInterval(report, 500) : null;
    try {
      return this.once ? await this.runOnce() : await this.runContinuous();
    } finally {
      if (ticker) {
        clearInterval(ticker);
        report();
      }
    }
  }

  /** What every runner reports now (the API's connection status). */
  statuses(): ConnectionStatus[] {
    return this.runners.map((r) => r.status);
  }

  /**
   * Starts a cycle of every runner of `connection` at once (the API's "run now"), outside its
   * schedule window too; how many runners there are (none: it is not run by this command).
   */
  runNow(connection: string): number {
    const runners = this.runners.filter((r) => r.connection === connection);
    for (const r of runners) r.runNow();
    if (runners.length > 0) this.app.logger.info('cycle asked for now', { connection, runners: runners.length });
    return runners.length;
  }

  private progress(): PipelineProgress {
    return { statuses: this.runners.map((r) => r.status), index: { ...this.index }, deliveries: this.thread?.progress().routes ?? {}, stage: this.stage };
  }

  /** The index stage, following the committed rows from the start. */
  private indexOnce(): Promise<IndexTotals> {
    const app = this.app;
    const done = this.once ? () => !this.taking : () => this.ac.signal.aborted;
    return runIndexStage(indexStageDeps(app, app.parser(), this.runners, this.thread?.bodies), done, this.ac.signal, this.index);
  }

  /**
   * Deferred compression of large bodies, by the blob store (ADR 0018) on the core's schedule:
   * behind the parse stage always. `continuous`: low priority from the start, waiting while a
   * connection is draining, until the stop. `once`: once the mailboxes are empty, beside the rest
   * of indexing, until nothing is left staged. Refs never change, so no reader is disturbed.
   */
  private compress(): Promise<CompressTotals> {
    const { app } = this;
    const schedule = createCompressSchedule({
      clock: app.clock,
      logger: app.logger,
      unparsed: () => app.store.countUnparsed(),
      ...(this.once ? { stopping: () => true } : { busy: () => this.runners.some((r) => r.status.state === 'draining'), stopping: () => this.ac.signal.aborted }),
    });
    return app.compactBlobs(schedule, this.ac.signal);
  }

  /** `continuous`: a stage that fails stops everything (the archive itself is failing), and the run then throws its error. */
  private stopOnFailure(stage: string, run: Promise<unknown>): Promise<void> {
    return run.then(
      () => undefined,
      (err: unknown) => {
        this.app.logger.error(`${stage} failed; stopping`, { error: String((err as Error)?.message ?? err) });
        this.failure ??= err;
        this.ac.abort();
      },
    );
  }

  /** `continuous`: a full disk pauses a background stage and it tries again (disk-full-pause.ts). */
  private pausing<T>(stage: string, run: () => Promise<T>): Promise<void> {
    const { logger, clock, random } = this.app;
    return this.stopOnFailure(stage, runPausingWhileDiskFull(run, { stage, logger, clock, random, signal: this.ac.signal }));
  }

  private async runContinuous(): Promise<PipelineResult> {
    const indexing = this.pausing('index stage', () => this.indexOnce());
    const compressing = this.pausing('compress stage', () => this.compress());
    const dispatching = this.thread ? this.stopOnFailure('dispatcher', this.thread.result) : undefined;
    await Promise.all(this.runners.map((r) => r.run({ once: false, signal: this.ac.signal })));
    await indexing;
    await compressing;
    await dispatching;
    if (this.failure !== undefined) throw this.failure;
    const now = this.app.clock.now();
    return {
      statuses: this.runners.map((r) => r.status),
      index: { ...this.index },
      compressed: emptyCompressTotals(),
      dispatched: this.thread?.progress() ?? { routes: {} },
      at: { started: this.started, empty: now, indexed: now, compressed: now, delivered: now },
    };
  }

  /**
   * `once`: the runners until every mailbox is empty, then each stage behind them in turn;
   * a stage's failure is thrown after the runners stopped and the rest settled, not while they
   * were still draining.
   */
  private async runOnce(): Promise<PipelineResult> {
    const { app } = this;
    const indexing = settle(this.indexOnce());
    const thread = this.thread;
    if (thread) void indexing.then(() => thread.finish());
    const dispatching = settle(thread ? thread.result : Promise.resolve<DispatchTotals>({ routes: {} }));
    const runs = await Promise.allSettled(this.runners.map((r) => r.run({ once: true, signal: this.ac.signal })));
    const empty = app.clock.now();
    this.taking = false;
    this.stage = 'parsing';
    const compressing = settle(this.compress());
    const indexed = await indexing;
    const indexedAt = app.clock.now();
    this.stage = 'compressing';
    const compressed = await compressing;
    const compressedAt = app.clock.now();
    this.stage = 'delivering';
    const dispatched = await dispatching;
    const delivered = app.clock.now();
    this.stage = 'responses';
    // Deliveries that finished after their connection's last cycle: their server responses are
    // applied now, on a session of their own, so a drain leaves none behind that it could apply.
    if (dispatched.ok) await Promise.all(this.runners.map((r) => r.applyResponsesNow(this.ac.signal)));
    if (!indexed.ok) throw indexed.error;
    if (!dispatched.ok) throw dispatched.error;
    if (!compressed.ok) throw compressed.error;
    const failed = runs.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    return {
      statuses: this.runners.map((r) => r.status),
      ...(failed ? { failure: failed.reason } : {}),
      index: indexed.value,
      compressed: compressed.value,
      dispatched: dispatched.value,
      at: { started: this.started, empty, indexed: indexedAt, compressed: compressedAt, delivered },
    };
  }
}
