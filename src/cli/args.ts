import { MailsluiceError } from '../core/errors/index.js';

/** Parsed command line: positionals and `--flag value` options. */
export interface ParsedArgs {
  positionals: string[];
  options: Record<string, string | true>;
}

/**
 * Parses `argv` strictly: an option not in `known` is a CLI_USAGE error naming it, so a typo
 * never silently changes what a command does.
 */
export function parseArgs(argv: string[], known: { values: readonly string[]; flags: readonly string[]; repeatable?: readonly string[] }): ParsedArgs {
  const positionals: string[] = [];
  const options: Record<string, string | true> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = eq > 0 ? a.slice(2, eq) : a.slice(2);
      if (known.flags.includes(name)) {
        if (eq > 0) throw new MailsluiceError('CLI_USAGE', `option --${name} takes no value`);
        options[name] = true;
      } else if (known.values.includes(name)) {
        const value = eq > 0 ? a.slice(eq + 1) : argv[++i];
        if (value === undefined) throw new MailsluiceError('CLI_USAGE', `option --${name} needs a value`);
        // A repeatable option given again adds to its list (comma-separated, as one may also write it).
        const earlier = options[name];
        options[name] = typeof earlier === 'string' && known.repeatable?.includes(name) ? `${earlier},${value}` : value;
      } else {
        throw new MailsluiceError('CLI_USAGE', `unknown option --${name}`);
      }
    } else positionals.push(a);
  }
  return { positionals, options };
}
