/**
 * The re-index job (issue 17, item 3; ADR 0041): when the full-text index was written by an
 * older build (its stored version below what this build writes: no stems), every parsed message
 * is read back from its raw bytes, parsed as the index stage parses it, and its row written again
 * through the index writer, in id order, a batch per transaction with the progress in the same
 * transaction: a kill resumes after the last batch written, and a row is replaced, never added
 * twice. The decisions are here (when, how far, in what steps, yielding to a drain); the store
 * and the parser do the I/O. Search answers from what is indexed meanwhile.
 */
import { mapInLanes } from '../concurrency/lanes.js';
import type { BlobStore } from '../ports/blob-store.js';
import type { MessageParser } from '../ports/message-parser.js';
import type { UnparsedMessage } from '../ports/parse-queue.js';
import type { Logger } from '../ports/logger.js';
import type { Clock } from '../ports/clock.js';
import type { IndexBuildState, IndexProgress, RebuildProgress, SearchRebuild } from '../ports/search-rebuild.js';
import { asParsedRecord, indexEntryOf, type IndexEntry } from '../message/parsed-record.js';
import { MAX_FULL_PARSE_BYTES, MAX_HEADER_BYTES } from '../message/limits.js';
import type { ByteBudget, Release } from '../memory/byte-budget.js';
import { parseCharge } from './index-stage.js';
import { YieldToDrain } from './yield-to-drain.js';

/**
 * Messages per batch (one transaction of the index writer with its progress): about 0.1 s of
 * parsing small mail on two cores, so a kill loses little and the writer's queue, which the index
 * stage's saves share, is never held long.
 */
export const REINDEX_BATCH = 200;
/**
 * Longest the job waits for a busy drain before it goes on beside it: longer than the index
 * stage's 10 s (new mail is indexed first), bounded so an archive whose mailboxes never go quiet
 * is still rebuilt.
 */
export const REINDEX_MAX_PAUSE_MS = 30_000;

/** Whether an index in `state` is to be rebuilt for a writer of version `current` (a newer index is left alone). */
export function rebuildNeeded(state: IndexBuildState, current: number): boolean {
  return state.version < current;
}

/**
 * The rebuild to run: the one under way when it builds `current` (a kill resumes it), else a new
 * one over the messages parsed so far (`scope`); messages parsed later are indexed by this build.
 */
export function rebuildToRun(state: IndexBuildState, scope: { end: number; total: number }, current: number): RebuildProgress {
  if (state.rebuild && state.rebuild.target === current) return state.rebuild;
  return { target: current, after: 0, end: scope.end, done: 0, total: scope.total };
}

/** The state recorded with a batch: progress, or (the last batch) the new version and no rebuild. */
export function stateAfter(before: IndexBuildState, p: RebuildProgress, finished: boolean): IndexBuildState {
  return finished ? { version: p.target, rebuild: null } : { version: before.version, rebuild: p };
}

/**
 * What `search` says of an index in `state` for a writer of version `current` (a store's
 * `indexProgress()`): not rebuilding when current with no rebuild under way; else the rebuild's
 * progress, or, none begun yet, everything still to do (`scopeTotal`, asked only then).
 */
export async function progressOf(state: IndexBuildState, current: number, scopeTotal: () => Promise<number>): Promise<IndexProgress> {
  if (state.version >= current && !state.rebuild) return { rebuilding: false, done: 0, total: 0 };
  const r = state.rebuild;
  return { rebuilding: true, done: r ? r.done : 0, total: r ? r.total : await scopeTotal() };
}

/** What the job needs. */
export interface ReindexDeps {
  store: SearchRebuild;
  blobs: BlobStore;
  parser: MessageParser;
  logger: Logger;
  clock: Clock;
  /** Messages read and parsed at once. */
  concurrency: number;
  /** Messages per batch; default {@link REINDEX_BATCH}. */
  batch?: number;
  /** True while a drain is moving mail: the job waits (for at most `maxPauseMs` at a time). */
  busy?: () => boolean;
  maxPauseMs?: number;
  /** The process's byte budget (ADR 0017): a message is read only once its bytes fit. */
  budget?: ByteBudget;
  /** Told after each batch is durable. */
  onProgress?: (p: RebuildProgress) => void;
}

