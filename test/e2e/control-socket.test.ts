/**
 * Issue 14, item 8 (ADR 0025): beside a running `start`, the command line talks to the service
 * through `<dataDir>/control.sock` instead of opening the archive: `search` and `export` answer
 * what the archive holds (the export byte for byte) and are on the audit log as the local OS user
 * through the control socket; `token create` works while the service runs and its token opens the
 * TCP API; `audit verify`, `audit list`, `logs` and `connections list` print what they print
 * without a service; `deliveries retry` is recorded by the service, which then delivers. The socket is 0600, gone after a clean stop, replaced after a SIGKILL, served
 * with the TCP API off; a socket nobody answers while the service lives is a clear error.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { connect } from 'node:net';
import { spawn } from 'node:child_process';
import { existsSync, lstatSync, readdirSync, readFileSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { userInfo } from 'node:os';
import { dovecotPerFile } from '../harness/dovecot-per-file.js';
import { imapConnection, makeWorkspace, runCli, spawnCli, type Workspace } from '../harness/cli.js';
import { makeMessage } from '../harness/messages.js';
import { callApi, startService, type RunningService, drainedWithApi } from '../harness/api-client.js';
import { startWebhookReceiver, waitFor } from '../harness/webhook-receiver.js';

const dovecot = dovecotPerFile();
const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const lines = (s: string): string[] => s.split('\n').filter((l) => l !== '');
const LOCAL = `local:${userInfo().username}`;

type AuditRecord = { seq: number; who: string; origin: string; action: string; detail: Record<string, unknown> };

async function auditRecords(ws: Workspace): Promise<AuditRecord[]> {
  const r = await runCli(['audit', 'list', '--json'], ws);
  assert.equal(r.code, 0, r.stderr);
  return lines(r.stdout).map((l) => JSON.parse(l) as AuditRecord);
}

/** Whether something accepts connections on the socket. */
function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ path });
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });
}

