/**
 * The re-index job (issue 17, item 3; ADR 0041) on a real archive: a drain from Dovecot of a few
 * thousand small messages, its full-text index then set back to what an older build left (the
 * rows gone, no version recorded), and `mailsluice reindex` killed with SIGKILL at random points
 * mid-way and run again until it ends. Afterwards every message has exactly one row, found by the
 * word only its body carries, and the index records this build's version. `start` does the same
 * in the background.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import '../harness/sqlite-keep.js';
import { dovecotPerFile } from '../harness/dovecot-per-file.js';
import { makeWorkspace, runCli, spawnCli, collectCli, imapConnection, type Workspace } from '../harness/cli.js';
import { seededRandom } from '../harness/random.js';
import { SEARCH_INDEX_VERSION } from '../../src/adapters/store-sqlite/fts-version.js';

const dovecot = dovecotPerFile();
const COUNT = Number(process.env.REINDEX_MESSAGES ?? 4000);

/** A word of letters only (unicode61 keeps it whole), different for every `i`. */
function uniqueWord(i: number): string {
  let s = '';
  for (let n = i; ; n = Math.floor(n / 26) - 1) {
    s = String.fromCharCode(97 + (n % 26)) + s;
    if (n < 26) break;
  }
  return `qzx${s}`;
}

function message(i: number): Buffer {
  return Buffer.from(
    [
      `From: "Sender ${i}" <s${i}@example.test>`,
      'To: archive@example.test',
      `Subject: Invoice ${i}`,
      `Date: ${new Date(Date.UTC(2026, 0, 1) + i * 60000).toUTCString().replace('GMT', '+0000')}`,
      `Message-ID: <reindex-${i}@example.test>`,
      'MIME-Version: 1.0',
      'Content-Type: text/plain; charset=utf-8',
      'Content-Transfer-Encoding: 8bit',
      '',
      `Please find the invoices attached. Письма о счетах. Marker ${uniqueWord(i)}.`,
      '',
    ].join('\r\n'),
  );
}

function searchDb(ws: Workspace, readonly = true): Database.Database {
  const db = new Database(join(ws.dataDir, 'search.db'), { readonly });
  db.pragma('busy_timeout = 10000');
  return db;
}

function meta(ws: Workspace): Map<string, number> {
  const db = searchDb(ws);
  try {
    return new Map((db.prepare('SELECT key, value FROM search_meta').all() as Array<{ key: string; value: number }>).map((r) => [r.key, r.value]));
  } finally {
    db.close();
  }
}

/** What an older build left: the rows of its own making (here: none at all) and no version. */
function makeIndexOld(ws: Workspace): void {
  const db = searchDb(ws, false);
  try {
    db.prepare("INSERT INTO messages_search (messages_search) VALUES ('delete-all')").run();
    db.prepare('DELETE FROM search_meta').run();
  } finally {
    db.close();
  }
}

/** Every message has one row, found by its own word and no other message's; nothing else is indexed. */
function assertIndexedOnce(ws: Workspace): void {
  const archive = new Database(join(ws.dataDir, 'archive.db'), { readonly: true });
  const ids = new Map((archive.prepare('SELECT id, subject FROM messages').all() as Array<{ id: number; subject: string }>).map((r) => [Number(/\d+$/.exec(r.subject)![0]), r.id]));
  archive.close();
  assert.equal(ids.size, COUNT);
  const db = searchDb(ws);
  try {
    const rowids = db.prepare('SELECT rowid FROM messages_search').pluck().all() as number[];
    assert.equal(rowids.length, COUNT, 'one row per message');
    assert.equal(new Set(rowids).size, COUNT, 'no message twice');
    const find = db.prepare('SELECT rowid FROM messages_search WHERE messages_search MATCH ?').pluck();
    // In the body as written: the stems column holds forms of other messages' words too (qzxaed → qzxa).
    for (const [i, id] of ids) assert.deepEqual(find.all(`{body} : "${uniqueWord(i)}"`), [id], `message ${i} by its word`);
    // The rebuilt rows carry the word forms: "письмо" and "invoice" are in no message as written,
    // and every message holds them as forms (Письма, invoices).
    for (const stem of ['письм', 'invoic']) {
      assert.equal(find.all(`{body} : "${stem === 'письм' ? 'письмо' : 'invoice'}"`).length, 0, `no message holds ${stem}… exactly`);
      assert.equal(find.all(`{stems} : "${stem}"`).length, COUNT, `every message by the stem ${stem}`);
    }
  } finally {
    db.close();
  }
}

