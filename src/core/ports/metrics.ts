/**
 * The metrics port: what the service reports for a scraper (Prometheus at `GET /metrics`), and
 * where its figures come from. Everything but delivery latency is read at scrape time from
 * {@link MetricsSource}, so the drain pays nothing for a series; latencies are observed as the
 * dispatcher thread reports them, in batches.
 */
import type { ArchiveStats } from './archive-reader.js';
import type { DeliveryCounts } from './delivery-admin.js';

/** One runner (a connection's folder) as a scrape sees it now. */
export interface RunnerReading {
  /** The connection's system name (several runners share it when it drains several folders). */
  connection: string;
  /** The runner's state (`ConnectionStatus.state`). */
  state: string;
  /** Messages and bytes taken by this runner since the process started. */
  taken: number;
  bytes: number;
  /** Failures recorded since the process started, by catalogue code. */
  errors: Readonly<Record<string, number>>;
  /** When its last successful cycle ended (ms since the epoch), null before the first. */
  lastSuccessAt: number | null;
  /** Messages its last listing found on the server not yet taken (`ConnectionStatus.backlog`). */
  backlog: number;
}

/** A route's deliveries since the process started, as the dispatcher counts them. */
export interface RouteReading {
  delivered: number;
  retries: number;
  dead: number;
}

/** Where a scrape reads its figures; each method is asked once per scrape. */
export interface MetricsSource {
  /** The runners running now (none outside `start` and `drain`). */
  runners(): readonly RunnerReading[];
  /** Per route, the dispatcher's counts since the process started (none without routes). */
  routes(): Readonly<Record<string, RouteReading>>;
  /** What the archive holds, in total and per connection. */
  archive(): Promise<ArchiveStats>;
  /** Archived messages not parsed yet (the parse backlog). */
  unparsed(): Promise<number>;
  /** Deliveries per route and state, as the buses hold them. */
  deliveries(): Promise<DeliveryCounts>;
  /** The background scrub's last pass (ADR 0031): when it ended and the problems it found; null before the first; absent outside `start`. */
  scrub?(): Promise<{ finishedAt: number; problems: number } | null>;
  /** Milliseconds since the epoch. */
  now(): number;
}

/** The exposition of the service's metrics. */
export interface Metrics {
  /** Records how long deliveries of `route` took from being queued to being done, in seconds. */
  observeDeliveryLatencies(route: string, seconds: readonly number[]): void;
  /** Every series as it stands now, in the exposition format, with that format's content type. */
  render(): Promise<{ contentType: string; text: string }>;
}
