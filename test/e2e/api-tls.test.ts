/**
 * The API over HTTPS (issue 14, "Listening beyond loopback requires TLS settings or an explicit
 * insecure flag"; ADR 0028): `start` with `api.tls` serves HTTPS with the configured certificate
 * (a private CA's, made with openssl), its public URL and session cookie say so, a plain-HTTP
 * client is not answered, and a certificate that is no certificate stops the start naming
 * `api.tls`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { request } from 'node:https';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeCertificates } from '../harness/dovecot.js';
import { imapConnection, makeWorkspace, runCli, spawnCli } from '../harness/cli.js';
import { createToken, drainedWithApi } from '../harness/api-client.js';
import { freePort } from '../harness/free-port.js';
import { dovecotPerFile } from '../harness/dovecot-per-file.js';

const dovecot = dovecotPerFile();

/** One HTTPS request trusting only `ca`: status, headers and body. */
function httpsCall(url: string, ca: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: init.method ?? 'GET', ca, headers: init.headers ?? {} }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end(init.body);
  });
}

test('start with api.tls serves HTTPS: a client trusting the CA gets answers, the session cookie is Secure, plain HTTP gets none', async () => {
  const certDir = mkdtempSync(join(tmpdir(), 'ms-api-tls-'));
  const certs = await makeCertificates(certDir);
  const ca = readFileSync(certs.caCertPath, 'utf8');
  const user = await dovecot.createUser();
  // Drained once first: the archive (where tokens live) exists before the service starts.
  const { ws, base: plainBase } = await drainedWithApi({ connections: [imapConnection(dovecot, user)], api: { tls: { cert: { file: certs.serverCertPath }, key: { file: certs.serverKeyPath } } } });
  const port = Number(new URL(plainBase).port);
  const token = await createToken(ws, 'ops', 'viewer');
  const child = spawnCli(['start'], ws);
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  try {
    const base = `https://localhost:${port}`;
    const until = Date.now() + 30_000;
    let ready = await httpsCall(`${base}/readyz`, ca).catch(() => null);
    while (ready?.status !== 200) {
      assert.ok(Date.now() < until, `no HTTPS answer (stderr: ${stderr})`);
      await new Promise((r) => setTimeout(r, 100));
      ready = await httpsCall(`${base}/readyz`, ca).catch(() => null);
    }
    assert.match(stderr, /"api listening".*"publicUrl":"https:\/\/127\.0\.0\.1:\d+".*"tls":true/, 'the public URL is derived with https');
    const list = await httpsCall(`${base}/api/v1/connections`, ca, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(list.status, 200, list.body);
    const signIn = await httpsCall(`${base}/api/v1/session`, ca, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token }) });
    assert.equal(signIn.status, 200, signIn.body);
    assert.match(String(signIn.headers['set-cookie']), /; HttpOnly; SameSite=Strict; Path=\/; Secure$/, 'over TLS the cookie is Secure');
    await assert.rejects(httpsCall(`${base}/healthz`, ''), 'a client that does not trust the CA refuses the server');
    const plain = await fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.status).catch(() => 'refused');
    assert.notEqual(plain, 200, 'plain HTTP is not served');
  } finally {
    if (child.exitCode === null) {
      child.kill('SIGTERM');
      await once(child, 'exit');
    }
    ws.cleanup();
    rmSync(certDir, { recursive: true, force: true });
  }
});

test('start with api.tls that holds no certificate stops with API_LISTEN_FAILED naming api.tls', async () => {
  const port = await freePort();
  const ws = makeWorkspace({ connections: [], api: { listen: `127.0.0.1:${port}`, tls: { cert: '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n', key: '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n' } } });
  try {
    const r = await runCli(['start'], ws);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /API_LISTEN_FAILED/);
    assert.match(r.stderr, /api\.tls\.cert and api\.tls\.key are not a usable certificate and key/);
  } finally {
    ws.cleanup();
  }
});
