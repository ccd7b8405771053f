import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dovecotPerFile } from '../harness/dovecot-per-file.js';
import { makeWorkspace, runCli, imapConnection } from '../harness/cli.js';
import { journalMix } from '../harness/messages.js';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { callApi, createToken, drainedWithApi, startService, type RunningService } from '../harness/api-client.js';

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

test('a rotated connection log is read whole: `logs` prints the rotated files oldest first, the API pages through them and downloads them all', async () => {
  const user = await dovecot.createUser();
  const N = 30;
  await dovecot.loadMaildir(user.username, journalMix(N, 0));
  // About 1 KiB per file: the drain's records spread over many files, all kept.
  const { ws, base } = await drainedWithApi({ connections: [imapConnection(dovecot, user, { logging: 'full' })], logging: { maxFileMb: 0.001, keepFiles: 200 } });
  let service: RunningService | undefined;
  try {
    const rotated = readdirSync(join(ws.dataDir, 'logs')).filter((f) => /^journal\.log\.\d+$/.test(f));
    assert.ok(rotated.length >= 3, `rotated into several files: ${rotated.join(', ')}`);
    const cli = await runCli(['logs', 'journal', '--json'], ws);
    assert.equal(cli.code, 0, cli.stderr);
    const records = cli.stdout.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as { time: string; msg: string });
    assert.equal(records.filter((r) => r.msg === 'message archived').length, N, 'every message archived, across the files');
    const times = records.map((r) => Date.parse(r.time));
    assert.deepEqual(times, [...times].sort((a, b) => a - b), 'oldest first');
    const readable = await runCli(['logs', 'journal'], ws);
    assert.equal(readable.stdout.split('\n').filter((l) => l.includes('message archived')).length, N);

    const token = await createToken(ws, 'ops', 'viewer');
    service = await startService(ws, base);
    const res = await fetch(`${base}/api/v1/connections/journal/log/download`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(res.status, 200);
    const downloaded = await res.text();
    assert.ok(downloaded.startsWith(cli.stdout.slice(0, 2000)), 'the download begins with the oldest kept record');
    assert.equal(downloaded.split('\n').filter((l) => l.includes('"message archived"')).length, N, 'the download is the whole kept log');
    assert.equal(Number(res.headers.get('content-length')), Buffer.byteLength(downloaded));

    const paged: string[] = [];
    let cursor: string | null = null;
    do {
      const page = await callApi(`${base}/api/v1/connections/journal/log?limit=7${cursor !== null ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, token);
      assert.equal(page.status, 200, page.raw);
      paged.push(...(page.body.records as Array<{ msg: string }>).map((r) => r.msg));
      cursor = page.body.next as string | null;
    } while (cursor !== null);
    assert.equal(paged.filter((m) => m === 'message archived').length, N, 'paging reaches into the rotated files');
    assert.equal(paged.at(-1), records[0]!.msg, 'the last page ends at the oldest kept record');
  } finally {
    await service?.stop();
    ws.cleanup();
  }
});
