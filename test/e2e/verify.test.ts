/**
 * Issue 16, item 5 (ADR 0031): `mailsluice verify` reads every blob of a real drained archive
 * back. Clean: exit 0. A byte flipped in a pack: the message is named (id and Message-ID), exit 1,
 * and a normal read of it fails with STORE_CORRUPT. An index row deleted: its blob is an orphan,
 * `--repair` indexes it again and `search` finds it. A catalogue row gone: the message is named.
 * Beside a running `start`, verify and repair go through the control socket and are audited there.
 * The scrub of `start` finds a flipped byte at its configured rate: logged by message, kept in
 * scrub-state.json for the `archive-damaged` alert, counted in /metrics.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, existsSync, openSync, readFileSync, readSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { userInfo } from 'node:os';
import Database from 'better-sqlite3';
import { dovecotPerFile } from '../harness/dovecot-per-file.js';
import { imapConnection, makeWorkspace, runCli, type Workspace } from '../harness/cli.js';
import { makeMessage, sha256 } from '../harness/messages.js';
import { drainedWithApi, startService, type RunningService } from '../harness/api-client.js';

const dovecot = dovecotPerFile();
const lines = (s: string): string[] => s.split('\n').filter((l) => l !== '');

type Problem = { kind: string; archiveId: string | null; ref: string | null; detail: string; messages: Array<{ id: number; connection: string; messageId: string | null }>; repairedAs?: number };
type Report = { ok: boolean; records: number; messages: number; bytesRead: number; mbPerSecond: number; problems: Problem[]; repair?: { reindexed: number; left: number } };

async function verify(ws: Workspace, ...extra: string[]): Promise<{ code: number | null; report: Report; stderr: string }> {
  const r = await runCli(['verify', '--json', ...extra], ws);
  return { code: r.code, report: JSON.parse(lines(r.stdout).at(-1)!) as Report, stderr: r.stderr };
}

/** Deletes a message's index row the way a lost or damaged database would lose it: its row, its keys, its deliveries and its text. */
function deleteIndexRow(ws: Workspace, sha: string): number {
  const db = new Database(join(ws.dataDir, 'archive.db'));
  try {
    const row = db.prepare('SELECT id FROM messages WHERE sha256 = ?').get(sha) as { id: number };
    db.transaction(() => {
      db.prepare('DELETE FROM deliveries WHERE message_id = ?').run(row.id);
      db.prepare('DELETE FROM source_keys WHERE message_id = ?').run(row.id);
      db.prepare('DELETE FROM messages WHERE id = ?').run(row.id);
    })();
    db.exec(`ATTACH DATABASE '${join(ws.dataDir, 'search.db')}' AS s`);
    db.prepare('DELETE FROM s.messages_search WHERE rowid = ?').run(row.id);
    return row.id;
  } finally {
    db.close();
  }
}

async function searchHits(ws: Workspace, word: string): Promise<Array<{ sha256: string; connection: string }>> {
  const r = await runCli(['search', word, '--json'], ws);
  assert.equal(r.code, 0, r.stderr);
  return lines(r.stdout).map((l) => JSON.parse(l) as { sha256: string; connection: string });
}

