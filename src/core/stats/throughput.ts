/**
 * Throughput over a recent window (issue 15, the dashboard's chart): messages (and bytes) taken
 * per minute, per connection and in total, for the last N minutes. Pure: the window is cut from
 * a time handed in, and the counts come from whatever the archive reader answered
 * (`ArchiveReader.takenPerBucket`), so the figures survive a restart (they are the archive's own
 * `taken_at`), and buckets with nothing taken are filled with zeros here.
 */
import type { TakenBucket } from '../ports/archive-reader.js';

/** One bucket is one minute. */
export const THROUGHPUT_BUCKET_MS = 60_000;
/** The longest window asked for: a day of minutes (1,440 buckets, some 12 KB per series as JSON). */
export const THROUGHPUT_MAX_MINUTES = 1440;
/** The window when none is asked for: the last hour, what the dashboard draws. */
export const THROUGHPUT_DEFAULT_MINUTES = 60;

/** The window of the last `minutes` minutes at `now`: whole minutes, the last one the current (still filling) minute. */
export interface ThroughputWindow {
  /** Start of the first bucket, milliseconds since the epoch (a whole minute). */
  since: number;
  /** End of the last bucket (exclusive): the end of the current minute. */
  until: number;
  /** How many buckets. */
  minutes: number;
  bucketMs: number;
}

/** The window of the last `minutes` minutes (clamped to 1 … {@link THROUGHPUT_MAX_MINUTES}) ending with the minute `now` falls in. */
export function throughputWindow(now: number, minutes: number): ThroughputWindow {
  const n = Math.min(THROUGHPUT_MAX_MINUTES, Math.max(1, Math.floor(minutes)));
  const until = (Math.floor(now / THROUGHPUT_BUCKET_MS) + 1) * THROUGHPUT_BUCKET_MS;
  return { since: until - n * THROUGHPUT_BUCKET_MS, until, minutes: n, bucketMs: THROUGHPUT_BUCKET_MS };
}

/** Counts per bucket of one series: index i is the bucket starting at `since + i * bucketMs`. */
export interface ThroughputSeries {
  messages: number[];
  bytes: number[];
}

/** The throughput of a window: the total and each connection that took anything in it (by name). */
export interface Throughput {
  window: ThroughputWindow;
  total: ThroughputSeries;
  connections: Array<{ name: string } & ThroughputSeries>;
}

const zeros = (n: number): ThroughputSeries => ({ messages: new Array<number>(n).fill(0), bytes: new Array<number>(n).fill(0) });

/**
 * The reader's buckets spread over the window's minutes, zeros where nothing was taken; a bucket
 * outside the window (the reader answers by `since`/`until`, but a clock step could leave one) is
 * ignored. Connections in name order.
 */
export function throughputOf(window: ThroughputWindow, buckets: readonly TakenBucket[]): Throughput {
  const total = zeros(window.minutes);
  const per = new Map<string, ThroughputSeries>();
  for (const b of buckets) {
    const i = Math.floor((b.start - window.since) / window.bucketMs);
    if (i < 0 || i >= window.minutes) continue;
    let s = per.get(b.connection);
    if (!s) per.set(b.connection, (s = zeros(window.minutes)));
    s.messages[i]! += b.messages;
    s.bytes[i]! += b.bytes;
    total.messages[i]! += b.messages;
    total.bytes[i]! += b.bytes;
  }
  const connections = [...per.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([name, s]) => ({ name, ...s }));
  return { window, total, connections };
}
