/**
 * IMAP settings, part 2: security against a Dovecot that offers no TLS at all. `starttls`
 * (required) must refuse to go on in clear; `starttls-if-available` must go on unencrypted.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startDovecot, type DovecotInstance } from '../harness/dovecot.js';
import { makeWorkspace, runCli, imapConnection } from '../harness/cli.js';
import { makeMessage } from '../harness/messages.js';
import { startImapProxy, commandOf, type ImapProxy } from '../harness/imap-proxy.js';

let dovecot: DovecotInstance;
let proxy: ImapProxy;
before(async () => {
  dovecot = await startDovecot({ noTls: true });
  proxy = await startImapProxy({ targetPort: dovecot.imapPort });
});
after(async () => {
  await proxy?.close();
  await dovecot?.stop();
});

test('starttls (required) against a server without STARTTLS: SOURCE_STARTTLS_UNAVAILABLE, nothing sent in clear, nothing deleted', async () => {
  const user = await dovecot.createUser();
  await dovecot.deliverMany(user.username, [makeMessage(1), makeMessage(2)]);
  const before = proxy.connections.length;
  const ws = makeWorkspace({ connections: [imapConnection({ host: proxy.host, imapPort: proxy.port, imapsPort: 993, caCertPath: dovecot.caCertPath }, user, { security: 'starttls' })] });
  try {
    const r = await runCli(['drain'], ws);
    assert.notEqual(r.code, 0);
    const lines = r.stderr.split('\n').filter((l) => l.startsWith('mailsluice: '));
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0]!, /^mailsluice: SOURCE_STARTTLS_UNAVAILABLE: .*STARTTLS/);
    assert.equal(await dovecot.messageCount(user.username), 2);
    const mine = proxy.connections.slice(before);
    assert.ok(mine.length >= 1);
    for (const c of mine) assert.ok(!c.clientLines.some((l) => /^(LOGIN|AUTHENTICATE)\b/i.test(commandOf(l))), `no credentials in clear: ${c.clientLines.join(' | ')}`);
    // Not retryable: one attempt, not five.
    assert.equal(mine.length, 1, 'a missing STARTTLS is not retried');
  } finally {
    ws.cleanup();
  }
});

test('starttls-if-available against a server without STARTTLS: drains unencrypted', async () => {
  const user = await dovecot.createUser();
  await dovecot.deliverMany(user.username, [makeMessage(1), makeMessage(2), makeMessage(3)]);
  const before = proxy.connections.length;
  const ws = makeWorkspace({ connections: [imapConnection({ host: proxy.host, imapPort: proxy.port, imapsPort: 993, caCertPath: dovecot.caCertPath }, user, { security: 'starttls-if-available' })] });
  try {
    const r = await runCli(['drain', '--json'], ws);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout.trim()) as { taken: number }).taken, 3);
    assert.equal(await dovecot.messageCount(user.username), 0);
    for (const c of proxy.connections.slice(before)) {
      assert.equal(c.tls, false);
      assert.ok(!c.clientLines.some((l) => /^STARTTLS/i.test(commandOf(l))));
    }
  } finally {
    ws.cleanup();
  }
});

test('test-connection with starttls (required) fails at the tls step', async () => {
  const user = await dovecot.createUser();
  const ws = makeWorkspace({ connections: [imapConnection({ host: dovecot.host, imapPort: dovecot.imapPort, imapsPort: 993, caCertPath: dovecot.caCertPath }, user, { security: 'starttls' })] });
  try {
    const r = await runCli(['test-connection', 'journal', '--json'], ws);
    assert.notEqual(r.code, 0);
    const res = JSON.parse(r.stdout.trim()) as { ok: boolean; steps: Array<{ step: string; ok: boolean; code?: string }> };
    assert.equal(res.ok, false);
    const fail = res.steps.find((s) => !s.ok)!;
    assert.equal(fail.step, 'tls');
    assert.equal(fail.code, 'SOURCE_STARTTLS_UNAVAILABLE');
  } finally {
    ws.cleanup();
  }
});
