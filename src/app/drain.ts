/**
 * The `drain` use case: every selected connection drained until nothing is left to take, while
 * the index stage parses behind it and the dispatcher runs the routes (with the HTTP API serving
 * attachment references while a webhook route runs); returns when all are done.
 */
import { runIndexStage, type IndexTotals } from '../core/archive/index-stage.js';
import { createCompressSchedule, type CompressTotals } from '../core/archive/compress-stage.js';
import { MailsluiceError } from '../core/errors/index.js';
import type { DispatchTotals } from '../core/bus/dispatcher.js';
import { assertRoutesRunnable } from './action-factory.js';
import { startDispatchThread } from './dispatch-thread.js';
import { createRunners, indexStageDeps, runnersByConnection } from './runners.js';
import type { ConnectionStatus } from './connection-runner.js';
import type { EmbeddedApp } from './embedded.js';
import { startApi, type RunningApi } from './api.js';
import type { ConnectionConfig } from '../config/loader.js';
import type { RouteConfig } from '../config/schema.js';

/** The summary `drain --json` prints. */
export interface DrainSummary {
  /**
   * Per connection; `failed`: messages that could not be archived and were set aside, left on the
   * server flagged `\Seen` (only with `unseenOnly`; see docs/pipeline.md, stages 5 and 6).
   */
  connections: Record<
    string,
    {
      taken: number;
      bytes: number;
      actioned: number;
      failed: number;
      /**
       * Messages set aside because session after session broke during their transfer with no
       * progress (larger than what the link carries): left on the server, untouched (ADR 0015).
       */
      setAside: number;
      cycles: number;
      state: string;
      /**
       * Server responses of finished deliveries this drain applied (flags, moves), found not
       * applicable (the message was no longer in the mailbox under its UID), or that failed
       * (refused by the server); see docs/pipeline.md, stage 13.
       */
      responses: { applied: number; notApplicable: number; failed: number };
      error?: { code: string; message: string };
      /** The connection's credentials crossed unencrypted (ADR 0016). */
      warning?: string;
    }
  >;
  taken: number;
  bytes: number;
  /** Messages set aside over all connections; when not 0, `drain` exits non-zero (MESSAGES_NOT_ARCHIVED). */
  failed: number;
  /** Messages whose transfer never got through, over all connections (see `connections[].setAside`); also a non-zero exit. */
  setAside: number;
  parsed: number;
  unparsable: number;
  /** Milliseconds until every mailbox was empty (all taken messages committed and actioned). */
  mailboxEmptyMs: number;
  /**
   * Milliseconds until everything was parsed and indexed (searchable, and routed): "fully
   * processed" in issue 2's sense. Compression and the deliveries are timed apart.
   */
  indexedMs: number;
  /**
   * Deferred compression, after the mailboxes were empty: large bodies staged raw by this (or an
   * earlier) drain, rewritten compressed; emptied staging containers deleted. It follows the
   * parse queue (it waits while messages wait to be parsed); `ms` runs from the mailbox being
   * empty until it is done.
   */
  compressed: { blobs: number; rawBytes: number; stagedBytes: number; storedBytes: number; containersDeleted: number; failed: number; ms: number };
  /**
   * Per route of the drained connections: deliveries `delivered` (every step done) and `dead`
   * (dead-lettered) by this drain, `retries` (failed attempts it scheduled again), and `failed`:
   * deliveries still pending when it exited, waiting for a retry later than
   * {@link DRAIN_RETRY_HORIZON_MS} (the next drain or the service takes them up).
   */
  routes: Record<string, { delivered: number; dead: number; retries: number; failed: number }>;
  /** Milliseconds until every delivery was done, dead or left for later. */
  deliveredMs: number;
}

/**
 * `drain` keeps going while a failed delivery's retry is due within this; one due later is left
 * pending (counted `failed`) and the command exits. With the default back-off (1 s doubling) that
 * is about five retries.
 */
export const DRAIN_RETRY_HORIZON_MS = 30_000;

/** What a drain has done so far, reported twice a second while it runs. */
export interface DrainProgress {
  statuses: ConnectionStatus[];
  /** Messages parsed (and unparsable) so far. */
  index: IndexTotals;
  /** Per route, deliveries so far (none without routes). */
  deliveries: DispatchTotals['routes'];
  /** What the drain is waiting for: taking from the servers, parsing, delivering, compressing, applying responses. */
  stage: 'taking' | 'parsing' | 'delivering' | 'compressing' | 'responses';
}

