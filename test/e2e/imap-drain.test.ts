import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ImapFlow } from 'imapflow';
import { type TestUser } from '../harness/dovecot.js';
import { dovecotPerFile } from '../harness/dovecot-per-file.js';
import { assertArchiveHolds } from '../harness/archive.js';
import { makeWorkspace, runCli, imapConnection } from '../harness/cli.js';
import { journalMix, sha256 } from '../harness/messages.js';

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
