/**
 * The re-index job wired to the embedded archive (issue 17, item 3; ADR 0041): the core's
 * `runReindex` over the store's `SearchRebuild`, the blob store and the app's parser. Run in the
 * background of `start` and `drain` (waiting while a connection drains, a failure logged and never
 * stopping the service: search still answers from what is indexed) and by `mailsluice reindex`.
 */
import { availableParallelism } from 'node:os';
import { runReindex, type ReindexDeps, type ReindexResult } from '../core/archive/reindex.js';
import type { RebuildProgress } from '../core/ports/search-rebuild.js';
import type { EmbeddedApp } from './embedded.js';
import { runPausingWhileDiskFull } from './disk-full-pause.js';

/** The job's dependencies from `app`. */
export function reindexDeps(app: EmbeddedApp, options: { busy?: () => boolean; onProgress?: (p: RebuildProgress) => void } = {}): ReindexDeps {
  return {
    store: app.searchRebuild,
    blobs: app.blobs,
    parser: app.parser(),
    logger: app.logger,
    clock: app.clock,
    // Enough to keep the parser's workers fed; fewer than the index stage's lanes, which come first.
    concurrency: Math.max(2, availableParallelism()) * 4,
    budget: app.budget,
    ...(options.busy ? { busy: options.busy } : {}),
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
  };
}

/** A rebuild's line for the log or the terminal: "12,000 of 250,000 messages". */
export function progressText(p: RebuildProgress): string {
  return `${p.done.toLocaleString('en')} of ${p.total.toLocaleString('en')} messages`;
}

/**
 * The background job of `start` and `drain`: rebuilds an index older than this build, logging
 * its start, its progress about once a minute and its end; a full disk pauses it (it resumes),
 * any other failure is logged and ends it (the next start resumes). Never rejects.
 */
export async function runBackgroundReindex(app: EmbeddedApp, busy: () => boolean, signal: AbortSignal): Promise<ReindexResult | undefined> {
  const { logger, clock } = app;
  try {
    const state = await app.searchRebuild.buildState();
    if (state.version >= app.searchRebuild.indexVersion) return undefined;
    logger.info('the search index is older than this build: rebuilding it from the raw messages in the background (search answers from what is indexed meanwhile)', {
      version: state.version,
      to: app.searchRebuild.indexVersion,
      ...(state.rebuild ? { resumedAfterId: state.rebuild.after } : {}),
    });
    let loggedAt = clock.now();
    const onProgress = (p: RebuildProgress): void => {
      if (clock.now() - loggedAt < 60_000) return;
      loggedAt = clock.now();
      logger.info(`re-indexing: ${progressText(p)}`, { done: p.done, total: p.total });
    };
    const r = await runPausingWhileDiskFull(() => runReindex(reindexDeps(app, { busy, onProgress }), signal), {
      stage: 're-index',
      logger,
      clock,
      random: app.random,
      signal,
    });
    if (r?.outcome === 'finished') logger.info('the search index is rebuilt', { rebuilt: r.rebuilt, unreadable: r.unreadable, version: app.searchRebuild.indexVersion });
    else if (r?.progress) logger.info(`re-index stopped at ${progressText(r.progress)}; the next start or drain resumes it`, { afterId: r.progress.after });
    return r;
  } catch (err) {
    logger.error('re-index failed; search answers from what is indexed, and the next start or drain resumes it', { error: String((err as Error)?.message ?? err) });
    return undefined;
  }
}
