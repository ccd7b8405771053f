/**
 * Issue 16, "Contract" (ADR 0035): with `archive.encryption` on, no file under `dataDir` holds a
 * message's subject, body or attachment in clear: not the packs, not archive.db or search.db (nor
 * their -wal and -shm while the service runs), not the logs, not the keyring. Against the real
 * test Dovecot and the real CLI.
 *
 * - A `start` drains words-laden messages; while it runs (the connection log written at level
 *   full, so at errors too; the WAL files present) every file under dataDir is grepped for every word: none is found; search
 *   through the running service finds them; export gives the exact bytes back.
 * - Restart, rotation then a restart with only the new key: the databases and blobs read.
 * - A wrong key is refused by `start` and by `search` with one line, never "file is not a database".
 * - Backup keeps the database copies encrypted; restore + verify + search work with the key.
 * - An archive drained in clear is encrypted at the next start with encryption on (a log line),
 *   and turning encryption off again is refused.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { dovecotPerFile } from '../harness/dovecot-per-file.js';
import { collectCli, imapConnection, makeWorkspace, runCli, spawnCli, type CliResult, type Workspace } from '../harness/cli.js';
import { sha256, wordedMessage } from '../harness/messages.js';
import { filesUnder } from '../harness/files.js';
import { callApi, createToken, drainedWithApi, startService } from '../harness/api-client.js';
import { assertArchiveHolds } from '../harness/archive.js';

const dovecot = dovecotPerFile();

/** Words only the messages carry (subject, body, attachment name, attachment content). */
const WORDS = ['Xylocarpsubject', 'Brontidesbody', 'Quillworthattachname', 'Vellichorattachtext'];

const message = (i: number, tag = ''): Buffer =>
  wordedMessage(i, { subject: `Xylocarpsubject ${tag}`, body: `Brontidesbody ${tag}`, attachmentName: 'Quillworthattachname', attachmentContent: 'Vellichorattachtext' }, { idPrefix: `dbenc-${tag}`, bodyRepeat: 20, attachmentRepeat: 20 });


/** Every file under `dir` (or the file `dir`) holding one of `words` (UTF-8), as `file: word`. */
function clearHits(dir: string, words: string[]): string[] {
  const hits: string[] = [];
  for (const f of statSync(dir).isFile() ? [dir] : filesUnder(dir)) {
    let bytes: Buffer;
    try {
      bytes = readFileSync(f);
    } catch {
      continue; // gone since the listing (a -journal, a temporary file)
    }
    for (const w of words) if (bytes.includes(Buffer.from(w, 'utf8'))) hits.push(`${f}: ${w}`);
  }
  return hits;
}

function refusedWithOneLine(r: CliResult, what: string): void {
  assert.notEqual(r.code, 0, `${what} must refuse`);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, `${what}: one line, got ${r.stderr}`);
  assert.match(lines[0]!, /^mailsluice: ARCHIVE_KEY_INVALID: archive\.encryption: /, what);
  assert.doesNotMatch(r.stderr, /file is not a database/i, what);
}

async function searchHits(ws: Workspace, query: string, env: NodeJS.ProcessEnv = {}): Promise<number> {
  const r = await runCli(['search', query, '--json', '--limit', '1000'], ws, env);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim() === '' ? 0 : r.stdout.trim().split('\n').length;
}


