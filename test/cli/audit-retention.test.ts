/**
 * ADR 0029 from the command line, on a real archive: records older than --keep-days move to a
 * sealed, owner-only file in dataDir/audit-archive/ (its lines the records, its last a trailer),
 * the database keeps a checkpoint and an audit.retention record; `audit verify` starts at the
 * checkpoint and says so, `--with-archive` walks the file too. Then, as someone with the files
 * would: a byte altered in the archive file is named with the file; a row deleted after the
 * checkpoint is named; the checkpoint moved forward in the database (a row deleted to hide it) is
 * named through the retention record it contradicts. The triggers still refuse plain deletes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import '../harness/sqlite-keep.js';
import { makeWorkspace, runCli, type Workspace } from '../harness/cli.js';
import { createSqliteStore } from '../../src/adapters/store-sqlite/index.js';

const lines = (s: string): string[] => s.split('\n').filter((l) => l !== '');
const DAY = 24 * 60 * 60 * 1000;
const FILE = 'audit-000000000001-000000000005.jsonl';

/** An archive with 5 records 40 days old (written through the adapter, as a month-old service did) and 2 of today's searches. */
async function workspace(): Promise<Workspace> {
  const ws = makeWorkspace({ connections: [{ name: 'journal', protocol: 'imap', host: '127.0.0.1', port: 1, auth: { type: 'basic', username: 'u', password: 'p' } }] });
  const store = createSqliteStore({ file: join(ws.dataDir, 'archive.db') });
  const old = Date.now() - 40 * DAY;
  for (let i = 0; i < 5; i++) await store.audit.append({ at: old + i, who: 'legal', origin: '10.0.0.7', action: 'archive.search', detail: { text: `old ${i}` } });
  await store.close();
  for (const q of ['one', 'two']) assert.equal((await runCli(['search', q], ws)).code, 0);
  return ws;
}

/** Runs `sql` on archive.db with the audit triggers dropped, as someone with the file could. */
function tamper(ws: Workspace, sql: string): void {
  const db = new Database(join(ws.dataDir, 'archive.db'));
  try {
    db.exec('DROP TRIGGER IF EXISTS audit_log_no_update; DROP TRIGGER IF EXISTS audit_log_no_delete; DROP TRIGGER IF EXISTS audit_checkpoint_forward;');
    db.exec(sql);
  } finally {
    db.close();
  }
}

/** Keeps a copy of archive.db to put back after a tampering. */
function snapshot(ws: Workspace): () => void {
  const db = join(ws.dataDir, 'archive.db');
  copyFileSync(db, `${db}.keep`);
  return () => {
    for (const f of [`${db}-wal`, `${db}-shm`]) rmSync(f, { force: true });
    copyFileSync(`${db}.keep`, db);
  };
}

async function verifyFails(ws: Workspace, args: string[], problem: RegExp, what: string): Promise<void> {
  const v = await runCli(['audit', 'verify', ...args], ws);
  assert.equal(v.code, 1, `${what}: ${v.stdout}${v.stderr}`);
  assert.equal(lines(v.stderr).length, 1, v.stderr);
  assert.match(v.stderr, problem, what);
}

