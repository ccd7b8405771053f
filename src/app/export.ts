/**
 * `mailsluice export` without a running service (issue 17, item 2; docs/export.md): the messages
 * of an export selection (`core/archive/export-selection.ts`: a query's, or all) written as
 * `<sha256>.eml` files into a directory, as `archive.mbox` (mboxrd) in one, or as a zip file of
 * `<sha256>.eml` files and `manifest.jsonl` (the same bytes the API's export sends,
 * `api/export-writer.ts`). Recorded on the audit log before it reads anything (`archive.export`,
 * with the query) and after it wrote the last byte (`archive.export.done`, with the counts and
 * the manifest's hash). Whatever it writes is written under a temporary name and renamed when
 * whole, so a failed or killed export leaves no file that looks finished.
 */
import { createWriteStream, existsSync, mkdirSync } from 'node:fs';
import { chmod, open, rename, unlink } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import { openExportSelection, type ExportQuery } from '../core/archive/export-selection.js';
import type { ExportItem } from '../core/ports/archive-reader.js';
import { parseSearchQuery } from '../core/search/query-language.js';
import { MailsluiceError } from '../core/errors/index.js';
import { writeExport, type ExportTotals } from '../api/export-writer.js';
import type { EmbeddedApp } from './embedded.js';
import { recordCliAction } from './audit.js';

/** What `export` writes: files in a directory, one mbox in a directory, or a zip file. */
export type ExportFormat = 'eml' | 'mbox' | 'zip';

/** What to export, where. */
export interface ExportRequest {
  /** `eml` and `mbox`: the directory (made when missing); `zip`: the file, which must not exist. */
  out: string;
  format: ExportFormat;
  /** The mode of every file written (`--mode`). */
  mode: number;
  /** The selection as typed: `text` (`--query`, the search language) and `connection`; neither is every message. */
  query: { text?: string; connection?: string };
  /** The mode of a directory the export makes. */
  dirMode: number;
  /** Called with the messages written so far, now and then. */
  progress?: (messages: number) => void;
}

/** What an export wrote. */
export interface ExportReport {
  format: ExportFormat;
  /** The file (`zip`) or directory written, absolute. */
  out: string;
  /** `eml`: files new in the directory; `mbox`, `zip`: messages in the file. */
  written: number;
  /** `zip`: the SHA-256 of its manifest before the last line (docs/export.md). */
  manifestSha256?: string;
}

/** Where a zip export goes, checked before anything is recorded or read: a new file. */
export function zipTarget(out: string): string {
  const file = resolve(out);
  if (existsSync(file)) throw new MailsluiceError('CLI_USAGE', `--out ${out} exists: a zip export writes a new file (name another, or remove it)`);
  return file;
}

/** What the audit log keeps of an export request. */
export function exportAuditDetail(req: Pick<ExportRequest, 'out' | 'format' | 'query'>): Record<string, unknown> {
  const { text, connection } = req.query;
  return { out: resolve(req.out), format: req.format, ...(text ? { text } : {}), ...(connection ? { connection } : {}) };
}

/** Exports from the archive `app` opened (read-write: the audit log is appended to). */
export async function exportArchive(app: EmbeddedApp, req: ExportRequest): Promise<ExportReport> {
  const detail = exportAuditDetail(req);
  if (req.format === 'zip') zipTarget(req.out);
  // Read here, at the edge, against the clock (relative dates): a query that cannot be read is
  // refused before anything is recorded or written.
  const { text, connection } = req.query;
  const tree = text ? parseSearchQuery(text, { now: app.clock.now() }) : null;
  const query: ExportQuery = { ...(tree ? { query: tree } : {}), ...(connection ? { connection } : {}) };
  await recordCliAction(app, 'archive.export', detail);
  const items = await openExportSelection(app.store, query);
  let report: ExportReport;
  let totals: ExportTotals;
  if (req.format === 'eml') {
    mkdirSync(req.out, { recursive: true, mode: req.dirMode });
    const r = await writeEmlFiles(app, items, req);
    report = { format: 'eml', out: resolve(req.out), written: r.written };
    totals = r.totals;
  } else {
    const file = req.format === 'zip' ? resolve(req.out) : join(resolve(req.out), 'archive.mbox');
    mkdirSync(dirname(file), { recursive: true, mode: req.dirMode });
    const output = writeExport(req.format, counted(items, req.progress), app.blobs, { query: detail, createdAt: new Date(app.clock.now()).toISOString() });
    await writeWhole(file, output.stream, req.mode);
    totals = output.totals();
    report = { format: req.format, out: req.format === 'zip' ? file : resolve(req.out), written: totals.messages, ...(totals.manifestSha256 ? { manifestSha256: totals.manifestSha256 } : {}) };
  }
  await recordCliAction(app, 'archive.export.done', { ...detail, ...totals });
  return report;
}

/** `items`, calling `progress` with the count as they pass. */
async function* counted(items: AsyncIterable<ExportItem>, progress?: (n: number) => void): AsyncGenerator<ExportItem> {
  let n = 0;
  for await (const item of items) {
    yield item;
    progress?.(++n);
  }
}

/**
 * `source` written to `file` under a temporary name beside it, given `mode` and renamed when
 * whole; on a failure the temporary file is removed and nothing is at `file`.
 */
export async function writeWhole(file: string, source: NodeJS.ReadableStream | AsyncIterable<Uint8Array>, mode: number, through?: Transform): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    const sink = createWriteStream(tmp, { mode, flags: 'wx' });
    await (through ? pipeline(source, through, sink) : pipeline(source, sink));
    await chmod(tmp, mode);
    await rename(tmp, file);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
}

/** Each message as `<sha256>.eml` in `req.out`; one already there (same name, same bytes) kept. */
async function writeEmlFiles(app: EmbeddedApp, items: AsyncIterable<ExportItem>, req: ExportRequest): Promise<{ written: number; totals: ExportTotals }> {
  const totals: ExportTotals = { messages: 0, files: 0, bytes: 0 };
  let written = 0;
  for await (const item of items) {
    totals.messages++;
    totals.bytes += item.size;
    req.progress?.(totals.messages);
    const path = join(req.out, `${item.sha256}.eml`);
    if (existsSync(path)) {
      await chmod(path, req.mode); // same content, same name: already written (by an older version, 0644)
      continue;
    }
    // Under a temporary name, renamed when whole: a run that fails or is killed half-way leaves
    // no partial <sha256>.eml, which the next run would take as done.
    const tmp = `${path}.${process.pid}.tmp`;
    const fh = await open(tmp, 'w', req.mode);
    try {
      await fh.chmod(req.mode);
      for await (const chunk of app.blobs.stream(item.blob, item.sha256)) await fh.write(chunk);
    } catch (err) {
      await fh.close();
      await unlink(tmp).catch(() => undefined);
      throw err;
    }
    await fh.close();
    await rename(tmp, path);
    written++;
    totals.files++;
  }
  return { written, totals };
}