/** Runs `start` until `ready` holds (polled), checks `whileRunning`, then stops it; returns its stderr. */
async function withStart(ws: Workspace, ready: () => Promise<boolean>, whileRunning: () => Promise<void> = async () => {}): Promise<string> {
  const child = spawnCli(['start'], ws);
  const done = collectCli(child);
  try {
    const until = Date.now() + 60_000;
    while (!existsSync(join(ws.dataDir, 'control.sock')) || !(await ready())) {
      assert.ok(Date.now() < until && child.exitCode === null, `start never got ready: ${child.exitCode}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    await whileRunning();
  } finally {
    child.kill('SIGTERM');
  }
  const r = await done;
  assert.equal(r.code, 0, r.stderr);
  return r.stderr;
}

test('with encryption on no file under dataDir holds a subject, body or attachment in clear; search, export, restart, rotation, backup and a wrong key behave', async () => {
  const user = await dovecot.createUser();
  const messages = [1, 2, 3, 4, 5].map((i) => message(i));
  const sent = new Map(messages.map((m) => [sha256(m), m]));
  await dovecot.loadMaildir(user.username, messages);
  const ws = makeWorkspace();
  const restoredWs = makeWorkspace();
  try {
    const conn = { ...imapConnection(dovecot, user), logging: 'full' };
    const key1 = join(ws.dir, 'master-1.key');
    assert.equal((await runCli(['keys', 'generate', '--out', key1], ws)).code, 0);
    const configure = (w: Workspace, key: string): void => w.writeConfig({ connections: [conn], archive: { encryption: { key: { file: key } } } });
    configure(ws, key1);

    let walSeen = false;
    let logSeen = false;
    await withStart(
      ws,
      async () => (await searchHits(ws, 'Xylocarpsubject')) === messages.length,
      async () => {
        // While it runs: the WAL files are there, the connection log too; none holds a word.
        walSeen = filesUnder(ws.dataDir).some((f) => f.endsWith('-wal'));
        logSeen = filesUnder(join(ws.dataDir, 'logs')).some((f) => readFileSync(f).length > 0);
        assert.deepEqual(clearHits(ws.dataDir, WORDS), [], 'a word in clear under dataDir while the service runs');
        // The index holds subjects, bodies and attachment names (not attachment contents).
        for (const w of WORDS.slice(0, 3)) assert.equal(await searchHits(ws, w.slice(0, 8) + '*'), messages.length, `search through the service finds ${w}`);
      },
    );
    assert.ok(walSeen, 'the WAL files were grepped too');
    assert.ok(logSeen, 'a connection log was grepped too');
    assert.deepEqual(clearHits(ws.dataDir, WORDS), [], 'a word in clear under dataDir after the service stopped');
    for (const db of ['archive.db', 'search.db']) assert.ok(!readFileSync(join(ws.dataDir, db)).subarray(0, 15).equals(Buffer.from('SQLite format 3')), `${db} is not in clear`);
    const keyring = JSON.parse(readFileSync(join(ws.dataDir, 'archive-keys.json'), 'utf8')) as { database?: { kek: string } };
    assert.ok(keyring.database, 'the database key is wrapped in the keyring');
    await assertArchiveHolds(ws, sent, 'export-1', 'export-1');

    // Restart: the databases open again, search reads them without a service.
    await withStart(ws, async () => true);
    assert.equal(await searchHits(ws, 'Brontidesbody'), messages.length, 'search after a restart');

    // A wrong key: refused with one line by start and by a reading command.
    const wrong = join(ws.dir, 'wrong.key');
    assert.equal((await runCli(['keys', 'generate', '--out', wrong], ws)).code, 0);
    configure(ws, wrong);
    refusedWithOneLine(await runCli(['start'], ws), 'start with a wrong key');
    refusedWithOneLine(await runCli(['search', 'Xylocarpsubject'], ws), 'search with a wrong key');
    refusedWithOneLine(await runCli(['stats'], ws), 'stats with a wrong key');
    for (const args of [['verify'], ['export', '--out', join(ws.dir, 'no-export')], ['backup', '--out', join(ws.dir, 'no-backup')], ['audit', 'list'], ['drain']]) {
      refusedWithOneLine(await runCli(args, ws), `${args[0]} with a wrong key`);
    }
    assert.ok(!existsSync(join(ws.dir, 'no-export')) && !existsSync(join(ws.dir, 'no-backup')), 'nothing written by a refused command');
    // Encryption turned off: refused, the databases would not open.
    ws.writeConfig({ connections: [conn] });
    refusedWithOneLine(await runCli(['search', 'Xylocarpsubject'], ws), 'search with encryption turned off');
    refusedWithOneLine(await runCli(['start'], ws), 'start with encryption turned off');

    // Rotation re-wraps the database key: no database is rewritten; only the new key opens them.
    configure(ws, key1);
    const key2 = join(ws.dir, 'master-2.key');
    assert.equal((await runCli(['keys', 'generate', '--out', key2], ws)).code, 0);
    const wrappedBefore = keyring.database!;
    const rotate = await runCli(['keys', 'rotate', '--new-key', key2], ws);
    assert.equal(rotate.code, 0, rotate.stderr);
    const rotated = JSON.parse(readFileSync(join(ws.dataDir, 'archive-keys.json'), 'utf8')) as { database: { kek: string; wrapped: string } };
    assert.notEqual(rotated.database.kek, wrappedBefore.kek, 'the database key is wrapped under the new master key');
    refusedWithOneLine(await runCli(['search', 'Xylocarpsubject'], ws), 'search with the old key after rotation');
    configure(ws, key2);
    await withStart(ws, async () => (await searchHits(ws, 'Quillworth*')) === messages.length);
    await assertArchiveHolds(ws, sent, 'export-2', 'export-2');

    // Backup: the database copies stay encrypted; restored with the key, verify and search work.
    const backupDir = join(ws.dir, 'backup');
    const b = await runCli(['backup', '--out', backupDir], ws);
    assert.equal(b.code, 0, b.stderr);
    assert.deepEqual(clearHits(backupDir, WORDS), [], 'a word in clear in the backup');
    const key2Bytes = readFileSync(key2);
    for (const f of filesUnder(backupDir)) assert.equal(readFileSync(f).indexOf(key2Bytes), -1, `the master key is in ${f}`);
    // A restore with the wrong key is refused before anything is copied.
    configure(restoredWs, key1);
    refusedWithOneLine(await runCli(['restore', '--from', backupDir], restoredWs), 'restore with the old key');
    assert.ok(!existsSync(restoredWs.dataDir) || readdirSync(restoredWs.dataDir).length === 0, 'nothing restored with a wrong key');
    configure(restoredWs, key2);
    const restore = await runCli(['restore', '--from', backupDir], restoredWs);
    assert.equal(restore.code, 0, restore.stderr);
    const verified = await runCli(['verify'], restoredWs);
    assert.equal(verified.code, 0, `${verified.stdout}${verified.stderr}`);
    assert.equal(await searchHits(restoredWs, 'Quillworth*'), messages.length, 'search on the restored archive');
    await assertArchiveHolds(restoredWs, sent, 'export-restored', 'export-restored');
    assert.deepEqual(clearHits(restoredWs.dataDir, WORDS), [], 'a word in clear in the restored archive');
  } finally {
    ws.cleanup();
    restoredWs.cleanup();
  }
});

test('an archive drained in clear is encrypted at the next start with encryption on, and reads the same', async () => {
  const user = await dovecot.createUser();
  const first = [1, 2, 3].map((i) => message(i, 'clear'));
  await dovecot.loadMaildir(user.username, first);
  const ws = makeWorkspace();
  try {
    const conn = imapConnection(dovecot, user);
    ws.writeConfig({ connections: [conn] });
    const drain = await runCli(['drain'], ws);
    assert.equal(drain.code, 0, drain.stderr);
    // The check can fail: in clear, the words are there to be found.
    assert.ok(clearHits(ws.dataDir, WORDS).some((h) => /\.db(?:-wal)?: /.test(h)), 'in clear, the words are found in the databases');

    const key = join(ws.dir, 'master.key');
    assert.equal((await runCli(['keys', 'generate', '--out', key], ws)).code, 0);
    ws.writeConfig({ connections: [conn], archive: { encryption: { key: { file: key } } } });
    // A reading command before the next start reads the databases still in clear.
    assert.equal(await searchHits(ws, 'Xylocarpsubject'), first.length);
    const stderr = await withStart(ws, async () => true);
    assert.match(stderr, /database encrypted[^\n]*archive\.db/);
    assert.match(stderr, /database encrypted[^\n]*search\.db/);
    for (const f of filesUnder(ws.dataDir).filter((f) => /\.db(?:-wal|-shm)?$/.test(f) && !f.endsWith('lock.db'))) {
      assert.deepEqual(clearHits(f, WORDS), [], `${f} still holds a word in clear`);
      if (f.endsWith('.db')) assert.ok(!readFileSync(f).subarray(0, 15).equals(Buffer.from('SQLite format 3')), `${f} is encrypted`);
    }
    assert.ok(!filesUnder(ws.dataDir).some((f) => f.endsWith('.encrypting')), 'no copy left behind');
    assert.equal(await searchHits(ws, 'Brontidesbody'), first.length, 'search reads the encrypted databases');
    // Turning encryption off again is refused, in one line.
    ws.writeConfig({ connections: [conn] });
    refusedWithOneLine(await runCli(['drain'], ws), 'drain with encryption turned off');
  } finally {
    ws.cleanup();
  }
});

test('with encryption on, the HTTP API searches the encrypted index and /metrics counts from its own thread', async () => {
  const user = await dovecot.createUser();
  const messages = [1, 2, 3].map((i) => message(i, 'api'));
  await dovecot.loadMaildir(user.username, messages);
  const dir = makeWorkspace();
  const key = join(dir.dir, 'master.key');
  assert.equal((await runCli(['keys', 'generate', '--out', key], dir)).code, 0);
  const { ws, base } = await drainedWithApi({ connections: [imapConnection(dovecot, user)], archive: { encryption: { key: { file: key } } } });
  const service = await startService(ws, base);
  try {
    const token = await createToken(ws, 'legal', 'auditor');
    for (const w of ['Xylocarpsubject', 'Brontidesbody', 'Quillworthattachname*']) {
      const found = await callApi(`${base}/api/v1/messages?text=${encodeURIComponent(w)}`, token);
      assert.equal(found.status, 200, found.raw);
      assert.equal(found.body.total, messages.length, `the API finds ${w}`);
    }
    const metrics = await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(metrics.status, 200);
    assert.match(await metrics.text(), new RegExp(`^mailsluice_archive_messages ${messages.length}$`, 'm'), 'the metrics reader thread opens the encrypted database');
    assert.deepEqual(clearHits(ws.dataDir, WORDS), [], 'a word in clear under dataDir while the API service runs');
  } finally {
    await service.stop();
    ws.cleanup();
    dir.cleanup();
  }
});