/** Options of {@link drainAll}. */
export interface DrainOptions {
  connection?: string;
  onProgress?: (p: DrainProgress) => void;
  signal?: AbortSignal;
}

/** Drains the selected enabled connections once; rejects with the first connection's final error. */
export async function drainAll(app: EmbeddedApp, options: DrainOptions = {}): Promise<DrainSummary> {
  const started = app.clock.now();
  const selected = app.config.connections.filter((c) => (options.connection ? c.name === options.connection : c.enabled));
  if (options.connection && selected.length === 0) {
    throw new MailsluiceError('CONNECTION_UNKNOWN', `no connection named "${options.connection}" in ${app.config.file || 'the configuration'}`);
  }
  if (selected.length === 0) {
    throw new MailsluiceError(
      'NOTHING_TO_DRAIN',
      `no connection is enabled in ${app.config.file || 'the configuration'}: set enabled: true on one, or name one with --connection NAME`,
    );
  }
  const names = new Set(selected.map((c) => c.name));
  const routes = app.config.routes.filter((r) => names.has(r.connection) && r.enabled);
  assertRoutesRunnable(routes);
  // The API runs while the drain does when a webhook route may hand out attachment references
  // for it to serve; a drain without one has nothing to serve and takes no port. Started first:
  // a port in use stops the drain before it takes anything.
  const api = routes.some((r) => r.scenario.some((a) => a.action === 'webhook')) ? await startApi(app) : null;
  try {
    return await drainSelected(app, options, { started, selected, routes, api });
  } finally {
    await api?.close();
  }
}

async function drainSelected(
  app: EmbeddedApp,
  options: DrainOptions,
  { started, selected, routes, api }: { started: number; selected: ConnectionConfig[]; routes: RouteConfig[]; api: RunningApi | null },
): Promise<DrainSummary> {
  const runners = createRunners(app, selected);
  const runnerOf = runnersByConnection(runners);
  let drainDone = false;
  const parser = app.parser();
  const index: IndexTotals = { parsed: 0, unparsable: 0, bytes: 0 };
  // Dispatch follows the index stage from the start, off the critical path and on a thread of
  // its own (ADR 0007), handed the bodies it needs in memory (ADR 0011); it ends once indexing is
  // done (nothing more will be queued) and nothing is due soon. A delivery that ends with a
  // server response wakes its connection.
  const thread =
    routes.length > 0
      ? startDispatchThread(app, {
          routes,
          onWake: (connection) => runnerOf.get(connection)?.forEach((r) => r.wake()),
          untilIdle: { retryHorizonMs: DRAIN_RETRY_HORIZON_MS },
          urlSigning: api?.urlSigning,
        })
      : null;
  // Settled, never rejected: an index failure is reported after the runners stop, not as an
  // unhandled rejection while they are still draining.
  const indexing = runIndexStage(
    indexStageDeps(app, parser, runners, thread?.bodies),
    () => drainDone,
    options.signal,
    index,
  ).then(
    (totals) => ({ totals, error: undefined as unknown }),
    (error: unknown) => ({ totals: { parsed: 0, unparsable: 0, bytes: 0 }, error }),
  );
  if (thread) {
    void indexing.then(() => thread.finish());
    options.signal?.addEventListener('abort', () => thread.abort(), { once: true });
  }
  const dispatching = (thread ? thread.result : Promise.resolve<DispatchTotals>({ routes: {} })).then(
    (totals) => ({ totals, error: undefined as unknown }),
    (error: unknown) => ({ totals: { routes: {} } as DispatchTotals, error }),
  );
  // Until the drain ends, every stage: the line does not stop at "taken" while parsing and the
  // routes go on behind.
  let stage: DrainProgress['stage'] = 'taking';
  const report = (): void => options.onProgress?.({ statuses: runners.map((r) => r.status), index: { ...index }, deliveries: thread?.progress().routes ?? {}, stage });
  const ticker = options.onProgress ? setInterval(report, 500) : null;
  try {
    return await finishDrain(app, options, { started, runners, routes, indexing, dispatching, onStage: (s) => (stage = s), onEmpty: () => (drainDone = true) });
  } finally {
    if (ticker) {
      clearInterval(ticker);
      report();
    }
  }
}

