/**
 * The one pipeline root `drain` and `start` share: the API, a runner per connection (and
 * folder), the index stage behind them, the compress stage, and the dispatcher on its own thread,
 * started and ended in one order. The mode is what differs: `once` (`drain`) takes until every
 * mailbox is empty and then waits for each stage behind in turn, reporting the first failure of
 * each after the runners stopped; `continuous` (`start`) runs every stage until the stop signal,
 * pauses the background stages on a full disk, and stops everything when one of them fails; it
 * also applies the configuration file again when asked (`reload`, ADR 0024): only the changed
 * connections' runners restart, changed routes get a new dispatcher thread, and changed alerts
 * are handed to the alert loop.
 */
import { once as eventOnce, setMaxListeners } from 'node:events';
import { runIndexStage, type IndexTotals } from '../core/archive/index-stage.js';
import { createCompressSchedule, emptyCompressTotals, type CompressTotals } from '../core/archive/compress-stage.js';
import type { DispatchTotals } from '../core/bus/dispatcher.js';
import type { ConnectionStatus } from '../core/connection/connection-runner.js';
import type { BodiesSink } from '../core/ports/bodies-handoff.js';
import type { RouteMatcher } from '../core/routing/route-matcher.js';
import { MailsluiceError } from '../core/errors/index.js';
import type { ConnectionConfig } from '../config/loader.js';
import type { RouteConfig } from '../config/schema.js';
import type { ReloadReport } from '../api/index.js';
import { assertRoutesRunnable } from './action-factory.js';
import { startDispatchThread, type DispatchThread } from './dispatch-thread.js';
import { runPausingWhileDiskFull } from './disk-full-pause.js';
import { indexStageDeps, routeMatcher } from './runners.js';
import { runBackgroundReindex } from './reindex.js';
import { ConnectionRuns } from './connection-runs.js';
import { readServiceConfig } from './config-file.js';
import { planReload } from './reload-plan.js';
import { startApi, type ApiContext, type RunningApi, type UrlSigning } from './api.js';
import { startControlSocket } from './control-socket.js';
import { createRunMetrics, type RunMetrics } from './metrics.js';
import { createAlerting, type Alerting } from './alerts.js';
import { createAuditRetention, type AuditRetention } from './audit-retention.js';
import { createPurger, type Purger } from './purge.js';
import { runScrub } from './scrub.js';
import type { EmbeddedApp, SourceMaker } from './embedded.js';

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
  /**
   * `continuous`: told the running pipeline once it exists, so the caller can apply the
   * configuration file again (SIGHUP, the file changing; `service.ts`).
   */
  onRunning?: (run: RunningPipeline) => void;
  /**
   * How the runners' sources are made, when not by the connection's protocol: `import` runs its
   * files source through the same runners (`app/import.ts`).
   */
  createSource?: SourceMaker;
  /**
   * Routes the index stage matches besides the configuration's (`import --route NAME`: the
   * route, retargeted to the import's connection).
   */
  extraRoutes?: readonly RouteConfig[];
  /** `continuous`: only the connections held run; the runners follow as holdings change. */
  ownership?: ConnectionOwnership;
}

/**
 * Which connections this process may take from now: in scale-out mode, the ones whose lease
 * its worker holds (each connection is drained by one worker at a time); absent, every
 * configured one.
 */
export interface ConnectionOwnership {
  /** Whether this process may run `connection`'s runners now. */
  holds(connection: string): boolean;
  /** Calls `listener` whenever what is held changed; answers the unsubscribe. */
  subscribe(listener: () => void): () => void;
  /** Told once the runners of a connection no longer held have ended (a lease is released only then). */
  stopped?(connection: string): void;
}