async function waitAnswering(path: string, stderr: () => string): Promise<void> {
  const until = Date.now() + 30_000;
  while (!(await answers(path))) {
    assert.ok(Date.now() < until, `the control socket never answered (stderr: ${stderr()})`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Waits until the archive holds `messages` messages, none waiting to be parsed (`stats`, which reads the store beside a service and records nothing). */
async function waitParsed(ws: Workspace, messages: number): Promise<void> {
  const until = Date.now() + 60_000;
  for (;;) {
    const r = await runCli(['stats', '--json'], ws);
    const s = r.code === 0 ? (JSON.parse(r.stdout) as { messages: number; unparsed: number }) : null;
    if (s && s.messages === messages && s.unparsed === 0) return;
    assert.ok(Date.now() < until, `the service did not take and parse ${messages} messages in time (stats: ${r.stdout}${r.stderr})`);
    await new Promise((res) => setTimeout(res, 200));
  }
}

test('beside start: search, export, token, audit, logs and connections go through the control socket, audited as the local user; the socket is 0600 and gone after the stop', async () => {
  const user = await dovecot.createUser();
  const originals = [0, 1, 2].map((i) => makeMessage(i, { tag: i === 1 ? 'zanzibar' : undefined, bodyBytes: 700 }));
  await dovecot.loadMaildir(user.username, originals);
  const { ws, base } = await drainedWithApi({ connections: [imapConnection(dovecot, user, { logging: 'full' })] });
  const socket = join(ws.dataDir, 'control.sock');
  let service: RunningService | undefined;
  try {
    service = await startService(ws, base);
    const st = lstatSync(socket);
    assert.ok(st.isSocket(), 'control.sock is a socket');
    assert.equal(st.mode & 0o777, 0o600, 'srw-------');

    const found = await runCli(['search', 'zanzibar', '--json'], ws);
    assert.equal(found.code, 0, found.stderr);
    const hits = lines(found.stdout).map((l) => JSON.parse(l) as { sha256: string; subject: string; id: number });
    assert.deepEqual(hits.map((h) => h.sha256), [sha256(originals[1]!)]);
    const all = await runCli(['search', '--json'], ws);
    assert.equal(all.code, 0, all.stderr);
    const text = await runCli(['search'], ws);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^3 messages$/m);

    const out = join(ws.dir, 'eml');
    const exported = await runCli(['export', '--out', out], ws);
    assert.equal(exported.code, 0, exported.stderr);
    assert.equal(exported.stdout, `exported 3 messages to ${out} (eml)\n`);
    const files = readdirSync(out).sort();
    assert.deepEqual(files, originals.map((b) => `${sha256(b)}.eml`).sort(), 'one file per message, nothing left over');
    for (const b of originals) {
      const path = join(out, `${sha256(b)}.eml`);
      assert.ok(readFileSync(path).equals(b), 'the bytes as taken');
      assert.equal(lstatSync(path).mode & 0o777, 0o600);
    }
    const again = await runCli(['export', '--out', out, '--json'], ws);
    assert.deepEqual(JSON.parse(again.stdout), { exported: 0, out, format: 'eml' }, 'files already there are not written again');
    const mboxDir = join(ws.dir, 'mbox');
    const mbox = await runCli(['export', '--out', mboxDir, '--format', 'mbox'], ws);
    assert.equal(mbox.code, 0, mbox.stderr);
    assert.equal(mbox.stdout, `exported 3 messages to ${mboxDir} (mbox)\n`);
    assert.match(readFileSync(join(mboxDir, 'archive.mbox'), 'latin1'), /zanzibar/);

    const created = await runCli(['token', 'create', '--name', 'ci', '--role', 'auditor', '--json'], ws);
    assert.equal(created.code, 0, created.stderr);
    const token = (JSON.parse(created.stdout) as { token: string; name: string; role: string }).token;
    assert.match(token, /^msl_/);
    const overTcp = await callApi(`${base}/api/v1/messages?text=zanzibar`, token);
    assert.equal(overTcp.status, 200, overTcp.raw);
    assert.equal((overTcp.body.hits as unknown[]).length, 1);
    const taken = await runCli(['token', 'create', '--name', 'ci', '--role', 'viewer'], ws);
    assert.equal(taken.code, 1);
    assert.match(taken.stderr, /^mailsluice: TOKEN_EXISTS: /);
    const listed = await runCli(['token', 'list', '--json'], ws);
    assert.deepEqual(lines(listed.stdout).map((l) => (JSON.parse(l) as { name: string }).name), ['ci']);

    const verify = await runCli(['audit', 'verify'], ws);
    assert.equal(verify.code, 0, verify.stderr);
    assert.match(verify.stdout, /^audit log intact: \d+ records, head [0-9a-f]{64}\n$/);

    const logs = await runCli(['logs', 'journal'], ws);
    assert.equal(logs.code, 0, logs.stderr);
    assert.ok(lines(logs.stdout).length > 0, 'the drain wrote the log');
    const conns = await runCli(['connections', 'list', '--json'], ws);
    assert.equal(conns.code, 0, conns.stderr);
    assert.deepEqual(lines(conns.stdout).map((l) => (JSON.parse(l) as { name: string }).name), ['journal']);

    const records = await auditRecords(ws);
    // The end of each export (archive.export.done, export-query.test.ts) is recorded when its last byte is taken, in its own time.
    const ours = records.filter((r) => r.origin === 'control socket' && r.action !== 'archive.export.done').map((r) => [r.who, r.action, r.detail.text ?? r.detail.format ?? r.detail.name ?? null]);
    assert.deepEqual(ours, [
      [LOCAL, 'archive.search', 'zanzibar'],
      [LOCAL, 'archive.search', null],
      [LOCAL, 'archive.search', null],
      [LOCAL, 'archive.export', 'zip'],
      [LOCAL, 'archive.export', 'zip'],
      [LOCAL, 'archive.export', 'mbox'],
      [LOCAL, 'token.create', 'ci'],
      [LOCAL, 'token.create', 'ci'],
    ]);
    assert.ok(!records.some((r) => r.origin === 'cli' && r.action.startsWith('archive.')), 'no read was done by the command itself');

    // The tokens resource over TCP, by role: what `token` does through the socket.
    const boss = await runCli(['token', 'create', '--name', 'boss', '--role', 'admin', '--json'], ws);
    assert.equal(boss.code, 0, boss.stderr);
    const admin = (JSON.parse(boss.stdout) as { token: string }).token;
    assert.deepEqual((await callApi(`${base}/api/v1/tokens`)).status, 401);
    const asAuditor = await callApi(`${base}/api/v1/tokens`, token);
    assert.deepEqual([asAuditor.status, asAuditor.body.code], [403, 'API_FORBIDDEN']);
    const listedTcp = await callApi(`${base}/api/v1/tokens`, admin);
    assert.equal(listedTcp.status, 200, listedTcp.raw);
    assert.deepEqual((listedTcp.body.tokens as Array<{ name: string; role: string }>).map((t) => [t.name, t.role]), [['boss', 'admin'], ['ci', 'auditor']]);
    assert.ok(!listedTcp.raw.includes('msl_'), 'never a token');
    const badName = await callApi(`${base}/api/v1/tokens`, admin, { method: 'POST', body: { name: 'no spaces', role: 'viewer' } });
    assert.deepEqual([badName.status, badName.body.code], [400, 'API_BAD_REQUEST']);
    assert.match(String(badName.body.message), /^name/);
    const badRole = await callApi(`${base}/api/v1/tokens`, admin, { method: 'POST', body: { name: 'x', role: 'root' } });
    assert.deepEqual([badRole.status, badRole.body.code], [400, 'API_BAD_REQUEST']);
    assert.match(String(badRole.body.message), /^role/);
    const dup = await callApi(`${base}/api/v1/tokens`, admin, { method: 'POST', body: { name: 'ci', role: 'viewer' } });
    assert.deepEqual([dup.status, dup.body.code], [409, 'TOKEN_EXISTS']);
    const made = await callApi(`${base}/api/v1/tokens`, admin, { method: 'POST', body: { name: 'dash', role: 'viewer' } });
    assert.equal(made.status, 201, made.raw);
    assert.deepEqual([made.body.name, made.body.role], ['dash', 'viewer']);
    assert.equal((await callApi(`${base}/api/v1/stats`, made.body.token as string)).status, 200, 'the new token works');
    const gone = await callApi(`${base}/api/v1/tokens/nobody`, admin, { method: 'DELETE' });
    assert.deepEqual([gone.status, gone.body.code], [404, 'TOKEN_NOT_FOUND']);
    const dropped = await callApi(`${base}/api/v1/tokens/dash`, admin, { method: 'DELETE' });
    assert.deepEqual([dropped.status, dropped.body], [200, { revoked: 'dash' }]);
    assert.equal((await callApi(`${base}/api/v1/stats`, made.body.token as string)).status, 401);
    const byBoss = (await auditRecords(ws)).filter((r) => r.who === 'boss').map((r) => [r.origin, r.action, r.detail.name]);
    assert.deepEqual(byBoss, [
      ['127.0.0.1', 'token.create', 'ci'],
      ['127.0.0.1', 'token.create', 'dash'],
      ['127.0.0.1', 'token.revoke', 'nobody'],
      ['127.0.0.1', 'token.revoke', 'dash'],
    ]);

    // Revoked through the socket: the TCP API refuses the token at once.
    const revoked = await runCli(['token', 'revoke', 'ci'], ws);
    assert.equal(revoked.code, 0, revoked.stderr);
    assert.equal((await callApi(`${base}/api/v1/messages`, token)).status, 401);

    const viaSocket = { all: all.stdout, audit: (await runCli(['audit', 'list', '--json', '--who', LOCAL], ws)).stdout, logs: logs.stdout };
    await service.stop();
    service = undefined;
    assert.ok(!existsSync(socket), 'the socket is removed at the stop');

    // Without the service the same commands print the same (done by the command itself).
    assert.equal((await runCli(['search', '--json'], ws)).stdout, viaSocket.all);
    assert.equal((await runCli(['audit', 'list', '--json', '--who', LOCAL], ws)).stdout, viaSocket.audit);
    assert.ok((await runCli(['logs', 'journal'], ws)).stdout.startsWith(viaSocket.logs));
  } finally {
    await service?.stop();
    ws.cleanup();
  }
});

test('with the TCP API off: the socket serves; a SIGKILLed service leaves it, the command then works alone, and the next start replaces it; an unanswering socket beside a live service is an error naming it', async () => {
  const user = await dovecot.createUser();
  await dovecot.loadMaildir(user.username, [0, 1].map((i) => makeMessage(i, { bodyBytes: 500 })));
  const ws = makeWorkspace({ connections: [imapConnection(dovecot, user)] });
  const socket = join(ws.dataDir, 'control.sock');
  let child = spawnCli(['start'], ws);
  let stderr = '';
  const collect = (c: typeof child): void => void c.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  collect(child);
  try {
    await waitAnswering(socket, () => stderr);
    // Both messages taken and parsed first: the searches below compare what they print, and a
    // search that starts fast enough (issue 17) would otherwise list them before their parse.
    await waitParsed(ws, 2);
    const first = await runCli(['search', '--json'], ws);
    assert.equal(first.code, 0, first.stderr);

    child.kill('SIGKILL');
    await once(child, 'exit');
    assert.ok(lstatSync(socket).isSocket(), 'a SIGKILL leaves the socket behind');
    const alone = await runCli(['search'], ws);
    assert.equal(alone.code, 0, alone.stderr);
    assert.match(alone.stdout, /^2 messages$/m);

    child = spawnCli(['start'], ws);
    collect(child);
    await waitAnswering(socket, () => stderr);
    assert.equal(lstatSync(socket).mode & 0o777, 0o600);
    const second = await runCli(['search', '--json'], ws);
    assert.equal(second.code, 0, second.stderr);
    assert.equal(second.stdout, first.stdout);

    // The live service's socket replaced by a dead one: no fallback beside a live holder.
    unlinkSync(socket);
    const dead = spawn(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(socket)}, () => process.kill(process.pid, 'SIGKILL'))`]);
    await once(dead, 'exit');
    const refused = await runCli(['search'], ws);
    assert.equal(refused.code, 1);
    assert.equal(refused.stdout, '');
    assert.match(refused.stderr, new RegExp(`^mailsluice: CONTROL_SOCKET_UNREACHABLE: .*${socket.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));

    child.kill('SIGTERM');
    const [code] = (await once(child, 'exit')) as [number | null];
    assert.equal(code, 0, stderr);
    assert.ok(!existsSync(socket), 'the stop removes the socket');
    const audit = await auditRecords(ws);
    assert.deepEqual(audit.map((r) => [r.who, r.origin, r.action]), [
      [LOCAL, 'control socket', 'archive.search'],
      [userInfo().username, 'cli', 'archive.search'],
      [LOCAL, 'control socket', 'archive.search'],
    ]);
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    ws.cleanup();
  }
});