/** How a run ended. */
export interface ReindexResult {
  /** `current`: nothing to do; `finished`: the index is at the new version; `stopped`: aborted, resumable. */
  outcome: 'current' | 'finished' | 'stopped';
  /** Rows written by this run. */
  rebuilt: number;
  /** Messages whose blob could not be read (their rows are left as they were; logged). */
  unreadable: number;
  progress: RebuildProgress | null;
}

/** `m`'s full-text row from its raw bytes, or undefined when they cannot be read (logged). */
async function entryOf(deps: ReindexDeps, m: UnparsedMessage, signal?: AbortSignal): Promise<IndexEntry | undefined> {
  let release: Release | undefined;
  if (deps.budget) {
    const charge = parseCharge(m);
    release = deps.budget.tryAcquire(charge) ?? (await deps.budget.acquire(charge, signal));
  }
  try {
    let raw: Buffer;
    if (m.size > MAX_FULL_PARSE_BYTES) {
      // As the index stage: only the head of a message over the full-parse limit is read.
      const chunks: Uint8Array[] = [];
      let n = 0;
      for await (const c of deps.blobs.stream(m.blob, m.sha256)) {
        chunks.push(c);
        n += c.byteLength;
        if (n >= MAX_HEADER_BYTES) break;
      }
      raw = Buffer.concat(chunks);
    } else raw = await deps.blobs.read(m.blob, m.sha256, { check: 'checksum' });
    const outcome = deps.parser.parseToRecord ? await deps.parser.parseToRecord(raw, m.size) : await deps.parser.parse(raw, m.size);
    return indexEntryOf(m.id, asParsedRecord(outcome));
  } catch (err) {
    if (signal?.aborted) throw err;
    deps.logger.error('re-index: cannot read a message; its index row is left as it was', { id: m.id, sha256: m.sha256, error: String((err as Error).message ?? err) });
    return undefined;
  } finally {
    release?.();
  }
}

/** The rows of `page`, read and parsed `concurrency` at a time, in page order. */
function entriesOf(deps: ReindexDeps, page: UnparsedMessage[], signal?: AbortSignal): Promise<Array<IndexEntry | undefined>> {
  return mapInLanes(page, deps.concurrency, (m) => entryOf(deps, m, signal), signal);
}

/**
 * Rebuilds the index when it is older than the store's writer, resuming a rebuild under way;
 * returns at the end or when `signal` aborts (between batches: what was written stays).
 */
export async function runReindex(deps: ReindexDeps, signal?: AbortSignal): Promise<ReindexResult> {
  const { store } = deps;
  const current = store.indexVersion;
  const state = await store.buildState();
  const result: ReindexResult = { outcome: 'current', rebuilt: 0, unreadable: 0, progress: null };
  if (!rebuildNeeded(state, current)) return result;
  let p = rebuildToRun(state, await store.rebuildScope(), current);
  // Recorded before the first batch, so a resumed run keeps the scope it began with.
  if (state.rebuild !== p) await store.writeRebuilt([], stateAfter(state, p, false));
  const batch = deps.batch ?? REINDEX_BATCH;
  const yielding = new YieldToDrain(deps.clock, deps.busy, deps.maxPauseMs ?? REINDEX_MAX_PAUSE_MS);
  result.progress = p;
  for (;;) {
    while (!signal?.aborted && yielding.shouldWait()) await deps.clock.sleep(50, signal).catch(() => undefined);
    if (signal?.aborted) return { ...result, outcome: 'stopped' };
    const page = await store.listIndexed(p.after, p.end, batch);
    let entries: Array<IndexEntry | undefined>;
    try {
      entries = await entriesOf(deps, page, signal);
    } catch (err) {
      if (signal?.aborted) return { ...result, outcome: 'stopped' };
      throw err;
    }
    if (signal?.aborted) return { ...result, outcome: 'stopped' };
    const rows = entries.filter((e): e is IndexEntry => e !== undefined);
    const finished = page.length < batch;
    p = page.length > 0 ? { ...p, after: page[page.length - 1]!.id, done: Math.min(p.total, p.done + page.length) } : p;
    await store.writeRebuilt(rows, stateAfter(state, p, finished));
    result.rebuilt += rows.length;
    result.unreadable += page.length - rows.length;
    result.progress = p;
    deps.onProgress?.(p);
    if (finished) return { ...result, outcome: 'finished' };
  }
}
