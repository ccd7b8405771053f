/**
 * Issue 16, item 2 (ADR 0032): `backup --out DIR` of a running service while it drains, `restore
 * --from DIR` into an empty data directory, and the restored archive whole: every message row
 * has its blob, each exported message byte-identical to what was in the mailbox, search answers,
 * and a drain and `start` run on it. A second backup into the same directory copies only what is
 * new; restore refuses a data directory that is not empty, naming it; every file of backup and
 * restore is owner-only under umask 022. Prints the backup's throughput (the ADR's figures).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, lstatSync, readFileSync, readdirSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { dovecotPerFile } from '../harness/dovecot-per-file.js';
import { lockDataDir } from '../../src/adapters/store-sqlite/index.js';
import { retain } from '../../src/adapters/sqlite-node/sqlite-retain.js';
import { BIN, collectCli, imapConnection, makeWorkspace, runCli, spawnCli, type CliResult, type Workspace } from '../harness/cli.js';
import { journalMix, makeMessage, sha256 } from '../harness/messages.js';
import { drainedWithApi, startService, type RunningService } from '../harness/api-client.js';

const dovecot = dovecotPerFile();

/** Messages loaded before the service starts: enough that the backup lands mid-drain. */
const COUNT = 3000;
/** Messages taken between the second and third backups. */
const EXTRA = 20;

interface Manifest {
  generation: number;
  entries: Array<{ path: string; kind: 'database' | 'shared' | 'file'; size: number; sha256: string; stored: string }>;
}
interface Report {
  generation: number;
  files: number;
  bytes: number;
  bytesCopied: number;
  shared: { copied: number; appended: number; kept: number };
  durationMs: number;
  mbPerSecond: number;
}

/** Runs the CLI under `umask 022`, as a shell with the usual umask would. */
function cli022(args: string[], ws: Workspace): Promise<CliResult> {
  const quoted = [process.execPath, BIN, ...args, '--config', ws.configPath].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  return collectCli(spawn('/bin/sh', ['-c', `umask 022; exec ${quoted}`], { cwd: ws.dir, stdio: ['ignore', 'pipe', 'pipe'] }));
}

/** Every path under `dir` whose mode is not 0700 (directories) or 0600 (files). */
function wrongModes(dir: string): string[] {
  const wrong: string[] = [];
  const visit = (path: string): void => {
    const st = lstatSync(path);
    const mode = st.mode & 0o7777;
    const want = st.isDirectory() ? 0o700 : st.isSocket() ? mode : 0o600;
    if (mode !== want) wrong.push(`${path} is ${mode.toString(8)}`);
    if (st.isDirectory()) for (const n of readdirSync(path)) visit(join(path, n));
  };
  visit(dir);
  return wrong;
}

/** Count of rows in the archive at `dataDir` (read-only, beside whoever writes it). */
function count(dataDir: string, sql: string): number {
  // Statements kept from the collector: better-sqlite3 12 on Node 24.19+ (sqlite-retain.ts).
  const db = retain(new Database(join(dataDir, 'archive.db'), { readonly: true, fileMustExist: true }));
  try {
    return (retain(db.prepare(sql)).pluck().get() as number) ?? 0;
  } finally {
    db.close();
  }
}

async function backup(ws: Workspace, out: string): Promise<Report> {
  const r = await cli022(['backup', '--out', out, '--json'], ws);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as Report;
}

const manifestOf = (dir: string): Manifest => JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as Manifest;

/** A workspace on an empty mailbox of its own, its data directory restored from `from`. */
async function restored(from: string, makeEmptyDir = false): Promise<Workspace> {
  const user = await dovecot.createUser();
  const ws = makeWorkspace({ connections: [imapConnection(dovecot, user)] });
  if (makeEmptyDir) mkdirSync(ws.dataDir, { mode: 0o700 });
  const r = await cli022(['restore', '--from', from, '--json'], ws);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(wrongModes(ws.dataDir), [], 'the restored data directory is owner-only');
  (ws as Workspace & { user?: typeof user }).user = user;
  return ws;
}

/** Exports `ws`'s archive and checks every file against the mailbox's bytes; answers how many. */
async function exportedIdentical(ws: Workspace, sent: Map<string, Buffer>): Promise<number> {
  const out = join(ws.dir, 'export');
  const r = await runCli(['export', '--out', out], ws);
  assert.equal(r.code, 0, r.stderr);
  const files = readdirSync(out);
  for (const f of files) {
    const bytes = readFileSync(join(out, f));
    const want = sent.get(f.replace(/\.eml$/, ''));
    assert.ok(want, `${f} was never in the mailbox`);
    assert.ok(bytes.equals(want), `${f} differs from the message in the mailbox`);
  }
  return files.length;
}

