/**
 * `mailsluice verify [--repair] [--json]` (issue 16, item 5; ADR 0031): reads every blob back,
 * checks it and holds it against the index; prints each problem naming its messages, then what
 * was read and how fast. Exit 0 when nothing is wrong (after `--repair`: nothing left that it
 * could not set right), 1 otherwise (ARCHIVE_DAMAGED). Beside a running service it is done by
 * the service through its control socket; otherwise here (`--repair` then holds the data
 * directory's lock, as a drain would, and parses what it re-indexed before it returns).
 */
import { MailsluiceError } from '../core/errors/index.js';
import { problemLine, verifyExitCode, type VerifyReport } from '../core/archive/archive-verify.js';
import { recordCliAction } from '../app/audit.js';
import { indexQueued, runVerify, verifyThroughService } from '../app/verify.js';
import { runningService, withApp } from './commands.js';
import type { ParsedArgs } from './args.js';
import type { Io } from './output.js';

/** How often the progress line is rewritten on a terminal. */
const PROGRESS_EVERY_MS = 1000;

function mb(bytes: number): string {
  return `${(bytes / 1048576).toFixed(1)} MB`;
}

/** A progress line on standard error, a terminal only (`\r`, rewritten in place). */
function progressLine(io: Io): ((read: number, all: number) => void) | undefined {
  if (!io.isTty) return undefined;
  const started = Date.now();
  let last = 0;
  return (read, all) => {
    const now = Date.now();
    if (now - last < PROGRESS_EVERY_MS && read < all) return;
    last = now;
    const rate = read / 1048576 / Math.max(0.001, (now - started) / 1000);
    io.err(`\rverify: ${all > 0 ? Math.floor((read / all) * 100) : 100}% (${mb(read)} of ${mb(all)}, ${rate.toFixed(0)} MB/s)  `);
  };
}

/** The summary line. */
function summary(r: VerifyReport): string {
  const tail = `${r.records} blobs in ${r.containers} packs, ${mb(r.bytesRead)} read in ${r.seconds.toFixed(1)} s (${r.mbPerSecond} MB/s); ${r.messages} messages, ${r.catalogueRows} catalogue rows`;
  const extra = [r.newerThanScan ? `${r.newerThanScan} written during the read, not judged` : '', r.duplicates ? `${r.duplicates} duplicate copies` : '', r.tornTails ? `${r.tornTails} torn pack tails (harmless)` : '']
    .filter(Boolean)
    .join(', ');
  return `${tail}${extra ? `; ${extra}` : ''}`;
}

/** `mailsluice verify [--repair] [--json]` */
export async function cmdVerify(args: ParsedArgs, io: Io): Promise<number> {
  const repair = args.options.repair === true;
  const service = await runningService(args);
  const progress = service ? undefined : progressLine(io);
  const report: VerifyReport = service
    ? await verifyThroughService(service, repair)
    : await withApp(
        args,
        async (app) => {
          if (repair) await recordCliAction(app, 'archive.repair', {});
          const r = await runVerify(app, { repair, ...(progress ? { progress } : {}) });
          if (r.repair && r.repair.reindexed > 0) await indexQueued(app);
          return r;
        },
        repair ? 'repair' : 'read',
      );
  if (progress) io.err('\n');
  if (args.options.json) io.out(JSON.stringify(report) + '\n');
  else {
    for (const p of report.problems) io.out(problemLine(p) + '\n');
    io.out(`${report.ok ? 'archive intact' : `${report.problems.length} problem${report.problems.length === 1 ? '' : 's'}`}: ${summary(report)}\n`);
    if (report.repair) io.out(`repair: ${report.repair.reindexed} blob${report.repair.reindexed === 1 ? '' : 's'} indexed again, ${report.repair.left} problem${report.repair.left === 1 ? '' : 's'} left (cannot be repaired from the archive)\n`);
  }
  const code = verifyExitCode(report);
  if (code !== 0) {
    const left = report.problems.filter((p) => p.repairedAs === undefined);
    const e = new MailsluiceError('ARCHIVE_DAMAGED', `${left.length} problem${left.length === 1 ? '' : 's'} in the archive${left.some((p) => p.repairable) ? ' (orphan blobs: mailsluice verify --repair indexes them again)' : ''}`);
    io.err(`mailsluice: ${e.code}: ${e.message}\n`);
  }
  return code;
}
