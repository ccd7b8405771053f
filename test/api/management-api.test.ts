/**
 * The management API's first read endpoints over HTTP, against an archive made by a real drain
 * of a real Dovecot mailbox: health and readiness (open), stats and connections (viewer), search,
 * message view and the raw `.eml` (auditor); 401 without credentials and 403 below the role,
 * with an `authorize` hook the test controls (tokens are another piece of issue 14).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { dovecotPerFile } from '../harness/dovecot-per-file.js';
import { imapConnection, makeWorkspace, runCli, type Workspace } from '../harness/cli.js';
import { makeMessage, sha256 } from '../harness/messages.js';
import { createSqliteStore, type SqliteStore } from '../../src/adapters/store-sqlite/index.js';
import { createFsBlobStore } from '../../src/adapters/blob-fs/index.js';
import { parseToOutcome, postalMimeAttachmentFinder } from '../../src/adapters/parser-postal-mime/index.js';
import { DEFAULT_PARSE_LIMITS } from '../../src/core/message/limits.js';
import { JsonlLogger } from '../../src/adapters/logger-jsonl/index.js';
import { loadConfig } from '../../src/config/loader.js';
import { connectionSettings } from '../../src/app/api.js';
import type { ConnectionStatus } from '../../src/core/connection/connection-runner.js';
import type { Principal } from '../../src/core/access/index.js';
import { createUrlSigner, startApiServer, type ApiServer } from '../../src/api/index.js';


/** The tokens the stub authorizer knows. */
const TOKENS: Record<string, Principal> = {
  'viewer-token': { name: 'dashboard', role: 'viewer' },
  'auditor-token': { name: 'compliance', role: 'auditor' },
  'admin-token': { name: 'ops', role: 'admin' },
};

const mails = [
  makeMessage(1, { tag: 'zanzibar budget' }),
  makeMessage(2, { tag: 'holiday rota', attachmentBytes: 20_000 }),
  makeMessage(3, { tag: 'zanzibar forecast' }),
];

let ws: Workspace;
let password: string;
let store: SqliteStore;
let server: ApiServer;
let base: string;
/** What the runners report; the test changes it. */
let statuses: ConnectionStatus[] = [];

function status(state: ConnectionStatus['state']): ConnectionStatus {
  return {
    name: 'journal',
    state,
    lastPollAt: Date.UTC(2026, 0, 1),
    errorsByCode: {},
    lastSuccessAt: null,
    nextAttemptAt: null,
    startedAt: Date.UTC(2026, 0, 1),
    sessions: 1,
    backlog: 0,
    rateLastMinute: 0,
    taken: 3,
    bytes: 100,
    actioned: 0,
    failed: 0,
    setAside: 0,
    cycles: 1,
    responses: { applied: 0, notApplicable: 0, failed: 0 } as ConnectionStatus['responses'],
    failures: state === 'error' ? 1 : 0,
    lastError: state === 'error' ? { code: 'SOURCE_AUTH_REJECTED', message: 'the server rejected the credentials', at: Date.UTC(2026, 0, 1) } : null,
  };
}

// The drain runs in the server's own start hook: a file-level hook may run before it.
dovecotPerFile({}, async (dovecot) => {
  const user = await dovecot.createUser();
  password = user.password;
  await dovecot.loadMaildir(user.username, mails);
  ws = makeWorkspace({ connections: [imapConnection(dovecot, user)] });
  const drained = await runCli(['drain'], ws);
  assert.equal(drained.code, 0, drained.stderr);
  store = createSqliteStore({ file: join(ws.dataDir, 'archive.db'), readonly: true });
  const blobs = await createFsBlobStore({ directory: join(ws.dataDir, 'blobs') });
  const configured = loadConfig(ws.configPath).connections.map(connectionSettings);
  server = await startApiServer(
    {
      archive: store,
      search: store,
      indexProgress: () => store.searchRebuild.indexProgress(),
      blobs,
      connections: { configured: () => configured, statuses: () => statuses },
      authorize: async (req) => {
        const h = req.headers.authorization;
        const m = typeof h === 'string' ? /^Bearer (\S+)$/.exec(h) : null;
        return m ? (TOKENS[m[1]!] ?? null) : null;
      },
      attachments: postalMimeAttachmentFinder,
      parser: { parse: (raw) => parseToOutcome(raw, DEFAULT_PARSE_LIMITS) },
      signer: createUrlSigner(randomBytes(32), { publicUrl: 'http://unused.invalid', ttlSeconds: 600 }),
      now: () => Date.now(),
      logger: new JsonlLogger([]),
    },
    { host: '127.0.0.1', port: 0 },
  );
  base = `http://127.0.0.1:${server.port}`;
});

