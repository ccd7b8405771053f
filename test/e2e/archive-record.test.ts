/**
 * Issue 16, Tests, "Retention and hold", with the pieces together: retention and the purge (ADR
 * 0037), legal holds (ADR 0034), reclaiming pack space (ADR 0036) and encryption of the blobs and
 * the databases (ADR 0033, 0035), against the real test Dovecot and the real CLI.
 *
 * The clock: 300 messages are really drained from two connections with encryption OFF; then the
 * test moves `taken_at` (the one column a purge judges by) 400 days back in archive.db with plain
 * SQL for all but a tenth of them. Only then is encryption turned on: the next command holding the
 * data directory (`keys encrypt-existing`) encrypts the databases in place (ADR 0035) and rewrites
 * every pack encrypted (ADR 0036), so the purge runs on an archive fully encrypted. Editing an
 * encrypted archive.db would need the database key out of the keyring, which no user has; doing
 * the aging first keeps the production binaries on the real time and touches nothing but that
 * column. The test checks the words are then in clear in no file under dataDir.
 *
 * Pack ages: reclaim leaves packs written within 5 minutes and redirects younger than 10 minutes
 * alone (a late commit may still need them). The daily purge finds them far older than that; the
 * test sets the mtime of every blob file an hour back to be in that position.
 *
 * 1. Holds through the CLI, one by query and one by ids (one message held by both); `purge --json`
 *    purges exactly the expired, unheld ones and counts the kept per hold; held and unexpired ones
 *    export byte-identical; purged ones are gone from search, export and the counts; the blobs
 *    directory shrinks by about the purged share; verify is clean; archive.purge on the audit log
 *    names the ids and the chain verifies. A hold released, the next purge takes its messages.
 * 2. The same purge (with its reclaim) in a child killed with SIGKILL at random points over its
 *    measured duration, up to 9 times on 3 fresh copies: after each kill and after the finishing purge,
 *    every live message exports byte-identical, no purged one is back, verify is clean; in the end
 *    (once the copies killed runs left are past the 5-minute quiet period) the packs are smaller.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, readFileSync, readdirSync, statSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { dovecotPerFile } from '../harness/dovecot-per-file.js';
import { collectCli, imapConnection, makeWorkspace, runCli, spawnCli, type Workspace } from '../harness/cli.js';
import { makeMessage, sha256 } from '../harness/messages.js';

const dovecot = dovecotPerFile();
const DAY = 86_400_000;
const lines = (s: string): string[] => s.split('\n').filter((l) => l !== '');

/** Words only some messages carry: held by the query hold; expiring unheld (to be purged). */
const HELD_WORD = 'Zephyrmatter';
const PURGED_WORD = 'Quagmirepurge';

type Kind = 'unexpired' | 'query' | 'ids' | 'both' | 'purged';
type Sent = { bytes: Buffer; sha: string; kind: Kind; connection: string };
type PurgeReport = { purged: number; expired: number; keptByHolds: number; keptPending: number; holds: Record<string, number>; blobsRemoved: number; auditRecords: number[]; space: { bytesBefore: number; bytesAfter: number; packsRewritten: number } | null };
type Hit = { id: number; sha256: string };

/** 300 messages, a sixth with an attachment; by position: unexpired, held by query / by ids / both, or purged. */
function corpus(): Sent[] {
  const out: Sent[] = [];
  for (let k = 0; k < 300; k++) {
    const kind: Kind = k % 10 === 9 ? 'unexpired' : k === 3 ? 'both' : k % 7 === 3 ? 'query' : k % 11 === 5 ? 'ids' : 'purged';
    const tag = kind === 'query' || kind === 'both' ? HELD_WORD : kind === 'purged' && k % 4 === 0 ? PURGED_WORD : undefined;
    const bytes = makeMessage(k < 150 ? k : 1000 + k, { tag, bodyBytes: 1500 + ((k * 37) % 2500), attachmentBytes: k % 6 === 1 ? 8000 + ((k * 131) % 20000) : 0 });
    out.push({ bytes, sha: sha256(bytes), kind, connection: k < 150 ? 'alpha' : 'beta' });
  }
  return out;
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
}

/** Bytes of the blob store's files (packs and redirects). */
function blobBytes(dataDir: string): number {
  return filesUnder(join(dataDir, 'blobs')).reduce((n, f) => n + statSync(f).size, 0);
}

/** The blob files, size and age, for a failure's message. */
function blobFiles(dataDir: string): string {
  return readdirSync(join(dataDir, 'blobs')).map((f) => {
    const st = statSync(join(dataDir, 'blobs', f));
    return `${f} ${st.size} B ${Math.round((Date.now() - st.mtimeMs) / 1000)} s`;
  }).join(', ');
}

