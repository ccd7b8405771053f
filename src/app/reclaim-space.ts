/**
 * Reclaiming the space of dead records in packs (issue 16, item 3; ADR 0036) as a use case: the
 * core plans (`planReclaim`), the blob store copies and deletes (`PackRewriter`), the metadata
 * switches the refs (`BlobRefCatalogue`). `reclaimSpace` is what a purge calls after it deleted
 * rows; `keys encrypt-existing` runs the same steps with the purpose `encrypt`.
 *
 * Per pack, in this order (a crash after any step leaves the old or the new state, every live
 * blob readable; ADR 0036 has the table):
 * 1. rows that still read through a staging redirect are switched to where it points, and
 *    redirects no row needs any more are deleted (once old enough: a late commit may need one);
 * 2. the pack's live records are copied to a new pack, synced and read back verified;
 * 3. their rows are switched in one transaction (compare and set; the rows still in the old
 *    pack counted in the same transaction);
 * 4. the old pack is deleted (only when that count is 0) and the directory synced.
 * A pack with no live record is deleted at once (the same count first).
 */
import { emptyReclaimTotals, planReclaim, REDIRECT_KEEP_MS, type ReclaimPurpose, type ReclaimStep, type ReclaimTotals } from '../core/archive/pack-reclaim.js';
import type { Clock } from '../core/ports/clock.js';
import type { Logger } from '../core/ports/logger.js';
import type { BlobRefCatalogue, LiveRef, PackRewriter } from '../core/ports/pack-reclaim.js';
import { takeReclaimLock } from '../adapters/store-sqlite/index.js';

/** Steps a test can watch (and crash at) besides the blob store's own. */
export type ReclaimAppStep = 'normalised' | 'switched' | 'deleted';

/** What a reclaim run needs. */
export interface ReclaimDeps {
  catalogue: BlobRefCatalogue;
  rewriter: PackRewriter;
  clock: Clock;
  logger: Logger;
  /** Overrides of the core's defaults (tests; `keys encrypt-existing`, which holds the data directory, waits for nothing). */
  deadFraction?: number;
  quietMs?: number;
  redirectKeepMs?: number;
  onStep?: (step: ReclaimAppStep, pack: string) => void;
  /** Told after each pack (the progress line of `keys encrypt-existing`). */
  onProgress?: (done: number, planned: number, totals: ReclaimTotals) => void;
  signal?: AbortSignal;
}

/** One run: see the module comment. */
export async function runReclaim(deps: ReclaimDeps, purpose: ReclaimPurpose): Promise<ReclaimTotals> {
  const totals = emptyReclaimTotals();
  totals.bytesBefore = (await deps.rewriter.survey([], false)).totalBytes;
  const refs = await normaliseRedirected(deps, totals);
  const survey = await deps.rewriter.survey(refs, purpose === 'encrypt');
  const plan = planReclaim(survey.packs, {
    purpose,
    now: deps.clock.now(),
    ...(deps.deadFraction !== undefined ? { deadFraction: deps.deadFraction } : {}),
    ...(deps.quietMs !== undefined ? { quietMs: deps.quietMs } : {}),
  });
  let done = 0;
  for (const step of plan) {
    if (deps.signal?.aborted) break;
    await reclaimPack(deps, step, survey.live.get(step.packId) ?? [], purpose === 'encrypt' && deps.rewriter.encrypting, totals);
    deps.onProgress?.(++done, plan.length, totals);
  }
  totals.bytesAfter = (await deps.rewriter.survey([], false)).totalBytes;
  if (plan.length > 0 || totals.rowsNormalised > 0 || totals.redirectsDropped > 0) {
    deps.logger.info('pack space reclaimed', { purpose, ...totals });
  }
  return totals;
}

/** Step 1: rows off staging redirects, redirects no row needs deleted; the live refs after it. */
async function normaliseRedirected(deps: ReclaimDeps, totals: ReclaimTotals): Promise<LiveRef[]> {
  let refs = await deps.catalogue.liveRefs();
  const moves = await deps.rewriter.redirected(refs);
  if (moves.length > 0) {
    totals.rowsNormalised = (await deps.catalogue.switchRefs(moves, null)).moved;
    deps.onStep?.('normalised', '');
    refs = await deps.catalogue.liveRefs();
  }
  totals.redirectsDropped = await deps.rewriter.dropRedirects(refs, deps.clock.now() - (deps.redirectKeepMs ?? REDIRECT_KEEP_MS));
  return refs;
}

