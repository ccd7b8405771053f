/**
 * Issue 16, item 3, "What good looks like" (ADR 0037, amendment "The databases' space"): a purge of
 * half an archive gives the space back, the databases' included (archive.db, search.db and their
 * WALs), in clear and encrypted, against real drained archives (Dovecot, the real CLI).
 *
 * The messages expire by their Date header (2026-01, `since: received`, kept 30 days), so nothing
 * in the databases is touched by the test: the same works with encrypted databases.
 *
 * - Half purged: the data directory (every file's allocated blocks) under 70% of what it was; the
 *   report's `space.databases` per file; the kept messages export byte-identical; search finds
 *   the kept and not the purged; `verify` clean.
 * - Beside a running start, the purge through the control socket while the service drains new
 *   messages: they all arrive.
 * - SIGKILL of a purge at random points (its compaction step included): `verify` clean, counts right.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, lstatSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { dovecotPerFile } from '../harness/dovecot-per-file.js';
import { collectCli, imapConnection, makeWorkspace, runCli, spawnCli, type Workspace } from '../harness/cli.js';
import { makeMessage, sha256 } from '../harness/messages.js';
import { callApi, createToken, drainedWithApi, startService, type RunningService } from '../harness/api-client.js';

const dovecot = dovecotPerFile();
const lines = (s: string): string[] => s.split('\n').filter((l) => l !== '');

type Space = { bytesBefore: number; bytesAfter: number; databases?: { files: Record<string, { bytesBefore: number; bytesAfter: number }>; bytesBefore: number; bytesAfter: number; converted: string[]; seconds: number } };
type Report = { purged: number; space: Space | null };

/** Every file under `dir` (recursively): its allocated blocks, in bytes. */
function sizeOnDisk(dir: string): number {
  let n = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) n += sizeOnDisk(p);
    else n += lstatSync(p).blocks * 512;
  }
  return n;
}

/** The files of the data directory (not the backups a migration keeps), in bytes on disk. */
function perFile(dataDir: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const e of readdirSync(dataDir, { withFileTypes: true })) {
    const p = join(dataDir, e.name);
    out[e.name] = e.isDirectory() ? sizeOnDisk(p) : lstatSync(p).blocks * 512;
  }
  return out;
}

const RETENTION = { default: '10y', rules: [{ name: 'alpha_short', keep: '30d', since: 'received', match: { connection: 'alpha' } }] };

/** Alpha (expires: its Date headers are 2026-01) and beta (kept), `n` messages each, drained. */
async function halfExpiring(n: number, encrypted = false): Promise<{ ws: Workspace; beta: Buffer[] }> {
  const a = await dovecot.createUser();
  const b = await dovecot.createUser();
  const alpha = Array.from({ length: n }, (_, i) => makeMessage(i, { tag: i === 5 ? 'zanzibar' : undefined, bodyBytes: 3000 }));
  const beta = Array.from({ length: n }, (_, i) => makeMessage(100_000 + i, { tag: i === 2 ? 'quokka' : undefined, bodyBytes: 3000 }));
  await dovecot.loadMaildir(a.username, alpha);
  await dovecot.loadMaildir(b.username, beta);
  const ws = makeWorkspace({});
  const key = join(ws.dir, 'master.key');
  if (encrypted) assert.equal((await runCli(['keys', 'generate', '--out', key], ws)).code, 0);
  ws.writeConfig({
    connections: [imapConnection(dovecot, a, { name: 'alpha' }), imapConnection(dovecot, b, { name: 'beta' })],
    archive: { retention: RETENTION, ...(encrypted ? { encryption: { key: { file: key } } } : {}) },
  });
  const drained = await runCli(['drain'], ws);
  assert.equal(drained.code, 0, drained.stderr);
  return { ws, beta };
}

