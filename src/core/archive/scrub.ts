/**
 * The background scrub of `start` (issue 16, item 5; ADR 0031), its decisions without I/O: when
 * the next pass is due, how fast it may read (a pacer over the `Clock`), and the verdict a pass
 * leaves for the alert rule `archive-damaged` and the next start. The pass itself is
 * `verifyArchive` with the pacer as its `pace`: the same checks as `mailsluice verify`, never a
 * repair.
 */
import type { Clock } from '../ports/clock.js';
import { problemLine, type VerifyReport } from './archive-verify.js';

/** `archive.scrub` as the service reads it. */
export interface ScrubSettings {
  enabled: boolean;
  /** Hours from the end of one pass to the start of the next. */
  everyHours: number;
  /** Bytes read from disk per second at most, in MiB. */
  mbPerSecond: number;
}

/** What the last pass found, kept between runs (`dataDir/scrub-state.json`). */
export interface ScrubVerdict {
  /** When it ended (ms since the epoch). */
  finishedAt: number;
  ok: boolean;
  problems: number;
  /** The first problems, one line each, naming their messages. */
  first: string[];
}

/** The first pass after a start with no verdict kept waits this long (or a period, if shorter): a restart loop must not read the archive each time. */
export const FIRST_SCRUB_DELAY_MS = 10 * 60_000;
/** Problem lines a verdict keeps. */
const FIRST_PROBLEMS = 20;

/** When the next pass is due, for a service started at `startedAt`. */
export function nextScrubAt(last: ScrubVerdict | null, now: number, settings: Pick<ScrubSettings, 'everyHours'>, startedAt = now): number {
  const every = settings.everyHours * 3_600_000;
  if (!last) return Math.max(now, startedAt + Math.min(FIRST_SCRUB_DELAY_MS, every));
  return Math.max(now, last.finishedAt + every);
}

/** The verdict of a finished pass. */
export function scrubVerdict(report: VerifyReport, finishedAt: number): ScrubVerdict {
  return { finishedAt, ok: report.ok, problems: report.problems.length, first: report.problems.slice(0, FIRST_PROBLEMS).map(problemLine) };
}

/**
 * Holds a reader to `bytesPerSecond` on average: after each read it waits until the bytes read
 * so far are due at that rate (a burst is allowed to catch up after a slow stretch, not beyond).
 */
export class ScrubPacer {
  #started: number;
  #bytes = 0;

  constructor(
    private readonly clock: Clock,
    private readonly bytesPerSecond: number,
    private readonly signal?: AbortSignal,
  ) {
    this.#started = clock.now();
  }

  /** Called with the bytes just read; resolves when the next read may start. */
  async pace(bytes: number): Promise<void> {
    this.#bytes += bytes;
    const due = this.#started + (this.#bytes / this.bytesPerSecond) * 1000;
    const wait = due - this.clock.now();
    if (wait > 0 && !this.signal?.aborted) await this.clock.sleep(wait, this.signal).catch(() => undefined);
  }
}
