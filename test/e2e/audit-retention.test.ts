/**
 * ADR 0029 with a running service: `start` with `audit.keepDays` moves the old records to
 * dataDir/audit-archive/ at its start (by itself, recorded as `mailsluice` from `retention`);
 * `GET /api/v1/audit/verify` starts at the checkpoint and, with `withArchive=true`, walks the
 * file; `POST /api/v1/audit/prune` is the admin's only (400 on a bad body); `mailsluice audit
 * prune` and `audit verify --with-archive` beside the service go through its control socket, and
 * the prune is recorded as the local OS user.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { userInfo } from 'node:os';
import '../harness/sqlite-keep.js';
import { dovecotPerFile } from '../harness/dovecot-per-file.js';
import { imapConnection, runCli } from '../harness/cli.js';
import { makeMessage } from '../harness/messages.js';
import { callApi, createToken, drainedWithApi, startService, type RunningService } from '../harness/api-client.js';
import { createSqliteStore } from '../../src/adapters/store-sqlite/index.js';

const dovecot = dovecotPerFile();
const DAY = 24 * 60 * 60 * 1000;
const FILE = 'audit-000000000001-000000000004.jsonl';
const lines = (s: string): string[] => s.split('\n').filter((l) => l !== '');

test('start moves old audit records at its start; verify from the checkpoint and with the archive over HTTP and the control socket; prune is the admin\'s', async () => {
  const user = await dovecot.createUser();
  await dovecot.loadMaildir(user.username, [makeMessage(0, { bodyBytes: 200 })]);
  const { ws, base } = await drainedWithApi({ connections: [imapConnection(dovecot, user)], audit: { keepDays: 30 } });
  let service: RunningService | undefined;
  try {
    // A month and more of history, as an older service wrote it.
    const store = createSqliteStore({ file: join(ws.dataDir, 'archive.db') });
    for (let i = 0; i < 4; i++) await store.audit.append({ at: Date.now() - 40 * DAY + i, who: 'legal', origin: '10.0.0.7', action: 'archive.view', detail: { i } });
    await store.close();
    const admin = await createToken(ws, 'ops', 'admin');
    const auditor = await createToken(ws, 'legal', 'auditor');

    service = await startService(ws, base);
    const dir = join(ws.dataDir, 'audit-archive');
    for (let i = 0; i < 100 && !(existsSync(dir) && readdirSync(dir).includes(FILE)); i++) await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(readdirSync(dir), [FILE], 'moved at the start');

    // The file is in place before the database commits the checkpoint (ADR 0029: the rows go only
    // once the file is durable): wait for the commit too, not for the file alone.
    let v = await callApi(`${base}/api/v1/audit/verify`, auditor);
    for (let i = 0; i < 100 && v.body.from === undefined; i++) {
      await new Promise((r) => setTimeout(r, 100));
      v = await callApi(`${base}/api/v1/audit/verify`, auditor);
    }
    assert.equal(v.status, 200, v.raw);
    assert.equal(v.body.ok, true, v.raw);
    assert.equal(v.body.from, 5);
    assert.deepEqual(v.body.checkpoint, { seq: 4, file: FILE });
    assert.equal(v.body.archive, undefined);
    const va = await callApi(`${base}/api/v1/audit/verify?withArchive=true`, auditor);
    assert.equal(va.status, 200, va.raw);
    assert.deepEqual([va.body.ok, va.body.archive], [true, { files: 1, records: 4 }]);
    assert.equal((await callApi(`${base}/api/v1/audit/verify?withArchive=yes`, auditor)).status, 400);

    const retention = (await callApi(`${base}/api/v1/audit?limit=1000`, auditor)).body.records as Array<{ who: string; origin: string; action: string; detail: Record<string, unknown> }>;
    const moved = retention.find((r) => r.action === 'audit.retention');
    assert.ok(moved, JSON.stringify(retention));
    assert.deepEqual([moved.who, moved.origin, moved.detail.firstSeq, moved.detail.lastSeq, moved.detail.file], ['mailsluice', 'retention', 1, 4, FILE]);

    // Prune on demand: the admin's only; a bad body names the field.
    assert.equal((await callApi(`${base}/api/v1/audit/prune`, auditor, { method: 'POST', body: {} })).status, 403);
    const bad = await callApi(`${base}/api/v1/audit/prune`, admin, { method: 'POST', body: { keepDays: 0 } });
    assert.equal(bad.status, 400, bad.raw);
    assert.match(String(bad.body.message), /keepDays/);
    const p = await callApi(`${base}/api/v1/audit/prune`, admin, { method: 'POST', body: {} });
    assert.equal(p.status, 200, p.raw);
    assert.deepEqual([p.body.moved, p.body.keepDays, p.body.checkpoint], [0, 30, { seq: 4, file: FILE }]);

    // The command line beside the service: through its control socket.
    const cli = await runCli(['audit', 'prune', '--keep-days', '35'], ws);
    assert.equal(cli.code, 0, cli.stderr);
    assert.match(cli.stdout, /^0 records older than \S+ moved; the live log starts at seq 5\n$/);
    const cv = await runCli(['audit', 'verify', '--with-archive'], ws);
    assert.equal(cv.code, 0, cv.stderr);
    assert.match(cv.stdout, new RegExp(`^audit log intact: 4 archived records in 1 file of audit-archive/ and verified \\d+ records from seq 5 \\(records before it moved to audit-archive/${FILE.replace(/\./g, '\\.')}\\)`));
    const listed = lines((await runCli(['audit', 'list', '--json'], ws)).stdout).map((l) => JSON.parse(l) as { who: string; origin: string; action: string; detail: Record<string, unknown> });
    const prunes = listed.filter((r) => r.action === 'audit.prune').map((r) => [r.who, r.origin, r.detail.keepDays]);
    assert.deepEqual(prunes, [
      ['ops', '127.0.0.1', undefined],
      [`local:${userInfo().username}`, 'control socket', 35],
    ]);
    await service.stop();
    service = undefined;
    assert.equal((await runCli(['audit', 'verify', '--with-archive'], ws)).code, 0, 'and without the service');
  } finally {
    await service?.stop();
    ws.cleanup();
  }
});
