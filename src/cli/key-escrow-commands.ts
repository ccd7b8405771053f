/**
 * `mailsluice keys export --out FILE [--parts N --threshold K]` and `mailsluice keys combine
 * PART... --out FILE` (issue 16, item 2; docs/encryption.md): the master key written for escrow,
 * whole or in parts, and rebuilt from its parts.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { MailsluiceError } from '../core/errors/index.js';
import { readServiceConfig } from '../app/config-file.js';
import { combineMasterKey, exportMasterKey, type KeySplit } from '../app/key-escrow.js';
import type { ParsedArgs } from './args.js';
import { configPath } from './commands.js';
import type { Io } from './output.js';

function outOption(args: ParsedArgs, command: string): string {
  const v = args.options.out;
  if (typeof v !== 'string' || v === '') throw new MailsluiceError('CLI_USAGE', `${command} needs --out FILE`);
  return resolve(v);
}

/** `--parts N --threshold K`, both or neither. */
function splitOption(args: ParsedArgs): KeySplit | null {
  const { parts, threshold } = args.options;
  if (parts === undefined && threshold === undefined) return null;
  if (typeof parts !== 'string' || typeof threshold !== 'string') throw new MailsluiceError('CLI_USAGE', 'keys export: give --parts N and --threshold K together');
  const whole = (v: string, name: string): number => {
    if (!/^\d+$/.test(v)) throw new MailsluiceError('CLI_USAGE', `keys export: --${name} must be a whole number, not "${v}"`);
    return Number(v);
  };
  return { parts: whole(parts, 'parts'), threshold: whole(threshold, 'threshold') };
}

/** `mailsluice keys export --out FILE [--parts N --threshold K]` */
export async function cmdKeysExport(args: ParsedArgs, io: Io): Promise<number> {
  const out = outOption(args, 'keys export');
  const split = splitOption(args);
  const r = await exportMasterKey(readServiceConfig(configPath(args)), out, split);
  if (args.options.json) {
    io.out(JSON.stringify(r) + '\n');
    return 0;
  }
  if (!r.audited) io.out('no archive in dataDir yet: the configured key is written as it is (nothing to check it against)\n');
  if (split) {
    io.out(`master key ${r.keyId} split into ${split.parts} parts (mode 600), any ${split.threshold} of which rebuild it (mailsluice keys combine):\n`);
    for (const f of r.files) io.out(`  ${f}\n`);
    io.out('keep each part with a different custodian, apart from the backups: a lost key is a lost archive\n');
  } else io.out(`master key ${r.keyId} written to ${out} (mode 600): keep it apart from the backups; a lost key is a lost archive\n`);
  return 0;
}

/** `mailsluice keys combine PART... --out FILE`: checked against the archive when a configuration is there. */
export async function cmdKeysCombine(args: ParsedArgs, io: Io): Promise<number> {
  const out = outOption(args, 'keys combine');
  if (args.positionals.length === 0) throw new MailsluiceError('CLI_USAGE', 'keys combine needs the part files: keys combine PART... --out FILE');
  const path = configPath(args);
  // The default configuration is optional here: parts are often combined on another machine.
  const config = typeof args.options.config === 'string' || existsSync(path) ? readServiceConfig(path) : null;
  const r = await combineMasterKey(args.positionals.map((p) => resolve(p)), out, config);
  if (args.options.json) io.out(JSON.stringify(r) + '\n');
  else {
    const checked = r.checkedAgainst === null ? 'not checked against an archive (no configuration)' : r.dataKeys > 0 ? `it opens the archive in ${r.checkedAgainst}` : `the archive in ${r.checkedAgainst} holds no encrypted blob yet, so nothing to check it against`;
    io.out(`master key ${r.keyId} rebuilt and written to ${out} (mode 600); ${checked}\n`);
  }
  return 0;
}
