/**
 * `start`'s background scrub (issue 16, item 5; ADR 0031): every `archive.scrub.everyHours` it
 * reads the whole archive back as `mailsluice verify` does, held to `archive.scrub.mbPerSecond`,
 * and changes nothing. A pass that finds problems logs each one (naming its messages) at error
 * level; its verdict is kept in `dataDir/scrub-state.json`, which the alert rule
 * `archive-damaged` reads and which says when the next pass is due after a restart. A pass that
 * fails (a read error) is logged and tried again a period later: the scrub never stops the service.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { verifyArchive } from '../core/archive/archive-verify.js';
import { nextScrubAt, scrubVerdict, ScrubPacer, type ScrubVerdict } from '../core/archive/scrub.js';
import { toMailsluiceError } from '../core/errors/index.js';
import { writeFileAtomic } from '../adapters/fs-node/atomic-write.js';
import { PRIVATE_FILE_MODE } from '../adapters/fs-node/private-files.js';
import type { EmbeddedApp } from './embedded.js';
import { whenReclaimIdle, yieldPacksToReclaim } from './reclaim-space.js';

/** The verdict file's name in the data directory. */
export const SCRUB_STATE_FILE = 'scrub-state.json';
/** Longest wait between looks at the settings (a reload may turn the scrub on or change its period). */
const LOOK_AGAIN_MS = 60 * 60_000;

/** The last pass's verdict, or null (none yet, or unreadable: a pass then runs as after a first start). */
export async function readScrubVerdict(dataDir: string): Promise<ScrubVerdict | null> {
  try {
    const v = JSON.parse(await readFile(join(dataDir, SCRUB_STATE_FILE), 'utf8')) as ScrubVerdict;
    return typeof v.finishedAt === 'number' && typeof v.ok === 'boolean' ? v : null;
  } catch {
    return null;
  }
}

/** How long a scrub pass waits for a reclaim run to end before it is put off to the next. */
const SCRUB_WAITS_FOR_RECLAIM_MS = 10 * 60_000;

/** One pass at the configured rate; its verdict written and its problems logged. */
async function scrubOnce(app: EmbeddedApp, signal: AbortSignal): Promise<void> {
  const logger = app.logger.child({ component: 'scrub' });
  const { mbPerSecond } = app.config.archive.scrub;
  // No reclaim run deletes a pack under the pass (ADR 0036): one of this process running or
  // queued is waited for, and one that comes during the pass stops it (it starts over after).
  await whenReclaimIdle();
  const hold = app.archiveCheck.holdPacks ? await app.archiveCheck.holdPacks(SCRUB_WAITS_FOR_RECLAIM_MS) : undefined;
  if (hold === null) {
    logger.warn('archive scrub put off: packs are being rewritten (reclaiming space or encrypting)');
    return;
  }
  const pass = new AbortController();
  const stopPass = (): void => pass.abort();
  signal.addEventListener('abort', stopPass, { once: true });
  const unregister = yieldPacksToReclaim(stopPass);
  const pacer = new ScrubPacer(app.clock, mbPerSecond * 1048576, pass.signal);
  logger.info('archive scrub started', { mbPerSecond });
  let report;
  try {
    report = await verifyArchive({ scanner: app.archiveCheck.scanner(), index: app.archiveCheck.index, clock: app.clock }, { signal: pass.signal, pace: (n) => pacer.pace(n) });
  } finally {
    unregister();
    signal.removeEventListener('abort', stopPass);
    hold?.release();
  }
  if (pass.signal.aborted) {
    // A pass cut short says nothing.
    if (!signal.aborted) logger.info('archive scrub pass stopped for a reclaim run; it starts over once the run has finished');
    return;
  }
  const verdict = scrubVerdict(report, app.clock.now());
  await writeFileAtomic(join(app.config.dataDir, SCRUB_STATE_FILE), JSON.stringify(verdict) + '\n', PRIVATE_FILE_MODE);
  const totals = { records: report.records, messages: report.messages, bytesRead: report.bytesRead, seconds: report.seconds, mbPerSecond: report.mbPerSecond };
  if (report.ok) logger.info('archive scrub: intact', totals);
  else {
    for (const line of verdict.first) logger.error(`archive scrub: ${line}`, { code: 'ARCHIVE_DAMAGED' });
    logger.error(`archive scrub found ${report.problems.length} problem(s); mailsluice verify lists them all`, { code: 'ARCHIVE_DAMAGED', problems: report.problems.length, ...totals });
  }
}

/** Runs the scrub until `signal`, while `archive.scrub.enabled`; never rejects. */
export async function runScrub(app: EmbeddedApp, signal: AbortSignal): Promise<void> {
  const startedAt = app.clock.now();
  while (!signal.aborted) {
    const settings = app.config.archive.scrub; // read at every turn: a reload applies at the next
    const now = app.clock.now();
    const due = settings.enabled ? nextScrubAt(await readScrubVerdict(app.config.dataDir), now, settings, startedAt) : now + LOOK_AGAIN_MS;
    if (due > now) {
      await app.clock.sleep(Math.min(due - now, LOOK_AGAIN_MS), signal).catch(() => undefined);
      continue;
    }
    try {
      await scrubOnce(app, signal);
    } catch (err) {
      const e = toMailsluiceError(err);
      app.logger.error('archive scrub failed; tried again a period later', { code: e.code, error: e.message });
      // Counted as a pass, so a failing read is not retried at once, again and again.
      const failed: ScrubVerdict = { finishedAt: app.clock.now(), ok: false, problems: 0, first: [`the scrub failed: ${e.code}: ${e.message}`] };
      await writeFileAtomic(join(app.config.dataDir, SCRUB_STATE_FILE), JSON.stringify(failed) + '\n', PRIVATE_FILE_MODE).catch(() => undefined);
    }
  }
}