after(async () => {
  await server?.close();
  await store?.close();
  ws?.cleanup();
});

/** GET `path` with the token (none: no Authorization). */
async function get(path: string, token?: string, method = 'GET'): Promise<Response> {
  return fetch(`${base}${path}`, { method, headers: token ? { Authorization: `Bearer ${token}` } : {} });
}

async function json<T = Record<string, unknown>>(res: Response): Promise<T> {
  assert.equal(res.headers.get('content-type'), 'application/json; charset=utf-8');
  return (await res.json()) as T;
}

const VIEWER_PATHS = ['/api/v1/stats', '/api/v1/connections', '/api/v1/connections/journal', '/api/v1/connections/journal/status'];
const AUDITOR_PATHS = ['/api/v1/messages', `/api/v1/messages/${sha256(mails[0]!)}`, `/api/v1/messages/${sha256(mails[0]!)}/raw`];

test('/healthz and /readyz are open; /readyz says 503 once an enabled connection stopped on an error', async () => {
  assert.deepEqual(await json(await get('/healthz')), { ok: true });
  statuses = [status('waiting')];
  let res = await get('/readyz');
  assert.equal(res.status, 200);
  assert.deepEqual(await json(res), { ready: true, archive: { readable: true }, connections: [{ name: 'journal', state: 'waiting' }] });
  statuses = [status('error')];
  res = await get('/readyz');
  assert.equal(res.status, 503);
  assert.deepEqual(await json(res), { ready: false, archive: { readable: true }, connections: [{ name: 'journal', state: 'error' }] });
  statuses = [];
  assert.deepEqual((await json(await get('/readyz'))).connections, [{ name: 'journal', state: null }], 'no runner: no state');
});

test('no credentials is 401, unknown ones too; a role below the path is 403; each role reaches its own paths', async () => {
  for (const path of [...VIEWER_PATHS, ...AUDITOR_PATHS]) {
    for (const token of [undefined, 'forged-token']) {
      const res = await get(path, token);
      assert.equal(res.status, 401, `${path} ${token}`);
      assert.equal(res.headers.get('www-authenticate'), 'Bearer');
      assert.equal((await json(res)).code, 'API_UNAUTHORIZED');
    }
  }
  for (const path of AUDITOR_PATHS) {
    const res = await get(path, 'viewer-token');
    assert.equal(res.status, 403, path);
    const body = await json<{ code: string; message: string }>(res);
    assert.equal(body.code, 'API_FORBIDDEN');
    assert.match(body.message, /needs the auditor role/);
  }
  // The role is checked before the request: a viewer learns nothing from a malformed id either.
  assert.equal((await get('/api/v1/messages/NOT-AN-ID', 'viewer-token')).status, 403);
  for (const token of ['viewer-token', 'auditor-token', 'admin-token']) {
    for (const path of VIEWER_PATHS) assert.equal((await get(path, token)).status, 200, `${token} ${path}`);
  }
  for (const token of ['auditor-token', 'admin-token']) {
    for (const path of AUDITOR_PATHS) assert.equal((await get(path, token)).status, 200, `${token} ${path}`);
  }
});

test('stats count what the drain archived', async () => {
  const stats = await json<{ messages: number; connections: Record<string, { messages: number }> }>(await get('/api/v1/stats', 'viewer-token'));
  assert.equal(stats.messages, 3);
  assert.equal(stats.connections.journal?.messages, 3);
});

