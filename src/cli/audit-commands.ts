/** `mailsluice audit list|verify` (issue 14, items 4 and 9; ADR 0022). */
import { MailsluiceError } from '../core/errors/index.js';
import { auditRecordJson, verifyAuditLog } from '../app/audit.js';
import { withApp } from './commands.js';
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
  return withApp(args, async (app) => {
    const records = await app.audit.list({
      ...(since !== undefined ? { since } : {}),
      ...(until !== undefined ? { until } : {}),
      ...(typeof o.who === 'string' ? { who: o.who } : {}),
      ...(limit !== undefined ? { limit } : {}),
    });
    if (o.json) for (const r of records) io.out(JSON.stringify(auditRecordJson(r)) + '\n');
    else {
      for (const r of records) io.out(`${String(r.seq).padStart(6)}  ${new Date(r.at).toISOString()}  ${r.who}  ${r.origin}  ${r.action}  ${r.detail}\n`);
      io.out(`${records.length} record${records.length === 1 ? '' : 's'}\n`);
    }
    return 0;
  });
}

/** `mailsluice audit verify [--json]`: exits 0 when the chain holds, 1 naming the first bad record. */
export async function cmdAuditVerify(args: ParsedArgs, io: Io): Promise<number> {
  return withApp(args, async (app) => {
    const v = await verifyAuditLog(app.audit);
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
  });
}
