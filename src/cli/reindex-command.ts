/**
 * `mailsluice reindex` (issue 17, item 3; ADR 0041): the search index rebuilt from the raw
 * messages now, when it is older than this build, holding the data directory like a drain (ADR
 * 0014); progress on stderr, resumable after a kill. `start` and `drain` run the same job in the
 * background.
 */
import { progressText, reindexDeps } from '../app/reindex.js';
import { runReindex } from '../core/archive/reindex.js';
import { withApp } from './commands.js';
import type { ParsedArgs } from './args.js';
import type { Io } from './output.js';

/** `mailsluice reindex` */
export async function cmdReindex(args: ParsedArgs, io: Io): Promise<number> {
  return withApp(
    args,
    async (app) => {
      const before = await app.searchRebuild.buildState();
      if (before.rebuild) io.err(`resuming the rebuild after message ${before.rebuild.after}: ${progressText(before.rebuild)} done\n`);
      const started = app.clock.now();
      let shownAt = 0;
      const r = await runReindex(
        reindexDeps(app, {
          onProgress: (p) => {
            // A line a second on a terminal; every batch's line when stderr is a file or a pipe is too much, so every 10 s there.
            const now = app.clock.now();
            if (now - shownAt < (io.isTty ? 1000 : 10_000)) return;
            shownAt = now;
            io.err(`re-indexing: ${progressText(p)}\n`);
          },
        }),
      );
      const seconds = ((app.clock.now() - started) / 1000).toFixed(1);
      if (r.outcome === 'current') io.out(`the search index is current (version ${before.version}): nothing to rebuild\n`);
      else io.out(`the search index is rebuilt (version ${app.searchRebuild.indexVersion}): ${r.rebuilt} messages in ${seconds} s${r.unreadable ? `; ${r.unreadable} could not be read (see the log) and keep their old rows` : ''}\n`);
      return 0;
    },
    'reindex',
  );
}
