/**
 * The shared real-world corpus (1,799 messages from other parsers' test suites, hostile and
 * broken ones included) goes through a real drain: nothing crashes, nothing is lost, every
 * message is archived byte for byte as the server served it, and every one is parsed or marked
 * unparsable.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import '../harness/sqlite-keep.js';
import { ImapFlow } from 'imapflow';
import { startDovecot, type DovecotInstance } from '../harness/dovecot.js';
import { assertArchiveHolds } from '../harness/archive.js';
import { makeWorkspace, runCli, imapConnection, pop3Connection, REPO_ROOT } from '../harness/cli.js';
import { sha256 } from '../harness/messages.js';

const CORPUS = resolve(REPO_ROOT, '..', 'shared', 'corpus');

let dovecot: DovecotInstance;
before(async () => {
  if (!existsSync(join(CORPUS, 'manifest.json'))) throw new Error(`the shared corpus is missing at ${CORPUS}; it must sit beside the repository`);
  dovecot = await startDovecot();
});
after(async () => {
  await dovecot?.stop();
});

const CRLF = Buffer.from('\r\n');

/** Wire format: IMAP serves CRLF, so LF-only files are converted (corpus/README.md). */
function toCrlf(b: Buffer): Buffer {
  return Buffer.from(b.toString('latin1').replace(/\r?\n/g, '\r\n'), 'latin1');
}

for (const protocol of ['imap', 'pop3'] as const) test(`the whole corpus drains over ${protocol} without a crash or a lost message`, async () => {
  const manifest = JSON.parse(readFileSync(join(CORPUS, 'manifest.json'), 'utf8')) as { items: Array<{ file: string }> };
  const raws = manifest.items.map((i) => toCrlf(readFileSync(join(CORPUS, i.file))));
  const user = await dovecot.createUser();
  await dovecot.loadMaildir(user.username, raws);

  // What the server serves, read independently (Dovecot may alter NUL bytes, for example).
  const client = new ImapFlow({ host: dovecot.host, port: dovecot.imapPort, secure: false, doSTARTTLS: false, auth: { user: user.username, pass: user.password }, logger: false });
  await client.connect();
  await client.mailboxOpen('INBOX');
  const served = new Map<string, Buffer>();
  let count = 0;
  for await (const m of client.fetch('1:*', { uid: true, source: true })) {
    count++;
    if (m.source) served.set(sha256(m.source), m.source);
  }
  await client.logout();
  assert.equal(count, raws.length);

  const conn = protocol === 'imap' ? imapConnection(dovecot, user, { maxMessagesPerCycle: 500 }) : pop3Connection(dovecot, user, { maxMessagesPerCycle: 500 });
  const ws = makeWorkspace({ connections: [conn] });
  try {
    const r = await runCli(['drain', '--json'], ws);
    assert.equal(r.code, 0, r.stderr);
    const summary = JSON.parse(r.stdout.trim()) as { taken: number; parsed: number; unparsable: number };
    assert.equal(await dovecot.messageCount(user.username), 0, 'mailbox must be empty');
    const db = new Database(join(ws.dataDir, 'archive.db'), { readonly: true });
    try {
      const keys = db.prepare('SELECT COUNT(*) AS n FROM source_keys').get() as { n: number };
      assert.equal(keys.n, raws.length, 'every server message taken once');
      const msgs = db.prepare('SELECT COUNT(*) AS n, SUM(parse_state = 1) AS ok, SUM(parse_state = 2) AS bad, SUM(parse_state = 0) AS waiting FROM messages').get() as {
        n: number;
        ok: number;
        bad: number;
        waiting: number;
      };
      // Identical bytes from one connection are one archived message (single instance).
      assert.equal(msgs.n, served.size);
      assert.equal(msgs.waiting, 0, 'every message parsed or marked unparsable');
      console.log(`corpus drain (${protocol}): ${raws.length} taken, ${msgs.n} distinct archived, ${msgs.ok} parsed, ${msgs.bad} unparsable (summary ${JSON.stringify(summary)})`);
    } finally {
      db.close();
    }
    // POP3 frames a message as lines: one that does not end in CRLF gets one from the server
    // before the terminating "." (RFC 1939 section 3). And Dovecot's POP3 serves the stored bytes
    // as they are, where its IMAP replaces NUL bytes: so over POP3 the archive must hold the
    // loaded files themselves, each ending in CRLF.
    const expected =
      protocol === 'imap' ? served : new Map(raws.map((b) => (b.subarray(-2).equals(CRLF) ? b : Buffer.concat([b, CRLF]))).map((b) => [sha256(b), b]));
    await assertArchiveHolds(ws, expected, `from what the server served over ${protocol}`);
  } finally {
    ws.cleanup();
  }
});
