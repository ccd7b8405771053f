/**
 * `mailsluice purge [--dry-run] [--as-of DATE] [--json]` (issue 16, item 3; docs/retention.md):
 * removes the messages past their retention now, or with `--dry-run` lists what would go and
 * changes nothing (`--as-of`: as it would be judged at that date). Beside a running service the
 * service does it, through its control socket (ADR 0025); otherwise here, a purge holding the data
 * directory's lock as a drain would (ADR 0014), a dry run reading the archive only.
 */
import { MailsluiceError } from '../core/errors/index.js';
import { cliUser, CLI_ORIGIN } from '../app/audit.js';
import { LISTED_AT_MOST, purgeDeps, purgeSummary, runPurge, type PurgeItem, type PurgeReport } from '../app/purge.js';
import { purgeThroughService } from '../app/service-commands.js';
import { runningService, withApp } from './commands.js';
import { parseDateOption } from './dates.js';
import type { ParsedArgs } from './args.js';
import type { Io } from './output.js';

/** One listed message: no subject or address, so the list is safe to keep in a ticket. */
function itemLine(i: PurgeItem): string {
  return `${i.id}\t${i.connection}\t${i.takenAt}\t${i.receivedDate ?? '-'}\t${i.size}\t${i.rule}\n`;
}

/** `--as-of`, only with `--dry-run`: ms since the epoch, or undefined. */
function asOfOption(args: ParsedArgs, dryRun: boolean): number | undefined {
  const v = args.options['as-of'];
  if (v === undefined) return undefined;
  if (v === true) throw new MailsluiceError('CLI_USAGE', '--as-of needs a date (2030-01-31, UTC, or 2030-01-31T08:00:00Z)');
  if (!dryRun) throw new MailsluiceError('CLI_USAGE', '--as-of is only allowed with --dry-run: a purge judges retention now');
  return Date.parse(parseDateOption('as-of', v));
}

/** `mailsluice purge` */
export async function cmdPurge(args: ParsedArgs, io: Io): Promise<number> {
  const dryRun = args.options['dry-run'] === true;
  const asOf = asOfOption(args, dryRun);
  const json = args.options.json === true;
  const service = await runningService(args);
  // Text output lists each message as it goes; --json prints the report (with the list) at the end.
  const listed: PurgeItem[] = [];
  const onItem = (i: PurgeItem): void => {
    if (json) listed.push(i);
    else if (dryRun) io.out(itemLine(i));
  };
  if (!json && dryRun) io.out('id\tconnection\ttakenAt\treceivedDate\tsize\trule\n');
  let report: PurgeReport;
  if (service) {
    report = await purgeThroughService(service, { dryRun, ...(asOf !== undefined ? { asOf: new Date(asOf).toISOString() } : {}) });
    for (const i of report.items ?? []) onItem(i);
    if (!json && dryRun && report.purged > (report.items?.length ?? 0)) io.out(`(the first ${LISTED_AT_MOST} listed by the running service)\n`);
  } else {
    report = await withApp(
      args,
      (app) => runPurge(purgeDeps(app, cliUser(), CLI_ORIGIN), { dryRun, ...(asOf !== undefined ? { asOf } : {}), onItem }),
      dryRun ? 'read' : 'purge',
    );
  }
  if (json) io.out(JSON.stringify({ ...report, items: service ? (report.items ?? []) : listed }) + '\n');
  else io.out(purgeSummary(report) + '\n');
  return 0;
}