async function halfPurged(encrypted: boolean): Promise<void> {
  const n = encrypted ? 600 : 1000;
  const { ws, beta } = await halfExpiring(n, encrypted);
  try {
    for (const f of ['archive.db', 'search.db']) {
      const head = readFileSync(join(ws.dataDir, f)).subarray(0, 15).toString('latin1');
      assert.equal(head === 'SQLite format 3', !encrypted, `${f} ${encrypted ? 'encrypted' : 'in clear'}`);
    }
    // In clear, the databases are made as an older build made them (no auto-vacuum): the purge converts them.
    if (!encrypted) asOlderBuild(ws.dataDir);
    const before = perFile(ws.dataDir);
    const total = sizeOnDisk(ws.dataDir);
    const r = await runCli(['purge', '--json'], ws);
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(lines(r.stdout).at(-1)!) as Report;
    assert.equal(report.purged, n);
    const after = perFile(ws.dataDir);
    const totalAfter = sizeOnDisk(ws.dataDir);
    console.log(`${encrypted ? 'encrypted' : 'in clear'}, ${2 * n} messages, half purged: data directory ${total} → ${totalAfter} bytes; per file before ${JSON.stringify(before)} after ${JSON.stringify(after)}; report ${JSON.stringify(report.space)}`);
    const dbs = report.space!.databases!;
    assert.ok(dbs, 'the report has the databases');
    assert.deepEqual(dbs.converted, encrypted ? [] : ['archive.db', 'search.db'], 'new databases are made incremental; older ones converted once');
    assert.ok(dbs.bytesAfter < dbs.bytesBefore * 0.7, `databases ${dbs.bytesBefore} → ${dbs.bytesAfter}`);
    for (const f of ['archive.db', 'search.db']) assert.ok(dbs.files[f]!.bytesAfter < dbs.files[f]!.bytesBefore, `${f} shrank`);
    assert.ok(totalAfter < total * 0.7, `data directory ${total} → ${totalAfter}`);
    const text = await runCli(['purge'], ws);
    assert.match(text.stdout + text.stderr, /purged 0 of 0 expired/);

    // What is left reads back byte-identical; search finds the kept and not the purged; verify clean.
    const out = join(ws.dir, 'export');
    const exported = await runCli(['export', '--out', out], ws);
    assert.equal(exported.code, 0, exported.stderr);
    const files = readdirSync(out);
    assert.equal(files.length, n);
    const sent = new Map(beta.map((b) => [sha256(b), b]));
    for (const f of files) assert.ok(readFileSync(join(out, f)).equals(sent.get(f.replace(/\.eml$/, ''))!), `${f} byte-identical`);
    assert.equal(lines((await runCli(['search', 'zanzibar', '--json'], ws)).stdout).length, 0, 'purged: not found');
    assert.equal(lines((await runCli(['search', 'quokka', '--json'], ws)).stdout).length, 1, 'kept: found');
    const checked = await runCli(['verify', '--json'], ws);
    assert.equal(checked.code, 0, checked.stdout + checked.stderr);
  } finally {
    ws.cleanup();
  }
}

test('purge of half an archive in clear: the data directory under 70% of its size, the databases included; the rest intact', () => halfPurged(false));

test('purge of half an encrypted archive: the databases shrink too, and stay encrypted and readable', () => halfPurged(true));

test('beside a running start: a purge through the control socket while the service drains new messages; they all arrive', async () => {
  const a = await dovecot.createUser();
  const b = await dovecot.createUser();
  await dovecot.loadMaildir(a.username, Array.from({ length: 600 }, (_, i) => makeMessage(i, { bodyBytes: 3000 })));
  const { ws, base } = await drainedWithApi({
    connections: [imapConnection(dovecot, a, { name: 'alpha' }), imapConnection(dovecot, b, { name: 'beta' })],
    archive: { retention: RETENTION },
  });
  let service: RunningService | undefined;
  try {
    const admin = await createToken(ws, 'a', 'admin');
    service = await startService(ws, base);
    // New mail for beta while the purge runs: the service's drain commits beside it.
    const late = Array.from({ length: 150 }, (_, i) => makeMessage(200_000 + i, { tag: 'latecomer', bodyBytes: 3000 }));
    const loading = dovecot.loadMaildir(b.username, late);
    const r = await runCli(['purge', '--json'], ws);
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(lines(r.stdout).at(-1)!) as Report;
    assert.equal(report.purged, 600);
    assert.ok(report.space!.databases, JSON.stringify(report.space));
    await loading;
    const until = Date.now() + 60_000;
    for (;;) {
      const hits = await callApi(`${base}/api/v1/messages?text=latecomer&limit=1`, admin);
      assert.equal(hits.status, 200, hits.raw);
      const got = hits.body.total as number;
      if (got === late.length) break;
      assert.ok(Date.now() < until, `only ${got} of ${late.length} drained: ${service.stderr()}`);
      await new Promise((res) => setTimeout(res, 200));
    }
    await service.stop();
    service = undefined;
    const checked = await runCli(['verify', '--json'], ws);
    assert.equal(checked.code, 0, checked.stdout + checked.stderr);
  } finally {
    if (service) service.child.kill('SIGKILL');
    ws.cleanup();
  }
});

