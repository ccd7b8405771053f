/** `mailsluice audit list|verify` (issue 14, items 4 and 9; ADR 0022). */
import { MailsluiceError } from '../core/errors/index.js';
import { auditArchiveDir, auditRecordJson, recordCliAction, verifyAuditLog, type AuditRecordJson, type AuditVerdict } from '../app/audit.js';
import { auditListThroughService, auditPruneThroughService, auditVerifyThroughService } from '../app/service-commands.js';
import { pruneAuditLog, retentionDays, type PruneReport } from '../app/audit-retention.js';
import { AUDIT_ARCHIVE_DIR } from '../core/audit/audit-retention.js';
import { runningService, withApp } from './commands.js';
import { parseDateOption } from './dates.js';
import type { ParsedArgs } from './args.js';
import type { Io } from './output.js';

/** `mailsluice audit list [--since DATE] [--until DATE] [--who NAME] [--action ACTION] [--limit N] [--json]` */
export async function cmdAuditList(args: ParsedArgs, io: Io): Promise<number> {
  const o = args.options;
  const ms = (option: string): number | undefined => (typeof o[option] === 'string' ? Date.parse(parseDateOption(option, o[option] as string)) : undefined);
  const since = ms('since');
  const until = ms('until');
  const limit = typeof o.limit === 'string' ? Number(o.limit) : undefined;
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 1)) throw new MailsluiceError('CLI_USAGE', '--limit must be a positive whole number');
  const filter = {
    ...(since !== undefined ? { since } : {}),
    ...(until !== undefined ? { until } : {}),
    ...(typeof o.who === 'string' ? { who: o.who } : {}),
    ...(typeof o.action === 'string' ? { action: o.action } : {}),
    ...(limit !== undefined ? { limit } : {}),
  };
  const service = await runningService(args);
  // Each record with its detail as recorded (canonical JSON; through the service, the parsed
  // object written back, which gives the same text).
  const records: Array<{ json: AuditRecordJson; detail: string }> = service
    ? (await auditListThroughService(service, filter)).map((json) => ({ json, detail: typeof json.detail === 'string' ? json.detail : JSON.stringify(json.detail) }))
    : await withApp(args, async (app) => (await app.audit.list(filter)).map((r) => ({ json: auditRecordJson(r), detail: r.detail })));
  if (o.json) for (const { json } of records) io.out(JSON.stringify(json) + '\n');
  else {
    for (const { json: r, detail } of records) io.out(`${String(r.seq).padStart(6)}  ${r.at}  ${r.who}  ${r.origin}  ${r.action}  ${detail}\n`);
    io.out(`${records.length} record${records.length === 1 ? '' : 's'}\n`);
  }
  return 0;
}

/** The first line of an intact verdict. */
function intact(v: Extract<AuditVerdict, { ok: true }>): string {
  const n = (k: number, what: string): string => `${k} ${what}${k === 1 ? '' : 's'}`;
  const archived = v.archive ? `${n(v.archive.records, 'archived record')} in ${n(v.archive.files, 'file')} of ${AUDIT_ARCHIVE_DIR}/ and ` : '';
  if (!v.checkpoint) return `audit log intact: ${archived}${n(v.records, 'record')}, head ${v.head}`;
  return `audit log intact: ${archived}verified ${n(v.records, 'record')} from seq ${v.checkpoint.seq + 1} (records before it moved to ${AUDIT_ARCHIVE_DIR}/${v.checkpoint.file}${v.archive ? '' : '; --with-archive verifies those too'}), head ${v.head}`;
}

/** `mailsluice audit verify [--with-archive] [--json]`: exits 0 when the chain holds, 1 naming the first bad record (and file). */
export async function cmdAuditVerify(args: ParsedArgs, io: Io): Promise<number> {
  const withArchive = args.options['with-archive'] === true;
  const service = await runningService(args);
  const v: AuditVerdict = service
    ? await auditVerifyThroughService(service, withArchive)
    : await withApp(args, (app, config) => verifyAuditLog(app.audit, withArchive ? { archiveDir: auditArchiveDir(config.dataDir) } : {}));
  if (args.options.json) io.out(JSON.stringify(v) + '\n');
  if (v.ok) {
    if (!args.options.json) io.out(intact(v) + '\n');
    return 0;
  }
  const first = v.from ?? 1;
  const good = Math.min(v.verified + first - 1, v.seq - 1);
  const held = good < first ? 'it is the first' : `records ${first} to ${good} hold`;
  const where = v.file ? `${AUDIT_ARCHIVE_DIR}/${v.file}: ` : '';
  const e = new MailsluiceError('AUDIT_CHAIN_BROKEN', `${where}record ${v.seq}: ${v.problem}; ${held}`, {
    details: { seq: v.seq, ...(v.file ? { file: v.file } : {}) },
  });
  io.err(`mailsluice: ${e.code}: ${e.message}\n`);
  return 1;
}

/**
 * `mailsluice audit prune [--keep-days N] [--json]`: moves audit records older than N days (or
 * `audit.keepDays`) to `dataDir/audit-archive/` (ADR 0029). Beside a running service, the service
 * does it (through its control socket); otherwise this command holds the data directory's lock
 * while it does, so two moves never run at once (beside a `drain`, `DATA_DIR_LOCKED`).
 */
export async function cmdAuditPrune(args: ParsedArgs, io: Io): Promise<number> {
  const raw = args.options['keep-days'];
  const keepDays = typeof raw === 'string' ? Number(raw) : undefined;
  if (keepDays !== undefined && (!Number.isInteger(keepDays) || keepDays < 1 || keepDays > 36_500)) {
    throw new MailsluiceError('CLI_USAGE', '--keep-days must be a whole number of days from 1 to 36500');
  }
  const service = await runningService(args);
  const report: PruneReport = service
    ? await auditPruneThroughService(service, keepDays)
    : await withApp(
        args,
        async (app, config) => {
          const days = retentionDays(keepDays, config.audit.keepDays);
          await recordCliAction(app, 'audit.prune', keepDays !== undefined ? { keepDays } : {});
          return pruneAuditLog({ audit: app.audit, clock: app.clock, logger: app.logger, dataDir: config.dataDir }, days);
        },
        'prune',
      );
  if (args.options.json) io.out(JSON.stringify(report) + '\n');
  else {
    for (const f of report.files) io.out(`${AUDIT_ARCHIVE_DIR}/${f.file}  records ${f.firstSeq} to ${f.lastSeq} (${f.count})\n`);
    io.out(`${report.moved} record${report.moved === 1 ? '' : 's'} older than ${report.cutoff} moved${report.checkpoint ? `; the live log starts at seq ${report.checkpoint.seq + 1}` : ''}\n`);
  }
  return 0;
}
