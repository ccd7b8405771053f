/**
 * `mailsluice` entry: parses the command line, runs a command, prints a one-line error with its
 * code on failure (SPEC "Command line": non-zero exit with a one-line error).
 */
import { MailsluiceError, toMailsluiceError } from '../core/errors/index.js';
import { parseArgs } from './args.js';
import * as c from './commands.js';
import type { Io } from './commands.js';

/** The `--help` text; pinned by a golden test. */
export const HELP = `mailsluice: drains journal mailboxes into a durable, searchable archive

Usage: mailsluice <command> [options]

Commands:
  start                     run the service: every enabled connection
  drain [--connection NAME] drain until nothing is left to take, index, run the
                            routes, then exit
  test-connection NAME      step-by-step connection test
  connection reset-tls NAME forget that the server offered STARTTLS (after it
                            really stopped; see SOURCE_TLS_DOWNGRADE)
  inspect FILE...           parse messages and print their attributes
  stats                     archive counts
  search QUERY              full-text and field search of the archive
                            (--from, --to, --since, --before, --connection, --has-attachment, --limit)
  export --out DIR          write archived messages (--format eml|mbox, --connection NAME)
  logs NAME                 print a connection's own log
  deliveries list           deliveries of messages to routes
                            (--state pending|done|dead, --route NAME, --connection, --limit)
  deliveries retry ID...    queue dead deliveries again (or --all-dead [--route NAME])
  config check              validate the configuration and print every problem

Options for every command:
  --config FILE             configuration file (default ./mailsluice.yaml)
  --json                    machine-readable output
  --help                    this text
`;

const KNOWN = {
  values: ['config', 'connection', 'out', 'format', 'from', 'to', 'since', 'before', 'limit', 'state', 'route'],
  flags: ['json', 'help', 'has-attachment', 'all-dead'],
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
};

/** Runs the CLI and resolves to the exit status. */
export async function main(argv: string[], io: Io = defaultIo()): Promise<number> {
  let json = argv.includes('--json');
  try {
    const args = parseArgs(argv, KNOWN);
    json = args.options.json === true;
    const [command, ...rest] = args.positionals;
    if (args.options.help || !command) {
      io.out(HELP);
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
    const fn = COMMANDS[command];
    if (!fn) throw new MailsluiceError('CLI_USAGE', `unknown command "${command}"; run mailsluice --help`);
    return await fn({ ...args, positionals: rest }, io);
  } catch (err) {
    const e = toMailsluiceError(err);
    if (json) io.out(JSON.stringify({ error: e.toJSON() }) + '\n');
    // One line: the first line of the message names the problem; config problems follow it.
    io.err(`mailsluice: ${e.code}: ${e.message}\n`);
    if (e.code === 'INTERNAL' && e.cause instanceof Error && process.env.MAILSLUICE_DEBUG) io.err(`${e.cause.stack}\n`);
    return e.code === 'CLI_USAGE' ? 2 : 1;
  }
}

function defaultIo(): Io {
  return { out: (s) => process.stdout.write(s), err: (s) => process.stderr.write(s), isTty: Boolean(process.stderr.isTTY) };
}
