import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dovecotPerFile } from '../harness/dovecot-per-file.js';
import { makeWorkspace, runCli, imapConnection } from '../harness/cli.js';
import { journalMix } from '../harness/messages.js';

const dovecot = dovecotPerFile();

for (const [logging, perMessage] of [
  ['full', true],
  ['errors', false],
] as const) {
  test(`logging: ${logging} ${perMessage ? 'records every message handled' : 'records no routine message'}; \`logs\` prints it`, async () => {
    const user = await dovecot.createUser();
    await dovecot.loadMaildir(user.username, journalMix(7, 0));
    const ws = makeWorkspace({ connections: [imapConnection(dovecot, user, { logging })] });
    try {
      assert.equal((await runCli(['drain'], ws)).code, 0);
      const r = await runCli(['logs', 'journal', '--json'], ws);
      assert.equal(r.code, 0, r.stderr);
      const archived = r.stdout.split('\n').filter((l) => l.includes('"message archived"'));
      assert.equal(archived.length, perMessage ? 7 : 0);
    } finally {
      ws.cleanup();
    }
  });
}

for (const [logging, expectErrors] of [
  ['errors', true],
  ['off', false],
] as const) {
  test(`logging: ${logging} ${expectErrors ? 'records' : 'does not record'} a failed login in the connection's log`, async () => {
    const user = await dovecot.createUser();
    const ws = makeWorkspace({ connections: [imapConnection(dovecot, { username: user.username, password: 'wrong' }, { logging })] });
    try {
      assert.notEqual((await runCli(['drain'], ws)).code, 0, 'the login must fail');
      const r = await runCli(['logs', 'journal', '--json'], ws);
      assert.equal(r.code, 0, r.stderr);
      const records = r.stdout.split('\n').filter((l) => l.trim() !== '');
      if (expectErrors) assert.ok(records.some((l) => /SOURCE_AUTH_REJECTED/.test(l)), r.stdout);
      else assert.deepEqual(records, [], 'logging off writes nothing to the connection log');
    } finally {
      ws.cleanup();
    }
  });
}
