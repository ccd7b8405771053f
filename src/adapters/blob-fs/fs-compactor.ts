/**
 * The compactor: blob-fs's deferred compression (ADR 0018, after ADR 0001 "Deferred
 * compression"). The drain streams large bodies raw into staging packs (`stage-<id>.mspack`), so
 * no compression CPU sits on its critical path; once a writer has let a staging pack go, the
 * compactor rewrites every record in it compressed into a normal pack of its own, and the staging
 * pack goes. A writer lets its staging pack go when it rolls, when it closes, or when the
 * compactor seals it (everything in it synced, nothing being written): records committed after
 * that read through the redirect like the others. The metadata never learns of it: rows keep the ref `put` returned, and the store
 * reads a ref into a compacted staging pack through its redirect record (`staging-redirect.ts`).
 * When to work (after the drain, behind the parse stage, back-off, giving up) is the core's
 * `CompressSchedule`, which the composition root passes in.
 *
 * One staging pack, step by step, and what a crash (or power cut) after each step leaves:
 *
 * 1. Scan the pack (`scanPack`: header and payload CRC of every record). Records are laid down
 *    in order and a sync waits for all of them, so everything from the first invalid record on
 *    was written after the writer's last sync and no committed row can point there (a torn tail).
 *    Unless a valid record follows the bad spot (corruption, not a tail): then the pack is left
 *    as it is, staged and readable, and reported. — Nothing written yet.
 * 2. Copy each valid record, streamed and verified against its SHA-256, compressed into the
 *    compactor's writer's own pack (never a staging pack, never a pack a drain writes). — The
 *    copies are unreferenced garbage, like a torn tail; rows still read the staging pack.
 * 3. `sync` the copies (fdatasync, and the directory when a pack is new). — Same.
 * 4. Write the redirect file: temporary file, fsync, rename, directory fsync; only now does the
 *    store read the staged refs at the copies. — Redirect and staging pack both whole: reads go
 *    to either; the next run sees the redirect and goes on with step 5.
 * 5. Delete the staging pack and fsync the directory. — Reads resolve through the redirect; a
 *    reader on another store instance that finds the pack gone looks for the redirect on disk.
 *
 * A redirect is never written before its copies are durable, and a staging pack is never deleted
 * before its redirect is, so no committed blob is unreadable at any point, and a crash loses
 * nothing: an unfinished pack is compacted again from step 1 by the next run. Packs staged by an
 * earlier version (rows still at `stage-…`) are compacted the same way; rows an earlier version
 * moved already read their `pack-…` refs as before.
 */
