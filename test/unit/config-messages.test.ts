/**
 * What `config check` says of a wrong key or value: the key path and what is allowed there, a
 * near miss named, the variant that was meant rather than the first one tried.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkConfigText } from '../../src/config/loader.js';

function messages(text: string): Map<string, string> {
  return new Map(checkConfigText(text).problems.map((p) => [p.path, p.message]));
}

const CONN = `connections:
  - name: j
    protocol: imap
    host: mail.example.com
    auth: { type: basic, username: u, password: p }
`;

test('an unknown key names the near miss, or else every key allowed there', () => {
  const m = messages(`colour: blue\n${CONN}    pollintervalms: 5\n    tls: { verfy: true }\n    zzz: 1\n`);
  assert.match(m.get('connections[0].pollintervalms')!, /did you mean "pollIntervalMs"\?/);
  assert.match(m.get('connections[0].tls.verfy')!, /did you mean "verify"\?/);
  assert.match(m.get('connections[0].zzz')!, /allowed: name, protocol, .*deletePolicy/);
  assert.match(m.get('colour')!, /allowed: dataDir, buses, .*connections, routes, brokers, api/);
});

test('an unknown key in a scenario step is matched against the keys of the action it names', () => {
  const m = messages(`${CONN}routes:
  - name: r
    connection: j
    scenario: [{ action: webhook, url: "http://127.0.0.1/x", sekret: x }, { action: script, module: /x.mjs, url: "http://127.0.0.1/x" }]
`);
  assert.match(m.get('routes[0].scenario[0].sekret')!, /did you mean "secret"\?/);
  // url belongs to webhook, not to script: the allowed keys are the script step's.
  assert.match(m.get('routes[0].scenario[1].url')!, /allowed: action, module/);
});

test('a value of the wrong form says what forms are allowed', () => {
  const m = messages(`${CONN}    tls: { ca: 5 }
    schedule: { timezone: UTC, windows: [{ days: [monday], from: "08:00", to: "18:00" }] }
routes:
  - name: r
    connection: j
    scenario: [{ action: webhok, url: "http://127.0.0.1/x" }]
`);
  assert.equal(m.get('connections[0].tls.ca'), 'must be a string, { env: NAME } or { file: PATH }, got a number (the value is not shown: a secret)');
  // The weekly-windows form was meant (it got furthest), not "any-time".
  assert.match(m.get('connections[0].schedule.windows[0].days[0]')!, /must be one of: "mon", "tue"/);
  assert.ok(![...m.values()].some((v) => /any-time/.test(v)), [...m].join('\n'));
  assert.match(m.get('routes[0].scenario[0].action')!, /must be one of: "archive", "webhook", "script", "publish", "forward"/);
});

test('the probe test: testRecipients without testRelay (or the reverse) is a warning naming the missing half; both, none', () => {
  const r = checkConfigText(`${CONN}    testRecipients: [probe@example.com]\n`);
  assert.deepEqual(r.problems, []);
  assert.match(r.warnings.find((w) => w.path === 'connections[0].testRelay')?.message ?? '', /is missing: .*probe test/);
  const half = checkConfigText(`${CONN}    testRelay: { host: relay.example.com, protocol: lmtp }\n`);
  assert.match(half.warnings.find((w) => w.path === 'connections[0].testRecipients')?.message ?? '', /is empty/);
  const both = checkConfigText(`${CONN}    testRecipients: [probe@example.com]\n    testRelay: { host: relay.example.com, protocol: lmtp, security: none }\n`);
  assert.deepEqual([...both.problems, ...both.warnings.filter((w) => /test/.test(w.path))], []);
  assert.equal(both.config?.connections[0]?.testRelay?.port, 24, 'LMTP defaults to port 24');
  const bad = checkConfigText(`${CONN}    testRelay: { host: 'smtp://relay.example.com', security: ssl }\n`);
  const paths = bad.problems.map((p) => p.path);
  assert.ok(paths.includes('connections[0].testRelay.host') && paths.includes('connections[0].testRelay.security'), paths.join(', '));
});

test('mailbox: a list of folders is accepted; a folder named twice, an empty list or a list on POP3 is not', () => {
  assert.deepEqual(checkConfigText(`${CONN}    mailbox: [INBOX, Journal]\n`).problems, []);
  assert.match(messages(`${CONN}    mailbox: [INBOX, Journal, INBOX]\n`).get('connections[0].mailbox')!, /names "INBOX" twice/);
  assert.match(messages(`${CONN}    mailbox: []\n`).get('connections[0].mailbox')!, /at least one folder/);
  const pop = `connections:\n  - name: p\n    protocol: pop3\n    host: mail.example.com\n    mailbox: [INBOX, Journal]\n    auth: { type: basic, username: u, password: p }\n`;
  assert.match(messages(pop).get('connections[0].mailbox')!, /does not apply to POP3/);
});
