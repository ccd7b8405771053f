/**
 * `mailsluice hold place|release|list|show` (issue 16, item 4; docs/legal-hold.md). Placing and
 * releasing are recorded on the audit log (`hold.place`, `hold.release`: who, the reason, the
 * query or ids) before they are done. Beside a running service they are sent to it through its
 * control socket (ADR 0025), which does and records them; otherwise done on the archive here.
 */
import { MailsluiceError } from '../core/errors/index.js';
import type { HoldRequest } from '../core/holds/legal-hold.js';
import { assertHoldRequest, holdJson, listHolds, placeHold, releaseHold, type HoldJson } from '../app/holds.js';
import { cliUser, recordCliAction } from '../app/audit.js';
import { holdGetThroughService, holdListThroughService, holdPlaceThroughService, holdReleaseThroughService } from '../app/service-commands.js';
import { runningService, withApp } from './commands.js';
import type { ParsedArgs } from './args.js';
import type { Io } from './output.js';

/** The one NAME a hold command takes. */
function holdName(args: ParsedArgs, usage: string): string {
  const name = args.positionals[0];
  if (!name || args.positionals.length > 1) throw new MailsluiceError('CLI_USAGE', `${usage.split(' ').slice(0, 2).join(' ')} needs one hold name: mailsluice ${usage}`);
  return name;
}

/** The ids of `--id N` (repeated, or comma-separated). */
function idsOption(value: string | true | undefined): number[] {
  if (typeof value !== 'string') return [];
  return value.split(',').map((s) => {
    const t = s.trim();
    if (!/^[0-9]{1,15}$/.test(t)) throw new MailsluiceError('CLI_USAGE', `--id takes a message id (the id of a search hit), a whole number, not "${t}"`);
    return Number(t);
  });
}

/** A hold in one line of `hold list`. */
function line(h: HoldJson): string {
  const what = [h.query !== null ? `query ${JSON.stringify(h.query)}` : '', h.ids.length ? `${h.ids.length} id${h.ids.length === 1 ? '' : 's'}` : ''].filter(Boolean).join(', ');
  const state = h.active ? `holds ${h.heldNow}` : `released ${h.releasedAt} by ${h.releasedBy}`;
  return `${h.name.padEnd(24)}  ${state}  ${what}  placed ${h.placedAt} by ${h.placedBy}: ${h.reason}\n`;
}

/** `mailsluice hold place NAME --reason TEXT [--query Q] [--id N]... [--json]` */
export async function cmdHoldPlace(args: ParsedArgs, io: Io): Promise<number> {
  const name = holdName(args, 'hold place NAME --reason TEXT [--query Q] [--id N]...');
  const o = args.options;
  if (typeof o.reason !== 'string') throw new MailsluiceError('CLI_USAGE', 'hold place needs --reason TEXT (the matter or ticket it is placed for)');
  const request: HoldRequest = { name, reason: o.reason, query: typeof o.query === 'string' ? o.query : null, ids: idsOption(o.id) };
  // What the domain refuses is refused before anything is opened or recorded.
  assertHoldRequest(request);
  const detail = { name, reason: request.reason, query: request.query ?? null, ids: request.ids ?? [] };
  const service = await runningService(args);
  const hold: HoldJson = service
    ? await holdPlaceThroughService(service, request)
    : await withApp(args, async (app) => {
        await recordCliAction(app, 'hold.place', detail);
        return placeHold(app, cliUser(), request);
      }, 'write');
  if (o.json) io.out(JSON.stringify(hold) + '\n');
  else io.out(`hold "${name}" placed: it keeps ${hold.heldNow} message${hold.heldNow === 1 ? '' : 's'} now${hold.query !== null ? ', and what is archived later that matches' : ''}\n`);
  return 0;
}

/** `mailsluice hold release NAME --reason TEXT [--json]` */
export async function cmdHoldRelease(args: ParsedArgs, io: Io): Promise<number> {
  const name = holdName(args, 'hold release NAME --reason TEXT');
  const reason = args.options.reason;
  if (typeof reason !== 'string' || !reason.trim()) throw new MailsluiceError('CLI_USAGE', 'hold release needs --reason TEXT (why the hold ends)');
  const service = await runningService(args);
  const hold: HoldJson = service
    ? await holdReleaseThroughService(service, name, reason)
    : await withApp(args, async (app) => {
        await recordCliAction(app, 'hold.release', { name, reason });
        return releaseHold(app, cliUser(), name, reason);
      }, 'write');
  io.out(args.options.json ? JSON.stringify(hold) + '\n' : `hold "${name}" released; it stays on the record (mailsluice hold list --all)\n`);
  return 0;
}

/** `mailsluice hold list [--all] [--json]` */
export async function cmdHoldList(args: ParsedArgs, io: Io): Promise<number> {
  const all = args.options.all === true;
  const service = await runningService(args);
  const holds = service ? await holdListThroughService(service, all) : await withApp(args, (app) => listHolds(app.holds, all));
  if (args.options.json) for (const h of holds) io.out(JSON.stringify(h) + '\n');
  else {
    for (const h of holds) io.out(line(h));
    const active = holds.filter((h) => h.active).length;
    io.out(`${active} active hold${active === 1 ? '' : 's'}${all ? `, ${holds.length - active} released` : ''}\n`);
  }
  return 0;
}

/** `mailsluice hold show NAME [--json]`: the hold and how many messages it keeps now. */
export async function cmdHoldShow(args: ParsedArgs, io: Io): Promise<number> {
  const name = holdName(args, 'hold show NAME');
  const service = await runningService(args);
  const hold = service
    ? await holdGetThroughService(service, name)
    : await withApp(args, async (app) => {
        const h = await app.holds.getHold(name);
        return h ? holdJson(app.holds, h) : null;
      });
  if (!hold) throw new MailsluiceError('HOLD_NOT_FOUND', `no hold named "${name}" (mailsluice hold list --all shows them)`);
  if (args.options.json) {
    io.out(JSON.stringify(hold) + '\n');
    return 0;
  }
  const rows: Array<[string, string]> = [
    ['name', hold.name],
    ['state', hold.active ? 'active' : 'released'],
    ['reason', hold.reason],
    ['query', hold.query ?? '(none)'],
    ['ids', hold.ids.length ? hold.ids.join(', ') : '(none)'],
    ['placed', `${hold.placedAt} by ${hold.placedBy}`],
    ...(hold.active ? [] : ([['released', `${hold.releasedAt} by ${hold.releasedBy}: ${hold.releaseReason}`]] as Array<[string, string]>)),
    ['held now', String(hold.heldNow)],
  ];
  for (const [k, v] of rows) io.out(`${k.padEnd(9)} ${v}\n`);
  return 0;
}
