/**
 * `mailsluice backup --out DIR` and `mailsluice restore --from DIR` (issue 16, item 2; ADR 0032).
 * The backup works on the archive's files itself, beside a running service too (SQLite's backup
 * API reads through its locks; the packs are copied only up to what the snapshot references),
 * and records itself in the audit log first. The restore writes the configured data directory,
 * which must be empty or missing, and records itself in the restored archive's audit log.
 */
import { resolve } from 'node:path';
import { MailsluiceError } from '../core/errors/index.js';
import { readServiceConfig } from '../app/config-file.js';
import { createEmbeddedApp } from '../app/embedded.js';
import { backupArchive } from '../app/backup.js';
import { readConfigForRestore, restoreArchive } from '../app/restore.js';
import { checkKeyringIn } from '../app/archive-keys.js';
import { recordCliAction } from '../app/audit.js';
import type { ParsedArgs } from './args.js';
import { configPath } from './commands.js';
import type { Io } from './output.js';

function mb(bytes: number): string {
  return `${(bytes / 1048576).toFixed(1)} MB`;
}

function dirOption(args: ParsedArgs, name: 'out' | 'from', command: string): string {
  const v = args.options[name];
  if (typeof v !== 'string' || v === '') throw new MailsluiceError('CLI_USAGE', `${command} needs --${name} DIR`);
  return resolve(v);
}

/** `mailsluice backup --out DIR` */
export async function cmdBackup(args: ParsedArgs, io: Io): Promise<number> {
  const out = dirOption(args, 'out', 'backup');
  const config = readServiceConfig(configPath(args));
  // Recorded in the archive before it is read (and so in the backup itself), through SQLite's
  // locking beside a running service, as the commands that write the audit log themselves do.
  const app = await createEmbeddedApp(config);
  // The databases' key (ADR 0035): their copies stay encrypted under it, as the keyring that wraps it is copied.
  const key = app.databaseKey ?? null;
  try {
    await recordCliAction(app, 'archive.backup', { out });
  } finally {
    await app.close();
  }
  const r = await backupArchive(config.dataDir, out, undefined, undefined, key);
  const rate = r.durationMs > 0 ? r.bytesCopied / 1048576 / (r.durationMs / 1000) : 0;
  if (args.options.json) io.out(JSON.stringify({ ...r, mbPerSecond: Number(rate.toFixed(1)) }) + '\n');
  else {
    io.out(`backup ${r.generation} written to ${r.out}: ${r.files} files, ${mb(r.bytes)}; ${mb(r.bytesCopied)} copied in ${(r.durationMs / 1000).toFixed(1)} s (${rate.toFixed(1)} MB/s)\n`);
    io.out(`  packs and archive files: ${r.shared.copied} copied, ${r.shared.appended} grown (new bytes only), ${r.shared.kept} unchanged\n`);
  }
  return 0;
}

/** `mailsluice restore --from DIR` */
export async function cmdRestore(args: ParsedArgs, io: Io): Promise<number> {
  const from = dirOption(args, 'from', 'restore');
  const config = readConfigForRestore(configPath(args));
  // A wrong or missing key refused before anything is copied (the restored archive would not open).
  const r = await restoreArchive(from, config.dataDir, undefined, (dir) => checkKeyringIn(dir, config));
  const app = await createEmbeddedApp(config);
  try {
    await recordCliAction(app, 'archive.restore', { from, generation: r.generation, createdAt: r.createdAt });
  } finally {
    await app.close();
  }
  if (args.options.json) io.out(JSON.stringify(r) + '\n');
  else io.out(`restored backup ${r.generation} (taken ${r.createdAt}) from ${r.from} into ${r.dataDir}: ${r.files} files, ${mb(r.bytes)}, every one matching its SHA-256\n`);
  return 0;
}
