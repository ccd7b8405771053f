/**
 * `mailsluice` entry: parses the command line, runs a command, prints a one-line error with its
 * code on failure (SPEC "Command line": non-zero exit with a one-line error).
 */
import { MailsluiceError, toMailsluiceError } from '../core/errors/index.js';
import { parseArgs } from './args.js';
import * as c from './commands.js';
import { cmdTokenCreate, cmdTokenList, cmdTokenRevoke } from './token-commands.js';
import { cmdAuditList, cmdAuditPrune, cmdAuditVerify } from './audit-commands.js';
import { cmdVerify } from './verify-command.js';
import { cmdHoldList, cmdHoldPlace, cmdHoldRelease, cmdHoldShow } from './hold-commands.js';
import { cmdPurge } from './purge-command.js';
import { cmdReindex } from './reindex-command.js';
import { cmdConnectionsList, cmdConnectionsStatus } from './connection-commands.js';
import { cmdBackup, cmdRestore } from './backup-commands.js';
import { cmdKeysGenerate, cmdKeysRotate, cmdKeysEncryptExisting } from './key-commands.js';
import { cmdKeysCombine, cmdKeysExport } from './key-escrow-commands.js';
import { helpFor, version } from './help.js';
import { OutputClosed, stdio, type Io } from './output.js';

export { HELP } from './help.js';

const KNOWN = {
  values: ['config', 'connection', 'out', 'format', 'from', 'to', 'since', 'before', 'limit', 'state', 'route', 'mode', 'name', 'role', 'until', 'who', 'action', 'keep-days', 'new-key', 'reason', 'query', 'id', 'parts', 'threshold', 'as-of'],
  flags: ['json', 'help', 'version', 'has-attachment', 'all-dead', 'probe', 'with-archive', 'repair', 'all', 'dry-run'],
  repeatable: ['id'],
} as const;

const COMMANDS: Record<string, (args: ReturnType<typeof parseArgs>, io: Io) => Promise<number>> = {
  start: c.cmdStart,
  run: c.cmdStart,
  drain: c.cmdDrain,
  'test-connection': c.cmdTestConnection,
  inspect: c.cmdInspect,
  stats: c.cmdStats,
  search: c.cmdSearch,
  export: c.cmdExport,
  logs: c.cmdLogs,
  verify: cmdVerify,
  purge: cmdPurge,
  reindex: cmdReindex,
  backup: cmdBackup,
  restore: cmdRestore,
};

/** Two-word commands whose second word picks the command (`token create`, `audit verify`). */
const GROUPS: Record<string, Record<string, (typeof COMMANDS)[string]>> = {
  token: { create: cmdTokenCreate, list: cmdTokenList, revoke: cmdTokenRevoke },
  audit: { list: cmdAuditList, verify: cmdAuditVerify, prune: cmdAuditPrune },
  connections: { list: cmdConnectionsList, status: cmdConnectionsStatus },
  keys: { generate: cmdKeysGenerate, rotate: cmdKeysRotate, export: cmdKeysExport, combine: cmdKeysCombine, 'encrypt-existing': cmdKeysEncryptExisting },
  hold: { place: cmdHoldPlace, release: cmdHoldRelease, list: cmdHoldList, show: cmdHoldShow },
};

/** Runs the CLI and resolves to the exit status. */
export async function main(argv: string[], io: Io = stdio()): Promise<number> {
  let json = argv.includes('--json');
  try {
    const args = parseArgs(argv, KNOWN);
    json = args.options.json === true;
    const [command, ...rest] = args.positionals;
    if (args.options.version) {
      io.out(json ? JSON.stringify({ version: version() }) + '\n' : `mailsluice ${version()}\n`);
      return 0;
    }
    if (args.options.help || !command) {
      // Two-word commands have their own help too (deliveries list, config check).
      const two = rest[0] && (command === 'deliveries' || command === 'config' || command === 'connection' || command === 'token' || command === 'audit' || command === 'connections' || command === 'keys' || command === 'hold') ? `${command} ${rest[0]}` : command;
      io.out(helpFor(two));
      return command || args.options.help ? 0 : 2;
    }
    if (command === 'config') {
      if (rest[0] !== 'check') throw new MailsluiceError('CLI_USAGE', `unknown command "config ${rest[0] ?? ''}": did you mean "config check"?`);
      return await c.cmdConfigCheck({ ...args, positionals: rest.slice(1) }, io);
    }
    if (command === 'connection') {
      if (rest[0] !== 'reset-tls') throw new MailsluiceError('CLI_USAGE', `unknown command "connection ${rest[0] ?? ''}": did you mean "connection reset-tls NAME"?`);
      return await c.cmdConnectionResetTls({ ...args, positionals: rest.slice(1) }, io);
    }
    if (command === 'deliveries') {
      const sub = rest[0] === 'list' ? c.cmdDeliveriesList : rest[0] === 'retry' ? c.cmdDeliveriesRetry : undefined;
      if (!sub) throw new MailsluiceError('CLI_USAGE', `unknown command "deliveries ${rest[0] ?? ''}": use "deliveries list" or "deliveries retry"`);
      return await sub({ ...args, positionals: rest.slice(1) }, io);
    }
    const group = GROUPS[command];
    if (group) {
      const sub = rest[0] ? group[rest[0]] : undefined;
      if (!sub) throw new MailsluiceError('CLI_USAGE', `unknown command "${command} ${rest[0] ?? ''}": use ${Object.keys(group).map((s) => `"${command} ${s}"`).join(', ')}`);
      return await sub({ ...args, positionals: rest.slice(1) }, io);
    }
    const fn = COMMANDS[command];
    if (!fn) throw new MailsluiceError('CLI_USAGE', `unknown command "${command}"; run mailsluice --help`);
    return await fn({ ...args, positionals: rest }, io);
  } catch (err) {
    // The reader of our output went away (`| head`): it has what it wanted (output.ts).
    if (err instanceof OutputClosed) return 0;
    const e = toMailsluiceError(err);
    if (json) {
      try {
        io.out(JSON.stringify({ error: e.toJSON() }) + '\n');
      } catch {
        // Nobody reads standard output any more; the line on standard error still says it.
      }
    }
    // One line: the first line of the message names the problem; config problems follow it.
    io.err(`mailsluice: ${e.code}: ${e.message}\n`);
    if (e.code === 'INTERNAL' && e.cause instanceof Error && process.env.MAILSLUICE_DEBUG) io.err(`${e.cause.stack}\n`);
    return e.code === 'CLI_USAGE' ? 2 : 1;
  }
}
