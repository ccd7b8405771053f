/**
 * The crash test of SPEC's guarantees: a drain of a few thousand messages is killed with SIGKILL
 * at random moments, many times, then run to the end. Afterwards every message is in the archive
 * exactly once, byte for byte, and the mailbox is empty.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import '../harness/sqlite-keep.js';
import { dovecotPerFile } from '../harness/dovecot-per-file.js';
import { assertArchiveHolds } from '../harness/archive.js';
import { makeWorkspace, runCli, imapConnection, pop3Connection, runKilledAtRandom } from '../harness/cli.js';
import { journalMix, sha256 } from '../harness/messages.js';
import { seededRandom } from '../harness/random.js';

const dovecot = dovecotPerFile();


const COUNT = Number(process.env.CRASH_MESSAGES ?? 3000);
const KILLS = Number(process.env.CRASH_KILLS ?? 12);

type User = { username: string; password: string };
for (const variant of [
  { name: 'imap, delete-and-expunge', connection: (u: User) => imapConnection(dovecot, u, { deletePolicy: 'delete-and-expunge', maxMessagesPerCycle: 200 }) },
  {
    name: 'imap, delete-and-expunge, expungeEvery 50, partial fetch',
    connection: (u: User) => imapConnection(dovecot, u, { deletePolicy: 'delete-and-expunge', expungeEvery: 50, maxMessagesPerCycle: 300, partialFetch: true }),
  },
  // POP3 removes DELE'd messages only at QUIT: kills land between DELE and QUIT too.
  { name: 'pop3, delete, expungeEvery 50', connection: (u: User) => pop3Connection(dovecot, u, { deletePolicy: 'delete', expungeEvery: 50, maxMessagesPerCycle: 300 }) },
]) {
  test(`SIGKILL at random moments loses and doubles nothing (${variant.name})`, async () => {
    const seed = Number(process.env.CRASH_SEED ?? Date.now() % 100000);
    const random = seededRandom(seed);
    const user = await dovecot.createUser();
    const originals = [...journalMix(COUNT, 100)];
    await dovecot.loadMaildir(user.username, originals);
    const expected = new Map(originals.map((b) => [sha256(b), b]));
    assert.equal(expected.size, COUNT);
    const ws = makeWorkspace({ connections: [variant.connection(user)] });
    try {
      // A run that finished before its kill ends the loop: the rest of the test checks the result.
      const killed = await runKilledAtRandom(ws, { args: () => ['drain'], kills: KILLS, minMs: 150, spreadMs: 1500, random, seed, untilDone: true });
      const final = await runCli(['drain', '--json'], ws);
      assert.equal(final.code, 0, `final drain failed (seed ${seed}): ${final.stderr}`);
      assert.ok(killed > 0, `no run was killed (seed ${seed}); the test proved nothing`);

      assert.equal(await dovecot.messageCount(user.username), 0, `mailbox not empty (seed ${seed})`);
      const db = new Database(join(ws.dataDir, 'archive.db'), { readonly: true });
      try {
        const rows = db.prepare('SELECT sha256 FROM messages').all() as Array<{ sha256: string }>;
        assert.equal(rows.length, COUNT, `archive holds ${rows.length} messages, expected ${COUNT} (seed ${seed})`);
        assert.deepEqual(new Set(rows.map((r) => r.sha256)), new Set(expected.keys()));
        const keys = db.prepare('SELECT COUNT(*) AS n, SUM(action_state = 1) AS done FROM source_keys').get() as { n: number; done: number };
        assert.equal(keys.n, COUNT, `each server message must be taken once (seed ${seed})`);
        assert.equal(keys.done, COUNT, 'every server action confirmed');
        const unparsed = db.prepare('SELECT COUNT(*) AS n FROM messages WHERE parse_state = 0').get() as { n: number };
        assert.equal(unparsed.n, 0, 'everything parsed after the final drain');
      } finally {
        db.close();
      }
      await assertArchiveHolds(ws, expected, `(seed ${seed})`);
      console.log(`crash test ${variant.name}: ${killed} kills, seed ${seed}, ${COUNT} messages archived once each`);
    } finally {
      ws.cleanup();
    }
  });
}
