/**
 * Shared by the reclaim tests and their crash child (ADR 0036): an archive seeded in several
 * packs (staged large bodies compacted, so some rows read through staging redirects), a purge of
 * half of it as h/retention's purge does it (messages rows, then the catalogue rows no message
 * refers to; the bytes stay in the packs), and a reclaim run wired as the app wires it.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { FsBlobScanner, FsPackRewriter, type ReclaimCopyStep } from '../../src/adapters/blob-fs/index.js';
import { verifyArchive, type VerifyReport } from '../../src/core/archive/archive-verify.js';
import type { ReclaimPurpose, ReclaimTotals } from '../../src/core/archive/pack-reclaim.js';
import { runReclaim, type ReclaimAppStep } from '../../src/app/reclaim-space.js';
import { compact, markParsed, realClock, seed, silent, type Archive } from './compactor-fixture.js';

/** Seeds `packs` packs of `perPack` messages (one writer each), compacts the staged bodies. */
export async function seedPacks(a: Archive, packs: number, perPack: number): Promise<Map<string, Buffer>> {
  const all = new Map<string, Buffer>();
  for (let p = 0; p < packs; p++) for (const [k, v] of await seed(a, perPack, p * perPack)) all.set(k, v);
  await markParsed(a);
  await compact(a);
  return all;
}

/**
 * Simulates h/retention's purge: deletes the messages rows of every other message (by id), then
 * the `blobs` rows no message refers to any more. Returns the live and the purged blobs.
 */
export function purgeHalf(a: Archive, all: Map<string, Buffer>): { live: Map<string, Buffer>; purged: Set<string> } {
  const db = a.store.connection().db;
  db.transaction(() => {
    db.prepare('DELETE FROM deliveries WHERE message_id IN (SELECT id FROM messages WHERE id % 2 = 0)').run();
    db.prepare('DELETE FROM source_keys WHERE message_id IN (SELECT id FROM messages WHERE id % 2 = 0)').run();
    db.prepare('DELETE FROM messages WHERE id % 2 = 0').run();
    db.prepare('DELETE FROM blobs WHERE sha256 NOT IN (SELECT sha256 FROM messages)').run();
  })();
  const kept = new Set((db.prepare('SELECT sha256 FROM blobs').all() as Array<{ sha256: string }>).map((r) => r.sha256));
  const live = new Map([...all].filter(([k]) => kept.has(k)));
  const purged = new Set([...all.keys()].filter((k) => !kept.has(k)));
  return { live, purged };
}

/** A reclaim run over `a` as the app wires it, waiting for nothing (no writer runs beside it). */
export function reclaim(
  a: Archive,
  purpose: ReclaimPurpose = 'space',
  onStep?: (step: ReclaimAppStep | ReclaimCopyStep, pack: string) => void,
  deadFraction?: number,
): Promise<ReclaimTotals> {
  return runReclaim(
    {
      catalogue: a.store.blobRefs,
      rewriter: new FsPackRewriter(a.blobs, silent, onStep),
      clock: realClock,
      logger: silent,
      quietMs: 0,
      redirectKeepMs: 0,
      ...(onStep ? { onStep } : {}),
      ...(deadFraction !== undefined ? { deadFraction } : {}),
    },
    purpose,
  );
}

/** `mailsluice verify` over `a`. */
export function verifyReport(a: Archive): Promise<VerifyReport> {
  return verifyArchive({ scanner: new FsBlobScanner(a.blobs), index: a.store.check, clock: realClock });
}

/** The problems of a report other than the records of purged blobs not reclaimed yet (what a purge leaves until the packs are rewritten). */
export function problemsBesidesPurged(r: VerifyReport, purged: Set<string>): string[] {
  return r.problems.filter((p) => !(p.kind === 'orphan-blob' && p.archiveId !== null && purged.has(p.archiveId))).map((p) => `${p.kind} ${p.archiveId} ${p.detail}`);
}

/** Bytes of the blob directory's pack and redirect files. */
export async function blobBytes(a: Archive): Promise<number> {
  let n = 0;
  for (const f of await readdir(join(a.dir, 'blobs'))) if (/\.(mspack|redirect)$/.test(f)) n += (await stat(join(a.dir, 'blobs', f))).size;
  return n;
}

/** The blob files holding any of `needles` in clear (their names). */
export async function filesHolding(dir: string, needles: string[]): Promise<string[]> {
  const hits: string[] = [];
  for (const f of await readdir(dir)) {
    const bytes = await readFile(join(dir, f));
    if (needles.some((n) => bytes.includes(n))) hits.push(f);
  }
  return hits;
}
