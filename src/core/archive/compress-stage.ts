/**
 * The compress stage: deferred compression of large bodies. The drain stores bodies above the
 * blob store's stream threshold raw in staging containers (no compression CPU on the critical
 * path, ADR 0001 "Deferred compression"); this stage, off the critical path, rewrites each
 * committed staged blob compressed through a writer of its own, makes the copies durable, moves
 * the blob rows to them in one transaction, and deletes a staging container once a query shows
 * that no row references it any more.
 *
 * Crash safety, step by step: the compressed copy is unreferenced until the row moves (a crash
 * before leaves the staged copy referenced, and the work is redone); the row moves only after
 * the copy is synced, and only if it still points at the staged copy; a staging container is
 * deleted only after the move is committed and a query finds no row left in it (a crash before
 * leaves garbage that a later run deletes). No blob is ever unreadable or lost.
 *
 * Behind the parse stage: the stage waits while any message waits to be parsed, and a staged
 * blob is taken only once every message that references it is parsed, so the index stage reads
 * the raw staged copy (no decompression) and the compression follows the parsing instead of
 * racing it for the CPU. This is an order of work, not a guard:
 * the steps above are safe whatever a reader holds, and when parsing makes no progress for
 * `parseWaitMs` (a blob the parse stage cannot read, a failed index stage) the stage takes
 * the remaining staged blobs anyway, as before.
 *
 * No I/O here: the store, blob store and clock are ports.
 */
import { YieldToDrain } from './yield-to-drain.js';
import type { BlobLocation, BlobStore, BlobWriter } from '../ports/blob-store.js';
import type { BlobMove, MessageStore, StoredBlob } from '../ports/message-store.js';
import type { Logger } from '../ports/logger.js';
import type { Clock } from '../ports/clock.js';
import { isMailsluiceError } from '../errors/index.js';

/** What the compress stage needs. */
export interface CompressDeps {
  store: MessageStore;
  blobs: BlobStore;
  logger: Logger;
  clock: Clock;
  /** Raw bytes recompressed per sync + metadata transaction. Default 64 MiB. */
  batchBytes?: number;
  /**
   * A staging container is deleted only after it has been seen unreferenced for this long, so a
   * reader that listed a row before it moved (the index stage, an export) still finds the staged
   * copy. Default 60 s; 0 when no reader can hold an old ref (drain, after indexing).
   */
  deleteGraceMs?: number;
  /** How long to wait when nothing is staged before looking again. Default 5 s. */
  idleMs?: number;
  /**
   * Once `stop()` is true, how often to look again while staged blobs wait for their messages to
   * be parsed. Default 100 ms.
   */
  parsePollMs?: number;
  /**
   * How long staged blobs wait for their messages to be parsed while no message at all gets
   * parsed; then they are taken unparsed (one pass). Longer than a parse may take
   * (`PARSE_TIMEOUT_MS`) plus the index stage's pause for a busy drain. Default 30 s.
   */
  parseWaitMs?: number;
  /** True while a drain is moving mail: the stage then waits (low priority), but for at most `maxPauseMs`. */
  busy?: () => boolean;
  /** Default 60 s. */
  maxPauseMs?: number;
}