test('verify: clean exit 0; a flipped byte names the message and exits 1; a lost index row is an orphan that --repair indexes again; a lost catalogue row names the message and --repair writes it again', async () => {
  const user = await dovecot.createUser();
  const originals = Array.from({ length: 40 }, (_, i) => makeMessage(i, { tag: i === 7 ? 'zanzibar' : undefined, bodyBytes: 2000 + i * 50, attachmentBytes: i === 20 ? 400_000 : 0 }));
  await dovecot.loadMaildir(user.username, originals);
  const ws = makeWorkspace({ connections: [imapConnection(dovecot, user)] });
  try {
    const drained = await runCli(['drain'], ws);
    assert.equal(drained.code, 0, drained.stderr);

    const clean = await verify(ws);
    assert.equal(clean.code, 0, clean.stderr);
    assert.equal(clean.report.ok, true);
    assert.equal(clean.report.messages, 40);
    assert.ok(clean.report.records >= 40, `records ${clean.report.records}`);
    const text = await runCli(['verify'], ws);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^archive intact: \d+ blobs in \d+ packs, .* MB\/s\); 40 messages/m);

    // An index row lost: the blob is an orphan; --repair indexes it again from its bytes.
    const tagged = sha256(originals[7]!);
    assert.equal((await searchHits(ws, 'zanzibar')).length, 1);
    deleteIndexRow(ws, tagged);
    assert.equal((await searchHits(ws, 'zanzibar')).length, 0);
    const orphan = await verify(ws);
    assert.equal(orphan.code, 1);
    assert.match(orphan.stderr, /ARCHIVE_DAMAGED/);
    assert.deepEqual(orphan.report.problems.map((p) => [p.kind, p.archiveId]), [['orphan-blob', tagged]]);
    const repaired = await verify(ws, '--repair');
    assert.equal(repaired.code, 0, repaired.stderr);
    assert.deepEqual(repaired.report.repair, { reindexed: 1, left: 0 });
    const found = await searchHits(ws, 'zanzibar');
    assert.deepEqual(found.map((h) => [h.sha256, h.connection]), [[tagged, '(repaired)']]);
    assert.equal((await verify(ws)).code, 0);

    // A byte flipped in the middle of a message's record: named by message, and a read fails.
    const db = new Database(join(ws.dataDir, 'archive.db'), { readonly: true });
    const victim = sha256(originals[3]!);
    const row = db.prepare('SELECT m.id AS id, m.message_id AS messageId, b.ref AS ref FROM messages m JOIN blobs b ON b.sha256 = m.sha256 WHERE m.sha256 = ?').get(victim) as { id: number; messageId: string; ref: string };
    db.close();
    const [pack, offset, stored] = row.ref.split(':');
    const file = join(ws.dataDir, 'blobs', `${pack}.mspack`);
    const at = Number(offset) + 64 + Math.floor(Number(stored) / 2);
    const fd = openSync(file, 'r+');
    const b = Buffer.alloc(1);
    readSync(fd, b, 0, 1, at);
    b[0] = b[0]! ^ 0xff;
    writeSync(fd, b, 0, 1, at);
    closeSync(fd);
    const corrupt = await verify(ws);
    assert.equal(corrupt.code, 1);
    assert.equal(corrupt.report.problems.length, 1, JSON.stringify(corrupt.report.problems));
    const p = corrupt.report.problems[0]!;
    assert.equal(p.kind, 'blob-corrupt');
    assert.equal(p.archiveId, victim);
    assert.deepEqual(p.messages.map((m) => [m.id, m.messageId]), [[row.id, row.messageId]]);
    const plain = await runCli(['verify'], ws);
    assert.match(plain.stdout, new RegExp(`^blob-corrupt: archive id ${victim}: message ${row.id} \\(journal, Message-ID [^)]*\\): `, 'm'));
    const exported = await runCli(['export', '--out', join(ws.dir, 'out')], ws);
    assert.notEqual(exported.code, 0);
    assert.match(exported.stderr, /STORE_CORRUPT/);
    // --repair cannot set it right: it stays reported, exit 1.
    const noRepair = await verify(ws, '--repair');
    assert.equal(noRepair.code, 1);
    assert.deepEqual(noRepair.report.repair, { reindexed: 0, left: 1 });

    // A catalogue row gone under a message (only with the foreign keys off): named by message.
    const w = new Database(join(ws.dataDir, 'archive.db'));
    const lost = sha256(originals[5]!);
    const lostId = (w.prepare('SELECT id FROM messages WHERE sha256 = ?').get(lost) as { id: number }).id;
    w.pragma('foreign_keys = OFF');
    w.prepare('DELETE FROM blobs WHERE sha256 = ?').run(lost);
    w.close();
    const missing = await verify(ws);
    assert.equal(missing.code, 1);
    const kinds = missing.report.problems.map((q) => [q.kind, q.archiveId, q.messages.map((m) => m.id)]);
    assert.deepEqual(
      kinds.sort((x, y) => String(x[0]).localeCompare(String(y[0]))),
      [
        ['blob-corrupt', victim, [row.id]],
        ['blob-missing', lost, [lostId]],
      ].sort((x, y) => String(x[0]).localeCompare(String(y[0]))),
    );
    // The blob is intact in its pack: --repair writes its catalogue row again; the corrupt one stays.
    const rowBack = await verify(ws, '--repair');
    assert.equal(rowBack.code, 1);
    assert.deepEqual(rowBack.report.repair, { reindexed: 1, left: 1 });
    const after = await verify(ws);
    assert.deepEqual(after.report.problems.map((q) => [q.kind, q.archiveId]), [['blob-corrupt', victim]]);
  } finally {
    ws.cleanup();
  }
});

