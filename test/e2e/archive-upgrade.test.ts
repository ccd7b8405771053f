/**
 * Issue 14, item 7: an older build refuses a newer archive. After a real drain of Dovecot mail,
 * `archive.db`'s `user_version` is set past the migrations this build knows: `drain`, `start` and
 * `stats` then exit 1 at once with one `ARCHIVE_TOO_NEW` line naming both versions, and nothing
 * more is taken from the mailbox.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { dovecotPerFile } from '../harness/dovecot-per-file.js';
import { imapConnection, makeWorkspace, runCli } from '../harness/cli.js';
import { makeMessage } from '../harness/messages.js';
import { MIGRATIONS } from '../../src/adapters/store-sqlite/sqlite-schema.js';

const dovecot = dovecotPerFile();

test('drain, start and stats refuse an archive a newer mailsluice migrated, before taking anything', async () => {
  const user = await dovecot.createUser();
  await dovecot.loadMaildir(user.username, [0, 1, 2].map((i) => makeMessage(i)));
  const ws = makeWorkspace({ connections: [imapConnection(dovecot, user)] });
  try {
    const first = await runCli(['drain'], ws);
    assert.equal(first.code, 0, first.stderr);
    assert.equal(await dovecot.messageCount(user.username), 0, 'the first drain took the mail');

    const newer = MIGRATIONS.length + 3;
    const db = new Database(join(ws.dataDir, 'archive.db'));
    db.pragma(`user_version = ${newer}`);
    db.close();
    await dovecot.loadMaildir(user.username, [3, 4].map((i) => makeMessage(i)));

    for (const command of ['drain', 'start', 'stats']) {
      const r = await runCli([command], ws);
      assert.equal(r.code, 1, `${command}: ${r.stderr}`);
      const lines = r.stderr.split('\n').filter((l) => l.includes('ARCHIVE_TOO_NEW'));
      assert.equal(lines.length, 1, `${command} prints one ARCHIVE_TOO_NEW line: ${r.stderr}`);
      assert.match(lines[0]!, new RegExp(`schema version ${newer}\\b.*up to ${MIGRATIONS.length}\\b.*newer mailsluice`), command);
    }
    assert.equal(await dovecot.messageCount(user.username), 2, 'nothing more was taken');
    const after = new Database(join(ws.dataDir, 'archive.db'), { readonly: true });
    try {
      assert.equal(after.pragma('user_version', { simple: true }), newer, 'the archive was left as it was');
    } finally {
      after.close();
    }
  } finally {
    ws.cleanup();
  }
});
