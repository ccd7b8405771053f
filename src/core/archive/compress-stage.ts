/**
 * When the archive may spend CPU and disk on deferred compression: the domain's order of work,
 * for whichever blob store compresses behind the drain (blob-fs's compactor, ADR 0018). The store
 * decides how (what to rewrite, how to stay readable and crash-safe); this decides when:
 *
 * - **After the critical path**: while a connection drains, compression waits, but for at most
 *   `maxPauseMs` of continuous drain ({@link YieldToDrain}), so a mailbox that never goes quiet is
 *   still compressed.
 * - **Behind the parse stage**: compression is storage, not processing; while messages wait to be
 *   parsed it waits (bounded the same way), so the index stage reads raw bodies and gets the CPU
 *   that makes mail searchable. When the parse queue does not move for `parseWaitMs` (a blob the
 *   parse stage cannot read, a failed index stage) it stops waiting for it, warning once.
 * - **Failures that pass** (too many open files, a failed writer) are retried after a back-off
 *   doubling from 1 s to 60 s; a run that must end (`drain`) gives up after five in a row,
 *   leaving the rest uncompressed (and readable) for the next run.
 *
 * No I/O here: the clock and the parse queue's count come in as ports.
 */
import { YieldToDrain } from './yield-to-drain.js';
import type { Clock } from '../ports/clock.js';
import type { Logger } from '../ports/logger.js';

/** Totals of a compression run, as `drain --json` reports them. */
export interface CompressTotals {
  /** Blobs rewritten compressed. */
  blobs: number;
  /** Their raw size. */
  rawBytes: number;
  /** Bytes they took staged, and now take compressed. */
  stagedBytes: number;
  storedBytes: number;
  /** Staging containers deleted. */
  containersDeleted: number;
  /** Staged blobs that could not be read (left staged, logged). */
  failed: number;
}

/** An empty totals record. */
export function emptyCompressTotals(): CompressTotals {
  return { blobs: 0, rawBytes: 0, stagedBytes: 0, storedBytes: 0, containersDeleted: 0, failed: 0 };
}

/** What a blob store's background compression asks before each unit of work and after a failure. */
export interface CompressSchedule {
  /** The clock to wait on. */
  readonly clock: Clock;
  /** True when the run must end once nothing is left to compress (`drain`); false runs until aborted (`start`). */
  stopping(): boolean;
  /** Milliseconds to wait before compressing now; 0 means go ahead. */
  holdMs(): Promise<number>;
  /** How long to wait when nothing is left to compress, before looking again (service only). */
  readonly idleMs: number;
  /** After the `failures`-th retryable failure in a row: how long to wait, or null to give up. */
  retryInMs(failures: number): number | null;
}

/** What {@link createCompressSchedule} needs. */
export interface CompressScheduleDeps {
  clock: Clock;
  logger: Logger;
  /** How many messages wait to be parsed. */
  unparsed: () => Promise<number>;
  /** True while a connection is draining (the critical path). */
  busy?: () => boolean;
  /** See {@link CompressSchedule.stopping}. */
  stopping: () => boolean;
  /** Longest continuous wait for a drain or the parse queue. Default 60 s. */
  maxPauseMs?: number;
  /**
   * How long the parse queue may stay unchanged before compression stops waiting for it. Longer
   * than a parse may take plus the index stage's pause for a busy drain. Default 30 s.
   */
  parseWaitMs?: number;
  /** Once `stopping()`, how often to look again while messages wait to be parsed. Default 100 ms. */
  parsePollMs?: number;
  /** Default 5 s. */
  idleMs?: number;
}

const DEFAULT_MAX_PAUSE_MS = 60_000;
const DEFAULT_PARSE_WAIT_MS = 30_000;
const DEFAULT_PARSE_POLL_MS = 100;
const DEFAULT_IDLE_MS = 5_000;
/** Wait while a drain is busy, before asking again. */
const BUSY_POLL_MS = 200;
const FIRST_RETRY_MS = 1_000;
const MAX_RETRY_MS = 60_000;
/** Once `stopping()` (a drain), compression gives up after this many failures in a row. */
const MAX_FAILURES_WHEN_STOPPING = 5;

/** The domain's schedule for deferred compression; see the module comment. */
export function createCompressSchedule(deps: CompressScheduleDeps): CompressSchedule {
  const maxPauseMs = deps.maxPauseMs ?? DEFAULT_MAX_PAUSE_MS;
  const parseWaitMs = deps.parseWaitMs ?? DEFAULT_PARSE_WAIT_MS;
  const yielding = new YieldToDrain(deps.clock, deps.busy, maxPauseMs);
  let parsing = false;
  const behindParse = new YieldToDrain(deps.clock, () => parsing, maxPauseMs);
  /** The unparsed count last seen, since when it has not changed, and whether the stall was told. */
  let lastUnparsed = -1;
  let unchangedSince = 0;
  let stallWarned = false;
  const stalled = (unparsed: number): boolean => {
    const now = deps.clock.now();
    if (unparsed !== lastUnparsed) {
      lastUnparsed = unparsed;
      unchangedSince = now;
      stallWarned = false;
      return false;
    }
    return now - unchangedSince >= parseWaitMs;
  };
  return {
    clock: deps.clock,
    idleMs: deps.idleMs ?? DEFAULT_IDLE_MS,
    stopping: deps.stopping,
    async holdMs() {
      if (yielding.shouldWait()) return BUSY_POLL_MS;
      const unparsed = await deps.unparsed();
      const stall = unparsed > 0 && stalled(unparsed);
      parsing = unparsed > 0 && !stall;
      if (stall && !stallWarned) {
        stallWarned = true;
        deps.logger.warn('parsing has not moved for a while; compressing staged blobs whose messages are not parsed yet', {
          unparsedMessages: unparsed,
          waitedMs: deps.clock.now() - unchangedSince,
        });
      }
      if (behindParse.shouldWait()) return deps.stopping() ? (deps.parsePollMs ?? DEFAULT_PARSE_POLL_MS) : BUSY_POLL_MS;
      return 0;
    },
    retryInMs(failures) {
      if (deps.stopping() && failures >= MAX_FAILURES_WHEN_STOPPING) return null;
      return Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** Math.min(failures - 1, 16));
    },
  };
}
