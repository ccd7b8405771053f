/**
 * `mailsluice export verify FILE.zip` (docs/export.md): a recipient's check of a zip export
 * against its own manifest, with no archive: every `<sha256>.eml` hashes to its name and is the
 * size the manifest says, every file the manifest names is there and no other, the counts of the
 * manifest's last line hold, and `manifestSha256` is the hash of the manifest before that line
 * (so it can be compared with the one the sender printed and its audit log keeps). Each problem
 * is named; the messages are read one at a time from the file, never whole.
 */
import { createHash } from 'node:crypto';
import { open, type FileHandle } from 'node:fs/promises';
import { MailsluiceError } from '../core/errors/index.js';
// From the core, not the writer: a verify (and `search`, through service-commands) loads no zip writer.
import { MANIFEST_NAME, MANIFEST_VERSION } from '../core/archive/export-selection.js';
import { zipEntries, type ZipEntry } from './zip-entries.js';

/** What the check found. */
export interface ExportVerdict {
  ok: boolean;
  /** Manifest lines of messages, distinct files, their bytes (as the manifest counts them). */
  messages: number;
  files: number;
  bytes: number;
  /** The manifest's hash as computed here (null when there is no manifest to hash). */
  manifestSha256: string | null;
  /** What the manifest's first line says was asked. */
  query: Record<string, unknown> | null;
  /** Each problem, a sentence naming its file. */
  problems: string[];
}

const EML = /^([0-9a-f]{64})\.eml$/;

type Line = { file?: unknown; sha256?: unknown; archiveId?: unknown; size?: unknown };
type End = { end?: unknown; messages?: unknown; files?: unknown; bytes?: unknown; manifestSha256?: unknown };

/** Reads the stored entry `e` whole (the manifest: small beside the messages). */
async function readEntry(fh: FileHandle, e: ZipEntry): Promise<Buffer> {
  const buf = Buffer.alloc(e.size);
  const { bytesRead } = await fh.read(buf, 0, e.size, e.start);
  if (bytesRead !== e.size) throw new MailsluiceError('EXPORT_INVALID', `${e.name} ends early: the zip is cut short`);
  return buf;
}

/** The SHA-256 of a stored entry's bytes, read in pieces. */
async function hashEntry(fh: FileHandle, e: ZipEntry): Promise<string> {
  const hash = createHash('sha256');
  const piece = Buffer.alloc(Math.min(e.size, 1 << 20) || 1);
  for (let at = 0; at < e.size; ) {
    const { bytesRead } = await fh.read(piece, 0, Math.min(piece.length, e.size - at), e.start + at);
    if (bytesRead === 0) throw new MailsluiceError('EXPORT_INVALID', `${e.name} ends early: the zip is cut short`);
    hash.update(piece.subarray(0, bytesRead));
    at += bytesRead;
  }
  return hash.digest('hex');
}

/** The manifest's lines checked against themselves: what files it names, with their sizes. */
function readManifest(text: Buffer, verdict: ExportVerdict): Map<string, number> {
  const files = new Map<string, number>();
  const body = text.toString('utf8');
  const lastStart = body.lastIndexOf('\n', body.length - 2) + 1;
  const lines = body.slice(0, lastStart).split('\n').filter((l) => l !== '');
  const problem = (s: string): number => verdict.problems.push(`${MANIFEST_NAME}: ${s}`);
  let end: End = {};
  try {
    end = JSON.parse(body.slice(lastStart)) as End;
    const header = JSON.parse(lines.shift() ?? 'null') as { mailsluiceExport?: unknown; query?: Record<string, unknown> } | null;
    if (header?.mailsluiceExport !== MANIFEST_VERSION) problem(`its first line is not a mailsluice export manifest of version ${MANIFEST_VERSION}`);
    verdict.query = header?.query ?? null;
  } catch {
    problem('its first or last line is not JSON: it was changed or cut short');
  }
  verdict.manifestSha256 = createHash('sha256').update(text.subarray(0, Buffer.byteLength(body.slice(0, lastStart)))).digest('hex');
  if (end.end !== true) problem('its last line is not the end line: it was cut short');
  else if (end.manifestSha256 !== verdict.manifestSha256) problem(`its lines hash to ${verdict.manifestSha256}, not to the manifestSha256 of its last line (${String(end.manifestSha256)}): lines were changed, added or removed`);
  for (const [i, raw] of lines.entries()) {
    let m: Line;
    try {
      m = JSON.parse(raw) as Line;
    } catch {
      problem(`line ${i + 2} is not JSON`);
      continue;
    }
    const sha = typeof m.sha256 === 'string' ? m.sha256 : '';
    if (m.file !== `${sha}.eml` || m.archiveId !== sha || !EML.test(String(m.file)) || typeof m.size !== 'number') {
      problem(`line ${i + 2} does not name a message as <sha256>.eml with its archiveId and size`);
      continue;
    }
    verdict.messages++;
    verdict.bytes += m.size;
    if (!files.has(m.file)) files.set(m.file, m.size);
  }
  verdict.files = files.size;
  if (end.end === true && (end.messages !== verdict.messages || end.files !== verdict.files || end.bytes !== verdict.bytes)) {
    problem(`its last line counts ${String(end.messages)} messages, ${String(end.files)} files, ${String(end.bytes)} bytes; its lines ${verdict.messages}, ${verdict.files}, ${verdict.bytes}`);
  }
  return files;
}

/** Checks the zip export at `path` (docs/export.md, "Verifying an export"). */
export async function verifyExportZip(path: string): Promise<ExportVerdict> {
  const verdict: ExportVerdict = { ok: false, messages: 0, files: 0, bytes: 0, manifestSha256: null, query: null, problems: [] };
  const fh = await open(path, 'r').catch((err: unknown) => {
    throw new MailsluiceError('CLI_USAGE', `cannot read ${path}: ${err instanceof Error ? err.message : String(err)}`);
  });
  try {
    let entries: ZipEntry[];
    try {
      entries = await zipEntries(fh);
    } catch (err) {
      throw new MailsluiceError('EXPORT_INVALID', `${path} is not a zip this command can read (${err instanceof Error ? err.message : String(err)})`);
    }
    const manifest = entries.find((e) => e.name === MANIFEST_NAME);
    if (!manifest || !manifest.stored) {
      verdict.problems.push(`no ${MANIFEST_NAME} stored in the zip: not a mailsluice export, or it was repacked`);
      return verdict;
    }
    const expected = readManifest(await readEntry(fh, manifest), verdict);
    const found = new Set<string>();
    for (const e of entries) {
      if (e === manifest) continue;
      if (!expected.has(e.name)) verdict.problems.push(`${e.name}: in the zip but not in the manifest`);
      if (found.has(e.name)) verdict.problems.push(`${e.name}: in the zip twice`);
      found.add(e.name);
      const m = EML.exec(e.name);
      if (!m) continue;
      if (!e.stored) {
        verdict.problems.push(`${e.name}: compressed or encrypted, not stored as exported (repacked?)`);
        continue;
      }
      const sha = await hashEntry(fh, e);
      if (sha !== m[1]) verdict.problems.push(`${e.name}: its bytes hash to ${sha}, not to its name`);
      else if (expected.has(e.name) && expected.get(e.name) !== e.size) verdict.problems.push(`${e.name}: ${e.size} bytes, the manifest says ${expected.get(e.name)}`);
    }
    for (const name of expected.keys()) if (!found.has(name)) verdict.problems.push(`${name}: in the manifest but not in the zip`);
    verdict.ok = verdict.problems.length === 0;
    return verdict;
  } finally {
    await fh.close();
  }
}
