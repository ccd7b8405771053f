/**
 * The service's metrics wired to what it runs: the runners' live status, the dispatcher thread's
 * counts and latencies, and the archive's counts, read by the Prometheus adapter at scrape time.
 * The archive's counts scan whole tables, so they are read on a thread of their own
 * (`metrics-reader.ts`), never on the drain's.
 *
 * Two figures the runners do not keep are counted here as the runners record them: failures by
 * code, and when the last successful cycle ended. Both are caught on the runner's status object
 * itself (an accessor on `lastError` and on `cycles`), so the core runner is unchanged and the
 * drain pays one property write it was already making.
 */
import type { ConnectionStatus } from '../core/connection/connection-runner.js';
import type { Metrics, RouteReading, RunnerReading } from '../core/ports/metrics.js';
import { dataPaths, type EmbeddedApp } from './embedded.js';
import { createMetricsReader } from './metrics-reader.js';
import type { Runner } from './runners.js';

/** What a runner's status does not keep: its failures by code and its last successful cycle. */
interface RunnerTally {
  errors: Record<string, number>;
  lastSuccessAt: number | null;
}

/**
 * Counts `status`'s failures by code and notes each successful cycle: every non-null
 * `lastError` the runner sets is one failure recorded; every `cycles` increment a cycle that
 * ended without one.
 */
function tally(status: ConnectionStatus, now: () => number): RunnerTally {
  const t: RunnerTally = { errors: {}, lastSuccessAt: null };
  let lastError = status.lastError;
  let cycles = status.cycles;
  Object.defineProperty(status, 'lastError', {
    enumerable: true,
    get: () => lastError,
    set: (v: ConnectionStatus['lastError']) => {
      lastError = v;
      if (v) t.errors[v.code] = (t.errors[v.code] ?? 0) + 1;
    },
  });
  Object.defineProperty(status, 'cycles', {
    enumerable: true,
    get: () => cycles,
    set: (v: number) => {
      if (v > cycles) t.lastSuccessAt = now();
      cycles = v;
    },
  });
  return t;
}

/** The metrics of a pipeline run, with the run's parts attached once they exist. */
export interface RunMetrics {
  metrics: Metrics;
  /** Starts reading `runners` (their failures counted from now on). */
  attachRunners(runners: readonly Runner[]): void;
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
  let runners: Array<{ runner: Runner; tally: RunnerTally }> = [];
  let routes: () => Readonly<Record<string, RouteReading>> = () => ({});
  const now = (): number => app.clock.now();
  const reading = ({ runner, tally: t }: { runner: Runner; tally: RunnerTally }): RunnerReading => ({
    connection: runner.connection,
    state: runner.status.state,
    taken: runner.status.taken,
    bytes: runner.status.bytes,
    errors: t.errors,
    lastSuccessAt: t.lastSuccessAt,
  });
  const reader = createMetricsReader(dataPaths(app.config.dataDir).db);
  // The adapter asks for the three in one scrape; they share one read of the reader thread.
  const metrics = createPrometheusMetrics({
    runners: () => runners.map(reading),
    routes: () => routes(),
    archive: async () => (await reader.read()).archive,
    unparsed: async () => (await reader.read()).unparsed,
    deliveries: async () => (await reader.read()).deliveries,
    now,
  });
  return {
    metrics,
    attachRunners(list) {
      runners = list.map((runner) => ({ runner, tally: tally(runner.status, now) }));
    },
    attachRoutes(read) {
      routes = read;
    },
    close: () => reader.close(),
  };
}
