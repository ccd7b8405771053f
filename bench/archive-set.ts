/**
 * The `archive` data set (issue 16, "What good looks like"): an archive of many messages (100,000
 * by default) drained from two mailboxes of the same private Dovecot, then
 * 1. `mailsluice verify --json` reading it back whole, beside a plain sequential read of the same
 *    pack files in the same state of the page cache (what "at disk speed" is measured against);
 * 2. half of it aged past its retention (the `old` connection's rows moved 400 days into the past,
 *    the same honest clock the retention test uses: the service runs on the real time; the packs
 *    made an hour old, as a daily purge finds them) and
 *    `mailsluice purge --json` timed from process start to exit: the data directory's size before
 *    and after, which the issue wants about halved;
 * 3. `verify` again: the half that stays must read back clean.
 * Every command is a child process measured like the other tools (child-measure.ts).
 */
import { createReadStream, readdirSync, statSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { DovecotInstance } from '../test/harness/dovecot.js';
import { makeMessage } from '../test/harness/messages.js';
import { BIN, imapConnection, makeWorkspace, type Workspace } from '../test/harness/cli.js';
import type { VerifyReport } from '../src/core/archive/archive-verify.js';
import type { DrainSummary } from '../src/app/drain.js';
import type { PurgeReport } from '../src/app/purge.js';
import { PROBE, runChild, type ChildOutcome } from './child-measure.js';
import { log, MB, row, type Row } from './report.js';

const DAY = 86_400_000;

/** Every file under `dir`, recursively. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? filesUnder(join(dir, e.name)) : e.isFile() ? [join(dir, e.name)] : []));
}

/** Bytes the files under `dir` take on disk (allocated blocks, as `du` counts). */
function diskBytes(dir: string): number {
  return filesUnder(dir).reduce((n, f) => n + statSync(f).blocks * 512, 0);
}

/** Reads every pack file under `dir` once, sequentially, and answers the MiB/s (the baseline verify is judged by). */
async function plainRead(dir: string): Promise<{ bytes: number; mibPerS: number }> {
  const packs = filesUnder(dir).filter((f) => f.endsWith('.mspack'));
  const t0 = performance.now();
  let bytes = 0;
  for (const f of packs) {
    for await (const chunk of createReadStream(f, { highWaterMark: 1 << 20 })) bytes += (chunk as Buffer).length;
  }
  const s = (performance.now() - t0) / 1000;
  return { bytes, mibPerS: bytes / (1 << 20) / s };
}

/** Runs `mailsluice <args> --json` on the workspace as a measured child; answers its last line parsed. */
async function cli<T>(ws: Workspace, args: string[]): Promise<{ out: T; o: ChildOutcome }> {
  const o = await runChild(process.execPath, ['--import', PROBE, BIN, ...args, '--json', '--config', ws.configPath], { cwd: ws.dir, probe: true });
  if (o.code !== 0) throw new Error(`mailsluice ${args.join(' ')} failed (exit ${o.code}): ${o.stderr.trim()}`);
  return { out: JSON.parse(o.stdout.trim().split('\n').pop() ?? '') as T, o };
}

/**
 * Makes the blob store's files an hour old: reclaiming never rewrites a pack written in the last
 * five minutes nor drops a staging redirect younger than ten (ADR 0036), and a daily purge finds
 * them that old; here the purge runs seconds after the drain.
 */
function agePacks(dataDir: string): void {
  const past = new Date(Date.now() - 3_600_000);
  for (const f of filesUnder(join(dataDir, 'blobs'))) utimesSync(f, past, past);
}

/** Moves the `old` connection's messages 400 days into the past in the metadata database. */
function ageOld(dataDir: string): number {
  const db = new Database(join(dataDir, 'archive.db'));
  try {
    return db.prepare("UPDATE messages SET taken_at = taken_at - ? WHERE connection = 'old'").run(400 * DAY).changes;
  } finally {
    db.close();
  }
}

/** The archive set's rows: verify of the whole archive, purge of half, verify of the rest. */
export async function archiveRuns(d: DovecotInstance, count: number): Promise<Row[]> {
  const half = Math.floor(count / 2);
  const users = { old: await d.createUser(), kept: await d.createUser() };
  let bytes = 0;
  const load = async (username: string, from: number, n: number): Promise<void> => {
    const msgs = Array.from({ length: n }, (_, i) => makeMessage(from + i, { bodyBytes: 4000 }));
    bytes += msgs.reduce((s, m) => s + m.length, 0);
    await d.loadMaildir(username, msgs);
  };
  await load(users.old.username, 0, half);
  await load(users.kept.username, half, count - half);
  const plain = { security: 'none', deletePolicy: 'delete-and-expunge', pollIntervalMs: 3_600_000 };
  const connections = [imapConnection(d, users.old, { ...plain, name: 'old' }), imapConnection(d, users.kept, { ...plain, name: 'kept' })];
  const ws = makeWorkspace({ connections, archive: { retention: { rules: [{ name: 'one-year-old', keep: '1y', match: { connection: 'old' } }] } } });
  const dataDir = ws.dataDir;
  try {
    log(`[archive] mailsluice drain of ${count} messages from two mailboxes`);
    const drained = await cli<DrainSummary>(ws, ['drain']);
    if (drained.out.taken !== count) throw new Error(`the drain took ${drained.out.taken} of ${count} messages`);
    const rows: Row[] = [];
    const baseline = await plainRead(dataDir);
    log(`[archive] mailsluice verify of ${count} messages`);
    const v1 = await cli<VerifyReport>(ws, ['verify']);
    if (!v1.out.ok || v1.out.messages !== count) throw new Error(`verify of the whole archive: ok ${v1.out.ok}, ${v1.out.messages} messages of ${count}`);
    rows.push(
      row('mailsluice-verify-archive', count, bytes, v1.o.wallMs, v1.o, {
        note: `verify process wall time; ${(v1.out.bytesRead / MB).toFixed(0)} MB of packs read at ${v1.out.mbPerSecond} MiB/s (its own clock); a plain sequential read of the same packs just before: ${baseline.mibPerS.toFixed(0)} MiB/s`,
        plainReadMiBps: baseline.mibPerS,
        packMiBps: v1.out.mbPerSecond,
      }),
    );
    const aged = ageOld(dataDir);
    agePacks(dataDir);
    const before = diskBytes(dataDir);
    log(`[archive] mailsluice purge of ${aged} messages past their retention`);
    const p = await cli<PurgeReport>(ws, ['purge']);
    const after = diskBytes(dataDir);
    if (p.out.purged !== half) throw new Error(`the purge removed ${p.out.purged} messages, expected ${half}`);
    rows.push(
      row('mailsluice-purge-half', p.out.purged, p.out.bytesPurged, p.o.wallMs, p.o, {
        note: `purge process wall time; data directory ${(before / MB).toFixed(0)} MB → ${(after / MB).toFixed(0)} MB on disk (${((after / before) * 100).toFixed(0)}%); ${p.out.space ? `packs ${(p.out.space.bytesBefore / MB).toFixed(0)} MB → ${(p.out.space.bytesAfter / MB).toFixed(0)} MB (${p.out.space.packsRewritten} rewritten)` : 'no space report'}; the purge's own ${p.out.seconds.toFixed(2)} s`,
        shrink: after / before,
      }),
    );
    log('[archive] mailsluice verify of what stays');
    const v2 = await cli<VerifyReport>(ws, ['verify']);
    if (!v2.out.ok || v2.out.messages !== count - half) throw new Error(`verify after the purge: ok ${v2.out.ok}, ${v2.out.messages} messages of ${count - half}`);
    rows.push(row('mailsluice-verify-after-purge', v2.out.messages, bytes - p.out.bytesPurged, v2.o.wallMs, v2.o, { note: `verify process wall time; ${v2.out.mbPerSecond} MiB/s of packs (its own clock)` }));
    return rows;
  } finally {
    ws.cleanup();
  }
}