test('audit prune moves the old records to a sealed 0600 file, verify starts at the checkpoint; tampering with the file, a row or the checkpoint is named', async () => {
  const ws = await workspace();
  try {
    const none = await runCli(['audit', 'prune'], ws);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /^mailsluice: AUDIT_RETENTION_NOT_SET: /);
    assert.equal(existsSync(join(ws.dataDir, 'audit-archive')), false, 'nothing written');

    const pruned = await runCli(['audit', 'prune', '--keep-days', '30', '--json'], ws);
    assert.equal(pruned.code, 0, pruned.stderr);
    const report = JSON.parse(pruned.stdout) as { moved: number; files: Array<{ file: string; firstSeq: number; lastSeq: number; count: number }>; checkpoint: { seq: number; file: string } };
    assert.equal(report.moved, 5);
    assert.deepEqual(report.files, [{ file: FILE, firstSeq: 1, lastSeq: 5, count: 5 }]);
    assert.deepEqual(report.checkpoint, { seq: 5, file: FILE });

    // The file: owner-only, 5 record lines as stored, then the trailer.
    const dir = join(ws.dataDir, 'audit-archive');
    assert.deepEqual(readdirSync(dir), [FILE]);
    assert.equal(statSync(dir).mode & 0o777, 0o700);
    assert.equal(statSync(join(dir, FILE)).mode & 0o777, 0o600);
    const text = readFileSync(join(dir, FILE), 'utf8');
    const fileLines = lines(text);
    assert.equal(fileLines.length, 6);
    const recs = fileLines.slice(0, 5).map((l) => JSON.parse(l) as { seq: number; who: string; detail: string; hash: string });
    assert.deepEqual(recs.map((r) => [r.seq, r.who, JSON.parse(r.detail).text]), [0, 1, 2, 3, 4].map((i) => [i + 1, 'legal', `old ${i}`]));
    const trailer = JSON.parse(fileLines[5]!) as Record<string, unknown>;
    assert.equal(trailer.trailer, 'mailsluice-audit-archive/1');
    assert.equal(trailer.count, 5);
    assert.equal(trailer.lastHash, recs[4]!.hash);
    assert.equal(trailer.fromHash, '0'.repeat(64));

    // The database: the old rows gone, the checkpoint and the retention record there.
    const db = new Database(join(ws.dataDir, 'archive.db'), { readonly: true });
    try {
      assert.equal(db.prepare('SELECT min(seq) FROM audit_log').pluck().get(), 6);
      assert.deepEqual(db.prepare('SELECT seq, hash, file FROM audit_checkpoint').get(), { seq: 5, hash: recs[4]!.hash, file: FILE });
    } finally {
      db.close();
    }
    const listed = lines((await runCli(['audit', 'list', '--json'], ws)).stdout).map((l) => JSON.parse(l) as { seq: number; action: string; detail: Record<string, unknown> });
    assert.deepEqual(listed.map((r) => [r.seq, r.action]), [[6, 'archive.search'], [7, 'archive.search'], [8, 'audit.prune'], [9, 'audit.retention']]);
    assert.deepEqual(listed[3]!.detail.file, FILE);
    assert.equal(listed[3]!.detail.lastSeq, 5);

    // Nothing more is that old: a second prune moves nothing and writes no file.
    const again = await runCli(['audit', 'prune', '--keep-days', '30'], ws);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /^0 records older than \S+ moved; the live log starts at seq 6\n$/);
    assert.deepEqual(readdirSync(dir), [FILE]);

    const v = await runCli(['audit', 'verify'], ws);
    assert.equal(v.code, 0, v.stderr);
    assert.match(v.stdout, new RegExp(`^audit log intact: verified 5 records from seq 6 \\(records before it moved to audit-archive/${FILE.replace(/\./g, '\\.')}; --with-archive verifies those too\\), head [0-9a-f]{64}\\n$`));
    const va = await runCli(['audit', 'verify', '--with-archive'], ws);
    assert.equal(va.code, 0, va.stderr);
    assert.match(va.stdout, /^audit log intact: 5 archived records in 1 file of audit-archive\/ and verified 5 records from seq 6 /);

    // A plain delete is refused as before; so is moving the checkpoint back.
    const raw = new Database(join(ws.dataDir, 'archive.db'));
    try {
      assert.throws(() => raw.prepare('DELETE FROM audit_log WHERE seq = 6').run(), /append-only/);
      assert.throws(() => raw.prepare('UPDATE audit_checkpoint SET seq = 1').run(), /only moves forward/);
      assert.throws(() => raw.prepare('DELETE FROM audit_checkpoint').run(), /never removed/);
    } finally {
      raw.close();
    }

    // One byte of record 2 in the archive file: named with the file; the live chain still holds.
    writeFileSync(join(dir, FILE), text.replace('old 1', 'old 7'));
    await verifyFails(ws, ['--with-archive'], new RegExp(`^mailsluice: AUDIT_CHAIN_BROKEN: audit-archive/${FILE.replace(/\./g, '\\.')}: record 2: altered`), 'archive byte');
    assert.equal((await runCli(['audit', 'verify'], ws)).code, 0);
    writeFileSync(join(dir, FILE), text);
    assert.equal((await runCli(['audit', 'verify', '--with-archive'], ws)).code, 0);

    // A row deleted after the checkpoint.
    const restore = snapshot(ws);
    tamper(ws, 'DELETE FROM audit_log WHERE seq = 7');
    await verifyFails(ws, [], /^mailsluice: AUDIT_CHAIN_BROKEN: record 7: record 7 is missing \(removed\)/, 'row after the checkpoint');
    restore();
    assert.equal((await runCli(['audit', 'verify'], ws)).code, 0);

    // The checkpoint moved forward over record 6, which is deleted to hide it: the chain links, the retention record contradicts it.
    tamper(ws, "DELETE FROM audit_log WHERE seq = 6; UPDATE audit_checkpoint SET seq = 6, hash = (SELECT prev_hash FROM audit_log WHERE seq = 7)");
    await verifyFails(ws, [], /^mailsluice: AUDIT_CHAIN_BROKEN: record 9: the checkpoint \(seq 6, .*\) contradicts this audit\.retention record \(records up to 5 moved/, 'checkpoint moved');
    await verifyFails(ws, ['--with-archive'], /AUDIT_CHAIN_BROKEN: (audit-archive\/.*: )?record 6: .*records 6 to 6 are in no archive file|the archive files end at 5/, 'checkpoint moved, with the archive');
    restore();

    // The archive file removed: --with-archive says the records are in no file.
    rmSync(join(dir, FILE));
    await verifyFails(ws, ['--with-archive'], /record 1: records 1 to 5 are in no archive file/, 'file removed');
  } finally {
    ws.cleanup();
  }
});