test('beside start: deliveries retry goes through the control socket; the service records it and delivers the dead letters', async () => {
  const user = await dovecot.createUser();
  await dovecot.loadMaildir(user.username, [0, 1, 2].map((i) => makeMessage(i, { bodyBytes: 500 })));
  const receiver = await startWebhookReceiver();
  receiver.answer(() => ({ status: 400 }));
  const { ws, base } = await drainedWithApi({ connections: [imapConnection(dovecot, user)], routes: [{ name: 'hook', connection: 'journal', scenario: [{ action: 'webhook', url: receiver.url }] }] }, 1);
  let service: RunningService | undefined;
  try {
    assert.equal(receiver.requests.length, 3, 'each refused once: dead letters');
    service = await startService(ws, base);
    receiver.answer(() => ({ status: 204 }));

    const unknown = await runCli(['deliveries', 'retry', 'journal.hook.999'], ws);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /^mailsluice: DELIVERY_NOT_FOUND: no dead delivery journal\.hook\.999/m);
    const retried = await runCli(['deliveries', 'retry', '--all-dead', '--json'], ws);
    assert.equal(retried.code, 0, retried.stderr);
    const answer = JSON.parse(retried.stdout) as { replayed: string[]; notDead: string[] };
    assert.equal(answer.replayed.length, 3);
    assert.deepEqual(answer.notDead, []);
    await waitFor(() => receiver.accepted().length >= 3, 30_000, 'the service delivers the replayed dead letters');

    const records = (await auditRecords(ws)).filter((r) => r.action === 'deliveries.retry');
    assert.deepEqual(records.map((r) => [r.who, r.origin, r.detail]), [
      [LOCAL, 'control socket', { route: 'hook', ids: ['journal.hook.999'] }],
      [LOCAL, 'control socket', { route: 'hook', allDead: true }],
    ]);
  } finally {
    await service?.stop();
    await receiver.close();
    ws.cleanup();
  }
});
