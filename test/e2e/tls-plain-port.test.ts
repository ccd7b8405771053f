/**
 * Implicit TLS against a plain-text port (issue 12, item 16): IMAP and POP3 with `security: tls`
 * and `tlsPort` set to the Dovecot harness's plain port. test-connection and drain say in one
 * sentence that the port does not speak TLS and suggest starttls, instead of OpenSSL's dump.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startDovecot, type DovecotInstance } from '../harness/dovecot.js';
import { makeWorkspace, runCli, imapConnection, pop3Connection } from '../harness/cli.js';

let dovecot: DovecotInstance;
before(async () => {
  dovecot = await startDovecot();
});
after(async () => {
  await dovecot?.stop();
});

for (const protocol of ['imap', 'pop3'] as const) {
  test(`${protocol}: security tls on the plain port is one sentence that suggests starttls`, async () => {
    const user = await dovecot.createUser();
    const plain = protocol === 'imap' ? dovecot.imapPort : dovecot.pop3Port;
    const d = { host: '127.0.0.1', imapPort: plain, imapsPort: plain, pop3Port: plain, pop3sPort: plain, caCertPath: dovecot.caCertPath };
    const conn = protocol === 'imap' ? imapConnection(d, user, { security: 'tls' }) : pop3Connection(d, user, { security: 'tls' });
    const ws = makeWorkspace({ connections: [conn] });
    try {
      const t = await runCli(['test-connection', 'journal'], ws);
      assert.equal(t.code, 1);
      const fail = t.stdout.split('\n').find((l) => l.startsWith('FAIL'));
      assert.ok(fail, t.stdout);
      assert.match(fail, /does not speak TLS .*security: starttls/, fail);
      assert.match(fail, /\[SOURCE_TLS_FAILED\]/);
      assert.doesNotMatch(t.stdout + t.stderr, /routines|ssl3_get_record|wrong version number/i, 'no OpenSSL dump');

      const dr = await runCli(['drain'], ws);
      assert.notEqual(dr.code, 0);
      assert.match(dr.stdout + dr.stderr, /does not speak TLS .*security: starttls/);
      assert.doesNotMatch(dr.stdout + dr.stderr, /routines|ssl3_get_record|wrong version number/i, 'no OpenSSL dump');
    } finally {
      ws.cleanup();
    }
  });
}
