/**
 * `mailsluice export` (docs/export.md): a module of its own, imported only when it runs, since
 * the zip writer and reader it needs are no part of what `search` loads (ADR 0039).
 */
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { MailsluiceError } from '../core/errors/index.js';
import type { ParsedArgs } from './args.js';
import type { Io } from './output.js';
import { runningService, withApp } from './commands.js';
import { exportDirMode, parseExportMode } from './export-mode.js';
import { exportArchive, zipTarget, type ExportReport } from '../app/export.js';
import { verifyExportZip } from '../app/export-verify.js';
import { exportThroughService } from '../app/service-export.js';

/**
 * `mailsluice export --out DIR|FILE.zip [--format eml|mbox|zip] [--query Q] [--connection NAME]
 * [--mode OCTAL]`, and `mailsluice export verify FILE.zip` (docs/export.md).
 */
export async function cmdExport(args: ParsedArgs, io: Io): Promise<number> {
  if (args.positionals[0] === 'verify') return cmdExportVerify(args, io);
  if (args.positionals.length > 0) throw new MailsluiceError('CLI_USAGE', `export takes no words but "verify FILE.zip"; the query goes in --query '${args.positionals.join(' ')}'`);
  const out = args.options.out;
  const format = args.options.format ?? 'eml';
  if (format !== 'eml' && format !== 'mbox' && format !== 'zip') throw new MailsluiceError('CLI_USAGE', `--format must be eml, mbox or zip, not ${String(format)}`);
  if (typeof out !== 'string') throw new MailsluiceError('CLI_USAGE', format === 'zip' ? 'export --format zip needs --out FILE.zip' : 'export needs --out DIR');
  const mode = parseExportMode(args.options.mode);
  const text = typeof args.options.query === 'string' ? args.options.query : undefined;
  if (text !== undefined && text.trim() === '') throw new MailsluiceError('CLI_USAGE', '--query is empty: leave it out to export every message');
  const conn = typeof args.options.connection === 'string' ? args.options.connection : undefined;
  const query = { ...(text !== undefined ? { text } : {}), ...(conn ? { connection: conn } : {}) };
  // A zip is one new file: refused before anything is recorded or read when it exists.
  const dir = format === 'zip' ? dirname(zipTarget(out)) : out;
  const json = args.options.json === true;
  const service = await runningService(args);
  if (service) {
    // The service selects, reads and records it; the files are written here.
    mkdirSync(dir, { recursive: true, mode: exportDirMode(mode) });
    const r = await exportThroughService(service, { out, format, mode, query });
    printExported({ format, out: resolve(out), written: r.written, ...(r.manifestSha256 ? { manifestSha256: r.manifestSha256 } : {}) }, json, io);
    return 0;
  }
  // Read-write: the export is recorded in the audit log before it runs (ADR 0022).
  return withApp(args, async (app) => {
    let last = 0;
    const progress = (n: number, force = false): void => {
      if (!io.isTty || json || (!force && Date.now() - last < 250)) return;
      last = Date.now();
      io.err(`\rexported ${n} message${n === 1 ? '' : 's'}   `);
    };
    const report = await exportArchive(app, { out, format, mode, dirMode: exportDirMode(mode), query, progress });
    if (io.isTty && !json) {
      progress(report.written, true);
      io.err('\n');
    }
    printExported(report, json, io);
    return 0;
  }, 'write');
}

function printExported(r: ExportReport, json: boolean, io: Io): void {
  if (json) io.out(JSON.stringify({ exported: r.written, out: r.out, format: r.format, ...(r.manifestSha256 ? { manifestSha256: r.manifestSha256 } : {}) }) + '\n');
  else {
    io.out(`exported ${r.written} message${r.written === 1 ? '' : 's'} to ${r.out} (${r.format})\n`);
    if (r.manifestSha256) io.out(`manifest sha256 ${r.manifestSha256}\n`);
  }
}

/** `mailsluice export verify FILE.zip`: exit 1 with EXPORT_INVALID, each problem a line, when the zip is not what its manifest says. */
async function cmdExportVerify(args: ParsedArgs, io: Io): Promise<number> {
  const file = args.positionals[1];
  if (!file || args.positionals.length > 2) throw new MailsluiceError('CLI_USAGE', 'usage: mailsluice export verify FILE.zip');
  const v = await verifyExportZip(file);
  if (args.options.json === true) io.out(JSON.stringify(v) + '\n');
  else {
    for (const p of v.problems) io.out(`${p}\n`);
    io.out(`${v.messages} message${v.messages === 1 ? '' : 's'} in ${v.files} file${v.files === 1 ? '' : 's'}, ${v.bytes} bytes; manifest sha256 ${v.manifestSha256 ?? '(none)'}\n`);
  }
  if (!v.ok) throw new MailsluiceError('EXPORT_INVALID', `${resolve(file)}: ${v.problems.length} problem${v.problems.length === 1 ? '' : 's'}, the first: ${v.problems[0]}`);
  if (args.options.json !== true) io.out(`ok: every file hashes to its name and matches the manifest\n`);
  return 0;
}
