/**
 * The service's metrics wired to what it runs: the runners' live status, the dispatcher thread's
 * counts and latencies, and the archive's counts, read by the Prometheus adapter at scrape time.
 * The archive's counts scan whole tables, so they are read on a thread of their own
 * (`metrics-reader.ts`), never on the drain's.
 * Failures by code and the last successful cycle are the runners' own status
 * (`errorsByCode`, `lastSuccessAt`).
 */
import type { Metrics, RouteReading, RunnerReading } from '../core/ports/metrics.js';
import { dataPaths, type EmbeddedApp } from './embedded.js';
import { createMetricsReader } from './metrics-reader.js';
import { readScrubVerdict } from './scrub.js';
import type { Runner } from './runners.js';

/** The metrics of a pipeline run, with the run's parts attached once they exist. */
export interface RunMetrics {
  metrics: Metrics;
  /** Starts reading the runners `runners()` lists at each scrape (a reload changes them). */
  attachRunners(runners: () => readonly Runner[]): void;
  /** Starts reading the dispatcher's counts since the process started. */
  attachRoutes(routes: () => Readonly<Record<string, RouteReading>>): void;
  /** Ends the archive reader's thread (after the API closed). */
  close(): Promise<void>;
}

/**
 * The metrics of `app`, reading the runners and routes attached later. prom-client is loaded
 * here, only when an API starts, like the API's framework (ADR 0021): a command without one
 * does not pay its start-up.
 */
export async function createRunMetrics(app: EmbeddedApp): Promise<RunMetrics> {
  const { createPrometheusMetrics } = await import('../adapters/metrics-prometheus/index.js');
  let runners: () => readonly Runner[] = () => [];
  let routes: () => Readonly<Record<string, RouteReading>> = () => ({});
  const now = (): number => app.clock.now();
  const reading = (runner: Runner): RunnerReading => ({
    connection: runner.connection,
    state: runner.status.state,
    taken: runner.status.taken,
    bytes: runner.status.bytes,
    errors: runner.status.errorsByCode,
    lastSuccessAt: runner.status.lastSuccessAt,
    backlog: runner.status.backlog,
  });
  const reader = createMetricsReader(dataPaths(app.config.dataDir).db, app.databaseKey ?? null);
  // The adapter asks for the three in one scrape; they share one read of the reader thread.
  const metrics = createPrometheusMetrics({
    runners: () => runners().map(reading),
    routes: () => routes(),
    archive: async () => (await reader.read()).archive,
    unparsed: async () => (await reader.read()).unparsed,
    deliveries: async () => (await reader.read()).deliveries,
    scrub: () => readScrubVerdict(app.config.dataDir),
    now,
  });
  return {
    metrics,
    attachRunners(list) {
      runners = list;
    },
    attachRoutes(read) {
      routes = read;
    },
    close: () => reader.close(),
  };
}