test('connections show their settings but never a secret; status joins the runners and the archive', async () => {
  const listRes = await get('/api/v1/connections', 'viewer-token');
  const text = await listRes.text();
  assert.ok(!text.includes(password), 'the password never leaves the service');
  assert.ok(!/BEGIN CERTIFICATE|"ca"|password/i.test(text), 'nor the TLS material or a password field');
  const list = JSON.parse(text) as { connections: Array<{ name: string; protocol: string; folders: string[]; auth: { type: string } }> };
  assert.deepEqual(
    list.connections.map((c) => [c.name, c.protocol, c.folders, c.auth.type]),
    [['journal', 'imap', ['INBOX'], 'basic']],
  );
  const one = await json<{ name: string; port: number }>(await get('/api/v1/connections/journal', 'viewer-token'));
  assert.equal(one.name, 'journal');
  const missing = await get('/api/v1/connections/nope', 'viewer-token');
  assert.equal(missing.status, 404);
  assert.equal((await json(missing)).code, 'API_NOT_FOUND');

  statuses = [status('error')];
  const s = await json<{ state: string; taken: number; folders: Array<{ folder: string; lastError: { code: string; at: string } | null }> }>(
    await get('/api/v1/connections/journal/status', 'viewer-token'),
  );
  assert.equal(s.state, 'error');
  assert.equal(s.taken, 3, 'taken since the archive began');
  assert.equal(s.folders[0]?.folder, 'INBOX');
  assert.deepEqual(s.folders[0]?.lastError, { code: 'SOURCE_AUTH_REJECTED', message: 'the server rejected the credentials', at: '2026-01-01T00:00:00.000Z' });
  statuses = [];
});

type Page = { hits: Array<{ archiveId: string; subject: string; connection: string }>; next: string | null; reindex?: { done: number; total: number } };

test('a search page says so while the index is being rebuilt, and how far', async () => {
  const current = await json<Page>(await get('/api/v1/messages?q=zanzibar', 'auditor-token'));
  assert.equal(current.reindex, undefined);
  // The index as an older build left it (no version recorded): every message still to rebuild.
  const search = new Database(join(ws.dataDir, 'search.db'));
  const version = search.prepare("SELECT value FROM search_meta WHERE key = 'version'").pluck().get() as number;
  search.prepare("DELETE FROM search_meta WHERE key = 'version'").run();
  try {
    const old = await json<Page>(await get('/api/v1/messages?q=zanzibar', 'auditor-token'));
    assert.deepEqual(old.reindex, { done: 0, total: 3 });
    assert.equal(old.hits.length, 2, 'answered from what is indexed meanwhile');
  } finally {
    search.prepare("INSERT INTO search_meta (key, value) VALUES ('version', ?)").run(version);
    search.close();
  }
});

test('search filters as mailsluice search does, pages with a cursor, and refuses what it cannot read with 400', async () => {
  let page = await json<Page>(await get('/api/v1/messages?text=zanzibar', 'auditor-token'));
  assert.deepEqual(page.hits.map((h) => h.archiveId).sort(), [sha256(mails[0]!), sha256(mails[2]!)].sort());
  assert.equal(page.next, null);
  page = await json<Page>(await get('/api/v1/messages?hasAttachment=true&connection=journal', 'auditor-token'));
  assert.deepEqual(page.hits.map((h) => h.archiveId), [sha256(mails[1]!)]);
  page = await json<Page>(await get('/api/v1/messages?from=sender3', 'auditor-token'));
  assert.deepEqual(page.hits.map((h) => h.subject), ['Report 3 zanzibar forecast']);

  // Two pages of two and one, newest first, nothing twice.
  const first = await json<Page>(await get('/api/v1/messages?limit=2', 'auditor-token'));
  assert.equal(first.hits.length, 2);
  assert.ok(first.next);
  const second = await json<Page>(await get(`/api/v1/messages?limit=2&cursor=${first.next}`, 'auditor-token'));
  assert.equal(second.hits.length, 1);
  assert.equal(second.next, null);
  assert.deepEqual([...first.hits, ...second.hits].map((h) => h.archiveId), [sha256(mails[2]!), sha256(mails[1]!), sha256(mails[0]!)]);

  const bad = await get('/api/v1/messages?text=%22unclosed', 'auditor-token');
  assert.equal(bad.status, 400);
  const badBody = await json<{ code: string; message: string }>(bad);
  assert.equal(badBody.code, 'SEARCH_QUERY_INVALID');
  assert.match(badBody.message, /character/);
  for (const [query, field] of [
    ['since=yesterday-ish', 'since'],
    ['limit=0', 'limit'],
    ['limit=many', 'limit'],
    ['hasAttachment=yes', 'hasAttachment'],
    ['cursor=abc', 'cursor'],
  ] as const) {
    const res = await get(`/api/v1/messages?${query}`, 'auditor-token');
    assert.equal(res.status, 400, query);
    const body = await json<{ code: string; message: string }>(res);
    assert.equal(body.code, 'API_BAD_REQUEST');
    assert.ok(body.message.startsWith(field), `${query}: ${body.message}`);
  }
});