import type { CompressSchedule, CompressTotals } from '../../core/archive/compress-stage.js';
import { emptyCompressTotals } from '../../core/archive/compress-stage.js';
import type { Logger } from '../../core/ports/logger.js';
import type { BlobLocation } from '../../core/ports/blob-store.js';
import { isMailsluiceError } from '../../core/errors/index.js';
import type { FsBlobStoreConfig } from './fs-blob-store-config.js';
import type { FsBlobWriter } from './fs-blob-writer.js';
import { scanPack } from './pack-format.js';
import type { ScannedRecord } from './pack-format.js';
import { mapFsError } from './fs-error-map.js';
import { packName, parseFsBlobRef } from './pack-io.js';
import type { FsBlobRef } from './pack-io.js';
import { findRecordAfter } from './pack-search.js';
import { REDIRECT_TEMP_FILE, writeRedirect } from './staging-redirect.js';
import type { Redirects, RedirectEntry } from './staging-redirect.js';
import { readdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';

/** A staging pack in the store's directory. */
export interface StagingPack {
  packId: number;
  path: string;
  /** A writer of this store may still append to it or commit records in it: never touched. */
  open: boolean;
}

/** What the compactor needs of its store. */
export interface CompactorHost {
  readonly config: FsBlobStoreConfig;
  readonly redirects: Redirects;
  listStagingPacks(): Promise<StagingPack[]>;
  /** Lets go of the staging packs writers hold whose records are all durable. */
  sealIdleStaging(): Promise<void>;
  compactionWriter(): FsBlobWriter;
  streamStaged(ref: FsBlobRef): AsyncIterable<Uint8Array>;
  deleteStagingPack(packId: number): Promise<void>;
}

/** Steps a test can watch (and crash at). */
export type CompactorStep = 'copied' | 'synced' | 'redirected' | 'deleted';

/** Options of a compactor run. */
export interface CompactorOptions {
  /** Called after each step of each staging pack (tests: to crash at it). */
  onStep?: (step: CompactorStep, pack: string) => void;
}

/** Runs the compactor; see the module comment. Returns what it did. */
export async function runCompactor(host: CompactorHost, schedule: CompressSchedule, logger: Logger, signal?: AbortSignal, options: CompactorOptions = {}): Promise<CompressTotals> {
  const totals = emptyCompressTotals();
  /** Staging packs that cannot be compacted (left staged, reported once per process). */
  const unreadable = new Set<number>();
  const sleep = (ms: number): Promise<void> => schedule.clock.sleep(ms, signal).catch(() => undefined);
  let failures = 0;
  let tidied = false;
  while (!signal?.aborted) {
    try {
      if (!tidied) tidied = await removeTempRedirects(host.config.directory);
      // Nothing staged (or only packs that cannot be compacted): nothing to wait for.
      if ((await host.listStagingPacks()).every((p) => unreadable.has(p.packId))) {
        if (schedule.stopping()) break;
        await sleep(schedule.idleMs);
        continue;
      }
      const hold = await schedule.holdMs();
      if (hold > 0) {
        await sleep(hold);
        continue;
      }
      // Only now (not while the drain is busy): a writer's synced staging pack is let go.
      await host.sealIdleStaging();
      const next = (await host.listStagingPacks()).find((p) => !p.open && !unreadable.has(p.packId));
      if (!next) {
        if (schedule.stopping()) break;
        await sleep(schedule.idleMs);
        continue;
      }
      await compactPack(host, next, { totals, unreadable, logger, signal, onStep: options.onStep });
      failures = 0;
    } catch (err) {
      // A resource that ran out (descriptors, memory) or a writer that failed: nothing is wrong
      // with the archive. The pack stays staged (and readable) and is taken again after a pause.
      if (!isMailsluiceError(err) || !err.retryable) throw err;
      failures++;
      const waitMs = schedule.retryInMs(failures);
      if (waitMs === null) {
        logger.error('compress stage gives up for this run; staged blobs stay staged', { code: err.code, error: err.message, failures });
        break;
      }
      logger.warn('compress stage failed for now; trying again later', { code: err.code, error: err.message, inMs: waitMs });
      await sleep(waitMs);
    }
  }
  return totals;
}

interface PackRun {
  totals: CompressTotals;
  unreadable: Set<number>;
  logger: Logger;
  signal: AbortSignal | undefined;
  onStep: CompactorOptions['onStep'];
}

/** Compacts one staging pack (steps 1–5 of the module comment). */
async function compactPack(host: CompactorHost, pack: StagingPack, run: PackRun): Promise<void> {
  const name = packName(pack.packId, true);
  if (await host.redirects.exists(pack.packId)) {
    // Its redirect is durable already (a run ended between steps 4 and 5).
    await host.deleteStagingPack(pack.packId);
    run.totals.containersDeleted++;
    return;
  }
  const records = await validRecords(host, pack, run);
  if (!records) return;
  const copied = records.length > 0 ? await copyRecords(host, pack, records, run) : { entries: [], totals: emptyCompressTotals() };
  if (!copied) return;
  const { entries } = copied;
  if (entries.length > 0) {
    await writeRedirect(host.config.directory, pack.packId, entries);
    host.redirects.know(pack.packId, entries);
    run.onStep?.('redirected', name);
  }
  // Counted once the copies are what the refs read.
  for (const k of ['blobs', 'rawBytes', 'stagedBytes', 'storedBytes'] as const) run.totals[k] += copied.totals[k];
  await host.deleteStagingPack(pack.packId);
  run.onStep?.('deleted', name);
  run.totals.containersDeleted++;
  run.logger.info('staging pack compacted: every blob in it is stored compressed', { container: name, blobs: entries.length });
}

/** Step 1: the pack's valid records, or null when it must stay as it is (corruption, reported). */
async function validRecords(host: CompactorHost, pack: StagingPack, run: PackRun): Promise<ScannedRecord[] | null> {
  const records: ScannedRecord[] = [];
  let scan;
  try {
    scan = await scanPack(pack.path, (r) => void records.push(r));
  } catch (err) {
    throw mapFsError(err, 'reading', pack.path);
  }
  if (scan.tornTail === null || !(await findRecordAfter(pack.path, Math.max(scan.validEnd, 16)))) return records;
  run.unreadable.add(pack.packId);
  run.totals.failed++;
  run.logger.error('a staging pack is damaged before its end; it stays staged, for an operator to see', { path: pack.path, why: scan.tornTail, records: scan.records });
  return null;
}

/** Steps 2 and 3: compressed, durable copies of `records`; null when one cannot be read (the pack stays staged). */
async function copyRecords(
  host: CompactorHost,
  pack: StagingPack,
  records: ScannedRecord[],
  run: PackRun,
): Promise<{ entries: RedirectEntry[]; totals: CompressTotals } | null> {
  const name = packName(pack.packId, true);
  const writer = host.compactionWriter();
  const entries: RedirectEntry[] = [];
  const totals = emptyCompressTotals();
  const bySha = new Map<string, BlobLocation>();
  try {
    for (const r of records) {
      if (run.signal?.aborted) return null;
      const staged: FsBlobRef = { packId: pack.packId, staging: true, offset: r.offset, storedSize: r.storedSize };
      let to = bySha.get(r.sha256);
      if (!to) {
        try {
          to = await writer.copyCompressed(() => host.streamStaged(staged), r.sha256);
        } catch (err) {
          if (!isMailsluiceError(err, 'STORE_CORRUPT') && !isMailsluiceError(err, 'STORE_NOT_FOUND')) throw err;
          run.unreadable.add(pack.packId);
          run.totals.failed++;
          run.logger.error('cannot read a staged blob to compress it; its staging pack stays staged', { sha256: r.sha256, container: name, error: err.message });
          return null;
        }
        bySha.set(r.sha256, to);
        totals.blobs++;
        totals.rawBytes += r.rawSize;
        totals.stagedBytes += r.storedSize;
        totals.storedBytes += to.storedSize;
        run.onStep?.('copied', name);
      }
      entries.push({ offset: r.offset, storedSize: r.storedSize, sha256: r.sha256, to: parseFsBlobRef(to.ref) });
    }
    await writer.sync();
    run.onStep?.('synced', name);
    return { entries, totals };
  } finally {
    await writer.close();
  }
}

/** Deletes redirect files a crash left half written (their staging packs are compacted again). */
async function removeTempRedirects(directory: string): Promise<true> {
  let names: string[];
  try {
    names = await readdir(directory);
  } catch (err) {
    throw mapFsError(err, 'reading', directory);
  }
  for (const n of names) if (REDIRECT_TEMP_FILE.test(n)) await unlink(join(directory, n)).catch(() => undefined);
  return true;
}
