/**
 * TLS settings `config check` must catch (issue 12, item 17): a PEM setting written as a bare
 * path is refused with the way to write it (it used to be handed to TLS as the certificate text),
 * and `security: tls` with `port` but no `tlsPort` says that tlsPort (993/995) is dialled.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkConfigText } from '../../src/config/loader.js';

const PEM = '"-----BEGIN CERTIFICATE-----\\nMIIB\\n-----END CERTIFICATE-----\\n"';

function conn(extra: string, protocol = 'imap'): string {
  return `connections:
  - name: j
    protocol: ${protocol}
    host: mail.example.com
    auth: { type: basic, username: u, password: p }
${extra}`;
}

test('a bare path as tls.ca, clientCert or a webhook ca is refused, naming { file }', () => {
  const r = checkConfigText(`${conn('    tls: { ca: /etc/ssl/private-ca.pem, clientCert: ./client.crt, clientKey: { file: ./client.key } }\n')}routes:
  - name: r
    connection: j
    scenario: [{ action: webhook, url: "https://127.0.0.1/x", tls: { ca: ca.pem } }]
`);
  const m = new Map(r.problems.map((p) => [p.path, p.message]));
  assert.equal(m.get('connections[0].tls.ca'), 'is neither PEM text (-----BEGIN …-----) nor { file } / { env }: to read it from a file write ca: { file: /etc/ssl/private-ca.pem }');
  assert.match(m.get('connections[0].tls.clientCert') ?? '', /write clientCert: \{ file: \.\/client\.crt \}/);
  assert.doesNotMatch(m.get('connections[0].tls.clientKey') ?? '', /neither PEM/, 'a { file } is fine (here only missing)');
  assert.match(m.get('routes[0].scenario[0].tls.ca') ?? '', /write ca: \{ file: ca\.pem \}/);
});

test('PEM text, { file } and { env } are accepted', () => {
  const r = checkConfigText(conn(`    tls: { ca: ${PEM} }\n`));
  assert.deepEqual(r.problems, []);
  const f = checkConfigText(conn('    tls: { ca: { env: CA_CERT } }\n'));
  assert.ok(!f.problems.some((p) => p.path.endsWith('tls.ca') && /neither PEM/.test(p.message)), JSON.stringify(f.problems));
});

test('security: tls with port and no tlsPort warns that tlsPort is dialled (IMAP 993, POP3 995)', () => {
  const imap = checkConfigText(conn('    security: tls\n    port: 1993\n'));
  assert.deepEqual(imap.problems, []);
  assert.match(imap.warnings.find((w) => w.path === 'connections[0].port')?.message ?? '', /not used with security: tls, which dials tlsPort \(default 993\); if 1993 is the server's TLS port, write tlsPort: 1993/);
  const pop3 = checkConfigText(conn('    security: tls\n    port: 1995\n', 'pop3'));
  assert.match(pop3.warnings.find((w) => w.path === 'connections[0].port')?.message ?? '', /default 995/);
  // With tlsPort given, or with another security, there is nothing to say.
  assert.equal(checkConfigText(conn('    security: tls\n    port: 143\n    tlsPort: 1993\n')).warnings.length, 0);
  assert.equal(checkConfigText(conn('    security: starttls\n    port: 1143\n')).warnings.length, 0);
});
