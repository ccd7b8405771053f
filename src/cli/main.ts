/**
 * `mailsluice` entry: parses the command line, runs a command, prints a one-line error with its
 * code on failure (SPEC "Command line": non-zero exit with a one-line error).
 */
import { MailsluiceError, toMailsluiceError } from '../core/errors/index.js';
import { parseArgs } from './args.js';
import { helpFor, version } from './help.js';
import { OutputClosed, stdio, type Io } from './output.js';

export { HELP } from './help.js';

const KNOWN = {
  values: ['config', 'connection', 'out', 'format', 'from', 'to', 'since', 'before', 'limit', 'state', 'route', 'mode', 'name', 'role', 'until', 'who', 'action', 'keep-days', 'new-key', 'reason', 'query', 'id', 'parts', 'threshold', 'as-of', 'label', 'mbox'],
  flags: ['json', 'help', 'version', 'has-attachment', 'all-dead', 'probe', 'with-archive', 'repair', 'all', 'dry-run'],
  repeatable: ['id'],
} as const;

/** A command: its arguments (the command's own words removed) and the terminal; resolves to the exit status. */
type Command = (args: ReturnType<typeof parseArgs>, io: Io) => Promise<number>;
/**
 * A command's module, imported only when the command runs: `search` must answer in a fraction of
 * a second as a whole process (issue 17), and importing every command's module (the service, the
 * API, the mailbox and MIME libraries) took most of that before anything was done. A new
 * command is a line here naming its module and export, never a static import above.
 */
type LazyCommand = () => Promise<Command>;

const commands = (): Promise<typeof import('./commands.js')> => import('./commands.js');

const COMMANDS: Record<string, LazyCommand> = {
  start: async () => (await import('./run-commands.js')).cmdStart,
  run: async () => (await import('./run-commands.js')).cmdStart,
  drain: async () => (await import('./run-commands.js')).cmdDrain,
  import: async () => (await import('./import-command.js')).cmdImport,
  'test-connection': async () => (await import('./test-connection-command.js')).cmdTestConnection,
  inspect: async () => (await import('./inspect-command.js')).cmdInspect,
  stats: async () => (await commands()).cmdStats,
  search: async () => (await commands()).cmdSearch,
  export: async () => (await import('./export-command.js')).cmdExport,
  logs: async () => (await commands()).cmdLogs,
  verify: async () => (await import('./verify-command.js')).cmdVerify,
  purge: async () => (await import('./purge-command.js')).cmdPurge,
  reindex: async () => (await import('./reindex-command.js')).cmdReindex,
  backup: async () => (await import('./backup-commands.js')).cmdBackup,
  restore: async () => (await import('./backup-commands.js')).cmdRestore,
};

const tokens = (): Promise<typeof import('./token-commands.js')> => import('./token-commands.js');
const audit = (): Promise<typeof import('./audit-commands.js')> => import('./audit-commands.js');
const connections = (): Promise<typeof import('./connection-commands.js')> => import('./connection-commands.js');
const keys = (): Promise<typeof import('./key-commands.js')> => import('./key-commands.js');
const escrow = (): Promise<typeof import('./key-escrow-commands.js')> => import('./key-escrow-commands.js');
const holds = (): Promise<typeof import('./hold-commands.js')> => import('./hold-commands.js');

/** Two-word commands whose second word picks the command (`token create`, `audit verify`). */
const GROUPS: Record<string, Record<string, LazyCommand>> = {
  token: { create: async () => (await tokens()).cmdTokenCreate, list: async () => (await tokens()).cmdTokenList, revoke: async () => (await tokens()).cmdTokenRevoke },
  audit: { list: async () => (await audit()).cmdAuditList, verify: async () => (await audit()).cmdAuditVerify, prune: async () => (await audit()).cmdAuditPrune },
  connections: { list: async () => (await connections()).cmdConnectionsList, status: async () => (await connections()).cmdConnectionsStatus },
  keys: {
    generate: async () => (await keys()).cmdKeysGenerate,
    rotate: async () => (await keys()).cmdKeysRotate,
    export: async () => (await escrow()).cmdKeysExport,
    combine: async () => (await escrow()).cmdKeysCombine,
    'encrypt-existing': async () => (await keys()).cmdKeysEncryptExisting,
  },
  hold: { place: async () => (await holds()).cmdHoldPlace, release: async () => (await holds()).cmdHoldRelease, list: async () => (await holds()).cmdHoldList, show: async () => (await holds()).cmdHoldShow },
  deliveries: { list: async () => (await commands()).cmdDeliveriesList, retry: async () => (await commands()).cmdDeliveriesRetry },
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
      return await (await import('./config-commands.js')).cmdConfigCheck({ ...args, positionals: rest.slice(1) }, io);
    }
    if (command === 'connection') {
      if (rest[0] !== 'reset-tls') throw new MailsluiceError('CLI_USAGE', `unknown command "connection ${rest[0] ?? ''}": did you mean "connection reset-tls NAME"?`);
      return await (await import('./config-commands.js')).cmdConnectionResetTls({ ...args, positionals: rest.slice(1) }, io);
    }
    if (command === 'deliveries' && !(rest[0] && Object.hasOwn(GROUPS.deliveries!, rest[0]))) {
      throw new MailsluiceError('CLI_USAGE', `unknown command "deliveries ${rest[0] ?? ''}": use "deliveries list" or "deliveries retry"`);
    }
    const group = Object.hasOwn(GROUPS, command) ? GROUPS[command] : undefined;
    if (group) {
      const sub = rest[0] && Object.hasOwn(group, rest[0]) ? group[rest[0]] : undefined;
      if (!sub) throw new MailsluiceError('CLI_USAGE', `unknown command "${command} ${rest[0] ?? ''}": use ${Object.keys(group).map((s) => `"${command} ${s}"`).join(', ')}`);
      return await (await sub())({ ...args, positionals: rest.slice(1) }, io);
    }
    const fn = Object.hasOwn(COMMANDS, command) ? COMMANDS[command] : undefined;
    if (!fn) throw new MailsluiceError('CLI_USAGE', `unknown command "${command}"; run mailsluice --help`);
    return await (await fn())({ ...args, positionals: rest }, io);
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
