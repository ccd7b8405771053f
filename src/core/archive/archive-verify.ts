/**
 * Verification of the archive (issue 16, item 5; ADR 0031): the domain's side of `mailsluice
 * verify`, `verify --repair` and the background scrub. The blob store is read back whole through
 * a {@link BlobScanner} (every record, in disk order, each checked by the store), then held against
 * the metadata ({@link ArchiveIndexCheck}); this module decides what is a problem and names it by
 * the messages it touches. It changes nothing but, for `repair`, the index rows it adds.
 *
 * What is a problem:
 * - `blob-corrupt`: an archived message's blob is there but fails a check (checksum, it does not
 *   decompress, its length, or its SHA-256 is not its address). Cannot be repaired: the raw store
 *   is the truth, and that truth is damaged.
 * - `blob-missing`: an archived message's blob has no catalogue row, or no readable record where
 *   its row says. Repairable only when its catalogue row is what was lost and the packs hold
 *   the blob intact (repair writes the row again); otherwise not.
 * - `orphan-blob`: an intact blob no archived message refers to (its index row was lost). Repair
 *   indexes it again from its raw bytes.
 * - `damaged-record`: a damaged record or stretch of a pack that no catalogue row points at (it
 *   may have held a blob whose rows were lost too). Reported; nothing to repair from.
 * Not problems: the torn tail of a pack (a write a crash cut short, never referenced: the store's
 * own guarantee), and a second intact copy of a blob whose row points at another.
 */
import type { ArchiveIndexCheck, BlobScanner, BlobScanOptions, CatalogueRow, DamagedStretch, IndexedMessage, ScannedBlob } from '../ports/archive-check.js';
import type { Clock } from '../ports/clock.js';

/** The connection name a repaired message is archived under: no configured connection can have it, so no route takes it again. */
export const REPAIRED_CONNECTION = '(repaired)';

/** What kind of problem. */
export type VerifyProblemKind = 'blob-corrupt' | 'blob-missing' | 'orphan-blob' | 'damaged-record';

/** An archived message as a report names it. */
export interface MessageNamed {
  id: number;
  connection: string;
  messageId: string | null;
  subject: string | null;
}

/** One thing wrong, named by its archive id (the blob's SHA-256) and the messages of it. */
export interface VerifyProblem {
  kind: VerifyProblemKind;
  /** The blob's SHA-256 (the archive id); null for damage no row names. */
  archiveId: string | null;
  /** Where (a blob ref), when known. */
  ref: string | null;
  /** What is wrong, in a sentence. */
  detail: string;
  /** The archived messages it touches (empty for an orphan or damage). */
  messages: MessageNamed[];
  /** Whether `--repair` can set it right (only an orphan blob). */
  repairable: boolean;
  /** An orphan's blob as the scan found it: what a repair indexes. */
  blob?: CatalogueRow;
  /** Set by a repair: the new index row's id. */
  repairedAs?: number;
}

/** What a verification found. */
export interface VerifyReport {
  /** No problem left (after a repair: none it could not set right). */
  ok: boolean;
  startedAt: string;
  seconds: number;
  /** Packs read, records seen, bytes read from disk and their rate. */
  containers: number;
  records: number;
  bytesRead: number;
  rawBytes: number;
  mbPerSecond: number;
  /** Catalogue rows and archived messages (index rows) checked. */
  catalogueRows: number;
  messages: number;
  /** Rows written after the scan began, not judged. */
  newerThanScan: number;
  /** Second intact copies of a blob whose row points at another (not a problem). */
  duplicates: number;
  /** Torn pack tails (not a problem). */
  tornTails: number;
  problems: VerifyProblem[];
  /** Present after `--repair`. */
  repair?: { reindexed: number; left: number };
}

/**
 * Rows read per page of the catalogue and of the messages: small enough that one page's query
 * and judging take a few milliseconds of a running service's event loop, large enough that a
 * 100,000-message archive is 50 pages a pass.
 */
export const VERIFY_PAGE_ROWS = 2000;

/** What a verification needs. */
export interface VerifyDeps {
  scanner: BlobScanner;
  index: ArchiveIndexCheck;
  clock: Clock;
  /** Rows per page of the index reads (default {@link VERIFY_PAGE_ROWS}; tests make it small). */
  pageRows?: number;
}

/** A record as the scan left it, by ref (the sha, and the problem when there is one). */
interface Seen {
  sha256: string | null;
  size: number;
  storedSize: number;
  problem: string | null;
  /** A catalogue row points here. */
  referenced: boolean;
}

function named(m: IndexedMessage): MessageNamed {
  return { id: m.id, connection: m.connection, messageId: m.messageId, subject: m.subject };
}