/** Every blob file written an hour ago: the age at which a daily purge finds them (see the module comment). */
function ageBlobFiles(dataDir: string): void {
  const then = new Date(Date.now() - 3_600_000);
  for (const f of filesUnder(join(dataDir, 'blobs'))) utimesSync(f, then, then);
}

async function cli(ws: Workspace, ...args: string[]): Promise<string> {
  const r = await runCli(args, ws);
  assert.equal(r.code, 0, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
  return r.stdout;
}

async function search(ws: Workspace, query: string): Promise<Hit[]> {
  return lines(await cli(ws, 'search', query, '--json', '--limit', '1000')).map((l) => JSON.parse(l) as Hit);
}

let exports = 0;
/** `export` to a new directory; the files by content hash, each checked to hash to its name. */
async function exported(ws: Workspace): Promise<Map<string, Buffer>> {
  const out = join(ws.dir, `export-${exports++}`);
  await cli(ws, 'export', '--out', out);
  const files = new Map<string, Buffer>();
  for (const f of readdirSync(out)) {
    const bytes = readFileSync(join(out, f));
    assert.equal(`${sha256(bytes)}.eml`, f, 'exported bytes hash to their name');
    files.set(sha256(bytes), bytes);
  }
  return files;
}

async function verifyClean(ws: Workspace, what: string): Promise<void> {
  const r = await runCli(['verify', '--json'], ws);
  const report = JSON.parse(lines(r.stdout).at(-1) ?? '{}') as { ok: boolean; problems: unknown[] };
  assert.deepEqual([r.code, report.problems], [0, []], `${what}: verify ${r.stdout}${r.stderr}`);
}

async function purge(ws: Workspace): Promise<PurgeReport> {
  return JSON.parse(lines(await cli(ws, 'purge', '--json')).at(-1)!) as PurgeReport;
}

/**
 * What a user relies on after a purge or a crash of one: every message in `live` exports
 * byte-identical; an expired one in `gone` is either whole (not purged yet: `finished` false) or
 * gone from export and search alike; with `finished`, export and search hold exactly `live` and
 * no word only purged messages carry is found; verify is clean. How many of `gone` are still there.
 */
async function assertRecord(ws: Workspace, live: Sent[], gone: Sent[], what: string, finished: boolean): Promise<number> {
  const got = await exported(ws);
  for (const m of live) assert.ok(got.get(m.sha)?.equals(m.bytes), `${what}: live message ${m.kind} ${m.sha.slice(0, 12)} lost or changed`);
  const goneShas = new Set(gone.map((m) => m.sha));
  const back = [...got.keys()].filter((h) => goneShas.has(h));
  for (const h of back) assert.ok(got.get(h)!.equals(gone.find((m) => m.sha === h)!.bytes), `${what}: ${h} changed`);
  assert.equal(got.size, live.length + back.length, `${what}: export holds something unknown`);
  if (finished) assert.deepEqual(back, [], `${what}: purged messages exported`);
  const hits = await search(ws, 'Report');
  assert.deepEqual(hits.map((h) => h.sha256).sort(), [...got.keys()].sort(), `${what}: search and export disagree`);
  assert.equal(new Set(hits.map((h) => h.id)).size, hits.length, `${what}: one row per message`);
  if (finished) assert.deepEqual(await search(ws, PURGED_WORD), [], `${what}: a purged word found`);
  await verifyClean(ws, what);
  return back.length;
}

/** Drains the corpus in clear, ages all but the unexpired, then turns encryption on and encrypts everything. */
async function encryptedExpiredArchive(sent: Sent[]): Promise<Workspace> {
  const a = await dovecot.createUser();
  const b = await dovecot.createUser();
  await dovecot.loadMaildir(a.username, sent.filter((m) => m.connection === 'alpha').map((m) => m.bytes));
  await dovecot.loadMaildir(b.username, sent.filter((m) => m.connection === 'beta').map((m) => m.bytes));
  const connections = [imapConnection(dovecot, a, { name: 'alpha' }), imapConnection(dovecot, b, { name: 'beta' })];
  const ws = makeWorkspace({ connections, archive: { retention: { default: '1y' } } });
  await cli(ws, 'drain');
  const db = new Database(join(ws.dataDir, 'archive.db'));
  try {
    const aged = db.prepare('UPDATE messages SET taken_at = taken_at - ? WHERE sha256 = ?');
    db.transaction(() => {
      for (const m of sent) if (m.kind !== 'unexpired') assert.equal(aged.run(400 * DAY, m.sha).changes, 1);
    })();
  } finally {
    db.close();
  }
  const key = join(ws.dir, 'master.key');
  await cli(ws, 'keys', 'generate', '--out', key);
  ws.writeConfig({ connections, archive: { retention: { default: '1y' }, encryption: { key: { file: key } } } });
  await cli(ws, 'keys', 'encrypt-existing');
  const words = [HELD_WORD, PURGED_WORD, 'Report 1', 'report-1.pdf'];
  for (const f of filesUnder(ws.dataDir)) {
    const bytes = readFileSync(f);
    for (const w of words) assert.ok(!bytes.includes(Buffer.from(w)), `${f} holds ${w} in clear`);
    if (f.endsWith('.db') && !f.endsWith('lock.db')) assert.ok(!bytes.subarray(0, 15).equals(Buffer.from('SQLite format 3')), `${f} is encrypted`);
  }
  return ws;
}

/** Places the two holds through the CLI: by query (the held word) and by ids (one also held by the query). */
async function placeHolds(ws: Workspace, sent: Sent[]): Promise<void> {
  const idOf = new Map((await search(ws, 'Report')).map((h) => [h.sha256, h.id]));
  assert.equal(idOf.size, sent.length, 'every message archived and indexed');
  const q = JSON.parse(await cli(ws, 'hold', 'place', 'matter-17', '--reason', 'Litigation, matter 17', '--query', HELD_WORD, '--json')) as { heldNow: number };
  assert.equal(q.heldNow, sent.filter((m) => m.kind === 'query' || m.kind === 'both').length);
  const ids = sent.filter((m) => m.kind === 'ids' || m.kind === 'both').flatMap((m) => ['--id', String(idOf.get(m.sha))]);
  const i = JSON.parse(await cli(ws, 'hold', 'place', 'regulator-4', '--reason', 'Regulator request 4', ...ids, '--json')) as { heldNow: number };
  assert.equal(i.heldNow, ids.length / 2);
}

/**
 * `purge --json` in a child killed with SIGKILL at `atMs`, or `afterNewPackMs` after a pack file
 * not there at its start appears (the reclaim's copy); how it ended.
 */
async function killedPurge(ws: Workspace, when: { atMs?: number; afterNewPackMs?: number }): Promise<{ how: string }> {
  const blobs = join(ws.dataDir, 'blobs');
  const known = new Set(readdirSync(blobs));
  const child = spawnCli(['purge', '--json'], ws);
  const done = collectCli(child);
  let over = false;
  void done.then(() => (over = true));
  let timer: NodeJS.Timeout | undefined;
  if (when.atMs !== undefined) timer = setTimeout(() => child.kill('SIGKILL'), when.atMs);
  else {
    while (!over && readdirSync(blobs).every((f) => known.has(f))) await new Promise((r) => setTimeout(r, 1));
    timer = setTimeout(() => child.kill('SIGKILL'), when.afterNewPackMs);
  }
  const end = await done;
  clearTimeout(timer);
  assert.ok(end.signal === 'SIGKILL' || end.code === 0, `purge ended ${end.code}: ${end.stderr}`);
  return { how: end.signal === 'SIGKILL' ? (when.atMs !== undefined ? `killed at ${when.atMs} ms` : `killed ${when.afterNewPackMs} ms after a new pack`) : 'finished' };
}

test('retention, legal holds, reclaim and encryption together: purge, crash safety under SIGKILL, release', { timeout: 600_000 }, async () => {
  const t0 = Date.now();
  const sent = corpus();
  const of = (...kinds: Kind[]): Sent[] => sent.filter((m) => kinds.includes(m.kind));
  const held = of('query', 'ids', 'both');
  const purged = of('purged');
  const live = of('unexpired', 'query', 'ids', 'both');
  const ws = await encryptedExpiredArchive(sent);
  try {
    await placeHolds(ws, sent);
    ageBlobFiles(ws.dataDir);
    const template = join(ws.dir, 'template');
    cpSync(ws.dataDir, template, { recursive: true });
    const before = blobBytes(ws.dataDir);
    const rawShare = purged.reduce((n, m) => n + m.bytes.length, 0) / sent.reduce((n, m) => n + m.bytes.length, 0);

    // 1. The purge.
    const started = Date.now();
    const r = await purge(ws);
    const whole = Date.now() - started;
    assert.equal(r.purged, purged.length, 'purged = expired and unheld');
    assert.equal(r.expired, purged.length + held.length);
    assert.equal(r.keptByHolds, held.length);
    assert.deepEqual(r.holds, { 'matter-17': of('query', 'both').length, 'regulator-4': of('ids', 'both').length });
    assert.equal(r.blobsRemoved, purged.length);
    assert.ok(r.space && r.space.packsRewritten > 0 && r.space.bytesAfter < r.space.bytesBefore, `reclaim did nothing: ${JSON.stringify(r.space)}`);
    await assertRecord(ws, live, purged, 'after the purge', true);
    assert.equal((await search(ws, HELD_WORD)).length, of('query', 'both').length);
    const after = blobBytes(ws.dataDir);
    // The store compresses, text more than the random attachments, so the share is about that of the raw bytes.
    assert.ok(Math.abs((before - after) / before - rawShare) < 0.15, `blobs ${before} → ${after} bytes; ${(rawShare * 100).toFixed(0)}% of the raw bytes purged`);
    const audit = lines(await cli(ws, 'audit', 'list', '--action', 'archive.purge', '--json')).map((l) => JSON.parse(l) as { detail: { ids: number[]; sha256: string[] } });
    assert.equal(audit.length, 1);
    assert.deepEqual(new Set(audit[0]!.detail.sha256), new Set(purged.map((m) => m.sha)));
    assert.equal(audit[0]!.detail.ids.length, purged.length);
    await cli(ws, 'audit', 'verify');

    // 2. SIGKILL at random points of the same purge (its reclaim included): 3 fresh copies, each
    // killed up to 3 times in a row (a run after a crash is killed too), then finished by a whole purge.
    // The first kill at a random time in the first half of the measured run (most of it is the
    // start-up, then the rows go in one batch), the second a few ms after the reclaim's new pack
    // appears (copying, syncing, switching the rows, deleting the old pack), the third at a random
    // time of the whole run.
    let seed = 20261207;
    const random = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const points: Array<{ what: string; left: number }> = [];
    for (let copy = 0; copy < 3; copy++) {
      const dir = join(ws.dir, `copy-${copy}`);
      mkdirSync(dir);
      cpSync(template, join(dir, 'data'), { recursive: true });
      cpSync(ws.configPath, join(dir, 'mailsluice.yaml'));
      ageBlobFiles(join(dir, 'data')); // a copy's files are new
      const runWs: Workspace = { ...ws, dir, dataDir: join(dir, 'data'), configPath: join(dir, 'mailsluice.yaml') };
      for (let kill = 0; kill < 3; kill++) {
        const end = await killedPurge(runWs, kill === 1 ? { afterNewPackMs: Math.floor(random() * 40) } : { atMs: Math.floor(whole * (kill === 0 ? 0.1 + 0.4 * random() : 0.3 + 0.8 * random())) });
        const what = `copy ${copy}, kill ${kill} (${end.how})`;
        const left = await assertRecord(runWs, live, purged, what, end.how === 'finished');
        points.push({ what, left });
        if (end.how === 'finished') break;
      }
      const finish = await purge(runWs);
      assert.equal(finish.keptByHolds, held.length);
      await assertRecord(runWs, live, purged, `copy ${copy}, finished`, true);
      // A copy a killed reclaim wrote and never switched to is a pack no row points at, written in
      // the last 5 minutes: the quiet period keeps it from the run right after the kill (it cannot
      // tell it from a pack a writer just rolled away from), and the next daily purge deletes it.
      ageBlobFiles(runWs.dataDir);
      assert.equal((await purge(runWs)).purged, 0);
      assert.ok(blobBytes(runWs.dataDir) < before * (1 - rawShare + 0.15), `copy ${copy}: packs smaller in the end: ${before} → ${blobFiles(runWs.dataDir)} (${JSON.stringify(points)})`);
    }
    console.log(`archive-record: a whole purge ${whole} ms; ${points.map((p) => `${p.what}: ${p.left} left`).join('; ')}`);
    const killed = points.filter((p) => !p.what.includes('finished'));
    assert.ok(killed.some((p) => p.left === purged.length), 'some kills before the rows went');
    assert.ok(killed.filter((p) => p.left === 0).length >= 2, 'some kills after the rows went (during the reclaim)');

    // 3. A hold released: the next purge takes what it alone kept.
    await cli(ws, 'hold', 'release', 'regulator-4', '--reason', 'Request answered');
    const again = await purge(ws);
    assert.equal(again.purged, of('ids').length);
    assert.deepEqual(again.holds, { 'matter-17': of('query', 'both').length });
    await assertRecord(ws, of('unexpired', 'query', 'both'), [...purged, ...of('ids')], 'after the release', true);
    console.log(`archive-record: ${Date.now() - t0} ms in all`);
  } finally {
    ws.cleanup();
  }
});