/** Sets both databases of a data directory in clear to no auto-vacuum: as an older build made them. */
function asOlderBuild(dataDir: string): void {
  for (const f of ['archive.db', 'search.db']) {
    const db = new Database(join(dataDir, f));
    db.pragma('auto_vacuum = NONE');
    db.exec('VACUUM');
    assert.equal(db.pragma('auto_vacuum', { simple: true }), 0);
    db.close();
  }
}

function scalar(file: string, sql: string): number {
  const db = new Database(file, { readonly: true });
  try {
    return db.prepare(sql).pluck().get() as number;
  } finally {
    db.close();
  }
}

/** Waits until `n` archive.purge records exist in `dataDir` (polling), or the child is gone. */
async function purgeRecords(dataDir: string, n: number, gone: () => boolean): Promise<boolean> {
  while (!gone()) {
    try {
      if (scalar(join(dataDir, 'archive.db'), "SELECT count(*) FROM audit_log WHERE action = 'archive.purge'") >= n) return true;
    } catch {
      // being migrated or locked for a moment: look again
    }
    await new Promise((res) => setTimeout(res, 2));
  }
  return false;
}

test('SIGKILL of a purge at random points, its database compaction included: verify clean, counts right', async () => {
  const n = 700;
  const { ws } = await halfExpiring(n);
  try {
    asOlderBuild(ws.dataDir);
    // A fresh copy each run: every run has the whole purge (and the conversion VACUUM) to do.
    const copy = (name: string): Workspace => {
      const dir = join(ws.dir, name);
      mkdirSync(dir);
      cpSync(ws.configPath, join(dir, 'mailsluice.yaml'));
      cpSync(ws.dataDir, join(dir, 'data'), { recursive: true });
      return { ...ws, dir, configPath: join(dir, 'mailsluice.yaml'), dataDir: join(dir, 'data') };
    };
    // How long a whole purge takes here, process start to exit: the random kills fall within it.
    const started = Date.now();
    const whole = await runCli(['purge', '--json'], copy('whole'));
    assert.equal(whole.code, 0, whole.stderr);
    const wholeMs = Date.now() - started;
    const outcomes: string[] = [];
    for (let run = 0; run < 6; run++) {
      const runWs = copy(`run-${run}`);
      const { dir } = runWs;
      const child = spawnCli(['purge', '--json'], runWs);
      const done = collectCli(child);
      // Two runs at a random time of the whole run; the others once every batch committed (both
      // audit records there), 0–200 ms later: the search rows, the packs, the databases' compaction.
      if (run < 2) setTimeout(() => child.kill('SIGKILL'), Math.floor(Math.random() * wholeMs));
      else if (await purgeRecords(runWs.dataDir, Math.ceil(n / 500), () => child.exitCode !== null)) setTimeout(() => child.kill('SIGKILL'), Math.floor(Math.random() * 200));
      const res = await done;
      const archive = join(runWs.dataDir, 'archive.db');
      outcomes.push(res.code === null ? `killed (${scalar(archive, 'SELECT count(*) FROM messages')} messages, auto_vacuum ${scalar(archive, 'PRAGMA auto_vacuum')}, ${scalar(archive, 'PRAGMA freelist_count')} free pages)` : `finished ${res.code}`);
      const checked = await runCli(['verify', '--json'], runWs);
      assert.equal(checked.code, 0, `after run ${run} (${outcomes.at(-1)}): ${checked.stdout}${checked.stderr}`);
      const again = await runCli(['purge', '--json'], runWs);
      assert.equal(again.code, 0, again.stderr);
      assert.equal(scalar(archive, 'SELECT count(*) FROM messages'), n, 'beta whole, alpha gone');
      assert.equal(lines((await runCli(['search', 'quokka', '--json'], runWs)).stdout).length, 1);
      assert.equal(lines((await runCli(['search', 'zanzibar', '--json'], runWs)).stdout).length, 0);
      const exported = await runCli(['export', '--out', join(dir, 'out')], runWs);
      assert.equal(exported.code, 0, exported.stderr);
      assert.equal(readdirSync(join(dir, 'out')).length, n);
    }
    console.log(`purge SIGKILL runs (a whole purge ${wholeMs} ms): ${outcomes.join('; ')}`);
    assert.ok(outcomes.some((o) => o.startsWith('killed')), 'some runs were killed');
  } finally {
    ws.cleanup();
  }
});
