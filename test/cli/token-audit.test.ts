/**
 * Issue 14, items 3, 4 and 9 from the command line, as an operator (and a script) uses them:
 * `token create --json` prints exactly the contract's object; a created token verifies and a
 * revoked one does not; `search` and `export` appear in `audit list` under the OS user; a record
 * altered or removed in `archive.db` with SQLite directly is named by `audit verify`, exit 1; an
 * intact chain verifies with exit 0.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import '../harness/sqlite-keep.js';
import { makeWorkspace, runCli, type Workspace } from '../harness/cli.js';
import { createSqliteStore } from '../../src/adapters/store-sqlite/index.js';
import { createEmbeddedApp } from '../../src/app/embedded.js';
import { loadConfig } from '../../src/config/loader.js';

const lines = (s: string): string[] => s.split('\n').filter((l) => l !== '');

/** A workspace with an empty archive (made as a first drain would) and one connection that is never reached. */
async function workspace(): Promise<Workspace> {
  const ws = makeWorkspace({
    connections: [{ name: 'journal', protocol: 'imap', host: '127.0.0.1', port: 1, auth: { type: 'basic', username: 'u', password: 'p' } }],
  });
  const store = createSqliteStore({ file: join(ws.dataDir, 'archive.db') });
  await store.close();
  return ws;
}

/** Runs `fn` on `archive.db` with the audit log's append-only triggers dropped, as someone with the file could. */
function tamper(ws: Workspace, sql: string): void {
  const db = new Database(join(ws.dataDir, 'archive.db'));
  try {
    db.exec('DROP TRIGGER IF EXISTS audit_log_no_update; DROP TRIGGER IF EXISTS audit_log_no_delete;');
    db.exec(sql);
  } finally {
    db.close();
  }
}

test('token create --json prints exactly {token, name, role, created}; the token verifies until revoked; list never shows it', async () => {
  const ws = await workspace();
  try {
    const r = await runCli(['token', 'create', '--name', 'grafana', '--role', 'viewer', '--json'], ws);
    assert.equal(r.code, 0, r.stderr);
    const out = lines(r.stdout);
    assert.equal(out.length, 1, r.stdout);
    const created = JSON.parse(out[0]!) as Record<string, unknown>;
    assert.deepEqual(Object.keys(created).sort(), ['created', 'name', 'role', 'token']);
    assert.equal(created.name, 'grafana');
    assert.equal(created.role, 'viewer');
    assert.match(String(created.token), /^msl_[A-Za-z0-9_-]{43}$/);
    assert.ok(!Number.isNaN(Date.parse(String(created.created))) && String(created.created).endsWith('Z'));
    const token = String(created.token);

    const plain = await runCli(['token', 'create', '--name', 'ops', '--role', 'admin'], ws);
    assert.equal(plain.code, 0, plain.stderr);
    assert.match(plain.stdout, /^msl_[A-Za-z0-9_-]{43}\n$/, 'the token alone on stdout');
    assert.match(plain.stderr, /shown this once/);

    const list = await runCli(['token', 'list', '--json'], ws);
    assert.equal(list.code, 0, list.stderr);
    const rows = lines(list.stdout).map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual(rows.map((t) => [t.name, t.role, t.lastUsed]), [['grafana', 'viewer', null], ['ops', 'admin', null]]);
    assert.ok(!list.stdout.includes(token.slice(4)), 'no token in the list');
    assert.ok(!lines((await runCli(['token', 'list'], ws)).stdout).some((l) => l.includes('msl_')));

    // What the API will call: the app's verifier.
    const app = await createEmbeddedApp(loadConfig(ws.configPath));
    try {
      assert.deepEqual(await app.verifyToken(`Bearer ${token}`), { name: 'grafana', role: 'viewer' });
      assert.equal(await app.verifyToken(`Bearer msl_${'A'.repeat(43)}`), null);
    } finally {
      await app.close();
    }
    const used = lines((await runCli(['token', 'list', '--json'], ws)).stdout).map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.ok(typeof used[0]!.lastUsed === 'string', 'last use recorded');

    const dup = await runCli(['token', 'create', '--name', 'grafana', '--role', 'admin'], ws);
    assert.equal(dup.code, 1);
    assert.match(dup.stderr, /^mailsluice: TOKEN_EXISTS: /);
    const badRole = await runCli(['token', 'create', '--name', 'x', '--role', 'root'], ws);
    assert.equal(badRole.code, 2);
    assert.match(badRole.stderr, /CLI_USAGE: --role must be admin, auditor or viewer/);

    const revoke = await runCli(['token', 'revoke', 'grafana'], ws);
    assert.equal(revoke.code, 0, revoke.stderr);
    const again = await runCli(['token', 'revoke', 'grafana'], ws);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /^mailsluice: TOKEN_NOT_FOUND: /);
    const after = await createEmbeddedApp(loadConfig(ws.configPath));
    try {
      assert.equal(await after.verifyToken(`Bearer ${token}`), null, 'revoked');
    } finally {
      await after.close();
    }

    // Creating and revoking are audited, by name and role, never with the token.
    const audit = await runCli(['audit', 'list', '--json'], ws);
    const recs = lines(audit.stdout).map((l) => JSON.parse(l) as { action: string; detail: Record<string, unknown> });
    // Recorded before each is done: the refused duplicate and the second revoke as attempts; the
    // malformed request (no such role) not at all.
    assert.deepEqual(recs.map((x) => x.action), ['token.create', 'token.create', 'token.create', 'token.revoke', 'token.revoke']);
    assert.deepEqual(recs[0]!.detail, { name: 'grafana', role: 'viewer' });
    assert.ok(!audit.stdout.includes('msl_'));
  } finally {
    ws.cleanup();
  }
});

