/**
 * The metrics port over prom-client. Every series but the delivery-latency histogram is set at
 * scrape time from one reading of the {@link MetricsSource} (the runners' and dispatcher's live
 * counts, and three queries of the archive), so nothing runs on the drain's path between
 * scrapes. Each series has its own registry (never prom-client's global one), so two instances
 * (tests) do not collide.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Metrics, MetricsSource, RunnerReading } from '../../core/ports/metrics.js';
import type { ArchiveStats } from '../../core/ports/archive-reader.js';
import type { DeliveryCounts } from '../../core/ports/delivery-admin.js';
import { PROMETHEUS_TUNING, resolvePrometheusMetricsConfig, type PrometheusMetricsOptions } from './prometheus-metrics-config.js';

const P = PROMETHEUS_TUNING.prefix;

/** What one scrape read, before any series is set from it. */
interface Reading {
  runners: readonly RunnerReading[];
  routes: ReturnType<MetricsSource['routes']>;
  archive: ArchiveStats;
  unparsed: number;
  deliveries: DeliveryCounts;
  scrub: { finishedAt: number; problems: number } | null;
  now: number;
}

/** The series, declared once. */
function declare(register: Registry) {
  const registers = [register];
  const c = (name: string, help: string, labelNames: string[]) => new Counter({ name: P + name, help, labelNames, registers });
  const g = (name: string, help: string, labelNames: string[] = []) => new Gauge({ name: P + name, help, labelNames, registers });
  return {
    taken: c('connection_messages_taken_total', 'Messages taken from the connection since the archive began (what the archive holds of it).', ['connection']),
    takenBytes: c('connection_bytes_taken_total', 'Bytes of the messages taken from the connection since the archive began.', ['connection']),
    runTaken: c('connection_run_messages_taken_total', 'Messages taken from the connection by this process (its runners, live).', ['connection']),
    runBytes: c('connection_run_bytes_taken_total', 'Bytes taken from the connection by this process (its runners, live).', ['connection']),
    errors: c('connection_errors_total', 'Failures the connection\'s runners recorded since the process started, by catalogue code.', ['connection', 'code']),
    state: g('connection_state', 'How many of the connection\'s runners (one per folder) are in each state.', ['connection', 'state']),
    sinceSuccess: g('connection_last_success_age_seconds', 'Seconds since a runner of the connection last ended a cycle successfully (absent before the first).', ['connection']),
    lastSuccess: g('connection_last_success_timestamp_seconds', 'When a runner of the connection last ended a cycle successfully, Unix seconds (absent before the first).', ['connection']),
    backlog: g('connection_backlog', 'Messages the last listing of the connection\'s runners found on the server not yet taken, counted down as they are committed (0 once the mailbox is empty; at most maxMessagesPerCycle per runner).', ['connection']),
    pendingActions: g('connection_pending_server_actions', 'Server actions (move, delete) queued for the connection and not yet confirmed.', ['connection']),
    deliveries: g('route_deliveries', 'Deliveries the route\'s bus holds, by state (pending, done, dead).', ['route', 'state']),
    delivered: c('route_deliveries_done_total', 'Deliveries the route completed since the process started.', ['route']),
    retried: c('route_deliveries_retried_total', 'Delivery attempts of the route that failed and were scheduled again since the process started.', ['route']),
    dead: c('route_deliveries_dead_total', 'Deliveries of the route that became dead letters since the process started.', ['route']),
    latency: new Histogram({
      name: `${P}route_delivery_latency_seconds`,
      help: 'Seconds from a delivery being queued (its message archived and routed) to being done, retries included.',
      labelNames: ['route'],
      buckets: [...PROMETHEUS_TUNING.latencyBuckets],
      registers,
    }),
    parseBacklog: g('parse_backlog_messages', 'Archived messages not parsed yet (the index stage\'s backlog).'),
    messages: g('archive_messages', 'Messages the archive holds.'),
    bytes: g('archive_bytes', 'Bytes of the messages the archive holds (as taken).'),
    stored: g('archive_stored_bytes', 'Bytes the archive\'s blobs take on disk (after compression).'),
    unparsable: g('archive_unparsable_messages', 'Archived messages that could not be parsed (kept raw).'),
    scrubProblems: g('archive_scrub_problems', 'Problems the background scrub\'s last pass found (damaged or missing blobs, orphan blobs, damaged records; mailsluice verify names them); absent before a first pass.'),
    scrubLast: g('archive_scrub_last_pass_timestamp_seconds', 'When the background scrub\'s last pass ended, Unix seconds; absent before a first pass.'),
  };
}