/** Totals of a compress run. */
export interface CompressTotals {
  /** Blobs rewritten compressed and moved. */
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

const DEFAULT_BATCH_BYTES = 64 * 1024 * 1024;
const DEFAULT_GRACE_MS = 60_000;
const DEFAULT_IDLE_MS = 5_000;
const DEFAULT_MAX_PAUSE_MS = 60_000;
const DEFAULT_PARSE_POLL_MS = 100;
const DEFAULT_PARSE_WAIT_MS = 30_000;
const PAGE = 64;
/** After a retryable failure (too many open files, a failed writer), the stage waits this long before it tries again; doubled up to {@link MAX_RETRY_MS}. */
const FIRST_RETRY_MS = 1_000;
const MAX_RETRY_MS = 60_000;
/** Once `stop()` is true (a drain), the stage gives up after this many failures in a row. */
const MAX_FAILURES_WHEN_STOPPING = 5;

/** An empty totals record. */
export function emptyCompressTotals(): CompressTotals {
  return { blobs: 0, rawBytes: 0, stagedBytes: 0, storedBytes: 0, containersDeleted: 0, failed: 0 };
}

/**
 * Deletes the staging containers that no writer holds open and that a query shows no committed
 * blob references, once each has been seen unreferenced for `graceMs` (`unreferencedSince`
 * remembers that between calls). Returns how many were deleted.
 */
export async function collectStaging(
  deps: Pick<CompressDeps, 'store' | 'blobs' | 'logger' | 'clock'>,
  graceMs: number,
  unreferencedSince: Map<string, number> = new Map(),
): Promise<number> {
  let deleted = 0;
  const containers = await deps.blobs.listStagingContainers();
  const present = new Set(containers.map((c) => c.refPrefix));
  for (const k of unreferencedSince.keys()) if (!present.has(k)) unreferencedSince.delete(k);
  for (const c of containers) {
    if (c.open) {
      unreferencedSince.delete(c.refPrefix);
      continue;
    }
    // Never by assumption: the rows say whether anything still lives there.
    const refs = await deps.store.countBlobRefs(c.refPrefix);
    if (refs > 0) {
      unreferencedSince.delete(c.refPrefix);
      continue;
    }
    const now = deps.clock.now();
    const since = unreferencedSince.get(c.refPrefix) ?? now;
    unreferencedSince.set(c.refPrefix, since);
    if (now - since < graceMs) continue;
    await deps.blobs.deleteStagingContainer(c.refPrefix);
    unreferencedSince.delete(c.refPrefix);
    deleted++;
    deps.logger.info('staging container deleted: every blob in it is stored compressed', { container: c.refPrefix.replace(/:$/, '') });
  }
  return deleted;
}

/**
 * Recompresses staged blobs until `stop()` says so and nothing is staged (checked whenever a
 * pass finds nothing), deleting emptied staging containers after `deleteGraceMs`. A staged blob
 * is taken once its messages are parsed; with `stop = () => true` (drain) the stage returns once
 * a pass finds nothing to take and no staged blob waits for a parse (or, parsing having stalled
 * for `parseWaitMs`, after one pass that takes them unparsed).
 */
export async function runCompressStage(deps: CompressDeps, stop: () => boolean, signal?: AbortSignal): Promise<CompressTotals> {
  const totals = emptyCompressTotals();
  const batchBytes = deps.batchBytes ?? DEFAULT_BATCH_BYTES;
  const graceMs = deps.deleteGraceMs ?? DEFAULT_GRACE_MS;
  const unreferencedSince = new Map<string, number>();
  /** Blobs that failed to read in this process: not retried on every pass (they stay staged). */
  const unreadable = new Set<string>();
  let writer: BlobWriter | null = null;
  let moves: Array<BlobMove & { size: number; stagedSize: number }> = [];
  let pendingBytes = 0;

  const commit = async (): Promise<void> => {
    if (moves.length === 0 || !writer) return;
    // Durable before any row points at the copies.
    await writer.sync();
    const batch = moves;
    moves = [];
    pendingBytes = 0;
    const moved = await deps.store.relocateBlobs(batch.map(({ sha256, from, to }) => ({ sha256, from, to })));
    if (moved === batch.length) {
      for (const m of batch) {
        totals.blobs++;
        totals.rawBytes += m.size;
        totals.stagedBytes += m.stagedSize;
        totals.storedBytes += m.to.storedSize;
      }
    } else {
      // A row changed meanwhile (another stage moved it): its copy is left unreferenced.
      totals.blobs += moved;
      deps.logger.warn('some staged blobs had moved before their compressed copy was committed; those copies are unused', { expected: batch.length, moved });
    }
  };
  const closeWriter = async (): Promise<void> => {
    const w = writer;
    writer = null;
    await w?.close();
  };

  const yielding = new YieldToDrain(deps.clock, deps.busy, deps.maxPauseMs ?? DEFAULT_MAX_PAUSE_MS);
  // Compression is storage, not processing: before each pass it also waits while messages wait
  // to be parsed, so it does not take the CPU the parse and index stage needs to make mail
  // searchable (on two cores it had added ~1.5 s to the mixed set's time to fully processed).
  // Bounded like the drain's pause, so a parse queue that never empties does not keep the
  // archive uncompressed, and not at all once parsing has stalled (below).
  let parsing = false;
  const behindParse = new YieldToDrain(deps.clock, () => parsing, deps.maxPauseMs ?? DEFAULT_MAX_PAUSE_MS);
  let afterRef: string | undefined;
  let passWorked = false;
  const parseWaitMs = deps.parseWaitMs ?? DEFAULT_PARSE_WAIT_MS;
  /** A pass that takes staged blobs whether or not their messages are parsed (parsing stalled). */
  let takeUnparsed = false;
  /**
   * The unparsed count last seen while blobs waited for a parse, since when it has not changed,
   * and whether they were taken unparsed since (once per stall, not again until parsing moves).
   */
  let lastUnparsed = -1;
  let unchangedSince = 0;
  let tookUnparsedInStall = false;
  /** Whether parsing has stalled: the unparsed count has not changed for `parseWaitMs`. */
  const stalled = (unparsed: number): boolean => {
    const now = deps.clock.now();
    if (unparsed !== lastUnparsed) {
      lastUnparsed = unparsed;
      unchangedSince = now;
      tookUnparsedInStall = false;
      return false;
    }
    return now - unchangedSince >= parseWaitMs;
  };
  /** Consecutive retryable failures, for the wait before the next try. */
  let failures = 0;
  try {
    for (;;) {
      if (signal?.aborted) break;
      try {
        if (await step()) break;
        failures = 0;
      } catch (err) {
        // A resource that ran out (descriptors, memory) or a writer that failed: nothing is wrong
        // with the archive. The copies not committed are dropped (their staged originals stay
        // referenced), the writer is replaced, and the stage tries again after a pause, from the
        // start: it never stops the service for what passes.
        if (!isMailsluiceError(err) || !err.retryable) throw err;
        failures++;
        moves = [];
        pendingBytes = 0;
        afterRef = undefined;
        await closeWriter().catch(() => undefined);
        if (stop() && failures >= MAX_FAILURES_WHEN_STOPPING) {
          // A drain must end: what is staged stays staged (readable), for the next run.
          deps.logger.error('compress stage gives up for this run; staged blobs stay staged', { code: err.code, error: err.message, failures });
          break;
        }
        const waitMs = Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** Math.min(failures - 1, 16));
        deps.logger.warn('compress stage failed for now; trying again later', { code: err.code, error: err.message, inMs: waitMs });
        await deps.clock.sleep(waitMs, signal).catch(() => undefined);
      }
    }
    await commit();
  } finally {
    await closeWriter();
  }
  return totals;

