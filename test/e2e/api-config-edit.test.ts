/**
 * Editing the configuration through the API against a running `start` and a real Dovecot (issue
 * 14, items 1 and 2; ADR 0023): a connection created with its password lands in the file as
 * `{ secret: NAME }` with the file's comments kept, the password only encrypted in the secret
 * store, `config check` passes, and after a restart the connection drains its mailbox (the secret
 * resolves); patch, enable, disable and delete change the file; two edits against one version:
 * one wins, the other is 409; every write answers 400 naming the field for bad input; only an
 * admin may write (a viewer and an auditor 403, no token 401).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { dovecotPerFile } from '../harness/dovecot-per-file.js';
import { imapConnection, makeWorkspace, runCli, type Workspace } from '../harness/cli.js';
import { freePort } from '../harness/free-port.js';
import { makeMessage } from '../harness/messages.js';
import { callApi, createToken, send, startService, type Body, type RunningService } from '../harness/api-client.js';

const dovecot = dovecotPerFile();

const HOUR = 3_600_000;

/** The configuration file, written by hand with comments, as an operator keeps it. */
function commentedConfig(ws: Workspace, port: number, seed: Record<string, unknown>): string {
  const text = [
    '# mailsluice — journal archive (kept in git; no passwords here)',
    'dataDir: ./data # the archive',
    '',
    'api:',
    `  listen: "127.0.0.1:${port}" # loopback only`,
    '',
    '# mailboxes',
    'connections:',
    '  # an empty mailbox, so the first drain makes the archive',
    stringify([seed]).replace(/^/gm, '  ').trimEnd(),
    '',
    '# nothing routed yet',
    'routes: []',
    '',
  ].join('\n');
  writeFileSync(ws.configPath, text);
  return text;
}

const COMMENTS = ['# mailsluice — journal archive (kept in git; no passwords here)', '# the archive', '# loopback only', '# mailboxes', '# an empty mailbox, so the first drain makes the archive', '# nothing routed yet'];

/** The first folder's runner of `name`: when it started and how many sessions it opened. */
async function runnerOf(base: string, token: string, name: string): Promise<{ startedAt: string; sessions: number }> {
  const r = await callApi(`${base}/api/v1/connections/${name}/status`, token);
  assert.equal(r.status, 200, r.raw);
  const f = (r.body.folders as Array<{ startedAt: string; sessions: number }>)[0]!;
  return { startedAt: f.startedAt, sessions: f.sessions };
}

async function takenOf(base: string, token: string, name: string): Promise<number> {
  const r = await callApi(`${base}/api/v1/connections/${name}/status`, token);
  return r.status === 200 ? (r.body.taken as number) : -1;
}

