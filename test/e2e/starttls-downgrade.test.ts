/**
 * STARTTLS downgrade protection (issue 12, item 10; ADR 0016), IMAP and POP3 against the real
 * Dovecot harness. With `security: starttls-if-available`, a first drain reaches Dovecot directly
 * (it offers STARTTLS / STLS, and mailsluice remembers that in archive.db); a second goes through
 * a proxy that strips STARTTLS (STLS) from the capabilities, as a man in the middle would: the
 * credentials never cross in clear (the proxy records every plaintext client line), the drain
 * fails with SOURCE_TLS_DOWNGRADE naming the reset command, the message stays on the server, and
 * test-connection fails the same way. A connection with nothing remembered still works through
 * the stripping proxy (the seed's meaning) but test-connection warns that credentials crossed
 * unencrypted; `connection reset-tls` forgets.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startDovecot, type DovecotInstance, type TestUser } from '../harness/dovecot.js';
import { makeWorkspace, runCli, imapConnection, pop3Connection, type Workspace } from '../harness/cli.js';
import { makeMessage } from '../harness/messages.js';
import { startImapProxy, stripStarttls, commandOf, type ImapProxy } from '../harness/imap-proxy.js';

let dovecot: DovecotInstance;
const proxies: ImapProxy[] = [];
before(async () => {
  dovecot = await startDovecot();
});
after(async () => {
  for (const p of proxies) await p.close();
  await dovecot?.stop();
});

type Protocol = 'imap' | 'pop3';

function connection(protocol: Protocol, port: number, user: TestUser): Record<string, unknown> {
  const extra = { security: 'starttls-if-available' };
  return protocol === 'imap'
    ? imapConnection({ host: '127.0.0.1', imapPort: port, imapsPort: dovecot.imapsPort, caCertPath: dovecot.caCertPath }, user, extra)
    : pop3Connection({ host: '127.0.0.1', pop3Port: port, pop3sPort: dovecot.pop3sPort, caCertPath: dovecot.caCertPath }, user, extra);
}

async function strippingProxy(protocol: Protocol): Promise<ImapProxy> {
  const p = await startImapProxy({ targetPort: protocol === 'imap' ? dovecot.imapPort : dovecot.pop3Port, rewriteServerLine: stripStarttls });
  proxies.push(p);
  return p;
}

/** No plaintext client line carries the password (as is or in SASL PLAIN's base64) or a login command. */
function assertNoCredentials(proxy: ImapProxy, user: TestUser): void {
  // IMAP may send nothing at all (the greeting carries the capabilities): connected is enough.
  assert.ok(proxy.connections.length > 0, 'the proxy saw the session');
  const lines = proxy.clientLines();
  const plain = Buffer.from(`\0${user.username}\0${user.password}`).toString('base64');
  for (const l of lines) {
    assert.ok(!l.includes(user.password) && !l.includes(plain), `the password crossed in clear: ${l}`);
    assert.doesNotMatch(commandOf(l), /^(LOGIN|AUTHENTICATE)\b/i, `a login was sent in clear: ${l}`);
    assert.doesNotMatch(l, /^(USER|PASS|APOP|AUTH)\b/i, `a login was sent in clear: ${l}`);
  }
}

async function testConnectionJson(ws: Workspace): Promise<{ ok: boolean; steps: Array<{ step: string; ok: boolean; code?: string; detail: string }>; warnings?: string[] }> {
  const r = await runCli(['test-connection', 'journal', '--json'], ws);
  return JSON.parse(r.stdout.trim()) as never;
}

for (const protocol of ['imap', 'pop3'] as const) {
  describe(`${protocol}: STARTTLS stripped after the server once offered it`, () => {
    test('the second drain refuses before logging in; the password never crosses in clear; test-connection refuses too', async () => {
      const user = await dovecot.createUser();
      await dovecot.deliver(user.username, makeMessage(1));
      const direct = protocol === 'imap' ? dovecot.imapPort : dovecot.pop3Port;
      const ws = makeWorkspace({ connections: [connection(protocol, direct, user)] });
      try {
        const first = await runCli(['drain'], ws);
        assert.equal(first.code, 0, first.stderr);
        assert.equal(await dovecot.messageCount(user.username), 0);

        await dovecot.deliver(user.username, makeMessage(2));
        const proxy = await strippingProxy(protocol);
        ws.writeConfig({ connections: [connection(protocol, proxy.port, user)] });
        const second = await runCli(['drain'], ws);
        assert.notEqual(second.code, 0, 'the drain fails');
        assert.match(second.stdout + second.stderr, /SOURCE_TLS_DOWNGRADE/);
        assert.match(second.stdout + second.stderr, /mailsluice connection reset-tls journal/);
        assertNoCredentials(proxy, user);
        assert.equal(await dovecot.messageCount(user.username), 1, 'the message stays on the server');

        const t = await testConnectionJson(ws);
        assert.equal(t.ok, false);
        assert.equal(t.steps.find((s) => !s.ok)?.code, 'SOURCE_TLS_DOWNGRADE');
        assertNoCredentials(proxy, user);

        // The operator's way out: forget, and the stripped server is accepted again, with a warning.
        const reset = await runCli(['connection', 'reset-tls', 'journal'], ws);
        assert.equal(reset.code, 0, reset.stderr);
        const after = await testConnectionJson(ws);
        assert.equal(after.ok, true, JSON.stringify(after));
        assert.match((after.warnings ?? []).join('\n'), /credentials cross the network unencrypted/);
      } finally {
        ws.cleanup();
      }
    });

    test('a server never seen with TLS still works (seed meaning), and test-connection warns', async () => {
      const user = await dovecot.createUser();
      const proxy = await strippingProxy(protocol);
      const ws = makeWorkspace({ connections: [connection(protocol, proxy.port, user)] });
      try {
        const t = await runCli(['test-connection', 'journal'], ws);
        assert.equal(t.code, 0, t.stdout + t.stderr);
        assert.match(t.stdout, /WARN .*credentials cross the network unencrypted/);
        await dovecot.deliver(user.username, makeMessage(3));
        const d = await runCli(['drain', '--json'], ws);
        assert.equal(d.code, 0, d.stderr);
        assert.match(d.stderr, /credentials cross the network unencrypted/);
        // The connection's status says so too (the drain's summary carries it).
        const summary = JSON.parse(d.stdout.trim().split('\n').pop()!) as { connections: Record<string, { warning?: string }> };
        assert.match(summary.connections.journal?.warning ?? '', /credentials cross the network unencrypted/);
      } finally {
        ws.cleanup();
      }
    });
  });
}