/** Steps 2–4 for one pack of the plan. */
async function reclaimPack(deps: ReclaimDeps, step: ReclaimStep, live: readonly LiveRef[], encrypt: boolean, totals: ReclaimTotals): Promise<void> {
  const name = `pack-${String(step.packId).padStart(8, '0')}`;
  if (step.action === 'delete') {
    // A row committed into it since the survey keeps it.
    if ((await deps.catalogue.switchRefs([], `${name}:`)).remaining > 0) return;
    await deps.rewriter.deletePack(step.packId);
    deps.onStep?.('deleted', name);
    totals.packsDeleted++;
    return;
  }
  const copy = await deps.rewriter.copyLive(step.packId, live, encrypt);
  if (!copy) {
    totals.packsSkipped++;
    return;
  }
  const { moved, remaining } = await deps.catalogue.switchRefs(copy.moves, copy.vacated);
  deps.onStep?.('switched', name);
  totals.recordsCopied += moved;
  totals.recordsEncrypted += copy.encrypted;
  if (remaining > 0) {
    // Rows committed into it after the survey: it stays, with them live, for a later run.
    deps.logger.warn('a rewritten pack gained rows meanwhile; it is kept for a later run', { pack: name, rows: remaining });
    return;
  }
  await deps.rewriter.deletePack(step.packId);
  deps.onStep?.('deleted', name);
  totals.packsRewritten++;
}

/** What `reclaimSpace` answers (the purge's report). */
export interface ReclaimSpaceResult {
  packsRewritten: number;
  bytesBefore: number;
  bytesAfter: number;
}

/**
 * How long a run waits for a backup, `verify` or the scrub to let go of the packs
 * (`reclaim.lock`) before it gives up for now: the next purge runs it again.
 */
export const RECLAIM_LOCK_WAIT_MS = 30_000;

/** Runs {@link runReclaim} under the data directory's `reclaim.lock` (exclusive); null when a reader held it past `waitMs`. */
export async function reclaimLocked(dataDir: string, deps: ReclaimDeps, purpose: ReclaimPurpose, waitMs = RECLAIM_LOCK_WAIT_MS): Promise<ReclaimTotals | null> {
  const lock = await takeReclaimLock(dataDir, 'exclusive', waitMs);
  if (!lock) {
    deps.logger.warn('pack space not reclaimed now: a backup, verify or scrub is reading the packs; the next run does it', { waitedMs: waitMs });
    return null;
  }
  try {
    return await runReclaim(deps, purpose);
  } finally {
    lock.release();
  }
}

/** One run at a time in a process. */
let queue: Promise<unknown> = Promise.resolve();
/** Runs of this process queued or running. */
let pending = 0;
/** Long readers of the packs in this process (a scrub pass) that stop for a run: what stops each. */
const yielders = new Set<() => void>();

/**
 * {@link reclaimLocked}, after any run of this process still going. A scrub pass of this process
 * holding the packs is stopped first (it starts over once no run is pending: {@link whenReclaimIdle}),
 * so a purge's reclaim is not put off by a pass that reads for hours.
 */
export function reclaimSerial(dataDir: string, deps: ReclaimDeps, purpose: ReclaimPurpose, waitMs?: number): Promise<ReclaimTotals | null> {
  pending++;
  const run = queue.then(() => {
    for (const stop of yielders) stop();
    return reclaimLocked(dataDir, deps, purpose, waitMs);
  });
  queue = run.catch(() => undefined).finally(() => pending--);
  return run;
}

/** Registers a long reader of the packs that stops when a reclaim run of this process wants them; returns the unregistration. */
export function yieldPacksToReclaim(stop: () => void): () => void {
  yielders.add(stop);
  if (pending > 0) stop();
  return () => yielders.delete(stop);
}

/** Resolves once no reclaim run of this process is queued or running (a stopped scrub pass waits for it before it starts over). */
export async function whenReclaimIdle(): Promise<void> {
  while (pending > 0) await queue;
}
