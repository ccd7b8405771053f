/**
 * Issue 14, item 4, over HTTP: every read of archived content through the API (search, message
 * view, raw `.eml`) is on the audit log before it is answered, with the token's name, the remote
 * address and what was asked; `GET /api/v1/audit` (paged, filtered) and `/audit/verify` show it
 * to an auditor, `mailsluice audit list` beside the running service too; a read that cannot be
 * recorded is refused.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dovecotPerFile } from '../harness/dovecot-per-file.js';
import { imapConnection, runCli } from '../harness/cli.js';
import { makeMessage } from '../harness/messages.js';
import { createApiApp, type ApiDeps } from '../../src/api/index.js';
import { MailsluiceError } from '../../src/core/errors/index.js';
import { callApi, createToken, type Body, startService, type RunningService, drainedWithApi } from '../harness/api-client.js';

const dovecot = dovecotPerFile();


type AuditRecord = { seq: number; who: string; origin: string; action: string; detail: Record<string, unknown> };

test('a read that cannot be recorded is refused before the archive is read', async () => {
  let reads = 0;
  const deps = {
    authorize: async () => ({ name: 'legal', role: 'auditor' }),
    record: async () => {
      throw new MailsluiceError('STORE_WRITE_FAILED', 'the audit log cannot be written (disk full)');
    },
    search: { search: async () => (reads++, []) },
    archive: { findArchived: async () => (reads++, null), stats: async () => ({}) },
    now: () => Date.now(),
    logger: { debug() {}, info() {}, warn() {}, error() {}, child() { return this; } },
  } as unknown as ApiDeps;
  const app = createApiApp(deps);
  for (const path of ['/api/v1/messages?text=x', `/api/v1/messages/${'a'.repeat(64)}`, `/api/v1/messages/${'a'.repeat(64)}/raw`]) {
    const res = await app.request(path);
    const body = (await res.json()) as Body;
    assert.deepEqual([res.status, body.code], [503, 'STORE_WRITE_FAILED'], path);
  }
  assert.equal(reads, 0, 'nothing was read');
});

test('start: search, view and raw by an auditor are audited with the token name and address; the audit API pages, filters and verifies; a viewer is refused', async () => {
  const user = await dovecot.createUser();
  await dovecot.loadMaildir(user.username, [0, 1, 2].map((i) => makeMessage(i, { tag: i === 1 ? 'zanzibar' : undefined, bodyBytes: 500 })));
  const { ws, base } = await drainedWithApi({ connections: [imapConnection(dovecot, user)] });
  let service: RunningService | undefined;
  try {
    const viewer = await createToken(ws, 'ops', 'viewer');
    const auditor = await createToken(ws, 'legal', 'auditor');
    service = await startService(ws, base);

    const hits = await callApi(`${base}/api/v1/messages?text=zanzibar`, auditor);
    assert.equal(hits.status, 200);
    const archiveId = (hits.body.hits as Array<{ archiveId: string }>)[0]!.archiveId;
    assert.equal((await callApi(`${base}/api/v1/messages/${archiveId}`, auditor)).status, 200);
    const raw = await callApi(`${base}/api/v1/messages/${archiveId}/raw`, auditor);
    assert.equal(raw.status, 200);
    assert.match(raw.raw, /zanzibar/);

    const listed = await callApi(`${base}/api/v1/audit?who=legal`, auditor);
    assert.equal(listed.status, 200, listed.raw);
    const reads = (listed.body.records as AuditRecord[]).map((r) => [r.who, r.origin, r.action, r.detail.text ?? r.detail.archiveId]);
    assert.deepEqual(reads, [
      ['legal', '127.0.0.1', 'archive.search', 'zanzibar'],
      ['legal', '127.0.0.1', 'archive.view', archiveId],
      ['legal', '127.0.0.1', 'archive.raw', archiveId],
    ]);
    assert.equal(listed.body.next, null);

    // Paged one at a time: the same records, in order, each page pointing at the next.
    const paged: AuditRecord[] = [];
    let cursor: string | null = '';
    while (cursor !== null) {
      const page = await callApi(`${base}/api/v1/audit?who=legal&limit=1${cursor ? `&cursor=${cursor}` : ''}`, auditor);
      assert.equal(page.status, 200, page.raw);
      paged.push(...(page.body.records as AuditRecord[]));
      cursor = page.body.next as string | null;
    }
    assert.deepEqual(paged.map((r) => r.action), ['archive.search', 'archive.view', 'archive.raw']);
    // Newest first (the console's order), paged the same way, and by action.
    const newest: AuditRecord[] = [];
    cursor = '';
    while (cursor !== null) {
      const page = await callApi(`${base}/api/v1/audit?who=legal&order=newest&limit=2${cursor ? `&cursor=${cursor}` : ''}`, auditor);
      assert.equal(page.status, 200, page.raw);
      newest.push(...(page.body.records as AuditRecord[]));
      cursor = page.body.next as string | null;
    }
    assert.deepEqual(newest.map((r) => r.action), ['archive.raw', 'archive.view', 'archive.search']);
    const views = await callApi(`${base}/api/v1/audit?action=archive.view`, auditor);
    assert.deepEqual((views.body.records as AuditRecord[]).map((r) => [r.who, r.action]), [['legal', 'archive.view']]);
    const none = await callApi(`${base}/api/v1/audit?since=2999-01-01`, auditor);
    assert.deepEqual(none.body.records, []);
    const bad = await callApi(`${base}/api/v1/audit?since=yesterday`, auditor);
    assert.deepEqual([bad.status, bad.body.code], [400, 'API_BAD_REQUEST']);
    assert.match(String(bad.body.message), /since/);

    const verdict = await callApi(`${base}/api/v1/audit/verify`, auditor);
    assert.equal(verdict.status, 200);
    assert.equal(verdict.body.ok, true);
    assert.ok((verdict.body.records as number) >= 5, 'the tokens made and the three reads');

    for (const path of ['/api/v1/audit', '/api/v1/audit/verify']) {
      const refused = await callApi(`${base}${path}`, viewer);
      assert.deepEqual([refused.status, refused.body.code], [403, 'API_FORBIDDEN'], path);
      const anonymous = await callApi(`${base}${path}`);
      assert.deepEqual([anonymous.status, anonymous.body.code], [401, 'API_UNAUTHORIZED'], path);
    }
    // A viewer's refused search is no read, and not recorded as one.
    assert.equal((await callApi(`${base}/api/v1/messages`, viewer)).status, 403);

    // The command line, beside the running service, shows the same records.
    const cli = await runCli(['audit', 'list', '--who', 'legal', '--json'], ws);
    assert.equal(cli.code, 0, cli.stderr);
    const lines = cli.stdout.trim().split('\n').map((l) => JSON.parse(l) as AuditRecord);
    assert.deepEqual(lines.map((r) => [r.who, r.action]), [
      ['legal', 'archive.search'],
      ['legal', 'archive.view'],
      ['legal', 'archive.raw'],
    ]);
    const viewed = await runCli(['audit', 'list', '--action', 'archive.view', '--json'], ws);
    assert.equal(viewed.code, 0, viewed.stderr);
    assert.deepEqual(viewed.stdout.trim().split('\n').map((l) => (JSON.parse(l) as AuditRecord).who), ['legal'], 'by action, through the service');
    const ops = await runCli(['audit', 'list', '--who', 'ops', '--json'], ws);
    assert.equal(ops.stdout.trim(), '', 'the viewer read nothing');
    // connections status beside the service is the service's live status (issue 14, item 9):
    // its runner's state and folder, and what the archive holds (the drain's three).
    const status = await runCli(['connections', 'status', '--json'], ws);
    assert.equal(status.code, 0, status.stderr);
    const live = JSON.parse(status.stdout) as { name: string; enabled: boolean; state: string | null; taken: number; pendingActions: number; folders: Array<{ folder: string; state: string }> };
    assert.deepEqual([live.name, live.enabled, live.taken, live.pendingActions], ['journal', true, 3, 0]);
    assert.match(String(live.state), /^(starting|connecting|draining|waiting)$/, 'a runner runs it');
    assert.deepEqual(live.folders.map((f) => f.folder), ['INBOX']);
    assert.equal(live.folders[0]!.state, live.state);
  } finally {
    await service?.stop();
    ws.cleanup();
  }
});