/** Waits until the service has taken and parsed `n` messages. */
async function untilDrained(ws: Workspace, n: number): Promise<void> {
  const until = Date.now() + 120_000;
  while (count(ws.dataDir, 'SELECT count(*) FROM messages WHERE parse_state = 0') > 0 || count(ws.dataDir, 'SELECT count(*) FROM messages') < n) {
    assert.ok(Date.now() < until, `the service never took and parsed ${n} messages`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * A backup into `out` over an earlier one: checks that it wrote exactly the databases, the whole
 * files and, of the shared files, the new ones whole and the grown ones' new bytes only.
 */
async function incremental(ws: Workspace, out: string, generation: number): Promise<Report & { sharedCopied: number; sharedBytes: number }> {
  const before = manifestOf(out);
  const r = await backup(ws, out);
  const after = manifestOf(out);
  const prev = new Map(before.entries.map((e) => [e.path, e]));
  let expected = 0;
  let sharedBytes = 0;
  let sharedCopied = 0;
  for (const e of after.entries) {
    if (e.kind !== 'shared') {
      expected += e.size;
      continue;
    }
    const p = prev.get(e.path);
    const copied = p && p.size <= e.size ? e.size - p.size : e.size;
    expected += copied;
    sharedCopied += copied;
    sharedBytes += e.size;
  }
  console.log(`backup ${generation} (incremental): ${(r.bytesCopied / 1048576).toFixed(1)} MB copied of ${(r.bytes / 1048576).toFixed(1)} MB (packs: ${(sharedCopied / 1048576).toFixed(2)} of ${(sharedBytes / 1048576).toFixed(1)} MB); shared files ${JSON.stringify(r.shared)}`);
  assert.equal(r.generation, generation);
  assert.equal(r.bytesCopied, expected, 'only databases, whole files and the new bytes of packs are copied');
  assert.deepEqual(wrongModes(out), [], 'the backup is owner-only');
  return { ...r, sharedCopied, sharedBytes };
}

test('backup of a service mid-drain, restore into an empty directory, incremental second backup, refusals and modes', async () => {
  const user = await dovecot.createUser();
  const sent = new Map<string, Buffer>();
  const first = [0, 1, 2].map((i) => makeMessage(i, { tag: 'before' }));
  for (const m of first) sent.set(sha256(m), m);
  await dovecot.loadMaildir(user.username, first);
  const { ws, base } = await drainedWithApi({ connections: [imapConnection(dovecot, user)] });
  const bulk = [...journalMix(COUNT, 40, 3)];
  for (const m of bulk) sent.set(sha256(m), m);
  await dovecot.loadMaildir(user.username, bulk);
  const out = join(ws.dir, 'backup');
  let service: RunningService | undefined;
  const cleanups: Workspace[] = [ws];
  try {
    service = await startService(ws, base);
    // Mid-drain: once a few hundred are committed, while thousands still wait.
    while (count(ws.dataDir, 'SELECT count(*) FROM messages') < 300) await new Promise((r) => setTimeout(r, 20));
    const one = await backup(ws, out);
    const inBackup = (() => {
      const db = retain(new Database(join(out, manifestOf(out).entries.find((e) => e.path === 'archive.db')!.stored), { readonly: true }));
      try {
        return retain(db.prepare('SELECT count(*) FROM messages')).pluck().get() as number;
      } finally {
        db.close();
      }
    })();
    console.log(`backup 1 (mid-drain): ${inBackup} messages, ${one.files} files, ${(one.bytes / 1048576).toFixed(1)} MB in ${one.durationMs} ms, ${one.mbPerSecond} MB/s`);
    assert.ok(inBackup >= 300 && inBackup < COUNT + 3, `the backup was taken mid-drain (${inBackup} of ${COUNT + 3})`);
    assert.deepEqual(wrongModes(out), [], 'the backup is owner-only');

    // Restored into an empty directory (made beforehand, as an operator might).
    const ws2 = await restored(out, true);
    cleanups.push(ws2);
    assert.equal(count(ws2.dataDir, 'SELECT count(*) FROM messages'), inBackup);
    assert.equal(count(ws2.dataDir, 'SELECT count(*) FROM messages m LEFT JOIN blobs b ON b.sha256 = m.sha256 WHERE b.sha256 IS NULL'), 0, 'every message row has its blob row');
    // The audit log came along whole: its chain verifies, and it holds the backup and the restore.
    const verified = await runCli(['audit', 'verify'], ws2);
    assert.equal(verified.code, 0, verified.stderr + verified.stdout);
    for (const action of ['archive.backup', 'archive.restore']) {
      const listed = await runCli(['audit', 'list', '--action', action, '--json'], ws2);
      assert.equal(listed.code, 0, listed.stderr);
      assert.equal(listed.stdout.trim().split('\n').length, 1, `${action}: ${listed.stdout}`);
    }
    // A drain on the restored archive parses what the backup held unparsed and takes new mail.
    const user2 = (ws2 as Workspace & { user: { username: string } }).user;
    const later = [0, 1].map((i) => makeMessage(10_000 + i, { tag: 'after-restore' }));
    for (const m of later) sent.set(sha256(m), m);
    await dovecot.loadMaildir(user2.username, later);
    const drained = await runCli(['drain'], ws2);
    assert.equal(drained.code, 0, drained.stderr);
    assert.equal(await exportedIdentical(ws2, sent), inBackup + 2, 'every restored message exports byte-identical');
    const hits = await runCli(['search', 'Report', '--limit', '100000', '--json'], ws2);
    assert.equal(hits.code, 0, hits.stderr);
    assert.equal(hits.stdout.trim().split('\n').length, inBackup + 2, 'search finds every restored message');
    const after = await runCli(['search', 'after-restore', '--json'], ws2);
    assert.equal(after.stdout.trim().split('\n').length, 2);

    // The service finishes its drain; a second backup copies only what is new.
    await untilDrained(ws, COUNT + 3);
    const two = await incremental(ws, out, 2);
    assert.deepEqual(readdirSync(out).sort(), ['gen-000002', 'lock.db', 'manifest.json', 'shared'], 'the older generation is gone');

    // A few more messages: the third backup copies the databases and the new tail of one pack.
    const extra = [...journalMix(EXTRA, 0, 20_000)];
    for (const m of extra) sent.set(sha256(m), m);
    await dovecot.loadMaildir(user.username, extra);
    await untilDrained(ws, COUNT + 3 + EXTRA);
    const three = await incremental(ws, out, 3);
    assert.ok(three.shared.kept >= 1 && three.shared.kept >= three.shared.copied + three.shared.appended - 1, JSON.stringify(three.shared));
    assert.ok(three.sharedCopied < 2 * 1048576, `${three.sharedCopied} bytes of packs copied for ${EXTRA} small messages`);
    assert.ok(three.sharedCopied < two.sharedBytes / 20);
    await service.stop();
    service = undefined;

    // The last backup restores the whole archive.
    const ws3 = await restored(out);
    cleanups.push(ws3);
    assert.equal(count(ws3.dataDir, 'SELECT count(*) FROM messages'), COUNT + 3 + EXTRA);
    assert.equal(await exportedIdentical(ws3, sent), COUNT + 3 + EXTRA);
    // `start` runs on it, and search through the service finds every message.
    const started = spawnCli(['start'], ws3);
    const startedOut = collectCli(started);
    try {
      const until = Date.now() + 30_000;
      while (!existsSync(join(ws3.dataDir, 'control.sock'))) {
        assert.ok(Date.now() < until && started.exitCode === null, 'start on the restored archive never served its control socket');
        await new Promise((r) => setTimeout(r, 100));
      }
      const viaService = await runCli(['search', 'Report', '--limit', '100000', '--json'], ws3);
      assert.equal(viaService.code, 0, viaService.stderr);
      assert.equal(viaService.stdout.trim().split('\n').length, COUNT + 3 + EXTRA);
    } finally {
      started.kill('SIGTERM');
    }
    const startResult = await startedOut;
    assert.equal(startResult.code, 0, startResult.stderr);
    const m2 = manifestOf(out);

    // A full backup of the drained archive: the throughput figure of the ADR.
    const full = await backup(ws, join(ws.dir, 'full'));
    console.log(`backup (full, ${COUNT + 3} messages): ${(full.bytes / 1048576).toFixed(1)} MB in ${full.durationMs} ms: ${full.mbPerSecond} MB/s`);

    // One backup at a time per directory.
    const held = lockDataDir(out, 'test');
    try {
      const busy = await cli022(['backup', '--out', out], ws);
      assert.equal(busy.code, 1);
      assert.match(busy.stderr, new RegExp(`BACKUP_IN_PROGRESS: another backup \\(pid ${process.pid}\\) is writing`));
    } finally {
      held.release();
    }

    // Restore refuses a data directory that is not empty, naming it.
    const refused = await cli022(['restore', '--from', out], ws);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /RESTORE_TARGET_NOT_EMPTY/);
    assert.ok(refused.stderr.includes(ws.dataDir), refused.stderr);
    // A damaged backup is refused, naming the file, and leaves no data directory behind.
    // Its configuration names a stored secret, which a fresh machine's dataDir does not hold yet.
    const ws4 = makeWorkspace({ connections: [imapConnection(dovecot, { username: user.username, password: { secret: 'connection.journal.auth.password' } as unknown as string })] });
    cleanups.push(ws4);
    const pack = m2.entries.find((e) => e.kind === 'shared' && e.path.endsWith('.mspack'))!;
    const damaged = readFileSync(join(out, pack.stored));
    damaged.writeUInt8(damaged.readUInt8(damaged.length - 1) ^ 0xff, damaged.length - 1);
    writeFileSync(join(out, pack.stored), damaged);
    const bad = await cli022(['restore', '--from', out], ws4);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /BACKUP_INVALID/);
    assert.ok(bad.stderr.includes(pack.path), bad.stderr);
    assert.deepEqual(readdirSync(ws4.dir).sort(), ['mailsluice.yaml']);
  } finally {
    if (service) {
      service.child.kill('SIGKILL');
    }
    for (const w of cleanups) w.cleanup();
  }
});
