import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ImapFlow } from 'imapflow';
import { dovecotPerFile } from '../harness/dovecot-per-file.js';
import { createImapSource } from '../../src/adapters/source-imap/index.js';
import { JsonlLogger } from '../../src/adapters/logger-jsonl/index.js';
import { checkConfigText } from '../../src/config/loader.js';
import { stringify } from 'yaml';
import { imapConnection } from '../harness/cli.js';
import { makeMessage } from '../harness/messages.js';
import { serverMessages } from '../harness/imap-proxy.js';
import { runMailboxSourceContract } from './mailbox-source.contract.js';

const dovecot = dovecotPerFile();

runMailboxSourceContract('imap (Dovecot)', async (raws) => {
  const user = await dovecot.createUser();
  await dovecot.loadMaildir(user.username, raws);
  const { config, problems } = checkConfigText(stringify({ connections: [imapConnection(dovecot, user)] }));
  if (!config) throw new Error(JSON.stringify(problems));
  const conn = config.connections[0]!;
  const other = async <T>(fn: (c: ImapFlow) => Promise<T>): Promise<T> => {
    const c = new ImapFlow({ host: dovecot.host, port: dovecot.imapPort, secure: false, doSTARTTLS: false, auth: { user: user.username, pass: user.password }, logger: false });
    await c.connect();
    await c.mailboxOpen('INBOX');
    try {
      return await fn(c);
    } finally {
      await c.logout();
    }
  };
  return {
    source: () => createImapSource(conn, new JsonlLogger([])),
    count: () => dovecot.messageCount(user.username),
    // LMTP, as real mail arrives: loadMaildir is only for a mailbox no session has open yet.
    deliver: (more) => dovecot.deliverMany(user.username, more),
    removeBehind: (index) => other(async (c) => void (await c.messageDelete(String(index + 1)))),
  };
});

test('imap: markFailed flags \\Seen and nothing else, and the unseenOnly listing no longer offers those messages', async () => {
  const user = await dovecot.createUser();
  await dovecot.loadMaildir(user.username, [1, 2, 3].map((i) => makeMessage(i, { bodyBytes: 500 })));
  const { config, problems } = checkConfigText(stringify({ connections: [imapConnection(dovecot, user, { unseenOnly: true })] }));
  if (!config) throw new Error(JSON.stringify(problems));
  const source = createImapSource(config.connections[0]!, new JsonlLogger([]));
  try {
    await source.open();
    const listed = await source.listCandidates(10);
    assert.deepEqual(listed.map((c) => c.uid), [1, 2, 3]);
    await source.markFailed(listed.filter((c) => c.uid === 2));
    assert.deepEqual((await source.listCandidates(10)).map((c) => c.uid), [1, 3]);
  } finally {
    await source.close();
  }
  const server = await serverMessages(dovecot, user);
  assert.deepEqual(
    server.map((m) => [m.uid, [...m.flags].sort()]),
    [
      [1, []],
      [2, ['\\Seen']],
      [3, []],
    ],
  );
});