/** The sentence for a ref with no intact record, naming a damaged stretch it falls in. */
function notFound(ref: string, damaged: DamagedStretch[]): string {
  const [container, offset] = ref.split(':');
  const at = Number(offset);
  const d = damaged.find((s) => s.container === container && at >= s.from && at < s.to);
  return d ? `no record can be read at ${ref}: ${d.why}` : `no record at ${ref} (its pack or its record is gone)`;
}

/** Holds each catalogue row against the record at its ref; what does not hold is a problem. */
async function judgeCatalogue(deps: VerifyDeps, rows: CatalogueRow[], seen: Map<string, Seen>, damaged: DamagedStretch[], out: VerifyProblem[]): Promise<number> {
  let newer = 0;
  for (const row of rows) {
    const at = await deps.scanner.resolve(row.ref);
    // A record the compactor moved during the scan: judged where the scan saw it.
    const s = seen.get(at) ?? seen.get(row.ref);
    if (!s) {
      if (deps.scanner.newerThanScan(at)) newer++;
      else out.push({ kind: 'blob-missing', archiveId: row.sha256, ref: row.ref, detail: notFound(at, damaged), messages: [], repairable: false });
      continue;
    }
    s.referenced = true;
    if (s.problem !== null) out.push({ kind: 'blob-corrupt', archiveId: row.sha256, ref: at, detail: s.problem, messages: [], repairable: false });
    else if (s.sha256 !== row.sha256) out.push({ kind: 'blob-corrupt', archiveId: row.sha256, ref: at, detail: `the record at ${at} holds blob ${s.sha256}, not this one`, messages: [], repairable: false });
  }
  return newer;
}

/**
 * Records no catalogue row points at: an intact one whose blob has no row at all is an orphan
 * (repairable), one with a row elsewhere a duplicate; a damaged one is damage.
 */
function judgeUnreferenced(seen: Map<string, Seen>, catalogued: Set<string>, out: VerifyProblem[]): { duplicates: number; orphans: Map<string, CatalogueRow> } {
  let duplicates = 0;
  const orphans = new Map<string, CatalogueRow>();
  for (const [ref, s] of seen) {
    if (s.referenced) continue;
    if (s.problem !== null || s.sha256 === null) {
      out.push({ kind: 'damaged-record', archiveId: null, ref, detail: s.problem ?? 'unreadable record', messages: [], repairable: false });
    } else if (catalogued.has(s.sha256) || orphans.has(s.sha256)) duplicates++;
    else orphans.set(s.sha256, { sha256: s.sha256, ref, size: s.size, storedSize: s.storedSize });
  }
  return { duplicates, orphans };
}

/** `items` in chunks of at most `size`. */
function* chunks<T>(items: Iterable<T>, size: number): Generator<T[]> {
  let chunk: T[] = [];
  for (const item of items) {
    chunk.push(item);
    if (chunk.length === size) {
      yield chunk;
      chunk = [];
    }
  }
  if (chunk.length > 0) yield chunk;
}

/** The catalogue a page at a time, each row held against the scan: the hashes catalogued, the rows read, those newer than the scan. */
async function cataloguePass(deps: VerifyDeps, limit: number, signal: AbortSignal | undefined, seen: Map<string, Seen>, damaged: DamagedStretch[], out: VerifyProblem[]): Promise<{ catalogued: Set<string>; rows: number; newer: number }> {
  const catalogued = new Set<string>();
  let rows = 0;
  let newer = 0;
  for (let after: string | null = null; ; ) {
    // A scrub stopped with the service stops between pages too, as the scan does: the caller
    // knows its signal, and a pass cut short says nothing.
    if (signal?.aborted) return { catalogued, rows, newer };
    const page = await deps.index.cataloguePage(after, limit);
    newer += await judgeCatalogue(deps, page, seen, damaged, out);
    for (const r of page) catalogued.add(r.sha256);
    rows += page.length;
    if (page.length < limit) return { catalogued, rows, newer };
    after = page[page.length - 1]!.sha256;
  }
}

/** The messages a page at a time: how many, the blobs that have one, and those whose blob the catalogue pass did not see. */
async function messagesPass(deps: VerifyDeps, limit: number, signal: AbortSignal | undefined, catalogued: Set<string>): Promise<{ count: number; withMessage: Set<string>; uncatalogued: IndexedMessage[] }> {
  const withMessage = new Set<string>();
  const uncatalogued: IndexedMessage[] = [];
  let count = 0;
  for (let after = 0; ; ) {
    if (signal?.aborted) return { count, withMessage, uncatalogued };
    const page = await deps.index.messagesPage(after, limit);
    for (const m of page) {
      withMessage.add(m.sha256);
      if (!catalogued.has(m.sha256)) uncatalogued.push(m);
    }
    count += page.length;
    if (page.length < limit) return { count, withMessage, uncatalogued };
    after = page[page.length - 1]!.id;
  }
}