/** What a caller may do to a running `continuous` pipeline. */
export interface RunningPipeline {
  /** Applies the configuration file as it is now ({@link PipelineRun.reload}). */
  reload(): Promise<ReloadReport>;
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
  assertRoutesRunnable(options.routes, app.config.brokers);
  const needsApi = options.mode === 'continuous' || options.routes.some((r) => r.scenario.some((a) => a.action === 'webhook' || a.action === 'publish'));
  let run: PipelineRun | null = null;
  // Read at scrape time only (`GET /metrics`), so only beside an API.
  const metrics = needsApi && app.config.api.enabled ? await createRunMetrics(app) : null;
  // The service's alerts (`start` only): checked beside the stages, listed and tested through the API.
  // Made with or without rules: a reload may add some (ADR 0024).
  const alerting = options.mode === 'continuous' ? await createAlerting(app, () => run?.runnerReadings() ?? []) : null;
  // The audit log's retention (`start` only, ADR 0029): daily beside the stages, and on demand through the API.
  const retention = options.mode === 'continuous' ? createAuditRetention(app) : null;
  // The archive's retention (`start` only, docs/retention.md): purges every archive.retention.everyHours, and on demand.
  const purger = options.mode === 'continuous' ? createPurger(app) : null;
  const reload = (): Promise<ReloadReport> => (run ? run.reload() : Promise.reject(new MailsluiceError('INTERNAL', 'the service is still starting: nothing runs yet to apply the configuration to')));
  try {
    const context: ApiContext = {
      statuses: () => run?.statuses() ?? [],
      runNow: (name) => run?.runNow(name) ?? 0,
      editable: options.mode === 'continuous',
      ...(options.mode === 'continuous' ? { reload } : {}),
      ...(metrics ? { metrics: metrics.metrics } : {}),
      ...(alerting ? { alerts: alerting.view } : {}),
      ...(retention ? { auditPrune: retention.prune } : {}),
      ...(purger ? { purger } : {}),
    };
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
      run = new PipelineRun(app, options, api, started, metrics, alerting, retention, purger);
      if (options.mode === 'continuous') options.onRunning?.({ reload });
      return await run.run();
    } finally {
      await control?.close();
      await api?.close();
      await metrics?.close();
    }
  } finally {
    await alerting?.close();
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

/** The totals of `a` and `b` added, per route (the dispatcher threads a reload ended, and the one running). */
function addTotals(a: DispatchTotals, b: DispatchTotals): DispatchTotals {
  const routes: DispatchTotals['routes'] = { ...a.routes };
  for (const [name, t] of Object.entries(b.routes)) {
    const was = routes[name];
    routes[name] = was ? { delivered: was.delivered + t.delivered, dead: was.dead + t.dead, retries: was.retries + t.retries } : { ...t };
  }
  return { routes };
}

/** One run of the pipeline, from its runners' start to the last stage's end. */
class PipelineRun {
  private readonly once: boolean;
  /** The runners, by connection: a reload stops and starts those of changed connections only. */
  private readonly conns: ConnectionRuns;
  /** The dispatcher thread running the enabled routes (none without any); a reload may replace it. */
  private thread: DispatchThread | null;
  /** The totals of dispatcher threads a reload ended, so the counts go on across them. */
  private endedTotals: DispatchTotals = { routes: {} };
  /** `continuous`: each dispatcher thread's end, a failure stopping the run. */
  private readonly dispatching: Array<Promise<void>> = [];
  /** Which routes take a parsed message (the index stage reads it for every message; a reload swaps it). */
  private matcher: RouteMatcher;
  private readonly urlSigning: UrlSigning | undefined;
  private readonly index: IndexTotals = { parsed: 0, unparsable: 0, bytes: 0 };
  /** The run's own stop: the caller's signal, or (`continuous`) a background stage failing. */
  private readonly ac = new AbortController();
  /** `continuous`: the first stage failure, thrown once everything stopped. */
  private failure: unknown;
  /** `once`: false once every runner ended, so the index stage may finish when its queue is empty. */
  private taking = true;
  private stage: PipelineStage = 'taking';
  /** The reloads asked for, one after the other: the last one's end. */
  private reloadTail: Promise<unknown> = Promise.resolve();
  /** A reload asked for and not begun yet: a request meanwhile joins it (it reads the file when it begins). */
  private reloadPending: Promise<ReloadReport> | null = null;
  /** The settings last reported waiting for a restart, so the warning is not repeated at every reload. */
  private waitingWarned = '';

  constructor(
    private readonly app: EmbeddedApp,
    private readonly options: PipelineOptions,
    api: RunningApi | null,
    private readonly started: number,
    private readonly metrics: RunMetrics | null,
    private readonly alerting: Alerting | null = null,
    private readonly retention: AuditRetention | null = null,
    private readonly purger: Purger | null = null,
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
    this.conns = new ConnectionRuns(app, this.ac.signal, (connection, err) => {
      app.logger.error('a connection runner failed; stopping', { connection, error: String((err as Error)?.message ?? err) });
      this.failure ??= err;
      this.ac.abort();
    }, options.createSource);
    for (const c of options.connections) if (this.held(c.name)) this.conns.add(c);
    metrics?.attachRunners(() => this.conns.all());
    this.matcher = routeMatcher([...app.config.routes, ...(options.extraRoutes ?? [])]);
    this.urlSigning = api?.urlSigning;
    this.thread = options.routes.length > 0 ? this.startThread(options.routes) : null;
    metrics?.attachRoutes(() => this.dispatchTotals().routes);
    this.ac.signal.addEventListener('abort', () => this.thread?.abort(), { once: true });
  }

  /**
   * The buses, on the dispatcher's own thread (ADR 0007), handed the bodies it needs in memory
   * (ADR 0011). A delivery that ends with a server response wakes its connection's runners (those
   * running now), which apply it before their next cycle. `once`: it ends once indexing is done
   * (nothing more will be queued) and nothing is due soon; `continuous`: at the stop (or a
   * reload's restart of it), an attempt in flight is aborted and, not recorded done, runs again
   * on the next thread (at least once).
   */
  private startThread(routes: readonly RouteConfig[]): DispatchThread {
    const metrics = this.metrics;
    const thread = startDispatchThread(this.app, {
      routes,
      onWake: (connection) => this.conns.of(connection).forEach((r) => r.wake()),
      ...(this.once ? { untilIdle: { retryHorizonMs: DRAIN_RETRY_HORIZON_MS } } : {}),
      urlSigning: this.urlSigning,
      onLatency: metrics ? (route, seconds) => metrics.metrics.observeDeliveryLatencies(route, seconds) : undefined,
    });
    if (!this.once) this.dispatching.push(this.stopOnFailure('dispatcher', thread.result));
    return thread;
  }

  /** Deliveries per route since the run began, across the dispatcher threads a reload replaced. */
  private dispatchTotals(): DispatchTotals {
    return this.thread ? addTotals(this.endedTotals, this.thread.progress()) : this.endedTotals;
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
    return this.conns.all().map((r) => r.snapshot());
  }

  /** Every runner's status with its connection's name (the alerts' reading). */
  runnerReadings(): Array<{ connection: string; status: ConnectionStatus }> {
    return this.conns.all().map((r) => ({ connection: r.connection, status: r.status }));
  }

  /**
   * Starts a cycle of every runner of `connection` at once (the API's "run now"), outside its
   * schedule window too; how many runners there are (none: it is not run by this command).
   */
  runNow(connection: string): number {
    const runners = this.conns.of(connection);
    for (const r of runners) r.runNow();
    if (runners.length > 0) this.app.logger.info('cycle asked for now', { connection, runners: runners.length });
    return runners.length;
  }

  /**
   * `continuous`: applies the configuration file as it is now (ADR 0024). One at a time: a reload
   * asked for while one runs runs after it (requests meanwhile share it, since it reads the file
   * when it begins). A file that does not validate changes nothing: the error, naming every
   * problem, is logged and thrown (`CONFIG_INVALID`).
   */
  reload(): Promise<ReloadReport> {
    if (this.reloadPending) return this.reloadPending;
    const next = this.reloadTail.then(() => {
      this.reloadPending = null;
      return this.applyFile();
    });
    this.reloadPending = next;
    this.reloadTail = next.catch(() => undefined);
    return next;
  }

  /** One reload: the file read, planned against the running configuration, applied. */
  private async applyFile(): Promise<ReloadReport> {
    const { app } = this;
    // Stopping: nothing is started any more; the file applies at the next start.
    if (this.ac.signal.aborted) return { started: [], restarted: [], stopped: [], routesChanged: false, waitingForRestart: [] };
    let plan: ReturnType<typeof planReload>;
    try {
      const next = readServiceConfig(app.config.file);
      assertRoutesRunnable(next.routes, next.brokers);
      plan = planReload(app.config, next);
    } catch (err) {
      const e = err as MailsluiceError;
      app.logger.error('configuration not applied: the running one stays', { file: app.config.file, code: e.code, error: e.message, ...(e.details ? { details: e.details } : {}) });
      throw err;
    }
    app.setConfig(plan.applied);
    // New messages are routed by the new routes from here on; the thread delivers by them below.
    if (plan.routesChanged) this.matcher = routeMatcher(plan.applied.routes);
    await Promise.all([
      plan.dispatcherChanged ? this.restartThread(plan.applied.routes.filter((r) => r.enabled)) : undefined,
      ...plan.stop.map((name) => this.conns.stop(name)),
      // The old runners end (their cycle under way committed) before the new ones log in: two
      // sessions of one connection never overlap.
      ...plan.restart.map(async (c) => {
        await this.conns.stop(c.name);
        this.startConnection(c);
      }),
      ...plan.start.map((c) => this.startConnection(c)),
      plan.alertsChanged ? this.alerting?.reconfigure(plan.applied.alerts) : undefined,
    ]);
    const report: ReloadReport = {
      started: plan.start.map((c) => c.name),
      restarted: plan.restart.map((c) => c.name),
      stopped: plan.stop,
      routesChanged: plan.routesChanged,
      waitingForRestart: plan.waitingForRestart,
    };
    const waiting = plan.waitingForRestart.join(',');
    if (waiting && waiting !== this.waitingWarned) {
      app.logger.warn('configuration changed where only a restart applies it: the service runs on as before there until restarted', { waitingForRestart: plan.waitingForRestart });
    }
    this.waitingWarned = waiting;
    app.logger.info('configuration applied', { ...report });
    return report;
  }

  /** Whether this process may run `connection` now (always, without an ownership). */
  private held(connection: string): boolean {
    return this.options.ownership?.holds(connection) ?? true;
  }

  /** Starts the runners of `c`, unless the run is stopping or `c` is not held here. */
  private startConnection(c: ConnectionConfig): void {
    if (!this.ac.signal.aborted && this.held(c.name)) this.conns.start(c);
  }

  /**
   * Makes the running connections those enabled and held now: runners of a connection no longer
   * held stop (their cycle under way ends first; a commit after the lease was lost is refused by
   * its fencing token), a newly held one starts. Queued behind reloads, so the two never interleave.
   */
  private followOwnership(): void {
    this.reloadTail = this.reloadTail.then(async () => {
      if (this.ac.signal.aborted) return;
      const running = new Set(this.conns.names());
      const wanted = this.app.config.connections.filter((c) => c.enabled && this.held(c.name));
      const lost = [...running].filter((name) => !wanted.some((c) => c.name === name));
      const gained = wanted.filter((c) => !running.has(c.name));
      if (lost.length === 0 && gained.length === 0) return;
      this.app.logger.info('connections held here changed', { started: gained.map((c) => c.name), stopped: lost });
      await Promise.all(lost.map(async (name) => {
        await this.conns.stop(name);
        this.options.ownership?.stopped?.(name);
      }));
      for (const c of gained) this.startConnection(c);
    });
  }

  /**
   * Ends the dispatcher thread (an attempt in flight is aborted and runs again on the next one,
   * at least once, as at a stop) and starts one for `routes` (none: no thread). Deliveries queued
   * for a route no longer configured stay queued, untouched, until a route of that name returns.
   */
  private async restartThread(routes: readonly RouteConfig[]): Promise<void> {
    const old = this.thread;
    if (old) {
      old.abort();
      // A failure of the old thread is its own stopOnFailure's: it stops the run.
      const totals = await old.result.catch(() => old.progress());
      this.endedTotals = addTotals(this.endedTotals, totals);
      this.thread = null;
    }
    if (routes.length > 0 && !this.ac.signal.aborted) this.thread = this.startThread(routes);
  }

  private progress(): PipelineProgress {
    return { statuses: this.statuses(), index: { ...this.index }, deliveries: this.dispatchTotals().routes, stage: this.stage };
  }

  /** The index stage, following the committed rows from the start. */
  private indexOnce(): Promise<IndexTotals> {
    const app = this.app;
    const done = this.once ? () => !this.taking : () => this.ac.signal.aborted;
    const busy = (): boolean => this.conns.all().some((r) => r.status.state === 'draining');
    // `continuous`: the bodies go to the thread running now (a reload may replace it; what one
    // misses it builds again from the raw message, ADR 0011).
    const bodies: BodiesSink | undefined = this.once ? this.thread?.bodies : { handOver: (entries) => this.thread?.bodies.handOver(entries) };
    return runIndexStage(indexStageDeps(app, app.parser(), busy, () => this.matcher, bodies), done, this.ac.signal, this.index);
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
      ...(this.once ? { stopping: () => true } : { busy: () => this.conns.all().some((r) => r.status.state === 'draining'), stopping: () => this.ac.signal.aborted }),
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

  /** The search index rebuilt from the raw messages when it is older than this build (ADR 0041), waiting while a connection drains; never rejects. */
  private reindex(signal: AbortSignal): Promise<unknown> {
    return runBackgroundReindex(this.app, () => this.conns.all().some((r) => r.status.state === 'draining'), signal);
  }

  private async runContinuous(): Promise<PipelineResult> {
    const indexing = this.pausing('index stage', () => this.indexOnce());
    const compressing = this.pausing('compress stage', () => this.compress());
    const reindexing = this.reindex(this.ac.signal);
    // Low priority beside the stages; never rejects, ends with the stop.
    const alerting = this.alerting?.run(this.ac.signal);
    const retaining = this.retention?.run(this.ac.signal);
    // Between pages and batches the drain's commits go on: a purge never holds the write lock long.
    const purging = this.purger?.run(this.ac.signal);
    const scrubbing = runScrub(this.app, this.ac.signal);
    for (const name of this.conns.names()) this.conns.run(name);
    const unsubscribe = this.options.ownership?.subscribe(() => this.followOwnership());
    // What changed between the runners' making and the subscription is not missed.
    if (unsubscribe) this.followOwnership();
    if (!this.ac.signal.aborted) await eventOnce(this.ac.signal, 'abort');
    unsubscribe?.();
    // A reload under way ends first (it starts nothing once the run is stopping).
    await this.reloadTail;
    await this.conns.settled();
    await alerting;
    await retaining;
    await purging;
    await scrubbing;
    await indexing;
    await compressing;
    await reindexing;
    await Promise.all(this.dispatching);
    if (this.failure !== undefined) throw this.failure;
    const now = this.app.clock.now();
    return {
      statuses: this.statuses(),
      index: { ...this.index },
      compressed: emptyCompressTotals(),
      dispatched: this.dispatchTotals(),
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
    // Beside the drain, never holding it up: stopped (resumable) when the rest is done.
    const reindexStop = new AbortController();
    const stopReindex = (): void => reindexStop.abort();
    this.ac.signal.addEventListener('abort', stopReindex, { once: true });
    const reindexing = this.reindex(reindexStop.signal);
    const indexing = settle(this.indexOnce());
    const thread = this.thread;
    if (thread) void indexing.then(() => thread.finish());
    const dispatching = settle(thread ? thread.result : Promise.resolve<DispatchTotals>({ routes: {} }));
    const runs = await Promise.allSettled(this.conns.all().map((r) => r.run({ once: true, signal: this.ac.signal })));
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
    if (dispatched.ok) await Promise.all(this.conns.all().map((r) => r.applyResponsesNow(this.ac.signal)));
    reindexStop.abort();
    this.ac.signal.removeEventListener('abort', stopReindex);
    await reindexing;
    if (!indexed.ok) throw indexed.error;
    if (!dispatched.ok) throw dispatched.error;
    if (!compressed.ok) throw compressed.error;
    const failed = runs.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    return {
      statuses: this.statuses(),
      ...(failed ? { failure: failed.reason } : {}),
      index: indexed.value,
      compressed: compressed.value,
      dispatched: dispatched.value,
      at: { started: this.started, empty, indexed: indexedAt, compressed: compressedAt, delivered },
    };
  }
}
