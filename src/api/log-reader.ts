/**
 * Pages of a connection's JSON-lines log, newest first, read backwards from the end of the file
 * in chunks: a page costs what it shows, never the whole file, however large the log has grown.
 * The cursor is a byte offset (where the page began), so records appended meanwhile never shift
 * the pages an operator is walking back through.
 */
import { open } from 'node:fs/promises';

/** The log's levels, lowest first (`adapters/logger-jsonl`). */
export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevelName = (typeof LOG_LEVELS)[number];

/** Bytes read per step backwards. */
const CHUNK_BYTES = 64 * 1024;
/**
 * Bytes one page may scan: a rare `level` in a large log ends a page short, with a `next` to go
 * on from, instead of reading the whole file for one request.
 */
const MAX_SCAN_BYTES = 8 * 1024 * 1024;

/** What a page asks for. */
export interface LogPageRequest {
  /** The byte offset the page ends before (the `next` of the page before); absent: the end of the file. */
  before?: number;
  limit: number;
  /** Only records at this level or above. */
  level?: LogLevelName;
}

/** A page: records newest first, and the offset of the next (older) page, null at the file's start. */
export interface LogPage {
  records: Record<string, unknown>[];
  next: string | null;
}

function parseLine(line: string): Record<string, unknown> {
  try {
    const r: unknown = JSON.parse(line);
    if (r && typeof r === 'object' && !Array.isArray(r)) return r as Record<string, unknown>;
  } catch {
    // Not JSON (a line cut by a crash): shown as it is.
  }
  return { line };
}

function admits(record: Record<string, unknown>, level: LogLevelName | undefined): boolean {
  if (!level) return true;
  const at = LOG_LEVELS.indexOf(record.level as LogLevelName);
  return at >= LOG_LEVELS.indexOf(level);
}

/** A page of the log at `file`; a file that does not exist is an empty log. */
export async function readLogPage(file: string, req: LogPageRequest): Promise<LogPage> {
  const fh = await open(file, 'r').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return null;
    throw err;
  });
  if (!fh) return { records: [], next: null };
  try {
    const size = (await fh.stat()).size;
    // A cursor past the end: the log was rotated or cut since; start again from its end.
    let pos = Math.min(req.before ?? size, size);
    let carry: Buffer = Buffer.alloc(0);
    let scanned = 0;
    const records: Record<string, unknown>[] = [];
    while (pos > 0 && scanned < MAX_SCAN_BYTES) {
      const n = Math.min(CHUNK_BYTES, pos);
      pos -= n;
      scanned += n;
      const chunk = Buffer.alloc(n);
      await fh.read(chunk, 0, n, pos);
      const data = Buffer.concat([chunk, carry]);
      // Bytes before the first newline may belong to a line that began in an earlier chunk.
      const firstNl = data.indexOf(10);
      if (pos > 0 && firstNl < 0) {
        carry = data;
        continue;
      }
      const cut = pos === 0 ? 0 : firstNl + 1;
      carry = data.subarray(0, cut);
      const lines = data.subarray(cut).toString('utf8').split('\n');
      // Offsets of the lines, to hand the start of the oldest shown back as the cursor.
      let offset = pos + data.length;
      for (let i = lines.length - 1; i >= 0; i--) {
        const line = lines[i]!;
        offset -= Buffer.byteLength(line) + (i < lines.length - 1 ? 1 : 0);
        if (!line.trim()) continue;
        const record = parseLine(line);
        if (!admits(record, req.level)) continue;
        records.push(record);
        if (records.length === req.limit) return { records, next: offset > 0 ? String(offset) : null };
      }
      // Everything from here on was looked at: a page cut short by the scan limit goes on from here.
      if (scanned >= MAX_SCAN_BYTES) return { records, next: pos + cut > 0 ? String(pos + cut) : null };
    }
    return { records, next: pos + carry.length > 0 && pos > 0 ? String(pos + carry.length) : null };
  } finally {
    await fh.close();
  }
}