/** A workspace whose archive holds the {@link COUNT} messages, drained from a new mailbox. */
async function drainedArchive(): Promise<Workspace> {
  const user = await dovecot.createUser();
  await dovecot.loadMaildir(user.username, Array.from({ length: COUNT }, (_, i) => message(i)));
  const ws = makeWorkspace({ connections: [imapConnection(dovecot, user, { deletePolicy: 'delete-and-expunge' })] });
  const drained = await runCli(['drain'], ws);
  if (drained.code !== 0) ws.cleanup();
  assert.equal(drained.code, 0, drained.stderr);
  return ws;
}

test('reindex killed with SIGKILL at random points resumes where it stopped; every message ends up indexed once', async () => {
  const seed = Number(process.env.REINDEX_SEED ?? Date.now() % 100000);
  const random = seededRandom(seed);
  const ws = await drainedArchive();
  try {
    // A new archive's index is at this build's version: nothing to rebuild.
    assert.equal(meta(ws).get('version'), SEARCH_INDEX_VERSION);
    const current = await runCli(['reindex'], ws);
    assert.equal(current.code, 0, current.stderr);
    assert.match(current.stdout, /the search index is current/);

    makeIndexOld(ws);
    const before = await runCli(['search', uniqueWord(7)], ws);
    assert.match(before.stdout, /^0 messages$/m, 'the rows are gone');
    assert.match(before.stderr, new RegExp(`^the search index is being rebuilt \\(0 of ${COUNT} messages\\)`, 'm'), 'search says its index is older');

    let midway = 0;
    let resumedFrom: number | undefined;
    for (let run = 0; ; run++) {
      assert.ok(run < 20, `the rebuild never finished (seed ${seed})`);
      const child = spawnCli(['reindex'], ws);
      const done = collectCli(child);
      let exited = false;
      void done.then(() => (exited = true));
      // At most six kills, each at a random point once this run made progress (a batch of its own durable).
      if (run < 6) {
        const from = resumedFrom ?? 0;
        for (let after = from; !exited && after === from; await sleep(5)) after = meta(ws).get('rebuild_after') ?? 0;
        // Within 400 ms of its first batch: a whole rebuild of these messages takes a few seconds, so most kills land mid-way.
        if (!exited) await sleep(Math.floor(random() * 400));
        if (!exited) child.kill('SIGKILL');
      }
      const r = await done;
      if (resumedFrom !== undefined) assert.match(r.stderr, new RegExp(`^resuming the rebuild after message ${resumedFrom}: `, 'm'), `run ${run} (seed ${seed})`);
      const m = meta(ws);
      if (r.signal === 'SIGKILL' && m.has('rebuild_after')) {
        const after = m.get('rebuild_after')!;
        assert.ok(after > (resumedFrom ?? 0), `run ${run} made progress`);
        if (after < m.get('rebuild_end')!) {
          // Mid-way, search says how far the rebuild is.
          if (midway++ === 0) {
            const during = await runCli(['search', uniqueWord(7)], ws);
            assert.match(during.stderr, new RegExp(`^the search index is being rebuilt \\(${m.get('rebuild_done')} of ${COUNT} messages\\)`, 'm'));
          }
        }
        resumedFrom = after;
        continue;
      }
      // Ended, or killed after its last batch (only the exit was left).
      if (r.signal !== 'SIGKILL') {
        assert.equal(r.code, 0, `run ${run} (seed ${seed}): ${r.stderr}`);
        assert.match(r.stdout, /^the search index is rebuilt \(version \d+\): \d+ messages in /);
      }
      break;
    }
    assert.ok(midway > 0, `no run was killed mid-way (seed ${seed}); the test proved nothing`);
    const m = meta(ws);
    assert.equal(m.get('version'), SEARCH_INDEX_VERSION);
    assert.deepEqual([...m.keys()], ['version'], 'no rebuild left under way');
    assertIndexedOnce(ws);
    const found = await runCli(['search', uniqueWord(COUNT - 1)], ws);
    assert.match(found.stdout, new RegExp(`Invoice ${COUNT - 1}`));
    assert.match(found.stdout, /^1 message$/m);
    assert.doesNotMatch(found.stderr, /being rebuilt/);
  } finally {
    ws.cleanup();
  }
});

test('start rebuilds an older index in the background', async () => {
  const ws = await drainedArchive();
  try {
    makeIndexOld(ws);
    const child = spawnCli(['start'], ws);
    const done = collectCli(child);
    const deadline = Date.now() + 120_000;
    while (meta(ws).get('version') !== SEARCH_INDEX_VERSION && Date.now() < deadline) await sleep(100);
    child.kill('SIGTERM');
    const r = await done;
    assert.equal(meta(ws).get('version'), SEARCH_INDEX_VERSION, r.stderr);
    assert.match(r.stderr, /rebuilding it from the raw messages in the background/);
    assertIndexedOnce(ws);
  } finally {
    ws.cleanup();
  }
});
