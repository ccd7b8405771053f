/**
 * The metrics port over prom-client: the service's series in the Prometheus text format. See
 * README.md.
 */
export { createPrometheusMetrics } from './prometheus-metrics.js';
export { resolvePrometheusMetricsConfig, PROMETHEUS_TUNING, type PrometheusMetricsConfig, type PrometheusMetricsOptions } from './prometheus-metrics-config.js';
