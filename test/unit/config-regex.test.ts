/**
 * `config check` refuses the route regexes the linear-time engine cannot run (lookaround,
 * backreferences, JavaScript-only spellings, patterns too large), each on its own line with the
 * route's key path and the reason, before anything runs (ADR 0012).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { checkConfigText } from '../../src/config/loader.js';
import { makeWorkspace, runCli } from '../harness/cli.js';

const CONFIG = `connections:
  - name: j
    protocol: imap
    host: mail.example.com
    auth: { type: basic, username: u, password: p }
routes:
  - name: ahead
    connection: j
    filter: { match: regex, subject: "^(?=.*invoice)(?=.*paid)" }
    scenario: [{ action: archive }]
  - name: back
    connection: j
    filter: { match: regex, from: '(\\w+)@\\1\\.test', to: '(?<!no)reply@', header: { name: X-Tag, value: '\\u00e9' } }
    scenario: [{ action: archive }]
  - name: plain
    connection: j
    filter: { match: contains, subject: "(?=not a regex here" }
    scenario: [{ action: archive }]
  - name: fine
    connection: j
    filter: { match: regex, subject: '^(\\w+\\s?)*$', from: '\\p{Greek}' }
    scenario: [{ action: archive }]
`;

const EXPECTED: Array<[string, RegExp]> = [
  ['routes[0].filter.subject', /^lookahead \(\?=…\) is not supported: route regexes run on a linear-time engine \(RE2 syntax\)$/],
  ['routes[1].filter.from', /^backreference \\1 is not supported: /],
  ['routes[1].filter.to', /^lookbehind \(\?<!…\) is not supported: /],
  ['routes[1].filter.header.value', /\\u is JavaScript syntax: write a code point as \\x\{hhhh\}/],
];

test('config check names each route regex the engine cannot run, with its key path and why; contains patterns and RE2 patterns pass', () => {
  const { config, problems } = checkConfigText(CONFIG);
  assert.equal(config, undefined);
  assert.deepEqual(problems.map((p) => p.path), EXPECTED.map(([path]) => path));
  for (const [path, want] of EXPECTED) assert.match(problems.find((p) => p.path === path)!.message, want, path);
  // The same file with the refused patterns rewritten in RE2 syntax loads.
  const rewrites: Array<[string, string]> = [
    ['^(?=.*invoice)(?=.*paid)', 'invoice.*paid|paid.*invoice'],
    ['(\\w+)@\\1\\.test', '@corp\\.test$'],
    ['(?<!no)reply@', '(^|[^o]|[^n]o)reply@'],
    ['\\u00e9', '\\x{e9}'],
  ];
  const fixed = rewrites.reduce((text, [from, to]) => text.split(from).join(to), CONFIG);
  assert.deepEqual(checkConfigText(fixed).problems, []);
});

test('the mailsluice config check command prints one line per refused regex and exits 1', async () => {
  const ws = makeWorkspace();
  try {
    writeFileSync(ws.configPath, CONFIG);
    const r = await runCli(['config', 'check'], ws);
    assert.equal(r.code, 1, r.stderr);
    const lines = r.stderr.trim().split('\n');
    for (const [path, want] of EXPECTED) {
      assert.ok(lines.some((l) => l.startsWith(`${path}: `) && want.test(l.slice(path.length + 2))), `${path} is reported; got:\n${r.stderr}`);
    }
  } finally {
    ws.cleanup();
  }
});
