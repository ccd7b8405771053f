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
import { createCompressSchedule } from '../core/archive/compress-stage.js';

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

/**
 * `mailsluice keys encrypt-existing` (ADR 0033, 0036): with encryption on, every live blob still
 * stored in clear is encrypted. Staged large bodies are compressed (encrypted) by the compactor
 * first; then every pack holding a live record in clear is rewritten with the reclaim machinery
 * (copy, sync, verify, switch, delete), freeing dead space on the way. Holds the data directory;
 * killed at any point, running it again finishes the job; run on an archive with nothing in
 * clear, it changes nothing.
 */
export async function cmdKeysEncryptExisting(args: ParsedArgs, io: Io): Promise<number> {
  const config = readServiceConfig(configPath(args));
  if (!config.archiveEncryption) throw new MailsluiceError('CLI_USAGE', 'keys encrypt-existing needs archive.encryption.key set: it encrypts with that key');
  const app = await createEmbeddedApp(config, { holder: 'keys encrypt-existing' });
  try {
    const staged = await app.compactBlobs(createCompressSchedule({ clock: app.clock, logger: app.logger, unparsed: async () => 0, stopping: () => true }));
    const totals = await app.encryptExisting((done, planned, t) => {
      if (!args.options.json) io.err(`pack ${done}/${planned}: ${t.recordsEncrypted} records encrypted so far\n`);
    });
    const summary = { stagedCompressed: staged.blobs, packsRewritten: totals.packsRewritten, packsDeleted: totals.packsDeleted, recordsEncrypted: totals.recordsEncrypted, packsSkipped: totals.packsSkipped, bytesBefore: totals.bytesBefore, bytesAfter: totals.bytesAfter };
    await recordCliAction(app, 'archive.keys.encrypt-existing', summary);
    if (args.options.json) io.out(JSON.stringify(summary) + '\n');
    else {
      io.out(`${totals.recordsEncrypted} records encrypted in ${totals.packsRewritten} packs rewritten (${staged.blobs} staged bodies compressed and encrypted); blob files ${totals.bytesBefore} → ${totals.bytesAfter} bytes\n`);
      if (totals.packsSkipped > 0) io.out(`${totals.packsSkipped} packs left as they were: a live blob in them fails its check (see the log; mailsluice verify names it)\n`);
    }
    return totals.packsSkipped > 0 ? 1 : 0;
  } finally {
    await app.close();
  }
}