  /** One turn of the stage's loop; true when it is finished. */
  async function step(): Promise<boolean> {
    if (yielding.shouldWait()) {
      await commit();
      await deps.clock.sleep(200, signal).catch(() => undefined);
      return false;
    }
    if (afterRef === undefined && !takeUnparsed) {
      const unparsed = await deps.store.countUnparsed();
      parsing = unparsed > 0 && !stalled(unparsed);
      if (behindParse.shouldWait()) {
        await commit();
        await deps.clock.sleep(stop() ? (deps.parsePollMs ?? DEFAULT_PARSE_POLL_MS) : 200, signal).catch(() => undefined);
        return false;
      }
    }
    const page = await deps.store.listStagedBlobs(PAGE, afterRef, { parsedOnly: !takeUnparsed });
    if (page.length > 0) {
      afterRef = page[page.length - 1]!.blob.ref;
      const todo = page.filter((b) => !unreadable.has(b.sha256));
      if (todo.length > 0) {
        passWorked = true;
        await work(todo);
      }
      return false;
    }
    // End of a pass over the staged rows.
    await commit();
    afterRef = undefined;
    if (passWorked) {
      // Look again from the start: rows committed meanwhile may sort before the cursor.
      passWorked = false;
      return false;
    }
    totals.containersDeleted += await collectStaging(deps, graceMs, unreferencedSince);
    const tookUnparsed = takeUnparsed;
    takeUnparsed = false;
    const backlog = tookUnparsed ? undefined : await deps.store.stagedParseBacklog();
    if (!backlog || backlog.stagedBlobs === 0) {
      await closeWriter();
      if (stop()) return true;
      await deps.clock.sleep(deps.idleMs ?? DEFAULT_IDLE_MS, signal).catch(() => undefined);
      return false;
    }
    // Staged blobs wait for the parse stage (the writer stays open for them: one pack, not one
    // per look). It is moving while the unparsed count changes.
    if (stalled(backlog.unparsedMessages) && !tookUnparsedInStall) {
      deps.logger.warn('parsing has not moved for a while; compressing staged blobs whose messages are not parsed yet', {
        stagedBlobs: backlog.stagedBlobs,
        unparsedMessages: backlog.unparsedMessages,
        waitedMs: deps.clock.now() - unchangedSince,
      });
      takeUnparsed = true;
      tookUnparsedInStall = true;
      return false;
    }
    await deps.clock.sleep(stop() ? (deps.parsePollMs ?? DEFAULT_PARSE_POLL_MS) : (deps.idleMs ?? DEFAULT_IDLE_MS), signal).catch(() => undefined);
    return false;
  }

  async function work(page: StoredBlob[]): Promise<void> {
    for (const b of page) {
      if (signal?.aborted) return;
      writer ??= await deps.blobs.openWriter();
      let to: BlobLocation;
      try {
        to = await writer.recompress(b.blob, b.sha256);
      } catch (err) {
        if (isMailsluiceError(err, 'STORE_CORRUPT') || isMailsluiceError(err, 'STORE_NOT_FOUND')) {
          // The staged copy itself cannot be read: leave it where it is, for an operator to see.
          unreadable.add(b.sha256);
          totals.failed++;
          deps.logger.error('cannot read a staged blob to compress it; it stays staged', { sha256: b.sha256, ref: b.blob.ref, error: (err as Error).message });
          continue;
        }
        throw err;
      }
      moves.push({ sha256: b.sha256, from: b.blob, to, size: b.size, stagedSize: b.blob.storedSize });
      pendingBytes += b.size;
      if (pendingBytes >= batchBytes) await commit();
    }
  }
}
