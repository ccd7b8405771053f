/**
 * TLS client certificates against a Dovecot that requires one (`ssl_verify_client_cert` +
 * `auth_ssl_require_client_cert`), over IMAP and POP3 alike.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { dovecotPerFile } from '../harness/dovecot-per-file.js';
import { makeWorkspace, runCli, imapConnection, pop3Connection } from '../harness/cli.js';
import { makeMessage } from '../harness/messages.js';

const dovecot = dovecotPerFile({ requireClientCert: true, extraConfig: 'auth_failure_delay = 0' });

const variants = [
  ['imap', imapConnection],
  ['pop3', pop3Connection],
] as const;
for (const [protocol, connection] of variants) for (const security of ['tls', 'starttls'] as const) {
  test(`${protocol} ${security}: without a client certificate the login fails and nothing is deleted; with clientCert/clientKey it drains`, async () => {
    const user = await dovecot.createUser();
    await dovecot.deliverMany(user.username, [makeMessage(1), makeMessage(2)]);
    const ws = makeWorkspace({ connections: [connection(dovecot, user, { security })] });
    try {
      const without = await runCli(['drain'], ws);
      assert.notEqual(without.code, 0, 'a client certificate is required');
      const lines = without.stderr.split('\n').filter((l) => l.startsWith('mailsluice: '));
      assert.equal(lines.length, 1, without.stderr);
      assert.match(lines[0]!, /^mailsluice: SOURCE_(AUTH_REJECTED|TLS_FAILED|AUTH_UNSUPPORTED): /);
      assert.equal(await dovecot.messageCount(user.username), 2);

      ws.writeConfig({
        connections: [
          connection(dovecot, user, {
            security,
            tls: { verify: true, ca: { file: dovecot.caCertPath }, clientCert: { file: dovecot.clientCertPath }, clientKey: { file: dovecot.clientKeyPath } },
          }),
        ],
      });
      const withCert = await runCli(['drain', '--json'], ws);
      assert.equal(withCert.code, 0, withCert.stderr);
      assert.equal((JSON.parse(withCert.stdout.trim()) as { taken: number }).taken, 2);
      assert.equal(await dovecot.messageCount(user.username), 0);
    } finally {
      ws.cleanup();
    }
  });
}

for (const [protocol, connection] of variants) {
  test(`${protocol} tls: a client certificate as a PKCS#12 bundle (tls.pfx from the .pfx file openssl wrote, with its passphrase) drains`, async () => {
    const user = await dovecot.createUser();
    await dovecot.deliverMany(user.username, [makeMessage(1), makeMessage(2)]);
    const ws = makeWorkspace();
    try {
      const pfx = join(ws.dir, 'client.pfx');
      execFileSync('openssl', ['pkcs12', '-export', '-in', dovecot.clientCertPath, '-inkey', dovecot.clientKeyPath, '-out', pfx, '-passout', 'pass:s3cret']);
      ws.writeConfig({
        connections: [connection(dovecot, user, { security: 'tls', tls: { verify: true, ca: { file: dovecot.caCertPath }, pfx: { file: pfx }, passphrase: 's3cret' } })],
      });
      const r = await runCli(['drain', '--json'], ws);
      assert.equal(r.code, 0, r.stderr);
      assert.equal((JSON.parse(r.stdout.trim()) as { taken: number }).taken, 2);
      assert.equal(await dovecot.messageCount(user.username), 0);
    } finally {
      ws.cleanup();
    }
  });
}
