/**
 * Runs the dispatcher on a thread of its own (ADR 0007). On the main thread, every delivery's
 * HTTP round trip waited behind the index stage's synchronous SQLite transactions and the
 * drain's own work, and its JavaScript (request, signature, claim) took main-thread time the
 * index stage needed: one webhook route halved a drain's rate. On its own thread the dispatcher
 * has an event loop that is idle between its own round trips.
 *
 * `drain` and `start` use this; the core dispatcher (`core/bus/dispatcher.ts`) is unchanged and
 * still runs in-process in the unit tests.
 */
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import { MailsluiceError } from '../core/errors/index.js';
import type { ErrorCode } from '../core/errors/index.js';
import type { DispatchTotals, DispatchTuning } from '../core/bus/dispatcher.js';
import type { RouteConfig } from '../config/schema.js';
import type { EmbeddedApp } from './embedded.js';
import type { DispatchArchive } from './dispatch-archive.js';
import type { BrokerConfig } from '../config/brokers-schema.js';
import type { UrlSigning } from './api.js';
import type { BodiesSink } from '../core/ports/bodies-handoff.js';
import { bodiesSink } from '../adapters/bodies-messageport/index.js';
import type { LatencyBatch } from './dispatch-latency.js';

/** What the worker is started with (structured-cloned: plain data only). */
export interface DispatchWorkerData {
  /** The bus and blob store the thread opens (`dispatch-archive.ts`). */
  archive: DispatchArchive;
  /** The routes to run, as configured (secrets already resolved by the loader). */
  routes: RouteConfig[];
  /** The brokers publish steps name (secrets already read by the loader). */
  brokers: BrokerConfig[];
  tuning: Partial<DispatchTuning>;
  stderrLevel: 'debug' | 'info' | 'warn' | 'error';
  /** `drain`: end once told `finish` and nothing is due within the horizon; absent: until `abort`. */
  untilIdle?: { retryHorizonMs: number };
  /** With the API running: webhook references carry a URL signed with this. */
  urlSigning?: UrlSigning;
  /** The bodies hand-off's receiving end (ADR 0011). */
  bodiesPort: MessagePort;
  /** Report delivery latencies (`latency` messages): only when someone listens (the metrics). */
  latency: boolean;
}

/** Main thread → worker. */
export type ToDispatchWorker = { type: 'finish' } | { type: 'abort' };

/** Worker → main thread. */
export type FromDispatchWorker =
  | { type: 'wake'; connection: string }
  | { type: 'progress'; totals: DispatchTotals }
  /** Delivery latencies (seconds per route) observed since the last batch. */
  | { type: 'latency'; samples: LatencyBatch }
  | { type: 'done'; totals: DispatchTotals }
  | { type: 'failed'; error: { code: ErrorCode; message: string; details?: Record<string, unknown> } };

/** A running dispatcher thread. */
export interface DispatchThread {
  /** Settles when the thread has ended: its totals, or the error that ended it. */
  result: Promise<DispatchTotals>;
  /** `drain`: nothing more will be queued; the thread ends once nothing is due soon. */
  finish(): void;
  /** Stops the thread: an attempt in flight is aborted and runs again on the next run. */
  abort(): void;
  /** Where the index stage hands over the bodies of routed messages (ADR 0011). */
  bodies: BodiesSink;
  /** The totals so far (the thread reports them twice a second); final once `result` settled. */
  progress(): DispatchTotals;
}

/** Options of {@link startDispatchThread}. */
export interface DispatchThreadOptions {
  routes: readonly RouteConfig[];
  /** Called when a delivery of `connection` ended with a server response to apply. */
  onWake: (connection: string) => void;
  untilIdle?: { retryHorizonMs: number };
  /** The running API's URL key and settings (`app/api.ts`); absent without an API. */
  urlSigning?: UrlSigning | undefined;
  /** Called with the delivery latencies of a route (seconds) as the thread reports them, in batches. */
  onLatency?: ((route: string, seconds: readonly number[]) => void) | undefined;
}

/** Starts the dispatcher thread for `routes` (the caller passes the enabled ones). */
export function startDispatchThread(app: EmbeddedApp, options: DispatchThreadOptions): DispatchThread {
  const channel = new MessageChannel();
  const data: DispatchWorkerData = {
    archive: app.dispatchArchive(),
    routes: [...options.routes],
    brokers: [...app.config.brokers],
    tuning: { concurrency: app.config.busConcurrency, backoff: app.config.deliveryRetry },
    stderrLevel: app.stderrLevel,
    ...(options.untilIdle ? { untilIdle: options.untilIdle } : {}),
    ...(options.urlSigning ? { urlSigning: options.urlSigning } : {}),
    bodiesPort: channel.port2,
    latency: options.onLatency !== undefined,
  };
  const worker = new Worker(new URL('./dispatch-worker.js', import.meta.url), { workerData: data, transferList: [channel.port2] });
  // Posting to a thread that ended is a no-op, and the port must not keep this one alive.
  channel.port1.unref();
  let settled = false;
  let outcome: { totals: DispatchTotals } | { error: MailsluiceError } | undefined;
  let sofar: DispatchTotals = { routes: {} };
  const result = new Promise<DispatchTotals>((resolve, reject) => {
    const end = (): void => {
      if (settled) return;
      settled = true;
      if (outcome && 'totals' in outcome) resolve(outcome.totals);
      else reject(outcome?.error ?? new MailsluiceError('INTERNAL', 'the dispatcher thread exited before it finished'));
    };
    worker.on('message', (m: FromDispatchWorker) => {
      if (m.type === 'wake') options.onWake(m.connection);
      else if (m.type === 'progress') sofar = m.totals;
      else if (m.type === 'latency') for (const [route, seconds] of Object.entries(m.samples)) options.onLatency?.(route, seconds);
      else if (m.type === 'done') {
        outcome ??= { totals: m.totals };
        sofar = m.totals;
      }
      else if (m.type === 'failed') outcome ??= { error: new MailsluiceError(m.error.code, m.error.message, m.error.details ? { details: m.error.details } : {}) };
    });
    worker.on('error', (err) => {
      outcome ??= { error: new MailsluiceError('INTERNAL', `the dispatcher thread failed: ${err.message}`, { cause: err }) };
    });
    // Settled on exit, not on `done`: by then the thread has closed its database connection and
    // its log lines have reached stderr.
    worker.on('exit', end);
  });
  const send = (m: ToDispatchWorker): void => {
    if (!settled) worker.postMessage(m);
  };
  void result.catch(() => undefined).finally(() => channel.port1.close());
  return { result, finish: () => send({ type: 'finish' }), abort: () => send({ type: 'abort' }), bodies: bodiesSink(channel.port1), progress: () => sofar };
}
