/**
 * Shared by the compactor's tests and its crash child: a real pack-file blob store and a real
 * SQLite store in one directory, seeded through the drain's own ports (put, sync, commitTaken),
 * and the compactor run as `drain` runs it (the core's schedule, stopping when nothing is left).
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { createFsBlobStore, type ArchiveKeyring, type CompactorOptions, type FsBlobStore } from '../../src/adapters/blob-fs/index.js';
import { createCompressSchedule, type CompressScheduleDeps, type CompressTotals } from '../../src/core/archive/compress-stage.js';
import { createSqliteStore, type SqliteStore } from '../../src/adapters/store-sqlite/index.js';
import type { Clock } from '../../src/core/ports/clock.js';
import type { Logger } from '../../src/core/ports/logger.js';
import type { TakenRecord, UnparsedMessage } from '../../src/core/ports/message-store.js';
import { makeMessage } from '../harness/messages.js';

export const silent: Logger = { debug() {}, info() {}, warn() {}, error() {}, child: () => silent };
export const realClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise((resolve) => {
      const t = setTimeout(resolve, ms);
      signal?.addEventListener('abort', () => {
        clearTimeout(t);
        resolve();
      });
    }),
};

export interface Archive {
  dir: string;
  blobs: FsBlobStore;
  store: SqliteStore;
  close(): Promise<void>;
}

export async function openArchive(dir: string, keyring?: ArchiveKeyring): Promise<Archive> {
  const blobs = await createFsBlobStore({ directory: join(dir, 'blobs'), ...(keyring ? { keyring } : {}) });
  const store = createSqliteStore({ file: join(dir, 'archive.db') });
  return {
    dir,
    blobs,
    store,
    async close() {
      await blobs.close();
      await store.close();
    },
  };
}

/** Message `i` of a seed: every third one large (base64 attachment, 300 KB–1.2 MB, so staged). */
export function seedMessage(i: number): Buffer {
  return makeMessage(i, { bodyBytes: 3000 + (i % 7) * 1000, attachmentBytes: i % 3 === 0 ? 220_000 + (i % 5) * 150_000 : 0 });
}

async function* one(b: Buffer): AsyncGenerator<Uint8Array> {
  // Uneven chunks, like a socket.
  for (let p = 0; p < b.length; p += 65_536) yield b.subarray(p, p + 65_536);
}

export const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** Puts and commits `count` messages through one writer, as a drain cycle does. Returns raw bytes by sha. */
export async function seed(a: Archive, count: number, start = 0): Promise<Map<string, Buffer>> {
  const w = await a.blobs.openWriter();
  const records: TakenRecord[] = [];
  const bySha = new Map<string, Buffer>();
  for (let i = start; i < start + count; i++) {
    const raw = seedMessage(i);
    const r = await w.put(one(raw), (s) => a.store.hasBlob(s));
    bySha.set(r.sha256, raw);
    records.push({
      connection: 'c',
      sourceKey: `imap:INBOX:1:${i + 1}`,
      mailbox: 'INBOX',
      uidValidity: 1,
      uid: i + 1,
      uidl: null,
      sha256: r.sha256,
      size: r.size,
      blob: r.location,
      takenAt: 0,
    });
  }
  await w.sync();
  await a.store.commitTaken(records);
  await w.close();
  return bySha;
}

/** Reads every archived message back through its current row; returns mismatches (empty when all good). */
export async function verifyAll(a: Archive, expected: Map<string, Buffer>): Promise<string[]> {
  const bad: string[] = [];
  const seen = new Set<string>();
  for await (const item of a.store.listForExport()) {
    seen.add(item.sha256);
    const want = expected.get(item.sha256);
    try {
      const got = await a.blobs.read(item.blob, item.sha256);
      if (!want || !got.equals(want)) bad.push(`${item.sha256} differs`);
    } catch (err) {
      bad.push(`${item.sha256} at ${item.blob.ref}: ${(err as Error).message}`);
    }
  }
  for (const s of expected.keys()) if (!seen.has(s)) bad.push(`${s} missing`);
  return bad;
}

/**
 * Saves a parse result for every message still waiting to be parsed (or only those `which`
 * picks), as the index stage would: the compactor waits for that.
 * Returns the ids marked.
 */
export async function markParsed(a: Archive, which: (m: UnparsedMessage) => boolean = () => true): Promise<number[]> {
  const waiting = (await a.store.listUnparsed(100_000)).filter(which);
  const attributes = { From: null, To: [], Cc: [], Bcc: [], Subject: 's', ReceivedDate: null, GlobalMessageId: '', InReplyTo: '', References: [], TextBody: '', HtmlBody: '', Attachments: [], CustomHeaders: [] };
  if (waiting.length > 0) await a.store.saveParsed(waiting.map((m) => ({ id: m.id, outcome: { ok: true as const, attributes: attributes as never } })));
  return waiting.map((m) => m.id);
}

/** Runs the compactor over `a` as a drain does: until nothing staged is left. */
export function compact(
  a: Archive,
  opts: Partial<CompressScheduleDeps> & { signal?: AbortSignal; blobs?: FsBlobStore } & CompactorOptions = {},
): Promise<CompressTotals> {
  const { signal, blobs = a.blobs, onStep, ...deps } = opts;
  const logger = deps.logger ?? silent;
  const schedule = createCompressSchedule({ clock: realClock, logger, unparsed: () => a.store.countUnparsed(), stopping: () => true, ...deps });
  return blobs.compact(schedule, logger, signal, onStep ? { onStep } : {});
}

/** The committed rows whose ref is still the staged one the drain's put returned. */
export async function stagedRows(a: Archive): Promise<Array<{ sha256: string; size: number; ref: string; storedSize: number }>> {
  const out = [];
  for await (const item of a.store.listForExport()) if (item.blob.ref.startsWith('stage-')) out.push({ sha256: item.sha256, size: item.size, ...item.blob });
  return out;
}