/** What {@link finishDrain} is handed: the drain's stages, started. */
interface Started {
  started: number;
  runners: ReturnType<typeof createRunners>;
  routes: RouteConfig[];
  indexing: Promise<{ totals: IndexTotals; error: unknown }>;
  dispatching: Promise<{ totals: DispatchTotals; error: unknown }>;
  onStage: (stage: DrainProgress['stage']) => void;
  /** Nothing more will be taken: the index stage may finish once its queue is empty. */
  onEmpty: () => void;
}

/** Runs the connections once, then waits for every stage behind them and builds the summary. */
async function finishDrain(app: EmbeddedApp, options: DrainOptions, { started, runners, routes, indexing, dispatching, onStage, onEmpty }: Started): Promise<DrainSummary> {
  const results = await Promise.allSettled(runners.map((r) => r.run({ once: true, ...(options.signal ? { signal: options.signal } : {}) })));
  const emptyAt = app.clock.now();
  onEmpty();
  onStage('parsing');
  // Off the critical path: the mailboxes are empty, every writer of the drain is closed. The blob
  // store compresses what was staged behind the rest of indexing (ADR 0018); refs never change,
  // so readers (the index stage, the dispatcher) are not in its way.
  const schedule = createCompressSchedule({ clock: app.clock, logger: app.logger, unparsed: () => app.store.countUnparsed(), stopping: () => true });
  const compressing = app.compactBlobs(schedule, options.signal).then(
    (totals) => ({ totals, error: undefined as unknown }),
    (error: unknown) => ({ totals: undefined as CompressTotals | undefined, error }),
  );
  const indexed = await indexing;
  const indexedAt = app.clock.now();
  onStage('compressing');
  const compressedRun = await compressing;
  const processedAt = app.clock.now();
  onStage('delivering');
  const dispatched = await dispatching;
  const deliveredAt = app.clock.now();
  onStage('responses');
  // Deliveries that finished after their connection's last cycle: their server responses are
  // applied now, on a session of their own, so a drain leaves none behind that it could apply.
  if (dispatched.error === undefined) await Promise.all(runners.map((r) => r.applyResponsesNow(options.signal)));
  if (indexed.error !== undefined) throw indexed.error;
  if (dispatched.error !== undefined) throw dispatched.error;
  if (compressedRun.error !== undefined) throw compressedRun.error;
  const compressTotals = compressedRun.totals as CompressTotals;
  const totals = indexed.totals;
  const summary: DrainSummary = {
    connections: {},
    taken: 0,
    bytes: 0,
    failed: 0,
    setAside: 0,
    parsed: totals.parsed,
    unparsable: totals.unparsable,
    mailboxEmptyMs: emptyAt - started,
    indexedMs: indexedAt - started,
    compressed: { ...compressTotals, ms: processedAt - emptyAt },
    routes: {},
    deliveredMs: deliveredAt - started,
  };
  const counts = await app.bus.counts();
  for (const r of routes) {
    const t = dispatched.totals.routes[r.name] ?? { delivered: 0, dead: 0, retries: 0 };
    summary.routes[r.name] = { ...t, failed: counts[r.name]?.pending ?? 0 };
  }
  for (const r of runners) {
    const s = r.status;
    summary.connections[s.name] = {
      taken: s.taken,
      bytes: s.bytes,
      actioned: s.actioned,
      failed: s.failed,
      setAside: s.setAside,
      cycles: s.cycles,
      state: s.state,
      responses: { ...s.responses },
      ...(s.lastError && s.state === 'error' ? { error: { code: s.lastError.code, message: s.lastError.message } } : {}),
      ...(s.plaintextCredentials ? { warning: s.plaintextCredentials } : {}),
    };
    summary.taken += s.taken;
    summary.bytes += s.bytes;
    summary.failed += s.failed;
    summary.setAside += s.setAside;
  }
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) {
    const err = failed.reason as MailsluiceError;
    (err as { summary?: DrainSummary }).summary = summary;
    throw err;
  }
  return summary;
}
