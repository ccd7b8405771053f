import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN, REPO_ROOT } from '../harness/cli.js';

test('the shipped mailsluice.yaml is valid as it is, so `npm start` works on a fresh machine', () => {
  const env = { ...process.env };
  delete env.JOURNAL_PASSWORD;
  const r = spawnSync(process.execPath, [BIN, 'config', 'check', '--config', join(REPO_ROOT, 'mailsluice.yaml')], { env, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /OK/);
  // The disabled sample connection's unset password is a warning, not a problem.
  assert.match(r.stderr, /JOURNAL_PASSWORD is not set/);
});

test('an enabled connection whose secret cannot be resolved is a problem', () => {
  const env = { ...process.env };
  delete env.JOURNAL_PASSWORD;
  const yaml = 'connections:\n  - name: j\n    protocol: imap\n    host: mail.example.com\n    auth: { type: basic, username: u, password: { env: JOURNAL_PASSWORD } }\n';
  const dir = mkdtempSync(join(tmpdir(), 'ms-cfg-'));
  try {
    writeFileSync(join(dir, 'c.yaml'), yaml);
    const r = spawnSync(process.execPath, [BIN, 'config', 'check', '--config', join(dir, 'c.yaml')], { env, encoding: 'utf8' });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /connections\[0\]\.auth\.password: environment variable JOURNAL_PASSWORD is not set/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
