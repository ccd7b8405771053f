/**
 * `mailsluice inspect FILE...`: parses files as the archive would and prints their attributes.
 * Loaded only when it runs (main.ts): it brings in the MIME parser.
 */
import { MailsluiceError } from '../core/errors/index.js';
import { inspectFiles } from '../app/inspect.js';
import type { ParsedArgs } from './args.js';
import type { Io } from './output.js';

/** `mailsluice inspect FILE...` */
export async function cmdInspect(args: ParsedArgs, io: Io): Promise<number> {
  if (args.positionals.length === 0) throw new MailsluiceError('CLI_USAGE', 'inspect needs at least one file: mailsluice inspect FILE...');
  let status = 0;
  await inspectFiles(args.positionals, (r) => {
    if ('error' in r) {
      status = 1;
      if (args.options.json) io.out(JSON.stringify({ Error: r.error.toJSON() }) + '\n');
      else io.err(`${r.file}: ${r.error.message}\n`);
      return;
    }
    const o = r.outcome;
    const obj = o.ok ? o.attributes : { ...(o.partial ?? {}), Unparsable: true, Error: { code: o.code, message: o.reason } };
    if (args.options.json) io.out(JSON.stringify(obj) + '\n');
    else io.out(`== ${r.file}\n${JSON.stringify(obj, null, 2)}\n`);
  });
  return status;
}
