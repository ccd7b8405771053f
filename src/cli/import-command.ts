/**
 * `mailsluice import PATH --label NAME [--format mbox|maildir|eml] [--mbox mboxrd|mboxo]
 * [--route NAME] [--json]`: an mbox file, a Maildir or a folder of `.eml` files archived under
 * the connection `import:NAME` (docs/import.md). Progress goes to standard error while it runs: a
 * line rewritten in place on a terminal, a JSON line every half second with `--json`; each item
 * that is not a message is a line there as it is met. The summary goes to standard output.
 */
import { MailsluiceError } from '../core/errors/index.js';
import { importMail, type FilesFormat, type ImportProblem, type ImportProgress, type ImportSummary, type MboxVariant } from '../app/import.js';
import { withApp } from './commands.js';
import { drainFailures } from './drain-report.js';
import { OutputClosed, type Io } from './output.js';
import type { ParsedArgs } from './args.js';

const FORMATS: readonly FilesFormat[] = ['mbox', 'maildir', 'eml'];
const VARIANTS: readonly MboxVariant[] = ['mboxrd', 'mboxo'];

function mb(bytes: number): string {
  return `${(bytes / 1048576).toFixed(1)} MB`;
}

/** An option that must be one of `allowed`, or undefined when not given. */
function oneOf<T extends string>(args: ParsedArgs, name: string, allowed: readonly T[]): T | undefined {
  const v = args.options[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || !allowed.includes(v as T)) throw new MailsluiceError('CLI_USAGE', `--${name} must be one of ${allowed.join(', ')}`);
  return v as T;
}

/** What is taken so far, as numbers (the JSON line) . */
function progressFigures(p: ImportProgress): Record<string, number | string> {
  const s = p.pipeline.statuses[0];
  const parsed = p.pipeline.index.parsed + p.pipeline.index.unparsable;
  return { total: p.total, taken: s?.taken ?? 0, bytes: s?.bytes ?? 0, parsed, stage: p.pipeline.stage };
}

/** The progress line on a terminal (without the carriage return). */
function progressLine(p: ImportProgress): string {
  const f = progressFigures(p);
  return `${f.taken}/${f.total} messages taken (${mb(Number(f.bytes))}), ${f.parsed} parsed [${f.stage}]`;
}

/** An item that is not a message, as one line. */
export function problemLine(p: ImportProblem): string {
  return `${p.file} at byte ${p.offset}: ${p.reason}`;
}

/** The summary lines without `--json`. */
function summaryText(s: ImportSummary): string {
  const c = s.connections[s.connection];
  const out = [
    `${s.connection}: ${c?.taken ?? 0} of ${s.total} messages taken from ${s.path} (${s.format}, ${mb(c?.bytes ?? 0)}); the source is left as it was`,
    `parsed ${s.parsed}, unparsable ${s.unparsable}; everything read after ${(s.mailboxEmptyMs / 1000).toFixed(2)} s, indexed after ${(s.indexedMs / 1000).toFixed(2)} s`,
  ];
  for (const [name, r] of Object.entries(s.routes)) out.push(`route ${name}: ${r.delivered} delivered${r.dead > 0 ? `, ${r.dead} dead-lettered` : ''}${r.failed > 0 ? `, ${r.failed} waiting for a retry` : ''}`);
  if (s.problems.length > 0) out.push(`${s.problems.length} item${s.problems.length === 1 ? '' : 's'} skipped (not messages): see the lines above`);
  return out.join('\n') + '\n';
}

/** `mailsluice import PATH --label NAME …` */
export async function cmdImport(args: ParsedArgs, io: Io): Promise<number> {
  const path = args.positionals[0];
  if (!path || args.positionals.length > 1) throw new MailsluiceError('CLI_USAGE', 'import needs one path: mailsluice import PATH --label NAME');
  const label = args.options.label;
  if (typeof label !== 'string') throw new MailsluiceError('CLI_USAGE', 'import needs --label NAME: where the mail came from (it is archived under the connection import:NAME)');
  const format = oneOf(args, 'format', FORMATS);
  const mbox = oneOf(args, 'mbox', VARIANTS);
  const route = typeof args.options.route === 'string' ? args.options.route : undefined;
  const json = args.options.json === true;
  const onProgress = json
    ? (p: ImportProgress) => io.err(JSON.stringify({ progress: progressFigures(p) }) + '\n')
    : io.isTty
      ? (p: ImportProgress) => io.err(`\r${progressLine(p)}\x1b[K`)
      : undefined;
  const summary = await withApp(
    args,
    async (app) =>
      importMail(app, {
        path,
        label,
        ...(format ? { format } : {}),
        ...(mbox ? { mbox } : {}),
        ...(route ? { route } : {}),
        ...(onProgress ? { onProgress } : {}),
        onProblem: (p) => io.err(json ? JSON.stringify({ skipped: p }) + '\n' : `${io.isTty ? '\r\x1b[K' : ''}mailsluice: import: ${problemLine(p)}\n`),
      }),
    'import',
  );
  return finish(summary, io, json, onProgress !== undefined && !json);
}

/** Prints the summary and the failure lines; the exit status. */
function finish(summary: ImportSummary, io: Io, json: boolean, tty: boolean): number {
  if (tty) io.err('\n');
  try {
    io.out(json ? JSON.stringify(summary) + '\n' : summaryText(summary));
  } catch (err) {
    if (!(err instanceof OutputClosed)) throw err;
  }
  const failures = drainFailures(summary);
  if (summary.problems.length > 0) {
    const n = summary.problems.length;
    failures.push(new MailsluiceError('IMPORT_MESSAGES_SKIPPED', `${n} item${n === 1 ? '' : 's'} of ${summary.path} ${n === 1 ? 'is' : 'are'} not a message and ${n === 1 ? 'was' : 'were'} skipped (first: ${problemLine(summary.problems[0]!)}); everything else was imported`));
  }
  for (const e of failures) io.err(`mailsluice: ${e.code}: ${e.message}\n`);
  return failures.length > 0 ? 1 : 0;
}
