/**
 * `mailsluice keys generate --out FILE` and `mailsluice keys rotate --new-key FILE` (issue 16,
 * item 1; ADR 0033). Generate writes a new master key (32 random bytes, 0600, never over an
 * existing file). Rotate re-wraps the archive's data keys under a new master key without
 * rewriting a pack; it holds the data directory (no start or drain beside it, which would keep
 * making data keys under the old key).
 */
import { resolve } from 'node:path';
import { MailsluiceError } from '../core/errors/index.js';
import { readServiceConfig } from '../app/config-file.js';
import { createEmbeddedApp } from '../app/embedded.js';
import { generateMasterKeyFile, masterKeyId, openArchiveKeyring, readMasterKeyFile } from '../app/archive-keys.js';
import { recordCliAction } from '../app/audit.js';
import type { ParsedArgs } from './args.js';
import { configPath } from './commands.js';
import type { Io } from './output.js';

function fileOption(args: ParsedArgs, name: 'out' | 'new-key', command: string): string {
  const v = args.options[name];
  if (typeof v !== 'string' || v === '') throw new MailsluiceError('CLI_USAGE', `${command} needs --${name} FILE`);
  return resolve(v);
}

/** `mailsluice keys generate --out FILE` */
export async function cmdKeysGenerate(args: ParsedArgs, io: Io): Promise<number> {
  const out = fileOption(args, 'out', 'keys generate');
  const id = await generateMasterKeyFile(out);
  if (args.options.json) io.out(JSON.stringify({ file: out, keyId: id }) + '\n');
  else io.out(`master key ${id} written to ${out} (mode 600): keep a copy apart from the backups; a lost key is a lost archive\n`);
  return 0;
}

/** `mailsluice keys rotate --new-key FILE` */
export async function cmdKeysRotate(args: ParsedArgs, io: Io): Promise<number> {
  const file = fileOption(args, 'new-key', 'keys rotate');
  const config = readServiceConfig(configPath(args));
  if (!config.archiveEncryption) throw new MailsluiceError('CLI_USAGE', 'keys rotate needs archive.encryption.key set to the current master key');
  const next = await readMasterKeyFile(file);
  // Holds the data directory and checks the current key against the keyring first.
  const app = await createEmbeddedApp(config, { holder: 'keys rotate' });
  try {
    const keyring = await openArchiveKeyring(config);
    const count = await keyring.rotate(next);
    await recordCliAction(app, 'archive.keys.rotate', { from: keyring.masterKeyId, to: masterKeyId(next), dataKeys: count });
    if (args.options.json) io.out(JSON.stringify({ keyId: masterKeyId(next), dataKeys: count }) + '\n');
    else io.out(`${count} data keys re-wrapped under master key ${masterKeyId(next)}; set archive.encryption.key to ${file} before the next start (the old key no longer opens the archive)\n`);
  } finally {
    await app.close();
  }
  return 0;
}
