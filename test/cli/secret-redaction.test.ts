/**
 * A secret's value is never echoed (issue 12, item 13): a numeric password (YAML reads
 * 98765432123 as a number) is reported by type only, by `config check` and by the one-line error
 * of another command that loads the same file, and a secret inside a scenario step alike.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { makeWorkspace, runCli } from '../harness/cli.js';
import { checkConfigText } from '../../src/config/loader.js';

const PASSWORD = '98765432123';
const CONFIG = `dataDir: ./data
api: { enabled: false }
connections:
  - name: j
    protocol: imap
    host: 127.0.0.1
    auth: { type: basic, username: u, password: ${PASSWORD} }
routes:
  - name: r
    connection: j
    scenario: [{ action: webhook, url: "http://127.0.0.1/x", secret: 55501234 }]
`;

test('config check and another command name the secret field and its type, never its value', async () => {
  const ws = makeWorkspace();
  try {
    writeFileSync(ws.configPath, CONFIG);
    const check = await runCli(['config', 'check'], ws);
    const stats = await runCli(['stats'], ws);
    for (const [name, r] of [['config check', check], ['stats', stats]] as const) {
      const out = r.stdout + r.stderr;
      assert.notEqual(r.code, 0, `${name} fails`);
      assert.match(out, /connections\[0\]\.auth\.password/, `${name} names the key:\n${out}`);
      assert.match(out, /got a number \(the value is not shown: a secret\)/, `${name}:\n${out}`);
      assert.ok(!out.includes(PASSWORD), `${name} echoed the password:\n${out}`);
      assert.ok(!out.includes('55501234'), `${name} echoed the webhook secret:\n${out}`);
    }
  } finally {
    ws.cleanup();
  }
});

test('a non-secret field still shows the value it got', () => {
  const r = checkConfigText(CONFIG.replace('host: 127.0.0.1', 'host: 12345'));
  assert.match(r.problems.find((p) => p.path === 'connections[0].host')?.message ?? '', /got number 12345/);
});
