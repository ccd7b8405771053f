/**
 * `mailsluice config check` and `connection reset-tls NAME`: the commands about the configuration
 * and what the archive remembers of a connection. Loaded only when one of them runs (main.ts).
 */
import { readFileSync } from 'node:fs';
import { MailsluiceError } from '../core/errors/index.js';
import { formatProblems } from '../config/loader.js';
import { checkConfigFileText, connectionNamed } from '../app/config-file.js';
import { checkInfrastructure, type InfrastructureStep } from '../app/infrastructure-check.js';
import type { ParsedArgs } from './args.js';
import { configPath, withApp } from './commands.js';
import type { Io } from './output.js';

/** `mailsluice config check` */
export async function cmdConfigCheck(args: ParsedArgs, io: Io): Promise<number> {
  const file = configPath(args);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new MailsluiceError('CONFIG_NOT_FOUND', `cannot read configuration file ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  const { config, problems, warnings } = checkConfigFileText(text, file);
  // A valid scale-out file is only as good as the services it names: they are reached too.
  const infrastructure = config?.scaleOut ? await checkInfrastructure(config.scaleOut) : undefined;
  const ok = !!config && (infrastructure ?? []).every((s) => s.ok);
  if (args.options.json) {
    io.out(JSON.stringify({ ok, file, problems, warnings, ...(infrastructure ? { infrastructure } : {}) }) + '\n');
  } else {
    if (problems.length) io.err(`${file}: ${problems.length} problem${problems.length === 1 ? '' : 's'}\n${formatProblems(problems)}\n`);
    if (warnings.length) io.err(`warnings:\n${formatProblems(warnings)}\n`);
    for (const s of infrastructure ?? []) {
      if (s.ok) io.out(stepLine(s));
      else io.err(stepLine(s));
    }
    if (config) {
      const counts = `${config.connections.length} connection${config.connections.length === 1 ? '' : 's'}, ${config.routes.length} route${config.routes.length === 1 ? '' : 's'}`;
      if (ok) io.out(`${file}: OK (${counts}${infrastructure ? ', infrastructure reached' : ''})\n`);
      else io.err(`${file}: valid (${counts}), but the infrastructure check failed at ${infrastructure?.find((s) => !s.ok)?.step}\n`);
    }
  }
  return ok ? 0 : 1;
}

/** A step of a check as one line: `test-connection`'s and the infrastructure's. */
export function stepLine(s: Pick<InfrastructureStep, 'ok' | 'detail' | 'code' | 'ms'> & { step: string }): string {
  return `${s.ok ? 'ok  ' : 'FAIL'} ${s.step.padEnd(12)} ${s.detail}${s.code ? ` [${s.code}]` : ''} (${s.ms} ms)\n`;
}

/** `mailsluice connection reset-tls NAME`: forget that the server offered STARTTLS (ADR 0016). */
export async function cmdConnectionResetTls(args: ParsedArgs, io: Io): Promise<number> {
  const name = args.positionals[0];
  if (!name || args.positionals.length > 1) throw new MailsluiceError('CLI_USAGE', 'connection reset-tls needs one connection name: mailsluice connection reset-tls NAME');
  return withApp(args, async (app, config) => {
    connectionNamed(config, name);
    const had = app.tls.tlsOffered(name);
    app.tls.setTlsOffered(name, false);
    if (args.options.json) io.out(JSON.stringify({ connection: name, forgotten: had }) + '\n');
    else io.out(had ? `connection ${name}: forgot that its server offered STARTTLS; the next session may log in without TLS if the server offers none\n` : `connection ${name}: nothing remembered (its server never offered STARTTLS to mailsluice)\n`);
    return 0;
   }, 'write');
}
