/**
 * Editing the configuration file (ADR 0023): the text edits keep every comment and the order of
 * what they do not touch, merge patches as RFC 7386 says, take literal secrets out; the admin
 * validates with `config check`'s sentences, writes atomically with the file's mode, stores the
 * secrets encrypted so the loader resolves `{ secret }`, and serializes edits against the version
 * they were made on.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { editConfigText, referencedSecrets } from '../../src/config/config-edit.js';
import { checkConfigText, type Config } from '../../src/config/loader.js';
import { createConfigAdmin, configVersion } from '../../src/app/config-admin.js';
import { checkConfigFileText, openSecretStore, readServiceConfig } from '../../src/app/config-file.js';
import { randomBytes } from 'node:crypto';
import { MailsluiceError } from '../../src/core/errors/index.js';
import type { Logger } from '../../src/core/ports/logger.js';

// The sample's connections read their password from here, as the service would.
process.env.JOURNAL_PASSWORD ??= 'from-the-environment';

const silent: Logger = { debug() {}, info() {}, warn() {}, error() {}, child: () => silent };

const COMMENTED = `# mailsluice configuration — kept by hand
dataDir: ./data # where the archive lives

# the journal mailboxes
connections:
  # the main journal
  - name: journal_main
    protocol: imap
    host: mail.example.com # primary
    port: 993 # imaps
    security: tls
    auth:
      type: basic
      username: journal@example.com
      password: { env: JOURNAL_PASSWORD } # from systemd
  - name: second # a second one
    protocol: pop3
    host: pop.example.com
    auth: { type: basic, username: u2, password: { env: JOURNAL_PASSWORD } }
    enabled: false

routes: [] # none yet
`;

const COMMENTS = COMMENTED.split('\n').flatMap((l) => (l.includes('#') ? [l.slice(l.indexOf('#'))] : []));

test('an edit keeps every comment and the order of the keys it does not touch', () => {
  const patched = editConfigText(COMMENTED, { kind: 'connection', op: 'patch', name: 'journal_main', patch: { port: 1993, pollIntervalMs: 30000, auth: { username: 'other@example.com' } } });
  for (const c of COMMENTS) assert.ok(patched.text.includes(c), `comment kept: ${c}\n${patched.text}`);
  assert.match(patched.text, /port: 1993 # imaps/, 'a scalar replaced in place keeps the comment beside it');
  const keys = [...patched.text.matchAll(/^ {4}(\w+):/gm)].map((m) => m[1]);
  assert.deepEqual(keys.slice(0, 7), ['protocol', 'host', 'port', 'security', 'auth', 'pollIntervalMs', 'protocol'], 'the new key goes last, the others stay in place');
  assert.deepEqual(patched.changed, ['port', 'pollIntervalMs', 'auth.username']);
  assert.match(patched.text, /password: \{ env: JOURNAL_PASSWORD \} # from systemd/, 'a key the patch does not name is not touched');

  const added = editConfigText(patched.text, { kind: 'route', op: 'add', value: { name: 'r1', connection: 'journal_main', scenario: [{ action: 'archive' }] } });
  for (const c of COMMENTS) assert.ok(added.text.includes(c), `comment kept after an add: ${c}`);
  assert.equal(added.at, 'routes[0]');
  assert.match(added.text, /\nroutes:\n {2}- name: r1\n/, 'an empty flow list becomes a block list');

  const removed = editConfigText(added.text, { kind: 'connection', op: 'remove', name: 'second' });
  assert.ok(!removed.text.includes('pop.example.com'));
  assert.ok(removed.text.includes('# the main journal') && removed.text.includes('# mailsluice configuration'));
  const enabled = editConfigText(removed.text, { kind: 'connection', op: 'enable', name: 'journal_main', enabled: false });
  assert.match(enabled.text, /enabled: false/);
  assert.deepEqual(checkConfigText(enabled.text, { env: { JOURNAL_PASSWORD: 'x' } }).problems, []);
});

test('a patch is a JSON merge patch: objects merge, null removes, arrays and secret references replace whole; a rename is refused', () => {
  const t = editConfigText(COMMENTED, { kind: 'connection', op: 'patch', name: 'journal_main', patch: { host: null, mailbox: ['A', 'B'], auth: { password: { file: '/run/pw' } } } });
  const conn = (parse(t.text).connections as Array<Record<string, unknown>>)[0]!;
  assert.equal(conn.host, undefined);
  assert.deepEqual(conn.mailbox, ['A', 'B']);
  assert.deepEqual(conn.auth, { type: 'basic', username: 'journal@example.com', password: { file: '/run/pw' } });
  assert.throws(
    () => editConfigText(COMMENTED, { kind: 'connection', op: 'patch', name: 'journal_main', patch: { name: 'other' } }),
    (e: unknown) => e instanceof MailsluiceError && e.code === 'API_BAD_REQUEST' && e.details?.field === 'name',
  );
  assert.throws(() => editConfigText(COMMENTED, { kind: 'connection', op: 'remove', name: 'nope' }), (e: unknown) => e instanceof MailsluiceError && e.code === 'API_NOT_FOUND');
  assert.throws(() => editConfigText(COMMENTED, { kind: 'connection', op: 'add', value: { name: 'second' } }), (e: unknown) => e instanceof MailsluiceError && e.code === 'CONFIG_EXISTS');
});

test('literal secrets are taken out of the text and replaced by { secret: NAME }', () => {
  const t = editConfigText(COMMENTED, {
    kind: 'connection',
    op: 'add',
    value: { name: 'n1', host: 'h', auth: { type: 'basic', username: 'u', password: 'P@ss-1' }, tls: { passphrase: 'pp', ca: { file: '/ca.pem' } } },
  });
  assert.ok(!t.text.includes('P@ss-1') && !t.text.includes('pp\n'));
  assert.deepEqual(t.secrets, { 'connection.n1.auth.password': 'P@ss-1', 'connection.n1.tls.passphrase': 'pp' });
  assert.deepEqual([...referencedSecrets(t.text)].sort(), ['connection.n1.auth.password', 'connection.n1.tls.passphrase']);
  const r = editConfigText(COMMENTED, {
    kind: 'route',
    op: 'add',
    value: { name: 'w', connection: 'journal_main', scenario: [{ action: 'archive' }, { action: 'webhook', url: 'http://127.0.0.1:1/', secret: 'whsec_x', headers: { Authorization: 'Bearer t' } }] },
  });
  assert.deepEqual(r.secrets, { 'route.w.scenario[1].secret': 'whsec_x', 'route.w.scenario[1].headers.Authorization': 'Bearer t' });
  assert.ok(!r.text.includes('whsec_x') && !r.text.includes('Bearer t'));
});

/** The entry as the API would show it: here its name only. */
const show = (_kind: string, config: Config, name: string): Record<string, unknown> | undefined => (config.connections.some((c) => c.name === name) ? { name } : undefined);

