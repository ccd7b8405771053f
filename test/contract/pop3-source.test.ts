import { dovecotPerFile } from '../harness/dovecot-per-file.js';
import { createPop3Source } from '../../src/adapters/source-pop3/index.js';
import { JsonlLogger } from '../../src/adapters/logger-jsonl/index.js';
import { checkConfigText } from '../../src/config/loader.js';
import { stringify } from 'yaml';
import { pop3Connection } from '../harness/cli.js';
import { withImap } from '../harness/imap-proxy.js';
import { runMailboxSourceContract } from './mailbox-source.contract.js';

const dovecot = dovecotPerFile();

runMailboxSourceContract('pop3 (Dovecot)', async (raws) => {
  const user = await dovecot.createUser();
  await dovecot.loadMaildir(user.username, raws);
  const { config, problems } = checkConfigText(stringify({ connections: [pop3Connection(dovecot, user)] }));
  if (!config) throw new Error(JSON.stringify(problems));
  const conn = config.connections[0]!;
  return {
    source: () => createPop3Source(conn, new JsonlLogger([])),
    count: () => dovecot.messageCount(user.username),
    deliver: (more) => dovecot.deliverMany(user.username, more),
    // Another client (IMAP here) removes the message while the POP3 session has it listed.
    removeBehind: (index) => withImap(dovecot, user, 'INBOX', async (c) => void (await c.messageDelete(String(index + 1)))),
  };
});