test('start: a connection created over the API drains at once, keeps its password out of the file and survives a restart; a poll interval patched restarts its runner alone; enable, disable, delete, conflicts, roles', async () => {
  const user = await dovecot.createUser();
  const empty = await dovecot.createUser();
  await dovecot.loadMaildir(user.username, [0, 1, 2].map((i) => makeMessage(i, { bodyBytes: 300 })));
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const ws = makeWorkspace();
  commentedConfig(ws, port, imapConnection(dovecot, empty, { name: 'seed', pollIntervalMs: HOUR }));
  let service: RunningService | undefined;
  try {
    const drained = await runCli(['drain'], ws);
    assert.equal(drained.code, 0, drained.stderr);
    const admin = await createToken(ws, 'root', 'admin');
    const viewer = await createToken(ws, 'ops', 'viewer');
    const auditor = await createToken(ws, 'audit', 'auditor');
    service = await startService(ws, base);

    const version = await send(`${base}/api/v1/config`, admin, 'GET');
    assert.equal(version.status, 200);
    const etag0 = version.body.etag as string;
    assert.match(etag0, /^[0-9a-f]{64}$/);
    assert.equal(version.etag, `"${etag0}"`);
    assert.equal((await send(`${base}/api/v1/connections`, viewer, 'GET')).etag, `"${etag0}"`, 'a GET carries the version');

    const added = imapConnection(dovecot, user, { name: 'added', pollIntervalMs: HOUR });
    // Roles: only an admin writes.
    assert.equal((await send(`${base}/api/v1/connections`, undefined, 'POST', added)).status, 401);
    assert.equal((await send(`${base}/api/v1/connections`, viewer, 'POST', added)).status, 403);
    assert.equal((await send(`${base}/api/v1/connections`, auditor, 'POST', added)).status, 403);
    assert.equal((await send(`${base}/api/v1/config`, auditor, 'GET')).status, 403);

    const created = await send(`${base}/api/v1/connections`, admin, 'POST', added, `"${etag0}"`);
    assert.equal(created.status, 201, created.raw);
    const conn = created.body.connection as Body;
    assert.equal(conn.name, 'added');
    assert.deepEqual(conn.auth, { type: 'basic', username: user.username, credentialSet: true });
    assert.ok(!created.raw.includes(user.password), 'the answer never carries the password');
    assert.equal(created.body.applied, true, created.raw);
    assert.deepEqual((created.body.reload as Body).started, ['added'], 'applied live: its runner started');
    assert.deepEqual((created.body.reload as Body).restarted, [], 'no other runner touched');
    assert.deepEqual(created.body.changed, ['name', 'protocol', 'host', 'port', 'tlsPort', 'security', 'tls', 'auth', 'pollIntervalMs']);
    const etag1 = created.body.etag as string;
    assert.equal(created.etag, `"${etag1}"`);
    assert.notEqual(etag1, etag0);

    let text = readFileSync(ws.configPath, 'utf8');
    assert.ok(!text.includes(user.password), 'the password is not in the file');
    assert.match(text, /password: \{ secret: connection\.added\.auth\.password \}/);
    for (const c of COMMENTS) assert.ok(text.includes(c), `comment kept: ${c}`);
    assert.ok(text.indexOf('name: seed') < text.indexOf('name: added'), 'added after the existing one');
    const secrets = readFileSync(join(ws.dataDir, 'secrets.enc'), 'utf8');
    assert.ok(!secrets.includes(user.password) && !secrets.includes(Buffer.from(user.password).toString('base64')), 'the store holds it encrypted only');
    const check = await runCli(['config', 'check'], ws);
    assert.equal(check.code, 0, check.stderr);
    assert.match(check.stdout, /OK \(2 connections, 0 routes\)/);

    // The GETs read the file as it is now, without a restart.
    const listed = await send(`${base}/api/v1/connections`, viewer, 'GET');
    assert.deepEqual((listed.body.connections as Body[]).map((c) => c.name), ['seed', 'added']);
    assert.equal(listed.etag, `"${etag1}"`);

    // A stale version is refused, and nothing is written.
    const stale = await send(`${base}/api/v1/connections/added`, admin, 'PATCH', { pollIntervalMs: 1000 }, `"${etag0}"`);
    assert.equal(stale.status, 409);
    assert.equal(stale.body.code, 'CONFIG_CONFLICT');
    assert.equal(readFileSync(ws.configPath, 'utf8'), text);

    // Without a restart the secret resolves from the store: the connection drains its mailbox.
    const drainedBy = async (what: string): Promise<void> => {
      const start = Date.now();
      while ((await takenOf(base, viewer, 'added')) < 3) {
        assert.ok(Date.now() - start < 30_000, `the created connection did not drain ${what}: ${service!.stderr()}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    };
    await drainedBy('without a restart');
    assert.equal(await dovecot.messageCount(user.username), 0, 'gone from the server');
    // And after a restart too (the secret in the store, the file the one truth).
    await service.stop();
    service = await startService(ws, base);
    await drainedBy('after a restart');
    // Seed's first session (it then waits an hour): measured once it is open.
    let seedBefore = await runnerOf(base, viewer, 'seed');
    for (const until = Date.now() + 15_000; seedBefore.sessions < 1; seedBefore = await runnerOf(base, viewer, 'seed')) {
      assert.ok(Date.now() < until, `seed never opened a session: ${service.stderr()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const addedBefore = await runnerOf(base, viewer, 'added');

    // Two edits against one version: one is written, the other is a conflict.
    const [a, b] = await Promise.all([
      send(`${base}/api/v1/connections/added`, admin, 'PATCH', { pollIntervalMs: 11_000 }, `"${etag1}"`),
      send(`${base}/api/v1/connections/added`, admin, 'PATCH', { pollIntervalMs: 22_000 }, `"${etag1}"`),
    ]);
    assert.deepEqual([a.status, b.status].sort(), [200, 409], `${a.raw} ${b.raw}`);
    const winner = a.status === 200 ? 11_000 : 22_000;
    text = readFileSync(ws.configPath, 'utf8');
    assert.match(text, new RegExp(`pollIntervalMs: ${winner}\\n`));
    assert.ok(!text.includes(`pollIntervalMs: ${winner === 11_000 ? 22_000 : 11_000}`));
    const etag2 = (a.status === 200 ? a : b).body.etag as string;
    // The poll interval applied live: the edited connection's runner is a new one, the other's is not.
    assert.deepEqual(((a.status === 200 ? a : b).body.reload as Body).restarted, ['added']);
    const addedAfter = await runnerOf(base, viewer, 'added');
    assert.ok(Date.parse(addedAfter.startedAt) > Date.parse(addedBefore.startedAt), `added's runner restarted (${addedBefore.startedAt} → ${addedAfter.startedAt})`);
    assert.deepEqual(await runnerOf(base, viewer, 'seed'), seedBefore, "seed's runner untouched: same start, no new session");

    // Patch: only the keys given; a changed password goes to the store again.
    const patched = await send(`${base}/api/v1/connections/added`, admin, 'PATCH', { mailbox: 'INBOX', auth: { password: 'a-new-secret' } }, etag2);
    assert.equal(patched.status, 200, patched.raw);
    assert.deepEqual(patched.body.changed, ['mailbox', 'auth.password']);
    text = readFileSync(ws.configPath, 'utf8');
    assert.ok(!text.includes('a-new-secret') && text.includes(`username: ${user.username}`) && text.includes('mailbox: INBOX'));

    const disabled = await send(`${base}/api/v1/connections/added/disable`, admin, 'POST');
    assert.equal(disabled.status, 200, disabled.raw);
    assert.equal((disabled.body.connection as Body).enabled, false);
    assert.match(readFileSync(ws.configPath, 'utf8'), /name: added[\s\S]*enabled: false/);
    const enabled = await send(`${base}/api/v1/connections/added/enable`, admin, 'POST');
    assert.equal((enabled.body.connection as Body).enabled, true);
    assert.match(readFileSync(ws.configPath, 'utf8'), /name: added[\s\S]*enabled: true/);

    const deleted = await send(`${base}/api/v1/connections/added`, admin, 'DELETE');
    assert.equal(deleted.status, 200, deleted.raw);
    assert.equal(deleted.body.deleted, 'added');
    text = readFileSync(ws.configPath, 'utf8');
    assert.ok(!text.includes('name: added'));
    for (const c of COMMENTS) assert.ok(text.includes(c), `comment kept after delete: ${c}`);
    assert.deepEqual(Object.keys(JSON.parse(readFileSync(join(ws.dataDir, 'secrets.enc'), 'utf8')).secrets), [], 'its secret left the store');
    assert.equal((await send(`${base}/api/v1/connections/added`, viewer, 'GET')).status, 404);
    assert.equal((await send(`${base}/api/v1/connections/added`, admin, 'DELETE')).status, 404);

    // The audit log has each change with the keys it set, never a value.
    const audit = await callApi(`${base}/api/v1/audit?limit=100`, auditor);
    assert.equal(audit.status, 200, audit.raw);
    const actions = (audit.body.records as Body[]).map((r) => r.action);
    for (const a2 of ['config.connection.create', 'config.connection.update', 'config.connection.disable', 'config.connection.enable', 'config.connection.delete']) assert.ok(actions.includes(a2), `${a2} audited: ${actions.join(', ')}`);
    assert.ok(!audit.raw.includes(user.password) && !audit.raw.includes('a-new-secret'), 'no secret on the audit log');
  } finally {
    await service?.stop();
    ws.cleanup();
  }
});

test('start: routes are created, changed, enabled, disabled and deleted over the API; every write answers 400 naming the field for bad input', async () => {
  const empty = await dovecot.createUser();
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const ws = makeWorkspace();
  commentedConfig(ws, port, imapConnection(dovecot, empty, { name: 'seed', pollIntervalMs: HOUR }));
  let service: RunningService | undefined;
  try {
    const drained = await runCli(['drain'], ws);
    assert.equal(drained.code, 0, drained.stderr);
    const admin = await createToken(ws, 'root', 'admin');
    const viewer = await createToken(ws, 'ops', 'viewer');
    service = await startService(ws, base);
    const url = (p: string): string => `${base}/api/v1${p}`;
    const bad = async (method: string, path: string, body: unknown, field: string, sentence: RegExp): Promise<void> => {
      const r = await send(url(path), admin, method, body);
      assert.equal(r.status, 400, `${method} ${path}: ${r.raw}`);
      assert.equal(r.body.code, 'API_BAD_REQUEST');
      assert.match(r.body.message as string, new RegExp(`^${field.replace(/[.[\]]/g, '\\$&')}: `), `${method} ${path} names ${field}: ${r.raw}`);
      assert.match(r.body.message as string, sentence);
    };

    // Routes.
    const route = { name: 'hook', connection: 'seed', scenario: [{ action: 'webhook', url: 'http://127.0.0.1:9/in', secret: 'whsec_c2VjcmV0LXNpZ25pbmcta2V5' }] };
    assert.equal((await send(url('/routes'), viewer, 'POST', route)).status, 403);
    const made = await send(url('/routes'), admin, 'POST', route);
    assert.equal(made.status, 201, made.raw);
    assert.equal((made.body.route as Body).name, 'hook');
    assert.ok(!made.raw.includes('whsec_'));
    let text = readFileSync(ws.configPath, 'utf8');
    assert.ok(!text.includes('whsec_'), 'the signing secret is not in the file');
    assert.match(text, /secret: \{ secret: "route\.hook\.scenario\[0\]\.secret" \}/);
    assert.ok(text.includes('# nothing routed yet'));
    const dup = await send(url('/routes'), admin, 'POST', route);
    assert.equal(dup.status, 409);
    assert.equal(dup.body.code, 'CONFIG_EXISTS');
    const check = await runCli(['config', 'check'], ws);
    assert.equal(check.code, 0, check.stderr + check.stdout);
    const listed = await send(url('/routes'), viewer, 'GET');
    assert.deepEqual((listed.body.routes as Body[]).map((r) => r.name), ['hook']);
    assert.ok(listed.etag);

    const patched = await send(url('/routes/hook'), admin, 'PATCH', { description: 'to the DLP', bus: 2 }, listed.etag!);
    assert.equal(patched.status, 200, patched.raw);
    assert.equal((patched.body.route as Body).bus, 2);
    assert.match(readFileSync(ws.configPath, 'utf8'), /description: to the DLP/);
    // The bus count for the form's select, and every setting of one route as the file writes it: secrets by reference only.
    const withBuses = await send(url('/routes'), viewer, 'GET');
    assert.equal(withBuses.body.buses, 4, withBuses.raw);
    const one = await send(url('/routes/hook'), viewer, 'GET');
    assert.equal(one.status, 200, one.raw);
    assert.deepEqual(one.body.settings, { connection: 'seed', description: 'to the DLP', bus: 2, scenario: [{ action: 'webhook', url: 'http://127.0.0.1:9/in', secret: { secret: 'route.hook.scenario[0].secret' } }] }, one.raw);
    assert.deepEqual(((patched.body.route as Body).settings as Body).bus, 2, 'the answer of an edit has every setting too');
    // A secret sent back as { keep: PATH } must name one the route holds.
    await bad('PATCH', '/routes/hook', { scenario: [{ action: 'webhook', url: 'http://127.0.0.1:9/in', secret: { keep: 'scenario[3].secret' } }] }, 'scenario.0.secret', /names no secret/);
    assert.equal(((await send(url('/routes/hook/disable'), admin, 'POST')).body.route as Body).enabled, false);
    assert.equal(((await send(url('/routes/hook/enable'), admin, 'POST')).body.route as Body).enabled, true);

    // Bad input to every write names the field, in config check's sentence.
    await bad('POST', '/connections', { name: 'bad name', protocol: 'imap', host: 'h' }, 'name', /Latin letters/);
    // Every problem of the body by its field, for a form to show beside each field.
    const several = await send(url('/connections'), admin, 'POST', { name: 'several', protocol: 'imap', host: 'imap://h', port: 70000, auth: { type: 'basic', username: 'u', password: 'p' } });
    assert.equal(several.status, 400, several.raw);
    const problems = several.body.problems as Array<{ field: string; message: string }>;
    assert.deepEqual(problems.map((p) => p.field).sort(), ['host', 'port'], several.raw);
    assert.match(problems.find((p) => p.field === 'host')!.message, /without/);
    const malformed = await send(url('/routes'), admin, 'POST', { name: 'r3', connection: 'seed', bus: 'two', scenario: [{ action: 'webhook' }] });
    assert.equal(malformed.status, 400, malformed.raw);
    assert.ok((malformed.body.problems as Array<{ field: string }>).some((p) => p.field === 'bus'), malformed.raw);
    await bad('POST', '/connections', { name: 'x', protocol: 'smtp', host: 'h' }, 'protocol', /must be one of/);
    await bad('POST', '/connections', ['not', 'an', 'object'], 'json', /./);
    await bad('PATCH', '/connections/seed', { port: 70000 }, 'port', /./);
    await bad('PATCH', '/connections/seed', { name: 'renamed' }, 'name', /cannot be renamed/);
    // Deleting a connection a route uses: the route's field is named.
    await bad('DELETE', '/connections/seed', undefined, 'routes[0].connection', /seed/);
    await bad('POST', '/routes', { name: 'r2', connection: 'nope', scenario: [{ action: 'archive' }] }, 'connection', /nope/);
    await bad('PATCH', '/routes/hook', { bus: 99 }, 'bus', /./);
    // Enabling what cannot run: a secret from an environment variable the service lacks.
    const dormant = imapConnection(dovecot, empty, { name: 'dormant', enabled: false, auth: { type: 'basic', username: 'u', password: { env: 'MAILSLUICE_TEST_UNSET_PW' } } });
    assert.equal((await send(url('/connections'), admin, 'POST', dormant)).status, 201);
    await bad('POST', '/connections/dormant/enable', undefined, 'auth.password', /MAILSLUICE_TEST_UNSET_PW is not set/);
    await send(url('/connections/dormant'), admin, 'DELETE');
    const hookOff = await send(url('/routes'), admin, 'POST', { name: 'off', connection: 'seed', enabled: false, scenario: [{ action: 'webhook', url: 'http://127.0.0.1:9/', secret: { env: 'MAILSLUICE_TEST_UNSET_SECRET' } }] });
    assert.equal(hookOff.status, 201, hookOff.raw);
    await bad('POST', '/routes/off/enable', undefined, 'scenario[0].secret', /MAILSLUICE_TEST_UNSET_SECRET is not set/);
    await send(url('/routes/hook/disable'), admin, 'POST');
    assert.equal((await send(url('/routes/off'), admin, 'DELETE')).status, 200);
    // A disable (or a route's delete) cannot make a file invalid: a malformed name is their 400.
    const long = 'x'.repeat(201);
    for (const [m, p] of [['POST', `/connections/${long}/disable`], ['POST', `/routes/${long}/disable`], ['DELETE', `/routes/${long}`], ['POST', `/routes/${long}/enable`]] as const) await bad(m, p, undefined, 'name', /./);
    // Every write needs an admin: no token 401, a viewer 403, and nothing is written.
    const before = readFileSync(ws.configPath, 'utf8');
    const writes: Array<[string, string, unknown]> = [
      ['POST', '/connections', { name: 'z' }],
      ['PATCH', '/connections/seed', { pollIntervalMs: 1000 }],
      ['DELETE', '/connections/seed', undefined],
      ['POST', '/connections/seed/enable', undefined],
      ['POST', '/connections/seed/disable', undefined],
      ['POST', '/routes', { name: 'z' }],
      ['PATCH', '/routes/hook', { bus: 1 }],
      ['DELETE', '/routes/hook', undefined],
      ['POST', '/routes/hook/enable', undefined],
      ['POST', '/routes/hook/disable', undefined],
    ];
    for (const [m, p, body] of writes) {
      assert.equal((await send(url(p), undefined, m, body)).status, 401, `${m} ${p} without a token`);
      const v = await send(url(p), viewer, m, body);
      assert.equal(v.status, 403, `${m} ${p} as a viewer`);
      assert.equal(v.body.code, 'API_FORBIDDEN');
    }
    assert.equal(readFileSync(ws.configPath, 'utf8'), before);
    // An unknown name is a 404 for each.
    for (const p of ['/connections/nope/disable', '/routes/nope/disable', '/routes/nope/enable', '/connections/nope/enable']) assert.equal((await send(url(p), admin, 'POST')).status, 404, p);
    assert.equal((await send(url('/routes/nope'), admin, 'PATCH', { bus: 1 })).status, 404);

    const gone = await send(url('/routes/hook'), admin, 'DELETE');
    assert.equal(gone.status, 200, gone.raw);
    text = readFileSync(ws.configPath, 'utf8');
    assert.ok(!text.includes('name: hook'));
    assert.deepEqual(Object.keys(JSON.parse(readFileSync(join(ws.dataDir, 'secrets.enc'), 'utf8')).secrets), []);
    for (const c of COMMENTS) assert.ok(text.includes(c), `comment kept: ${c}`);
  } finally {
    await service?.stop();
    ws.cleanup();
  }
});
