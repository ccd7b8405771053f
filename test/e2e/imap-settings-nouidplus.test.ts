/**
 * IMAP settings, part 5: a server without UIDPLUS (and without MOVE). A plain EXPUNGE would also
 * remove messages that another client flagged \Deleted and mailsluice never archived, so
 * mailsluice must only flag, never expunge, and say so in the log.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type TestUser } from '../harness/dovecot.js';
import { dovecotPerFile } from '../harness/dovecot-per-file.js';
import { makeWorkspace, runCli, imapConnection, type Workspace } from '../harness/cli.js';
import { makeMessage, sha256 } from '../harness/messages.js';
import { serverMessages, withImap, commandOf, type ImapProxy } from '../harness/imap-proxy.js';

// Dovecot's usual post-login capabilities minus UIDPLUS and MOVE.
const CAPS = 'IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE SORT THREAD=REFERENCES MULTIAPPEND UNSELECT CHILDREN NAMESPACE LIST-EXTENDED I18NLEVEL=1 ESEARCH SEARCHRES WITHIN LIST-STATUS LITERAL+ SPECIAL-USE';

const dovecot = dovecotPerFile({ imapCapability: CAPS });

/** 5 messages; UID 3 flagged \Deleted by "another client" before mailsluice runs. */
async function mailboxWithForeignDeleted(): Promise<{ user: TestUser; raws: Buffer[] }> {
  const user = await dovecot.createUser();
  const raws = Array.from({ length: 5 }, (_, i) => makeMessage(i, { tag: 'nouidplus' }));
  await dovecot.loadMaildir(user.username, raws);
  await withImap(dovecot, user, 'INBOX', async (c) => {
    assert.ok(!c.capabilities.has('UIDPLUS'), 'the test server must not advertise UIDPLUS');
    await c.messageFlagsAdd('3', ['\\Deleted'], { uid: true });
  });
  return { user, raws };
}

async function setup(user: TestUser, extra: Record<string, unknown>): Promise<{ ws: Workspace; proxy: ImapProxy }> {
  const proxy = await dovecot.proxy({ targetPort: dovecot.imapPort });
  const ws = makeWorkspace({
    connections: [imapConnection({ host: proxy.host, imapPort: proxy.port, imapsPort: dovecot.imapsPort, caCertPath: dovecot.caCertPath }, user, { security: 'none', logging: 'full', ...extra })],
  });
  return { ws, proxy };
}

function assertNoExpunge(proxy: ImapProxy): void {
  const expunges = proxy.clientLines().map(commandOf).filter((c) => /^(UID )?EXPUNGE\b/i.test(c) || /^CLOSE\b/i.test(c));
  assert.deepEqual(expunges, [], 'no EXPUNGE (nor CLOSE, which expunges too) without UIDPLUS');
}

test('delete-and-expunge without UIDPLUS: flags \\Deleted, never expunges, another client\'s \\Deleted message survives, and the log says so', async () => {
  const { user, raws } = await mailboxWithForeignDeleted();
  const { ws, proxy } = await setup(user, { deletePolicy: 'delete-and-expunge', expungeEvery: 2 });
  try {
    const r = await runCli(['drain', '--json'], ws);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout.trim()) as { taken: number }).taken, 4, 'the foreign \\Deleted message is not taken');
    const left = await serverMessages(dovecot, user);
    assert.deepEqual(left.map((m) => m.uid), [1, 2, 3, 4, 5], 'nothing was expunged');
    for (const m of left) assert.ok(m.flags.has('\\Deleted'), `UID ${m.uid} must be flagged \\Deleted`);
    assert.equal(sha256(left[2]!.source), sha256(raws[2]!), 'the other client\'s message is still there');
    assertNoExpunge(proxy);

    const logs = await runCli(['logs', 'journal'], ws);
    assert.equal(logs.code, 0, logs.stderr);
    assert.match(logs.stdout, /UIDPLUS/, `the connection log must say why nothing is expunged:\n${logs.stdout}`);

    const again = await runCli(['drain', '--json'], ws);
    assert.equal(again.code, 0, again.stderr);
    assert.equal((JSON.parse(again.stdout.trim()) as { taken: number }).taken, 0);
    assertNoExpunge(proxy);
    assert.equal(await dovecot.messageCount(user.username), 5);
  } finally {
    ws.cleanup();
  }
});

test('move without MOVE or UIDPLUS: copies and flags, never expunges', async () => {
  const { user, raws } = await mailboxWithForeignDeleted();
  await dovecot.createMailbox(user.username, 'Processed');
  const { ws, proxy } = await setup(user, { deletePolicy: 'move', moveTo: 'Processed' });
  try {
    const r = await runCli(['drain', '--json'], ws);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout.trim()) as { taken: number }).taken, 4);
    const copied = await serverMessages(dovecot, user, 'Processed');
    assert.deepEqual(copied.map((m) => sha256(m.source)).sort(), [0, 1, 3, 4].map((i) => sha256(raws[i]!)).sort());
    assert.equal(await dovecot.messageCount(user.username), 5, 'INBOX keeps everything (flagged)');
    assertNoExpunge(proxy);
  } finally {
    ws.cleanup();
  }
});
