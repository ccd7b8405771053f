/** `mailsluice audit list|verify` (issue 14, items 4 and 9; ADR 0022). */
import { MailsluiceError } from '../core/errors/index.js';
import { auditRecordJson, verifyAuditLog, type AuditRecordJson, type AuditVerdict } from '../app/audit.js';
import { auditListThroughService, auditVerifyThroughService } from '../app/service-commands.js';
import { runningService, withApp } from './commands.js';
import { parseDateOption } from './dates.js';
import type { ParsedArgs } from './args.js';
import type { Io } from './output.js';

/** `mailsluice audit list [--since DATE] [--until DATE] [--who NAME] [--limit N] [--json]` */
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

/** `mailsluice audit verify [--json]`: exits 0 when the chain holds, 1 naming the first bad record. */
export async function cmdAuditVerify(args: ParsedArgs, io: Io): Promise<number> {
  const service = await runningService(args);
  const v: AuditVerdict = service ? await auditVerifyThroughService(service) : await withApp(args, (app) => verifyAuditLog(app.audit));
  if (args.options.json) io.out(JSON.stringify(v) + '\n');
  if (v.ok) {
    if (!args.options.json) io.out(`audit log intact: ${v.records} record${v.records === 1 ? '' : 's'}, head ${v.head}\n`);
    return 0;
  }
  const good = Math.min(v.verified, v.seq - 1);
  const e = new MailsluiceError('AUDIT_CHAIN_BROKEN', `record ${v.seq}: ${v.problem}; ${good === 0 ? 'it is the first' : `records 1 to ${good} hold`}`, {
    details: { seq: v.seq },
  });
  io.err(`mailsluice: ${e.code}: ${e.message}\n`);
  return 1;
}
