/**
 * The shared real-world corpus (1,799 messages from other parsers' test suites, hostile and
 * broken ones included) goes through a real drain: nothing crashes, nothing is lost, every
 * message is archived byte for byte as the server served it, and every one is parsed or marked
 * unparsable.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startDovecot, type DovecotInstance } from '../harness/dovecot.js';
import { assertArchiveHolds } from '../harness/archive.js';
import { makeWorkspace, runCli, imapConnection, pop3Connection } from '../harness/cli.js';
import { assertCorpusPresent, assertEveryMessageTaken, loadCorpus, servedOverImap } from '../harness/corpus.js';
import { sha256 } from '../harness/messages.js';

let dovecot: DovecotInstance;
before(async () => {
  assertCorpusPresent();
  dovecot = await startDovecot();
});
after(async () => {
  await dovecot?.stop();
});

const CRLF = Buffer.from('\r\n');

for (const protocol of ['imap', 'pop3'] as const) test(`the whole corpus drains over ${protocol} without a crash or a lost message`, async () => {
  const raws = loadCorpus();
  const user = await dovecot.createUser();
  await dovecot.loadMaildir(user.username, raws);

  // What the server serves, read independently (Dovecot may alter NUL bytes, for example).
  const { served, count } = await servedOverImap(dovecot, user);
  assert.equal(count, raws.length);

  const conn = protocol === 'imap' ? imapConnection(dovecot, user, { maxMessagesPerCycle: 500 }) : pop3Connection(dovecot, user, { maxMessagesPerCycle: 500 });
  const ws = makeWorkspace({ connections: [conn] });
  try {
    const r = await runCli(['drain', '--json'], ws);
    assert.equal(r.code, 0, r.stderr);
    const summary = JSON.parse(r.stdout.trim()) as { taken: number; parsed: number; unparsable: number };
    assert.equal(await dovecot.messageCount(user.username), 0, 'mailbox must be empty');
    const c = assertEveryMessageTaken(ws, raws.length, served.size, `over ${protocol}`);
    console.log(`corpus drain (${protocol}): ${raws.length} taken, ${c.messages} distinct archived, ${c.parsed} parsed, ${c.unparsable} unparsable (summary ${JSON.stringify(summary)})`);
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
