/**
 * The `api` section: defaults (on, loopback), strict checks of `listen` and `publicUrl` with
 * sentences that name the fix, and `config check` printing them like any other problem.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkConfigText } from '../../src/config/loader.js';
import { BIN } from '../harness/cli.js';

function problems(api: string): string[] {
  return checkConfigText(`api: ${api}\n`).problems.map((p) => `${p.path}: ${p.message}`);
}

test('without an api section the API is on, on loopback port 8025, with a derived public URL and a 7-day TTL', () => {
  const { config, problems: p } = checkConfigText('connections: []\n');
  assert.deepEqual(p, []);
  assert.deepEqual(config!.api, { enabled: true, listen: { host: '127.0.0.1', port: 8025 }, publicUrl: 'http://127.0.0.1:8025', referenceTtlSeconds: 604800, metricsOpen: false, insecure: false });
  assert.ok(Object.isFrozen(config!.api.listen));
});

test('listen and publicUrl are parsed; IPv6 in brackets; a trailing slash of publicUrl is dropped', () => {
  const a = checkConfigText('api: { listen: "[::1]:9000", referenceTtlSeconds: 3600 }\n').config!.api;
  assert.deepEqual(a.listen, { host: '::1', port: 9000 });
  assert.equal(a.publicUrl, 'http://[::1]:9000');
  assert.equal(a.referenceTtlSeconds, 3600);
  const b = checkConfigText('api: { listen: "0.0.0.0:8025", insecure: true, publicUrl: "https://mail.example.com/sluice/" }\n').config!.api;
  assert.deepEqual(b.listen, { host: '0.0.0.0', port: 8025 });
  assert.equal(b.publicUrl, 'https://mail.example.com/sluice');
  assert.equal(checkConfigText('api: { listen: "localhost:8025" }\n').config!.api.publicUrl, 'http://localhost:8025');
  assert.equal(checkConfigText('api: { enabled: false }\n').config!.api.enabled, false);
});

test('bad addresses are problems that say what to write', () => {
  assert.deepEqual(problems('{ listen: "http://127.0.0.1:8025" }'), ['api.listen: must be host:port without a protocol prefix (write 127.0.0.1:8025, not http://127.0.0.1:8025)']);
  assert.deepEqual(problems('{ listen: "127.0.0.1" }'), ['api.listen: must be host:port, e.g. 127.0.0.1:8025']);
  assert.deepEqual(problems('{ listen: "127.0.0.1:0" }'), ['api.listen: port must be a whole number from 1 to 65535, not "0"']);
  assert.deepEqual(problems('{ listen: "127.0.0.1:70000" }'), ['api.listen: port must be a whole number from 1 to 65535, not "70000"']);
  assert.deepEqual(problems('{ listen: "127.0.0.1:80a" }'), ['api.listen: port must be a whole number from 1 to 65535, not "80a"']);
  assert.deepEqual(problems('{ listen: "::1:8025" }'), ['api.listen: an IPv6 address goes in brackets: [::1]:8025']);
  assert.deepEqual(problems('{ listen: ":8025" }'), ['api.listen: names no host: write host:port, e.g. 127.0.0.1:8025']);
  assert.deepEqual(problems('{ listen: "300.1.1.1:8025" }'), ['api.listen: "300.1.1.1" is not a host name or IP address']);
  assert.deepEqual(problems('{ listen: "my host:8025" }'), ['api.listen: "my host" is not a host name or IP address']);
  assert.deepEqual(problems('{ listen: 8025 }'), ['api.listen: must be string, got number 8025']);
  assert.deepEqual(problems('{ publicUrl: "ftp://files.example.com" }'), ['api.publicUrl: must be an http:// or https:// URL, not ftp:']);
  assert.deepEqual(problems('{ publicUrl: "mail.example.com" }'), ['api.publicUrl: must be an http(s) URL such as https://mailsluice.example.com, not "mail.example.com"']);
  assert.deepEqual(problems('{ publicUrl: "https://u:p@mail.example.com" }'), ['api.publicUrl: must not carry a user name or password: receivers are given these URLs']);
  assert.deepEqual(problems('{ publicUrl: "https://mail.example.com/?x=1" }'), ['api.publicUrl: must not have a query (?…) or fragment (#…): the signed URLs are built by appending a path to it']);
  assert.deepEqual(problems('{ referenceTtlSeconds: 10 }'), ['api.referenceTtlSeconds: must be at least 60 (seconds)']);
  assert.deepEqual(problems('{ referenceTtlSeconds: "600" }'), ['api.referenceTtlSeconds: must be number, got the string "600"']);
  assert.deepEqual(problems('{ port: 8025 }'), ['api.port: unknown key "port" in api (allowed: enabled, listen, tls, insecure, publicUrl, referenceTtlSeconds, metricsOpen)']);
});

test('a wildcard listen address needs publicUrl (unless the API is off)', () => {
  assert.deepEqual(problems('{ listen: "0.0.0.0:8025", insecure: true }'), [
    'api.publicUrl: is required when api.listen (0.0.0.0:8025) listens on every interface: give the URL receivers reach the API by, e.g. http://mailsluice.example.com:8025',
  ]);
  assert.equal(problems('{ listen: "[::]:8025", insecure: true }').length, 1);
  assert.deepEqual(problems('{ listen: "0.0.0.0:8025", enabled: false }'), []);
});

const PEM_CERT = '"-----BEGIN CERTIFICATE-----\\nAAAA\\n-----END CERTIFICATE-----\\n"';
const PEM_KEY = '"-----BEGIN PRIVATE KEY-----\\nAAAA\\n-----END PRIVATE KEY-----\\n"';

test('listening beyond loopback needs api.tls or api.insecure: true, and the problem names api.listen', () => {
  const refusal = /^api\.listen: 192\.0\.2\.10:8025 is reachable beyond this machine, where API tokens and session cookies would cross the network in clear: give api\.tls \{ cert, key \} to serve HTTPS, or set api\.insecure: true/;
  const p = problems('{ listen: "192.0.2.10:8025" }');
  assert.equal(p.length, 1, p.join('\n'));
  assert.match(p[0]!, refusal);
  assert.match(problems('{ listen: "0.0.0.0:8025", publicUrl: "https://x.example" }')[0]!, /^api\.listen: 0\.0\.0\.0:8025 is reachable beyond this machine/);
  assert.match(problems('{ listen: "mail.example.com:8025" }')[0]!, /^api\.listen: mail\.example\.com:8025 is reachable/, 'a host name may resolve anywhere');
  for (const loopback of ['127.0.0.1:8025', '127.1.2.3:8025', 'localhost:8025', '[::1]:8025', '[::ffff:127.0.0.1]:8025']) {
    assert.deepEqual(problems(`{ listen: "${loopback}" }`), [], loopback);
  }
  assert.deepEqual(problems('{ listen: "192.0.2.10:8025", insecure: true }'), []);
  assert.deepEqual(problems('{ listen: "192.0.2.10:8025", enabled: false }'), [], 'an API that is off listens nowhere');
  assert.deepEqual(problems(`{ listen: "192.0.2.10:8025", tls: { cert: ${PEM_CERT}, key: ${PEM_KEY} } }`), []);
});

test('api.tls: PEM text, { file } or { env }; HTTPS derives an https public URL; a bare path is refused naming the key', () => {
  const a = checkConfigText(`api: { listen: "127.0.0.1:9443", tls: { cert: ${PEM_CERT}, key: { env: API_KEY_PEM } } }\n`, { env: { API_KEY_PEM: '-----BEGIN PRIVATE KEY-----\nBBBB\n-----END PRIVATE KEY-----\n' } });
  assert.deepEqual(a.problems, []);
  assert.equal(a.config!.api.publicUrl, 'https://127.0.0.1:9443');
  assert.match(a.config!.api.tls!.cert, /BEGIN CERTIFICATE/);
  assert.match(a.config!.api.tls!.key, /BBBB/);
  assert.deepEqual(problems('{ tls: { cert: /etc/ssl/api.pem, key: /etc/ssl/api.key } }'), [
    'api.tls.cert: is neither PEM text (-----BEGIN …-----) nor { file } / { env }: to read it from a file write cert: { file: /etc/ssl/api.pem }',
    'api.tls.key: is neither PEM text (-----BEGIN …-----) nor { file } / { env }: to read it from a file write key: { file: /etc/ssl/api.key }',
  ]);
  assert.deepEqual(problems('{ tls: { cert: { file: /nonexistent/api.pem }, key: { env: NOPE_NOT_SET } } }').map((l) => l.split(':')[0]), ['api.tls.cert', 'api.tls.key']);
  assert.match(problems(`{ tls: { cert: ${PEM_CERT} } }`).join('\n'), /^api\.tls\.key: must be a string, \{ env: NAME \} or \{ file: PATH \}/);
});

test('config check refuses a non-loopback listen without TLS, naming api.listen', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ms-cfg-api-'));
  try {
    writeFileSync(join(dir, 'c.yaml'), 'api:\n  listen: "0.0.0.0:8025"\n  publicUrl: "http://mail.example.com:8025"\n');
    const r = spawnSync(process.execPath, [BIN, 'config', 'check', '--config', join(dir, 'c.yaml')], { encoding: 'utf8' });
    assert.equal(r.status, 1, r.stdout);
    assert.match(r.stderr, /^api\.listen: 0\.0\.0\.0:8025 is reachable beyond this machine.*api\.insecure: true/m);
    writeFileSync(join(dir, 'c.yaml'), 'api:\n  listen: "0.0.0.0:8025"\n  insecure: true\n  publicUrl: "http://mail.example.com:8025"\n');
    const ok = spawnSync(process.execPath, [BIN, 'config', 'check', '--config', join(dir, 'c.yaml')], { encoding: 'utf8' });
    assert.equal(ok.status, 0, ok.stderr);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('config check prints the api problems with the others', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ms-cfg-api-'));
  try {
    writeFileSync(join(dir, 'c.yaml'), 'buses: 0\napi:\n  listen: "localhost"\n  publicUrl: "ftp://x"\n');
    const r = spawnSync(process.execPath, [BIN, 'config', 'check', '--config', join(dir, 'c.yaml')], { encoding: 'utf8' });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /3 problems/);
    assert.match(r.stderr, /^buses: /m);
    assert.match(r.stderr, /^api\.listen: must be host:port, e\.g\. 127\.0\.0\.1:8025$/m);
    assert.match(r.stderr, /^api\.publicUrl: must be an http:\/\/ or https:\/\/ URL, not ftp:$/m);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
