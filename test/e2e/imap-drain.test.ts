import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ImapFlow } from 'imapflow';
import { type TestUser } from '../harness/dovecot.js';
import { dovecotPerFile } from '../harness/dovecot-per-file.js';
import { assertArchiveHolds } from '../harness/archive.js';
import { makeWorkspace, runCli, imapConnection } from '../harness/cli.js';
import { journalMix, makeMessage, sha256 } from '../harness/messages.js';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const dovecot = dovecotPerFile();

/** Reads every message of INBOX as the server serves it, independently of mailsluice. */
async function serverMessages(user: TestUser): Promise<Map<string, Buffer>> {
  const client = new ImapFlow({ host: dovecot.host, port: dovecot.imapPort, secure: false, doSTARTTLS: false, auth: { user: user.username, pass: user.password }, logger: false });
  await client.connect();
  await client.mailboxOpen('INBOX');
  const out = new Map<string, Buffer>();
  for await (const m of client.fetch('1:*', { uid: true, source: true })) if (m.source) out.set(sha256(m.source), m.source);
  await client.logout();
  return out;
}

test('drain moves every message into the archive byte for byte and empties the mailbox', async () => {
  const user = await dovecot.createUser();
  await dovecot.deliverMany(user.username, journalMix(60, 15));
  const onServer = await serverMessages(user);
  assert.equal(onServer.size, 60);

  const ws = makeWorkspace({ connections: [imapConnection(dovecot, user)] });
  try {
    const r = await runCli(['drain', '--json'], ws);
    assert.equal(r.code, 0, r.stderr);
    const summary = JSON.parse(r.stdout.trim()) as { taken: number; parsed: number; unparsable: number };
    assert.equal(summary.taken, 60);
    assert.equal(summary.parsed, 60);
    assert.equal(await dovecot.messageCount(user.username), 0, 'mailbox must be empty');

    const stats = JSON.parse((await runCli(['stats', '--json'], ws)).stdout) as { messages: number; bytes: number };
    assert.equal(stats.messages, 60);
    assert.equal(stats.bytes, [...onServer.values()].reduce((n, b) => n + b.length, 0));

    await assertArchiveHolds(ws, onServer, 'from what the server served');

    const again = await runCli(['drain', '--json'], ws);
    assert.equal(again.code, 0, again.stderr);
    assert.equal((JSON.parse(again.stdout.trim()) as { taken: number }).taken, 0);

    const search = await runCli(['search', 'quarterly', '--json'], ws);
    assert.equal(search.code, 0, search.stderr);
    assert.equal(search.stdout.trim().split('\n').length, 60);
  } finally {
    ws.cleanup();
  }
});

test('export of a message whose stored bytes are damaged fails with the store error and leaves no <sha256>.eml for it, so a later export does not take a partial file as done', async () => {
  const user = await dovecot.createUser();
  const small = makeMessage(1, { tag: 'export-ok' });
  const large = makeMessage(2, { tag: 'export-damaged', attachmentBytes: 3_000_000 });
  await dovecot.loadMaildir(user.username, [small, large]);
  const ws = makeWorkspace({ connections: [imapConnection(dovecot, user, { security: 'none' })] });
  try {
    const d = await runCli(['drain', '--json'], ws);
    assert.equal(d.code, 0, d.stderr);
    // Damage the middle of the largest pack file: the large message's record.
    const packs = readdirSync(ws.dataDir, { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile() && /pack/.test(e.name))
      .map((e) => join(e.parentPath ?? (e as unknown as { path: string }).path, e.name));
    const biggest = packs.sort((a, b) => statSync(b).size - statSync(a).size)[0]!;
    const bytes = readFileSync(biggest);
    for (let i = 0; i < 64; i++) {
      const at = Math.floor(bytes.length / 2) + i;
      bytes[at] = bytes[at]! ^ 0xff;
    }
    writeFileSync(biggest, bytes);

    const out = join(ws.dir, 'export');
    const r = await runCli(['export', '--out', out], ws);
    assert.notEqual(r.code, 0, 'a damaged record fails the export');
    assert.match(r.stderr, /STORE_CORRUPT/);
    const names = existsSync(out) ? readdirSync(out) : [];
    assert.ok(!names.includes(`${sha256(large)}.eml`), `no file under the damaged message's name: ${names.join(' ')}`);
    assert.deepEqual(names.filter((n) => n.endsWith('.tmp')), [], 'no temporary file left behind');
  } finally {
    ws.cleanup();
  }
});
