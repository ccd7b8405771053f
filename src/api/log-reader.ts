/**
 * Pages of a connection's JSON-lines log, newest first, read backwards from the end of the file
 * in chunks: a page costs what it shows, never the whole file, however large the log has grown.
 * The cursor is a byte offset (where the page began), so records appended meanwhile never shift
 * the pages an operator is walking back through. The rotated files (`<name>.log.1` the newest
 * … `.N`, `logging.keepFiles`) follow the current one: paging goes on into them (the cursor then
 * names the file, `<n>:<offset>`), and the download is all of them, oldest first.
 */
import { open, stat, type FileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';

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

/** The most rotated files looked for (`logging.keepFiles` is at most 1000). */
const MAX_ROTATED = 1000;

/** The file of generation `n`: the current log (0) or its `n`th rotated file (1 the newest). */
function generation(file: string, n: number): string {
  return n === 0 ? file : `${file}.${n}`;
}

/** How many rotated files `file` has (`.1`, `.2`, … up to the first missing). */
async function rotatedCount(file: string): Promise<number> {
  let n = 0;
  while (n < MAX_ROTATED && (await stat(generation(file, n + 1)).then(() => true, () => false))) n++;
  return n;
}

/** A cursor of {@link readKeptLogPage}: `<offset>` in the current file, `<n>:<offset>` in rotated file n (`<n>:` its end). */
export const KEPT_LOG_CURSOR = /^(?:[0-9]{1,15}|[0-9]{1,4}:[0-9]{0,15})$/;

function parseCursor(cursor: string | undefined): { gen: number; before?: number } {
  if (cursor === undefined) return { gen: 0 };
  const [a, b] = cursor.includes(':') ? cursor.split(':') : ['0', cursor];
  return { gen: Number(a), ...(b ? { before: Number(b) } : {}) };
}

const cursorOf = (gen: number, offset: string | number | null): string => (gen === 0 ? String(offset) : `${gen}:${offset ?? ''}`);

/**
 * A page of the whole kept log of `file`: the current file, then its rotated files, newest
 * record first. A rotation between two pages moves the files under the cursor by one: the next
 * page may then show some records again or pass some, never fail.
 */
export async function readKeptLogPage(file: string, req: { cursor?: string; limit: number; level?: LogLevelName }): Promise<LogPage> {
  let { gen, before } = parseCursor(req.cursor);
  const rotated = await rotatedCount(file);
  const records: Record<string, unknown>[] = [];
  while (gen <= rotated) {
    const page = await readLogPage(generation(file, gen), { limit: req.limit - records.length, ...(before !== undefined ? { before } : {}), ...(req.level ? { level: req.level } : {}) });
    records.push(...page.records);
    if (page.next !== null) return { records, next: cursorOf(gen, page.next) };
    // This file is read to its start: the next older one goes on.
    gen++;
    before = undefined;
    if (records.length === req.limit) return { records, next: gen <= rotated ? cursorOf(gen, null) : null };
  }
  return { records, next: null };
}

/** The whole kept log as one stream, oldest file first, and its length in bytes. */
export interface KeptLog {
  size: number;
  /** Null when there is nothing to read. */
  stream: ReadableStream<Uint8Array> | null;
}

/**
 * Opens every kept file of `file` (rotated ones oldest first, then the current one) before
 * measuring them: a rotation while the download streams renames the files under open handles,
 * which still read what they had, so the download is the log as of the request, whole.
 */
export async function openKeptLog(file: string): Promise<KeptLog> {
  const rotated = await rotatedCount(file);
  const handles: Array<{ fh: FileHandle; size: number }> = [];
  try {
    for (let gen = rotated; gen >= 0; gen--) {
      const fh = await open(generation(file, gen), 'r').catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') return null;
        throw err;
      });
      if (fh) handles.push({ fh, size: (await fh.stat()).size });
    }
  } catch (err) {
    await Promise.all(handles.map((h) => h.fh.close()));
    throw err;
  }
  const size = handles.reduce((n, h) => n + h.size, 0);
  if (size === 0) {
    await Promise.all(handles.map((h) => h.fh.close()));
    return { size, stream: null };
  }
  async function* chunks(): AsyncGenerator<Buffer> {
    try {
      for (const h of handles) {
        // Up to the size at the request, so the length holds while records are appended.
        if (h.size > 0) yield* h.fh.createReadStream({ start: 0, end: h.size - 1, autoClose: false });
      }
    } finally {
      await Promise.all(handles.map((h) => h.fh.close().catch(() => undefined)));
    }
  }
  return { size, stream: Readable.toWeb(Readable.from(chunks())) as ReadableStream<Uint8Array> };
}
