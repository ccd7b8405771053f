/**
 * Options of the Prometheus metrics adapter, their defaults, and the tunables behind them, each
 * with its reason.
 */

/** Options of {@link createPrometheusMetrics}. */
export interface PrometheusMetricsOptions {
  /** Include Node's process metrics (CPU, memory, event-loop lag, handles) as `mailsluice_process_…`/`mailsluice_nodejs_…`. Default true. */
  processMetrics?: boolean;
}

/** The options after defaults. */
export interface PrometheusMetricsConfig {
  processMetrics: boolean;
}

/** Fills in the defaults. */
export function resolvePrometheusMetricsConfig(options: PrometheusMetricsOptions = {}): PrometheusMetricsConfig {
  return { processMetrics: options.processMetrics ?? true };
}

/** Internal tunables, each with why it has this value. */
export const PROMETHEUS_TUNING = {
  /** Every series is named with this prefix (issue 14's contract: `mailsluice_…`). */
  prefix: 'mailsluice_',
  /**
   * Bounds of the delivery-latency histogram, seconds from a delivery being queued to being
   * done. A webhook on a quiet service delivers in tens of milliseconds after the parse; behind
   * a drain's backlog or after retries (1 s doubling) it takes seconds to hours. Fifteen
   * buckets: each route costs fifteen series, so a few dozen routes stay cheap to scrape.
   */
  latencyBuckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600],
  /**
   * Runner states, each a series of `mailsluice_connection_state` (0 or the number of the
   * connection's runners in it), so a dashboard can select one without knowing which exist.
   * Kept in step with `ConnectionStatus.state`; a state not listed still gets its series.
   */
  states: ['starting', 'connecting', 'draining', 'waiting', 'outside-schedule', 'backoff', 'disk-full', 'stopped', 'error'],
} as const;
