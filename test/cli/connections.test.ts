/**
 * `mailsluice connections list|status` (issue 14, item 9) with no service running: the
 * configured connections as the API shows them (never a secret), and what the archive holds of
 * each in the shape of the API's status; `--json` prints one object per line.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { makeWorkspace, runCli } from '../harness/cli.js';
import { createSqliteStore } from '../../src/adapters/store-sqlite/index.js';

const lines = (s: string): string[] => s.split('\n').filter((l) => l !== '');

test('connections list --json: one object per connection, the API shape, no secret; status --json: what the archive holds', async () => {
  const ws = makeWorkspace({
    connections: [
      { name: 'journal', protocol: 'imap', host: '127.0.0.1', port: 1, auth: { type: 'basic', username: 'u', password: 'pa55word-secret' } },
      { name: 'legacy', protocol: 'pop3', enabled: false, host: 'pop.example.org', port: 2, security: 'none', auth: { type: 'basic', username: 'v', password: { env: 'UNSET_SECRET' } } },
    ],
  });
  try {
    const list = await runCli(['connections', 'list', '--json'], ws);
    assert.equal(list.code, 0, list.stderr);
    assert.ok(!list.stdout.includes('pa55word'), 'no password');
    const rows = lines(list.stdout).map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual(rows.map((r) => Object.keys(r).sort()), [0, 1].map(() => ['auth', 'enabled', 'folders', 'host', 'name', 'port', 'protocol', 'security', 'testRecipients', 'testRelay']));
    assert.deepEqual(rows[0], { name: 'journal', enabled: true, protocol: 'imap', host: '127.0.0.1', port: 1, security: 'starttls-if-available', folders: ['INBOX'], auth: { type: 'basic', username: 'u', credentialSet: true }, testRecipients: [], testRelay: null });
    assert.deepEqual([rows[1]!.name, rows[1]!.enabled, rows[1]!.protocol], ['legacy', false, 'pop3']);
    const human = await runCli(['connections', 'list'], ws);
    assert.match(human.stdout, /^journal +enabled +imap 127\.0\.0\.1:1/m);
    assert.match(human.stdout, /^2 connections$/m);

    // No archive yet: status says so, as every reading command does.
    const before = await runCli(['connections', 'status'], ws);
    assert.notEqual(before.code, 0);
    const store = createSqliteStore({ file: join(ws.dataDir, 'archive.db') });
    await store.close();
    const status = await runCli(['connections', 'status', '--json'], ws);
    assert.equal(status.code, 0, status.stderr);
    assert.deepEqual(lines(status.stdout).map((l) => JSON.parse(l) as unknown), [
      { name: 'journal', enabled: true, state: null, taken: 0, bytes: 0, pendingActions: 0, folders: [] },
      { name: 'legacy', enabled: false, state: null, taken: 0, bytes: 0, pendingActions: 0, folders: [] },
    ]);
    const one = await runCli(['connections', 'status', 'legacy', '--json'], ws);
    assert.deepEqual(lines(one.stdout).map((l) => (JSON.parse(l) as { name: string }).name), ['legacy']);
    const unknown = await runCli(['connections', 'status', 'nope'], ws);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /^mailsluice: CONNECTION_UNKNOWN: no connection named "nope"/m);
    const wrong = await runCli(['connections', 'start'], ws);
    assert.equal(wrong.code, 2);
    assert.match(wrong.stderr, /"connections list", "connections status"/);
  } finally {
    ws.cleanup();
  }
});

test('connections list shows an EWS connection by its URL and Exchange version (HTTPS, the URL\'s host and port), not host:port and a security it does not use', async () => {
  const ws = makeWorkspace({
    connections: [
      { name: 'exchange', protocol: 'ews', ews: { url: 'mail.example.com:8443/EWS/Exchange.asmx', version: '2010SP2' }, auth: { type: 'ntlm', username: 'CORP\\journal', password: 'pa55word-secret' } },
      { name: 'exchange2', protocol: 'ews', ews: { url: '[2001:db8::1]/EWS/Exchange.asmx' }, auth: { type: 'basic', username: 'u', password: 'p' } },
    ],
  });
  try {
    const list = await runCli(['connections', 'list', '--json'], ws);
    assert.equal(list.code, 0, list.stderr);
    const rows = lines(list.stdout).map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual(
      rows.map((r) => [r.host, r.port, r.security, r.ews]),
      [
        ['mail.example.com', 8443, 'tls', { url: 'mail.example.com:8443/EWS/Exchange.asmx', version: '2010SP2' }],
        ['2001:db8::1', 443, 'tls', { url: '[2001:db8::1]/EWS/Exchange.asmx', version: '2016' }],
      ],
    );
    const human = await runCli(['connections', 'list'], ws);
    assert.match(human.stdout, /^exchange +enabled +ews https:\/\/mail\.example\.com:8443\/EWS\/Exchange\.asmx Exchange 2010SP2 +INBOX +auth ntlm as CORP\\journal$/m);
    assert.doesNotMatch(human.stdout, /starttls|:80 /);
    assert.ok(!list.stdout.includes('pa55word') && !human.stdout.includes('pa55word'), 'no password');
  } finally {
    ws.cleanup();
  }
});
