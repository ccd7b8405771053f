/**
 * The command line is a published surface: `--help` is pinned by a golden file, and errors
 * follow SPEC's contract (non-zero exit, one line naming the problem; `config check` prints every
 * problem of the file at once, each with its key path).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkConfigText } from '../../src/config/loader.js';
import { BIN, REPO_ROOT } from '../harness/cli.js';

const GOLDEN = join(REPO_ROOT, 'test', 'golden', 'help.txt');

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the real binary; `env` replaces nothing but adds to a copy of this process's environment. */
function cli(args: string[], cwd: string = REPO_ROOT, env: Record<string, string | undefined> = {}): Run {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd, env: { ...process.env, ...env }, encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A temp directory for one test, removed afterwards whatever happens. */
function withTempDir(fn: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'mailsluice-cli-test-'));
  try {
    fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function lines(s: string): string[] {
  return s.split('\n').filter((l) => l !== '');
}

const VALID = `dataDir: ./data
connections:
  - name: journal
    protocol: imap
    host: mail.example.com
    auth: { type: basic, username: journal, password: { file: ./journal-password.txt } }
routes:
  - name: archive_all
    connection: journal
    scenario:
      - action: archive
`;

test('--help prints the golden text', () => {
  const r = cli(['--help']);
  assert.equal(r.status, 0);
  assert.equal(r.stderr, '');
  assert.equal(r.stdout, readFileSync(GOLDEN, 'utf8'), 'the --help output changed: if on purpose, run `node bin/mailsluice.js --help > test/golden/help.txt` and commit it');
});

test('every command has its own --help: its usage line, exit 0, nothing on stderr', () => {
  const commands = ['start', 'drain', 'test-connection', 'inspect', 'stats', 'search', 'export', 'logs', 'deliveries list', 'deliveries retry', 'config check', 'token create', 'token list', 'token revoke', 'audit list', 'audit verify', 'connections list', 'connections status'];
  for (const command of commands) {
    const r = cli([...command.split(' '), '--help']);
    assert.equal(r.status, 0, command);
    assert.equal(r.stderr, '', command);
    assert.ok(r.stdout.startsWith(`Usage: mailsluice ${command}`), `${command} --help starts with its usage line, got: ${r.stdout.slice(0, 80)}`);
    assert.notEqual(r.stdout, readFileSync(GOLDEN, 'utf8'), `${command} --help is its own, not the general text`);
  }
  // Each command's options are named in its own help.
  assert.match(cli(['drain', '--help']).stdout, /--connection NAME/);
  assert.match(cli(['search', '--help']).stdout, /--since DATE/);
  assert.match(cli(['deliveries', 'list', '--help']).stdout, /--state pending\|done\|dead/);
});

test('--version prints the package version, alone or after a command', () => {
  const { version } = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
  for (const args of [['--version'], ['drain', '--version'], ['deliveries', 'list', '--version']]) {
    const r = cli(args);
    assert.equal(r.status, 0, args.join(' '));
    assert.equal(r.stdout, `mailsluice ${version}\n`);
    assert.equal(r.stderr, '');
  }
  assert.deepEqual(JSON.parse(cli(['--version', '--json']).stdout), { version });
});

test('an unknown command exits 2 with one line on stderr naming it', () => {
  const r = cli(['frobnicate']);
  assert.equal(r.status, 2);
  assert.equal(r.stdout, '');
  const err = lines(r.stderr);
  assert.equal(err.length, 1, `one line, got: ${r.stderr}`);
  assert.match(err[0]!, /CLI_USAGE/);
  assert.match(err[0]!, /frobnicate/);
});

test('an unknown option exits 2 with one line on stderr naming it', () => {
  const r = cli(['stats', '--colour', 'red']);
  assert.equal(r.status, 2);
  assert.equal(r.stdout, '');
  const err = lines(r.stderr);
  assert.equal(err.length, 1, `one line, got: ${r.stderr}`);
  assert.match(err[0]!, /CLI_USAGE/);
  assert.match(err[0]!, /--colour/);
});

test('an unknown option with --json also prints the error as JSON on stdout', () => {
  const r = cli(['stats', '--json', '--colour']);
  assert.equal(r.status, 2);
  const out = JSON.parse(r.stdout) as { error: { code: string; message: string } };
  assert.equal(out.error.code, 'CLI_USAGE');
  assert.match(out.error.message, /--colour/);
  assert.equal(lines(r.stderr).length, 1);
});

/** Asserts that each `[path, pattern]` is among the `path: message` lines `config check` printed. */
function assertProblems(stderr: string, expect: Array<[string, RegExp]>): void {
  const missing = expect.filter(([path, re]) => !lines(stderr).some((l) => l.startsWith(`${path}: `) && re.test(l))).map(([path]) => path);
  assert.deepEqual(missing, [], `every problem is reported with its key path; got:\n${stderr}`);
}

test('config check of a missing file exits 1 with one line naming CONFIG_NOT_FOUND', () => {
  withTempDir((dir) => {
    const r = cli(['config', 'check', '--config', join(dir, 'nope.yaml')], dir);
    assert.equal(r.status, 1);
    const err = lines(r.stderr);
    assert.equal(err.length, 1, r.stderr);
    assert.match(err[0]!, /CONFIG_NOT_FOUND/);
    assert.ok(err[0]!.includes('nope.yaml'));
  });
});

test('config check prints every problem of a file at once, each with its key path, and exits 1', () => {
  withTempDir((dir) => {
    const file = join(dir, 'mailsluice.yaml');
    writeFileSync(
      file,
      `dataDir: ./data
colour: blue
connections:
  - name: journal-1
    protocol: imap
    host: imap://mail.example.com
    port: 99999
    pollIntervalMs: fast
    auth: { type: basic, username: journal, password: { env: MAILSLUICE_TEST_UNSET_PASSWORD } }
  - name: archive
    protocol: imap
    host: mail.example.com
    auth: { type: basic, username: journal, password: x }
  - name: archive
    protocol: imap
    host: mail.example.com
    deletePolicy: move
    auth: { type: basic, username: journal, password: x }
  - name: broken
    protocol: imap
    host: mail.example.com
    port: none
    auth: { type: basic, username: journal, password: x }
routes:
  - name: hook
    connection: nowhere
    scenario: [{ action: archive }]
  - name: first
    connection: broken
    scenario: [{ action: archive }]
`,
    );
    const r = cli(['config', 'check', '--config', file], dir, { MAILSLUICE_TEST_UNSET_PASSWORD: undefined });
    assert.equal(r.status, 1);
    const out = r.stderr;
    const expect: Array<[string, RegExp]> = [
      ['colour', /unknown key/],
      ['connections[0].name', /Latin letters, digits and _/],
      ['connections[0].host', /protocol prefix/],
      ['connections[0].port', /65535/],
      ['connections[0].pollIntervalMs', /number/],
      ['connections[0].auth.password', /MAILSLUICE_TEST_UNSET_PASSWORD/],
      // The checks across keys, run on the parts that are valid although the file's shape is not.
      ['connections[2].name', /duplicate connection name "archive" \(also connections\[1\]\)/],
      ['connections[2].moveTo', /required when deletePolicy is move/],
      ['routes[0].connection', /no connection named "nowhere"/],
    ];
    assertProblems(out, expect);
    // A route naming a connection that is itself invalid is not also told the connection is missing.
    assert.ok(!lines(out).some((l) => l.startsWith('routes[1].connection')), out);
  });
});

test('any other command on an invalid config exits 1 with one line naming CONFIG_INVALID and every problem', () => {
  withTempDir((dir) => {
    const file = join(dir, 'mailsluice.yaml');
    writeFileSync(file, 'connections:\n  - name: a-b\n    protocol: imap\n    host: imap://mail.example.com\n');
    for (const command of [['drain'], ['stats'], ['search', 'x']]) {
      const r = cli([...command, '--config', file], dir);
      assert.equal(r.status, 1, command.join(' '));
      const err = lines(r.stderr);
      assert.equal(err.length, 1, r.stderr);
      assert.match(err[0]!, /^mailsluice: CONFIG_INVALID: .* 2 problems .*connections\[0\]\.name: .*; connections\[0\]\.host: .*protocol prefix/);
    }
  });
});

test('config check says every range in our words, never zod\'s ("Too small: expected number to be >=1")', () => {
  withTempDir((dir) => {
    const file = join(dir, 'mailsluice.yaml');
    writeFileSync(
      file,
      `buses: 0
connections:
  - name: journal
    protocol: imap
    host: mail.example.com
    maxMessagesPerCycle: 0
    moveTo: ""
    auth: { type: basic, username: journal, password: x }
routes:
  - name: hook
    connection: journal
    bus: 1.5
    scenario:
      - { action: webhook, url: http://127.0.0.1:9/x, timeoutMs: 0 }
      - { action: script, module: ./s.mjs, timeoutMs: 0 }
  - name: none
    connection: journal
    scenario: []
`,
    );
    const r = cli(['config', 'check', '--config', file], dir);
    assert.equal(r.status, 1);
    assertProblems(r.stderr, [
      ['buses', /^buses: must be at least 1$/],
      ['connections[0].maxMessagesPerCycle', /: must be at least 1$/],
      ['connections[0].moveTo', /: must not be empty$/],
      ['routes[0].bus', /: must be a whole number, got .*1\.5$/],
      ['routes[0].scenario[0].timeoutMs', /: must be at least 1$/],
      ['routes[0].scenario[1].timeoutMs', /: must be at least 1$/],
      ['routes[1].scenario', /: must not be empty$/],
    ]);
    assert.doesNotMatch(r.stderr, /Too small|Too big|expected|>=|<=|\bint\b/, r.stderr);
  });
});

test('config check names the IMAP-only settings a POP3 connection sets, and APOP outside POP3', () => {
  withTempDir((dir) => {
    const file = join(dir, 'mailsluice.yaml');
    writeFileSync(
      file,
      `connections:
  - name: pop
    protocol: pop3
    host: mail.example.com
    unseenOnly: true
    idle: true
    partialFetch: true
    deletePolicy: move
    moveTo: Archive
    auth: { type: basic, username: journal, password: x }
  - name: imap
    protocol: imap
    host: mail.example.com
    auth: { type: basic, username: journal, password: x, apop: true }
`,
    );
    const r = cli(['config', 'check', '--config', file], dir);
    assert.equal(r.status, 1);
    const expect: Array<[string, RegExp]> = [
      ['connections[0].unseenOnly', /does not apply to POP3/],
      ['connections[0].idle', /does not apply to POP3/],
      ['connections[0].partialFetch', /does not apply to POP3/],
      ['connections[0].deletePolicy', /not possible over POP3/],
      ['connections[1].auth.apop', /POP3/],
    ];
    assertProblems(r.stderr, expect);
  });
});

test('config check refuses auth an IMAP or POP3 login cannot do (an NTLM username naming no one account, incomplete OAuth2), instead of sending the password another way', () => {
  withTempDir((dir) => {
    const file = join(dir, 'mailsluice.yaml');
    writeFileSync(
      file,
      `connections:
  - name: imap_ntlm_alias
    protocol: imap
    host: mail.example.com
    auth: { type: ntlm, username: 'dom\\juser\\J.User', password: x }
  - name: pop_oauth
    protocol: pop3
    host: mail.example.com
    auth: { type: oauthbearer, username: journal, tokenUrl: 'http://login.example.com/token', clientSecret: s }
  - name: imap_domain
    protocol: imap
    host: mail.example.com
    auth: { type: basic, username: journal, password: x, domain: CORP }
  - name: pop_ntlm_two_domains
    protocol: pop3
    host: mail.example.com
    auth: { type: ntlm, username: 'OTHER\\journal', password: x, domain: CORP }
  - name: imap_ntlm
    protocol: imap
    host: mail.example.com
    auth: { type: ntlm, username: journal, password: x, domain: CORP }
  - name: pop_ntlm
    protocol: pop3
    host: mail.example.com
    auth: { type: ntlm, username: 'CORP\\journal', password: x }
  - name: pop_oauth_fixed
    protocol: pop3
    host: mail.example.com
    auth: { type: xoauth2, username: journal, accessToken: t }
  - name: imap_oauth_renewing
    protocol: imap
    host: mail.example.com
    auth: { type: oauthbearer, username: journal, tokenUrl: 'https://login.microsoftonline.com/t/oauth2/v2.0/token', clientId: c, clientSecret: s, scope: 'https://outlook.office365.com/.default' }
`,
    );
    const r = cli(['config', 'check', '--config', file], dir);
    assert.equal(r.status, 1);
    const expect: Array<[string, RegExp]> = [
      ['connections[0].auth.username', /alias form dom\\user\\alias has no NTLM equivalent/],
      ['connections[3].auth.domain', /says "CORP" but the username says "OTHER"/],
      ['connections[1].auth.tokenUrl', /is http on login\.example\.com, beyond this machine/],
      ['connections[1].auth.clientId', /is required with tokenUrl/],
      ['connections[2].auth.domain', /only applies with auth type ntlm/],
    ];
    assertProblems(r.stderr, expect);
    for (const ok of ['connections[4]', 'connections[5]']) assert.ok(!lines(r.stderr).some((l) => l.startsWith(ok)), `${ok}: NTLM over IMAP and POP3, with auth.domain or DOMAIN\\user, is accepted`);
    for (const ok of ['connections[6]', 'connections[7]']) assert.ok(!lines(r.stderr).some((l) => l.startsWith(ok)), `${ok}: OAuth2 over POP3 and IMAP, a fixed token or one renewed from tokenUrl, is accepted`);
  });
});

test('config check of a valid file exits 0, resolving a { file } secret', () => {
  withTempDir((dir) => {
    const file = join(dir, 'mailsluice.yaml');
    writeFileSync(file, VALID);
    writeFileSync(join(dir, 'journal-password.txt'), 's3cret\n');
    const r = cli(['config', 'check', '--config', file], dir);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /OK \(1 connection, 1 route\)/);
    const json = cli(['config', 'check', '--json', '--config', file], dir);
    assert.equal(json.status, 0);
    assert.deepEqual((JSON.parse(json.stdout) as { ok: boolean; problems: unknown[] }).problems, []);
    // The secret's value: the file's content relative to the config file, one trailing newline removed.
    const { config } = checkConfigText(VALID, { file });
    assert.equal(config?.connections[0]?.auth.password, 's3cret');
  });
});

test('config check reports a { file } secret that cannot be read, with its key path', () => {
  withTempDir((dir) => {
    const file = join(dir, 'mailsluice.yaml');
    writeFileSync(file, VALID);
    const r = cli(['config', 'check', '--config', file], dir);
    assert.equal(r.status, 1);
    assert.ok(
      lines(r.stderr).some((l) => l.startsWith('connections[0].auth.password: ') && l.includes('journal-password.txt')),
      r.stderr,
    );
  });
});