test('a message view lists its attachments with working signed links; /raw is exactly the archived .eml', async () => {
  const id = sha256(mails[1]!);
  type View = {
    archiveId: string;
    size: number;
    parsed: boolean;
    attachments: Array<{ name: string; sha256: string; url: string }>;
    content: { from: { address: string }; to: Array<{ address: string }>; subject: string; messageId: string; textBody: string; journal: unknown; parseError: string | null };
  };
  const view = await json<View>(await get(`/api/v1/messages/${id}`, 'auditor-token'));
  assert.equal(view.archiveId, id);
  assert.equal(view.size, mails[1]!.length);
  assert.equal(view.parsed, true);
  assert.deepEqual(view.attachments.map((a) => a.name), ['report-2.pdf']);
  // Headers and bodies, read again from the raw message.
  assert.equal(view.content.subject, 'Report 2 holiday rota');
  assert.equal(view.content.from.address, 'sender2@example.test');
  assert.deepEqual(view.content.to.map((a) => a.address), ['recipient2@example.test', 'team@example.test']);
  assert.match(view.content.messageId, /^2\.[0-9a-f]+@test\.mailsluice\.invalid$/);
  assert.ok(view.content.textBody.length > 1000, 'the text body');
  assert.equal(view.content.journal, null);
  assert.equal(view.content.parseError, null);
  const link = new URL(view.attachments[0]!.url);
  const bytes = Buffer.from(await (await fetch(`${base}${link.pathname}${link.search}`)).arrayBuffer());
  assert.equal(sha256(bytes), view.attachments[0]!.sha256, 'the link serves the attachment, without credentials');

  const raw = await get(`/api/v1/messages/${id}/raw`, 'auditor-token');
  assert.equal(raw.status, 200);
  assert.equal(raw.headers.get('content-type'), 'message/rfc822');
  assert.equal(raw.headers.get('content-disposition'), `attachment; filename="${id}.eml"`);
  assert.equal(raw.headers.get('x-content-type-options'), 'nosniff');
  assert.ok(Buffer.from(await raw.arrayBuffer()).equals(mails[1]!), 'byte for byte');

  const missing = await get(`/api/v1/messages/${'f'.repeat(64)}/raw`, 'auditor-token');
  assert.equal(missing.status, 404);
  assert.equal((await json(missing)).code, 'API_NOT_FOUND');
  const malformed = await get('/api/v1/messages/ABC', 'auditor-token');
  assert.equal(malformed.status, 400);
  assert.match((await json<{ message: string }>(malformed)).message, /^archiveId must be a SHA-256/);
});

test('a refusal names the route, never echoes the path it was asked', async () => {
  const long = 'x'.repeat(5000);
  const res = await get(`/api/v1/connections/${long}/status`);
  assert.equal(res.status, 401);
  const body = await json<{ message: string }>(res);
  assert.match(body.message, /^\/api\/v1\/connections\/\{name\}\/status needs credentials/);
  assert.ok(!body.message.includes(long));
});