test('verify beside start: through the control socket, audited there; --repair indexes an orphan and the running service makes it searchable', async () => {
  const user = await dovecot.createUser();
  const originals = Array.from({ length: 12 }, (_, i) => makeMessage(i, { tag: i === 2 ? 'quokka' : undefined, bodyBytes: 900 }));
  await dovecot.loadMaildir(user.username, originals);
  const { ws, base } = await drainedWithApi({ connections: [imapConnection(dovecot, user)] });
  let service: RunningService | undefined;
  try {
    service = await startService(ws, base);
    const clean = await verify(ws);
    assert.equal(clean.code, 0, clean.stderr);
    assert.equal(clean.report.messages, 12);

    deleteIndexRow(ws, sha256(originals[2]!));
    const orphan = await verify(ws);
    assert.equal(orphan.code, 1);
    assert.deepEqual(orphan.report.problems.map((p) => p.kind), ['orphan-blob']);
    const repaired = await verify(ws, '--repair');
    assert.equal(repaired.code, 0, repaired.stderr);
    assert.equal(repaired.report.repair?.reindexed, 1);
    const until = Date.now() + 20_000;
    while ((await searchHits(ws, 'quokka')).length !== 1) {
      assert.ok(Date.now() < until, `the service never indexed the repaired message (stderr: ${service.stderr()})`);
      await new Promise((r) => setTimeout(r, 200));
    }

    const audit = await runCli(['audit', 'list', '--json'], ws);
    const records = lines(audit.stdout).map((l) => JSON.parse(l) as { who: string; origin: string; action: string });
    const mine = records.filter((r) => r.action === 'archive.verify' || r.action === 'archive.repair');
    assert.deepEqual(
      mine.map((r) => [r.action, r.who, r.origin]),
      [
        ['archive.verify', `local:${userInfo().username}`, 'control socket'],
        ['archive.verify', `local:${userInfo().username}`, 'control socket'],
        ['archive.repair', `local:${userInfo().username}`, 'control socket'],
      ],
    );
    await service.stop();
    service = undefined;
  } finally {
    if (service) service.child.kill('SIGKILL');
    ws.cleanup();
  }
});

test('the scrub of start: a pass at the configured rate finds a flipped byte, logs it naming the message, keeps the verdict for the archive-damaged alert and counts it in /metrics', async () => {
  const user = await dovecot.createUser();
  const originals = Array.from({ length: 8 }, (_, i) => makeMessage(i, { bodyBytes: 3000 }));
  await dovecot.loadMaildir(user.username, originals);
  // A period of 3.6 s: the first pass comes that long after the start.
  const { ws, base } = await drainedWithApi({ connections: [imapConnection(dovecot, user)], archive: { scrub: { everyHours: 0.001, mbPerSecond: 5 } }, api: { metricsOpen: true } });
  let service: RunningService | undefined;
  try {
    const db = new Database(join(ws.dataDir, 'archive.db'), { readonly: true });
    const victim = sha256(originals[4]!);
    const row = db.prepare('SELECT m.id AS id, b.ref AS ref FROM messages m JOIN blobs b ON b.sha256 = m.sha256 WHERE m.sha256 = ?').get(victim) as { id: number; ref: string };
    db.close();
    const [pack, offset] = row.ref.split(':');
    const fd = openSync(join(ws.dataDir, 'blobs', `${pack}.mspack`), 'r+');
    writeSync(fd, Buffer.from([0x42, 0x42]), 0, 2, Number(offset) + 70);
    closeSync(fd);
    service = await startService(ws, base);
    const state = join(ws.dataDir, 'scrub-state.json');
    const until = Date.now() + 30_000;
    while (!existsSync(state)) {
      assert.ok(Date.now() < until, `no scrub pass within 30 s (stderr: ${service.stderr()})`);
      await new Promise((r) => setTimeout(r, 200));
    }
    const verdict = JSON.parse(readFileSync(state, 'utf8')) as { ok: boolean; problems: number; first: string[] };
    assert.equal(verdict.ok, false);
    assert.equal(verdict.problems, 1);
    assert.match(verdict.first[0]!, new RegExp(`^blob-corrupt: archive id ${victim}: message ${row.id} \\(journal, Message-ID`));
    assert.equal(statSync(state).mode & 0o777, 0o600);
    // The log line and the gauge follow the state file by a moment (a loaded machine pipes stderr late).
    const logged = new RegExp(`archive scrub: blob-corrupt: archive id ${victim}: message ${row.id}`);
    let metrics = '';
    for (;;) {
      metrics = await (await fetch(`${base}/metrics`)).text();
      if (logged.test(service.stderr()) && /^mailsluice_archive_scrub_problems 1$/m.test(metrics)) break;
      assert.ok(Date.now() < until, `the scrub's log line or gauge missing after 30 s (stderr: ${service.stderr()})`);
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.match(service.stderr(), logged);
    assert.match(metrics, /^mailsluice_archive_scrub_problems 1$/m);
    assert.match(metrics, /^mailsluice_archive_scrub_last_pass_timestamp_seconds \d+/m);
    await service.stop();
    service = undefined;
  } finally {
    if (service) service.child.kill('SIGKILL');
    ws.cleanup();
  }
});
