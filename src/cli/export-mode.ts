/**
 * The modes `export` gives what it writes (issue 12, item 11): exported mail is as private as the
 * archive, so files are 0600 and a directory it makes 0700 unless `--mode` asks otherwise. The
 * mode is set explicitly on each file, so the umask neither narrows nor widens what was asked.
 */
import { MailsluiceError } from '../core/errors/index.js';

/** Exported files when `--mode` is not given: owner read and write only. */
export const EXPORT_FILE_MODE = 0o600;

/** `--mode` as a number: three or four octal digits, at most 0777, owner read and write kept. */
export function parseExportMode(value: unknown): number {
  if (value === undefined) return EXPORT_FILE_MODE;
  const text = String(value);
  const mode = /^0?[0-7]{3}$/.test(text) ? parseInt(text, 8) : NaN;
  if (Number.isNaN(mode)) throw new MailsluiceError('CLI_USAGE', `--mode must be an octal file mode such as 600 or 640, not ${text}`);
  if ((mode & 0o600) !== 0o600) throw new MailsluiceError('CLI_USAGE', `--mode ${text} must leave the owner read and write (6xx): export rewrites its own files`);
  return mode;
}

/** The mode of an output directory `export` makes: the file mode, searchable wherever readable. */
export function exportDirMode(fileMode: number): number {
  return fileMode | ((fileMode & 0o444) >> 2) | 0o700;
}