/** The catalogue rows of `sha256s` that exist now, asked a page of hashes at a time. */
async function rowsNow(deps: VerifyDeps, sha256s: Iterable<string>, limit: number): Promise<Map<string, CatalogueRow>> {
  const found = new Map<string, CatalogueRow>();
  for (const chunk of chunks(sha256s, limit)) for (const r of await deps.index.catalogueRowsOf(chunk)) found.set(r.sha256, r);
  return found;
}

/** The hashes of `sha256s` that have an archived message now, asked a page at a time. */
async function indexedNow(deps: VerifyDeps, sha256s: Iterable<string>, limit: number): Promise<Set<string>> {
  const found = new Set<string>();
  for (const chunk of chunks(sha256s, limit)) for (const m of await deps.index.messagesOf(chunk)) found.add(m.sha256);
  return found;
}

/** Of `sha256s`, the blobs a purge released (their records wait for compaction), asked a page at a time. */
async function purgedNow(deps: VerifyDeps, sha256s: Iterable<string>, limit: number): Promise<Set<string>> {
  const found = new Set<string>();
  if (!deps.index.purged) return found;
  for (const chunk of chunks(sha256s, limit)) for (const sha of await deps.index.purged(chunk)) found.add(sha);
  return found;
}

/** The hashes of `catalogued` that no message of the messages pass refers to. */
function* withoutMessage(catalogued: Set<string>, withMessage: Set<string>): Generator<string> {
  for (const sha of catalogued) if (!withMessage.has(sha)) yield sha;
}

/**
 * Reads the whole archive back and reports what is wrong, by message. Changes nothing. Memory:
 * one small entry per record (its ref, hash and verdict) and a hash per catalogue row and per
 * message, never a blob's bytes; the index is read a page at a time ({@link VERIFY_PAGE_ROWS}).
 */
export async function verifyArchive(deps: VerifyDeps, options: BlobScanOptions = {}): Promise<VerifyReport> {
  const started = deps.clock.now();
  const limit = Math.max(1, deps.pageRows ?? VERIFY_PAGE_ROWS);
  const seen = new Map<string, Seen>();
  // The scan first, then the rows: a row committed during the scan points at a record the scan
  // may not have seen, and is counted `newerThanScan` instead of missing.
  const totals = await deps.scanner.scan((b: ScannedBlob) => {
    seen.set(b.ref, { sha256: b.sha256, size: b.size, storedSize: b.storedSize, problem: b.problem, referenced: false });
  }, options);
  const problems: VerifyProblem[] = [];
  const { catalogued, rows, newer } = await cataloguePass(deps, limit, options.signal, seen, totals.damaged, problems);
  const { duplicates, orphans } = judgeUnreferenced(seen, catalogued, problems);
  for (const d of totals.damaged) {
    if (!d.tail) problems.push({ kind: 'damaged-record', archiveId: null, ref: `${d.container}:${d.from}`, detail: `bytes ${d.from} to ${d.to} of ${d.container} are not records: ${d.why}`, messages: [], repairable: false });
  }
  const messages = await messagesPass(deps, limit, options.signal, catalogued);
  // Rows of the catalogue no message refers to: their blob is an orphan too, if it is intact.
  const problemShas = new Set(problems.map((p) => p.archiveId));
  for (const row of (await rowsNow(deps, withoutMessage(catalogued, messages.withMessage), limit)).values()) {
    if (!problemShas.has(row.sha256)) orphans.set(row.sha256, row);
  }
  // A second look: a blob whose message was committed while this ran is not an orphan; one whose
  // message is there but whose catalogue row is gone is that message's blob, found again.
  const indexedSince = await indexedNow(deps, orphans.keys(), limit);
  // Purged (docs/retention.md): the record waits for compaction; neither an orphan nor repairable.
  const purged = await purgedNow(deps, [...orphans.keys()].filter((sha) => !indexedSince.has(sha) && !catalogued.has(sha)), limit);
  const foundAgain = new Map<string, CatalogueRow>();
  for (const [sha, row] of orphans) {
    if (purged.has(sha)) continue;
    if (indexedSince.has(sha)) {
      if (!catalogued.has(sha)) foundAgain.set(sha, row);
      continue;
    }
    const why = catalogued.has(sha) ? 'its catalogue row is there' : 'it has no catalogue row either';
    problems.push({ kind: 'orphan-blob', archiveId: sha, ref: row.ref, detail: `an intact blob of ${row.size} bytes no archived message refers to (${why})`, messages: [], repairable: true, blob: row });
  }
  // Messages whose blob had no row in the catalogue pass, unless the row was committed since.
  const rowsSince = await rowsNow(deps, new Set(messages.uncatalogued.map((m) => m.sha256)), limit);
  problems.push(...uncatalogued(messages.uncatalogued.filter((m) => !rowsSince.has(m.sha256)), foundAgain));
  await nameMessages(deps.index, problems, limit);
  const seconds = Math.max(0.001, (deps.clock.now() - started) / 1000);
  return {
    ok: problems.length === 0,
    startedAt: new Date(started).toISOString(),
    seconds: Math.round(seconds * 1000) / 1000,
    containers: totals.containers,
    records: totals.records,
    bytesRead: totals.bytesRead,
    rawBytes: totals.rawBytes,
    mbPerSecond: Math.round((totals.bytesRead / 1048576 / seconds) * 10) / 10,
    catalogueRows: rows,
    messages: messages.count,
    newerThanScan: newer,
    duplicates,
    tornTails: totals.damaged.filter((d) => d.tail).length,
    problems,
  };
}