test('search and export appear in audit list with the OS user; an intact chain verifies with exit 0', async () => {
  const ws = await workspace();
  try {
    assert.equal((await runCli(['search', 'invoice', '--from', 'boss@example.test'], ws)).code, 0);
    const ex = await runCli(['export', '--out', 'exported', '--format', 'mbox'], ws);
    assert.equal(ex.code, 0, ex.stderr);
    const r = await runCli(['audit', 'list', '--json'], ws);
    assert.equal(r.code, 0, r.stderr);
    const recs = lines(r.stdout).map((l) => JSON.parse(l) as Record<string, unknown>);
    const me = userInfo().username;
    assert.deepEqual(
      recs.map((x) => [x.seq, x.who, x.origin, x.action]),
      [
        [1, me, 'cli', 'archive.search'],
        [2, me, 'cli', 'archive.export'],
        [3, me, 'cli', 'archive.export.done'],
      ],
    );
    assert.deepEqual(recs[0]!.detail, { text: 'invoice', from: 'boss@example.test', limit: 100 });
    assert.deepEqual(recs[1]!.detail, { out: join(ws.dir, 'exported'), format: 'mbox' });
    assert.deepEqual(recs[2]!.detail, { out: join(ws.dir, 'exported'), format: 'mbox', messages: 0, files: 0, bytes: 0 }, 'what the export wrote, once it wrote it');
    assert.ok(!Number.isNaN(Date.parse(String(recs[0]!.at))));

    const text = await runCli(['audit', 'list'], ws);
    assert.equal(lines(text.stdout).at(-1), '3 records');
    assert.equal(lines((await runCli(['audit', 'list', '--who', 'nobody-else'], ws)).stdout).at(-1), '0 records');
    assert.equal(lines((await runCli(['audit', 'list', '--until', '2000-01-01'], ws)).stdout).at(-1), '0 records');
    assert.equal(lines((await runCli(['audit', 'list', '--since', '2000-01-01', '--who', me], ws)).stdout).at(-1), '3 records');

    const v = await runCli(['audit', 'verify'], ws);
    assert.equal(v.code, 0, v.stderr);
    assert.match(v.stdout, /^audit log intact: 3 records, head [0-9a-f]{64}\n$/);
    const vj = await runCli(['audit', 'verify', '--json'], ws);
    assert.equal(vj.code, 0);
    assert.equal((JSON.parse(vj.stdout) as { ok: boolean }).ok, true);
  } finally {
    ws.cleanup();
  }
});

test('a field altered or a record deleted in archive.db with SQLite directly: audit verify names the record and exits 1', async () => {
  for (const [what, sql, problem] of [
    ['altered', "UPDATE audit_log SET detail = '{\"limit\":100,\"text\":\"nothing\"}' WHERE seq = 2", /^mailsluice: AUDIT_CHAIN_BROKEN: record 2: altered: its fields no longer match its hash; records 1 to 1 hold$/],
    ['deleted', 'DELETE FROM audit_log WHERE seq = 2', /^mailsluice: AUDIT_CHAIN_BROKEN: record 2: record 2 is missing \(removed\)/],
    ['last deleted', 'DELETE FROM audit_log WHERE seq = 3', /^mailsluice: AUDIT_CHAIN_BROKEN: record 3: record 3 is missing \(removed\)/],
  ] as const) {
    const ws = await workspace();
    try {
      for (const q of ['one', 'two', 'three']) assert.equal((await runCli(['search', q], ws)).code, 0);
      assert.equal((await runCli(['audit', 'verify'], ws)).code, 0);
      tamper(ws, sql);
      const v = await runCli(['audit', 'verify'], ws);
      assert.equal(v.code, 1, `${what}: ${v.stdout}${v.stderr}`);
      assert.equal(v.stdout, '');
      const err = lines(v.stderr);
      assert.equal(err.length, 1, v.stderr);
      assert.match(err[0]!, problem, what);
      const vj = await runCli(['audit', 'verify', '--json'], ws);
      assert.equal(vj.code, 1);
      assert.equal((JSON.parse(lines(vj.stdout)[0]!) as { seq: number }).seq, what === 'last deleted' ? 3 : 2);
    } finally {
      ws.cleanup();
    }
  }
});

test('commands appending at once make one unbroken chain', async () => {
  const ws = await workspace();
  try {
    const runs = await Promise.all(['a', 'b', 'c', 'd'].map((q) => runCli(['search', q], ws)));
    for (const r of runs) assert.equal(r.code, 0, r.stderr);
    const v = await runCli(['audit', 'verify'], ws);
    assert.equal(v.code, 0, v.stderr);
    assert.match(v.stdout, /^audit log intact: 4 records/);
    const texts = lines((await runCli(['audit', 'list', '--json'], ws)).stdout).map((l) => (JSON.parse(l) as { detail: { text: string } }).detail.text);
    assert.deepEqual(texts.sort(), ['a', 'b', 'c', 'd']);
  } finally {
    ws.cleanup();
  }
});