type Series = ReturnType<typeof declare>;

/** A counter set to `value` (counters only go up in prom-client: reset, then counted up to it). */
function setCounter(counter: Counter, labels: Record<string, string>, value: number): void {
  counter.inc(labels, Math.max(0, value));
}

/** Sums the runners' readings per connection (several folders, several runners). */
function perConnection(runners: readonly RunnerReading[]): Map<string, RunnerReading[]> {
  const out = new Map<string, RunnerReading[]>();
  for (const r of runners) out.set(r.connection, [...(out.get(r.connection) ?? []), r]);
  return out;
}

function setConnections(s: Series, r: Reading): void {
  for (const [name, held] of Object.entries(r.archive.connections)) {
    setCounter(s.taken, { connection: name }, held.messages);
    setCounter(s.takenBytes, { connection: name }, held.bytes);
    s.pendingActions.set({ connection: name }, held.pendingActions);
  }
  for (const [connection, runners] of perConnection(r.runners)) {
    const sum = (f: (x: RunnerReading) => number): number => runners.reduce((n, x) => n + f(x), 0);
    setCounter(s.runTaken, { connection }, sum((x) => x.taken));
    setCounter(s.runBytes, { connection }, sum((x) => x.bytes));
    s.backlog.set({ connection }, sum((x) => x.backlog));
    const codes = new Map<string, number>();
    for (const x of runners) for (const [code, n] of Object.entries(x.errors)) codes.set(code, (codes.get(code) ?? 0) + n);
    for (const [code, n] of codes) setCounter(s.errors, { connection, code }, n);
    const states = new Set<string>([...PROMETHEUS_TUNING.states, ...runners.map((x) => x.state)]);
    for (const state of states) s.state.set({ connection, state }, runners.filter((x) => x.state === state).length);
    const last = Math.max(...runners.map((x) => x.lastSuccessAt ?? -1));
    if (last >= 0) {
      s.lastSuccess.set({ connection }, last / 1000);
      s.sinceSuccess.set({ connection }, Math.max(0, (r.now - last) / 1000));
    }
  }
}

function setRoutes(s: Series, r: Reading): void {
  for (const [route, counts] of Object.entries(r.deliveries)) {
    for (const state of ['pending', 'done', 'dead'] as const) s.deliveries.set({ route, state }, counts[state]);
  }
  for (const [route, t] of Object.entries(r.routes)) {
    setCounter(s.delivered, { route }, t.delivered);
    setCounter(s.retried, { route }, t.retries);
    setCounter(s.dead, { route }, t.dead);
  }
}

/** Every series but the histogram, from `r`: cleared first, so a connection or route gone is gone. */
function setAll(s: Series, r: Reading): void {
  for (const [key, metric] of Object.entries(s)) if (key !== 'latency') metric.reset();
  setConnections(s, r);
  setRoutes(s, r);
  s.parseBacklog.set(r.unparsed);
  s.messages.set(r.archive.messages);
  s.bytes.set(r.archive.bytes);
  s.stored.set(r.archive.storedBytes);
  s.unparsable.set(r.archive.unparsable);
  if (r.scrub) {
    s.scrubProblems.set(r.scrub.problems);
    s.scrubLast.set(r.scrub.finishedAt / 1000);
  }
}

/** The service's metrics over `source`, in the Prometheus text format. */
export function createPrometheusMetrics(source: MetricsSource, options: PrometheusMetricsOptions = {}): Metrics {
  const config = resolvePrometheusMetricsConfig(options);
  const register = new Registry();
  if (config.processMetrics) collectDefaultMetrics({ register, prefix: P });
  const series = declare(register);
  // One scrape at a time: two interleaved would each reset what the other set.
  let queue: Promise<unknown> = Promise.resolve();
  const scrape = async (): Promise<{ contentType: string; text: string }> => {
    const [archive, unparsed, deliveries, scrub] = await Promise.all([source.archive(), source.unparsed(), source.deliveries(), source.scrub?.() ?? null]);
    setAll(series, { runners: source.runners(), routes: source.routes(), archive, unparsed, deliveries, scrub, now: source.now() });
    return { contentType: register.contentType, text: await register.metrics() };
  };
  return {
    observeDeliveryLatencies(route, seconds) {
      const h = series.latency.labels({ route });
      for (const v of seconds) h.observe(v);
    },
    render() {
      const next = queue.then(scrape, scrape);
      queue = next.catch(() => undefined);
      return next;
    },
  };
}