function tempConfig(text: string): { dir: string; file: string } {
  const dir = mkdtempSync(join(tmpdir(), 'ms-config-edit-'));
  const file = join(dir, 'mailsluice.yaml');
  writeFileSync(file, text);
  return { dir, file };
}

test('the admin: a bad edit is a 400 naming the field in config check\'s sentence; a good one is written atomically with the mode kept, its secret stored and resolved', async () => {
  const { dir, file } = tempConfig(COMMENTED.replace('password: { env: JOURNAL_PASSWORD } # from systemd', 'password: literal # by hand'));
  chmodSync(file, 0o640);
  try {
    const admin = createConfigAdmin({ initial: readServiceConfig(file), logger: silent, show });
    const etag = admin.etag();
    assert.equal(etag, configVersion(readFileSync(file)));
    const bad = await admin.edit('connection', { op: 'patch', name: 'journal_main', patch: { port: 70000 } }, undefined).catch((e: unknown) => e);
    assert.ok(bad instanceof MailsluiceError && bad.code === 'API_BAD_REQUEST', String(bad));
    const sentence = checkConfigText(COMMENTED.replace('port: 993', 'port: 70000'), { env: { JOURNAL_PASSWORD: 'x' } }).problems.find((p) => p.path === 'connections[0].port')!.message;
    assert.equal(bad.message, `port: ${sentence}`);
    assert.equal(bad.details?.field, 'port');
    assert.equal(configVersion(readFileSync(file)), etag, 'nothing written');

    const r = await admin.edit('connection', { op: 'add', value: { name: 'n1', protocol: 'imap', host: 'h.example.com', auth: { type: 'basic', username: 'u', password: 'Sup3r-Secret' } } }, `"${etag}"`);
    const text = readFileSync(file, 'utf8');
    assert.equal(r.etag, configVersion(text));
    assert.equal(r.applied, false, 'no reload hook: saved for the next start');
    assert.ok(!text.includes('Sup3r-Secret'));
    assert.match(text, /password: \{ secret: connection\.n1\.auth\.password \}/);
    assert.ok(text.includes('# by hand') && text.includes('# the main journal'));
    assert.equal(statSync(file).mode & 0o777, 0o640, 'the mode is kept');
    assert.deepEqual(readdirSync(dir).filter((n) => n.endsWith('.tmp')), [], 'no temporary file left');
    assert.ok(!readFileSync(join(dir, 'data', 'secrets.enc'), 'utf8').includes('Sup3r-Secret'));
    assert.equal(readServiceConfig(file).connections.find((c) => c.name === 'n1')!.auth.password, 'Sup3r-Secret', 'the loader resolves it');
    assert.equal(readServiceConfig(file).connections.length, 3);
    assert.deepEqual(r.entry, { name: 'n1' }, 'the answer shows the entry as the file now holds it');

    const stale = await admin.edit('connection', { op: 'enable', name: 'n1', enabled: false }, `"${etag}"`).catch((e: unknown) => e);
    assert.ok(stale instanceof MailsluiceError && stale.code === 'CONFIG_CONFLICT', String(stale));

    await admin.edit('connection', { op: 'remove', name: 'n1' }, r.etag);
    assert.deepEqual(JSON.parse(readFileSync(join(dir, 'data', 'secrets.enc'), 'utf8')).secrets, {}, 'a removed connection\'s secret leaves the store');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the admin: two edits at once against one version: one is written, the other is a conflict; neither is lost silently', async () => {
  const { dir, file } = tempConfig(COMMENTED);
  try {
    const admin = createConfigAdmin({ initial: readServiceConfig(file), logger: silent, env: { JOURNAL_PASSWORD: 'x' }, show });
    const etag = admin.etag();
    const results = await Promise.allSettled([
      admin.edit('connection', { op: 'patch', name: 'journal_main', patch: { pollIntervalMs: 11000 } }, etag),
      admin.edit('connection', { op: 'patch', name: 'journal_main', patch: { pollIntervalMs: 22000 } }, etag),
    ]);
    assert.equal(results.filter((x) => x.status === 'fulfilled').length, 1);
    const lost = results.find((x) => x.status === 'rejected') as PromiseRejectedResult;
    assert.equal((lost.reason as MailsluiceError).code, 'CONFIG_CONFLICT');
    assert.match(readFileSync(file, 'utf8'), /pollIntervalMs: 11000/, 'the first one queued wins');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('config check: a store that opens but lacks the value, or holds it under another key, is a problem; the service refuses it alike', async () => {
  const { dir, file } = tempConfig('dataDir: ./data\nconnections:\n  - name: a\n    protocol: imap\n    host: h\n    auth: { type: basic, username: u, password: { secret: connection.a.auth.password } }\n');
  try {
    const store = openSecretStore({ dataDir: join(dir, 'data'), secretsKey: null });
    await store.set('connection.other.auth.password', 'x');
    const lacking = checkConfigFileText(readFileSync(file, 'utf8'), file);
    assert.match(lacking.problems[0]!.message, /is not in the secret store/);
    await store.set('connection.a.auth.password', 'right');
    assert.deepEqual(checkConfigFileText(readFileSync(file, 'utf8'), file).problems, []);
    assert.equal(readServiceConfig(file).connections[0]!.auth.password, 'right');
    writeFileSync(join(dir, 'data', 'secrets.key'), randomBytes(32).toString('base64'));
    const wrongKey = checkConfigFileText(readFileSync(file, 'utf8'), file);
    assert.match(wrongKey.problems[0]?.message ?? '', /connection\.a\.auth\.password.*does not decrypt under the configured key/);
    assert.throws(() => readServiceConfig(file), /does not decrypt/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the loader: a { secret } not in the store, or a store under another key, is a problem naming the path and the secret', () => {
  const { dir, file } = tempConfig('dataDir: ./data\nconnections:\n  - name: a\n    protocol: imap\n    host: h\n    auth: { type: basic, username: u, password: { secret: connection.a.auth.password } }\n');
  try {
    const err = (() => {
      try {
        readServiceConfig(file);
      } catch (e) {
        return e as MailsluiceError;
      }
      return null;
    })();
    assert.equal(err?.code, 'CONFIG_INVALID');
    assert.match(err!.message, /connections\[0\]\.auth\.password: secret "connection\.a\.auth\.password" is not in the secret store/);
    assert.match(checkConfigText(readFileSync(file, 'utf8'), { file }).problems[0]!.message, /no secret store is available/);

    // config check away from the data directory (no store here): a warning, not a failure.
    const away = checkConfigFileText(readFileSync(file, 'utf8'), file);
    assert.deepEqual(away.problems, []);
    assert.match(away.warnings.map((w) => `${w.path}: ${w.message}`).join('\n'), /connections\[0\]\.auth\.password: secret "connection\.a\.auth\.password" was not checked: there is no secret store here/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an alert rule (alerts.rules[]) is patched in place with its comments kept; an unknown rule, or a file without rules, is API_NOT_FOUND naming GET /api/v1/alerts', () => {
  const text = `${COMMENTED}
# who hears about trouble
alerts:
  channels:
    - { name: hook, type: webhook, url: "http://127.0.0.1:9/a" }
  rules:
    # quiet mailbox
    - name: silent
      kind: connection-silent
      minutes: 10 # ten minutes
      channels: [hook]
`;
  const edited = editConfigText(text, { kind: 'alert', op: 'patch', name: 'silent', patch: { minutes: 30, enabled: false } });
  assert.equal(edited.at, 'alerts.rules[0]');
  assert.deepEqual(edited.changed, ['minutes', 'enabled']);
  assert.match(edited.text, /minutes: 30 # ten minutes/);
  for (const c of ['# who hears about trouble', '# quiet mailbox', '# mailsluice configuration — kept by hand']) assert.ok(edited.text.includes(c), c);
  const checked = checkConfigText(edited.text, { env: { JOURNAL_PASSWORD: 'x' } });
  assert.deepEqual(checked.problems, []);
  assert.equal(checked.config?.alerts.rules[0]?.enabled, false);
  for (const t of [text, COMMENTED]) {
    assert.throws(
      () => editConfigText(t, { kind: 'alert', op: 'patch', name: 'nope', patch: { minutes: 1 } }),
      (e: unknown) => e instanceof MailsluiceError && e.code === 'API_NOT_FOUND' && /no alert rule "nope" \(GET \/api\/v1\/alerts lists them\)/.test(e.message),
    );
  }
});