/** One `blob-missing` per blob of messages without a catalogue row; repairable when the scan found the blob intact. */
function uncatalogued(messages: IndexedMessage[], foundAgain: Map<string, CatalogueRow>): VerifyProblem[] {
  const bySha = new Map<string, IndexedMessage[]>();
  for (const m of messages) bySha.set(m.sha256, [...(bySha.get(m.sha256) ?? []), m]);
  return [...bySha].map(([sha, ms]) => {
    const blob = foundAgain.get(sha);
    const detail = blob ? `its blob has no catalogue row; the blob lies intact at ${blob.ref}` : 'its blob has no catalogue row, and the packs hold no intact copy';
    return { kind: 'blob-missing', archiveId: sha, ref: blob?.ref ?? null, detail, messages: ms.map(named), repairable: blob !== undefined, ...(blob ? { blob } : {}) };
  });
}

/** Fills in the messages of each problem that names a blob and has none yet. */
async function nameMessages(index: ArchiveIndexCheck, problems: VerifyProblem[], limit: number): Promise<void> {
  const wanted = problems.filter((p) => p.archiveId !== null && p.messages.length === 0 && p.kind !== 'orphan-blob');
  for (let i = 0; i < wanted.length; i += limit) {
    const part = wanted.slice(i, i + limit);
    const found = await index.messagesOf(part.map((p) => p.archiveId!));
    for (const p of part) p.messages = found.filter((m) => m.sha256 === p.archiveId).map(named);
  }
}

/**
 * `--repair`: the raw store is the truth, so an intact blob no message refers to is archived
 * again (catalogue row if missing, a message row under {@link REPAIRED_CONNECTION} queued for the
 * parse, which indexes it), and a message whose catalogue row is lost gets it back pointing at
 * the intact blob the scan found. Every other problem is left as it is and stays in the report.
 */
export async function repairArchive(index: ArchiveIndexCheck, report: VerifyReport, now: number): Promise<VerifyReport> {
  let reindexed = 0;
  for (const p of report.problems) {
    if (!p.repairable || !p.blob) continue;
    const id = await index.reindex(p.blob, REPAIRED_CONNECTION, now);
    if (id !== null) {
      p.repairedAs = id;
      reindexed++;
    }
  }
  const left = report.problems.filter((p) => p.repairedAs === undefined).length;
  return { ...report, ok: left === 0, repair: { reindexed, left } };
}

/** The exit status of `mailsluice verify`: 0 when nothing is (left) wrong, 1 otherwise. */
export function verifyExitCode(report: VerifyReport): 0 | 1 {
  return report.ok ? 0 : 1;
}

/** A problem in one line, naming its messages (`mailsluice verify`, the scrub's log). */
export function problemLine(p: VerifyProblem): string {
  const msgs = p.messages.map((m) => `message ${m.id} (${m.connection}${m.messageId ? `, Message-ID ${m.messageId}` : ''})`).join(', ');
  const what = p.archiveId ? `archive id ${p.archiveId}` : (p.ref ?? 'the store');
  const fixed = p.repairedAs !== undefined ? `; re-indexed as message ${p.repairedAs}` : '';
  return `${p.kind}: ${what}${msgs ? `: ${msgs}` : ''}: ${p.detail}${fixed}`;
}
