/**
 * The OAuth2 token source (`adapters/oauth2-http`) against the harness's token server on
 * loopback: the form it posts for each grant, the cache until shortly before `expires_in`, one
 * request for concurrent callers, invalidation and the one retry of `loginWithToken`, the
 * endpoint's refusals and failures as catalogue codes whose sentences carry the OAuth error but
 * never the secret or a token. And `config check`'s OAuth2 rules.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { once } from 'node:events';
import { OAuth2TokenSource, FixedAccessToken } from '../../src/adapters/token-oauth2/index.js';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loginWithToken } from '../../src/core/ports/access-token-source.js';
import { MailsluiceError } from '../../src/core/errors/index.js';
import { oauthProblems, tokenUrlProblem } from '../../src/config/oauth-checks.js';
import { startTokenServer, OAUTH_CLIENT_ID, OAUTH_CLIENT_SECRET, type TokenServer } from '../harness/oauth2-token-server.js';

let ts: TokenServer;
before(async () => {
  ts = await startTokenServer();
});
after(async () => {
  await ts?.close();
});

const source = (extra: Partial<ConstructorParameters<typeof OAuth2TokenSource>[0]> = {}): OAuth2TokenSource =>
  new OAuth2TokenSource({ tokenUrl: ts.tokenUrl, clientId: OAUTH_CLIENT_ID, clientSecret: OAUTH_CLIENT_SECRET, scope: 'https://outlook.office365.com/.default', ...extra });

function reset(): void {
  ts.tokenRequests.length = 0;
  ts.forced.length = 0;
  ts.ttlS = 30;
  ts.delayMs = 0;
}

test('client credentials: the RFC 6749 §4.4 form, and the token held until shortly before it expires', async () => {
  reset();
  let now = 1_000_000;
  const s = source({ now: () => now });
  const t1 = await s.token();
  assert.equal(ts.tokenRequests.length, 1);
  assert.deepEqual(ts.tokenRequests[0], { grant_type: 'client_credentials', client_id: OAUTH_CLIENT_ID, client_secret: OAUTH_CLIENT_SECRET, scope: 'https://outlook.office365.com/.default' });
  assert.equal(t1, ts.issued.at(-1));
  // 30 s token: renewed 20 % (6 s) early, so at +23 s the same one, at +24.1 s a new one.
  now += 23_000;
  assert.equal(await s.token(), t1);
  assert.equal(ts.tokenRequests.length, 1);
  now += 1_100;
  const t2 = await s.token();
  assert.notEqual(t2, t1);
  assert.equal(ts.tokenRequests.length, 2);
  assert.match(s.describe(), /token endpoint 127\.0\.0\.1:\d+ \(client credentials grant, client "mailclient"\), issued for 30 s/);
  assert.ok(!s.describe().includes(t2) && !s.describe().includes(OAUTH_CLIENT_SECRET));
});

test('an hour-long token is renewed one minute early, not 20 % early', async () => {
  reset();
  ts.ttlS = 3600;
  let now = 0;
  const s = source({ now: () => now });
  const t1 = await s.token();
  now = 3_538_000;
  assert.equal(await s.token(), t1);
  now = 3_541_000;
  assert.notEqual(await s.token(), t1);
});

test('concurrent callers share one request', async () => {
  reset();
  ts.delayMs = 150;
  const s = source();
  const got = await Promise.all(Array.from({ length: 8 }, () => s.token()));
  assert.equal(ts.tokenRequests.length, 1);
  assert.equal(new Set(got).size, 1);
});

test('invalidate drops the token; loginWithToken retries once with a new one, then gives up', async () => {
  reset();
  const s = source();
  const seen: string[] = [];
  const refused = new Error('NO [AUTHENTICATIONFAILED]');
  await assert.rejects(
    loginWithToken(s, async (t) => {
      seen.push(t);
      throw refused;
    }, (e) => e === refused),
    (e) => e === refused,
  );
  assert.equal(seen.length, 2, 'one retry, no more');
  assert.notEqual(seen[0], seen[1]);
  assert.equal(ts.tokenRequests.length, 2);
  // A refusal of a fixed token is not retried: there is no other token to try.
  const fixed = new FixedAccessToken('fixed-token');
  let tries = 0;
  await assert.rejects(loginWithToken(fixed, async () => {
    tries++;
    throw refused;
  }, () => true));
  assert.equal(tries, 1);
  // Another error than a refusal is not retried either.
  let other = 0;
  await assert.rejects(loginWithToken(s, async () => {
    other++;
    throw new Error('network');
  }, (e) => e === refused));
  assert.equal(other, 1);
});

test('refresh token grant: the §6 form, and a rotated refresh token used next', async () => {
  reset();
  ts.rotateRefreshTokens = true;
  const rt = ts.newRefreshToken();
  let now = 0;
  const s = source({ clientSecret: undefined, refreshToken: rt, now: () => now });
  await s.token();
  assert.deepEqual(ts.tokenRequests[0], { grant_type: 'refresh_token', client_id: OAUTH_CLIENT_ID, refresh_token: rt, scope: 'https://outlook.office365.com/.default' });
  now += 60_000;
  await s.token();
  assert.equal(ts.tokenRequests.length, 2);
  assert.notEqual(ts.tokenRequests[1]!.refresh_token, rt, 'the rotated refresh token is used');
  ts.rotateRefreshTokens = false;
});

async function failure(s: OAuth2TokenSource): Promise<MailsluiceError> {
  try {
    await s.token();
  } catch (err) {
    assert.ok(err instanceof MailsluiceError, String(err));
    return err;
  }
  assert.fail('expected a failure');
}

test('the endpoint refusing: SOURCE_AUTH_REJECTED with the OAuth error in the sentence, never the secret', async () => {
  reset();
  const e = await failure(source({ clientSecret: 'wrong-secret-value' }));
  assert.equal(e.code, 'SOURCE_AUTH_REJECTED');
  assert.match(e.message, /^the token endpoint 127\.0\.0\.1:\d+ \(client credentials grant, client "mailclient"\) refused to issue a token \(HTTP 401, invalid_client: client authentication failed\)/);
  assert.ok(!e.message.includes('wrong-secret-value'));
  const g = await failure(source({ clientSecret: undefined, refreshToken: 'stale-refresh-token' }));
  assert.equal(g.code, 'SOURCE_AUTH_REJECTED');
  assert.match(g.message, /invalid_grant: the refresh token is not valid/);
  assert.ok(!g.message.includes('stale-refresh-token'));
});

test('the endpoint failing: 5xx is retryable SOURCE_NETWORK, a redirect is not followed, garbage is SOURCE_PROTOCOL, nothing listening is SOURCE_CONNECT_REFUSED', async () => {
  reset();
  ts.forced.push({ status: 503, body: { nothing: true } });
  const a = await failure(source());
  assert.equal(a.code, 'SOURCE_NETWORK');
  assert.equal(a.retryable, true);
  assert.match(a.message, /answered HTTP 503/);
  ts.forced.push({ status: 302, body: {} });
  const b = await failure(source());
  assert.equal(b.code, 'SOURCE_PROTOCOL');
  assert.match(b.message, /redirect, which is not followed/);
  ts.forced.push({ status: 200, body: { token_type: 'Bearer' } });
  const c = await failure(source());
  assert.equal(c.code, 'SOURCE_PROTOCOL');
  assert.match(c.message, /an answer without an access_token/);
  // A port that was free a moment ago (fetch refuses the well-known "bad ports" outright).
  const probe = createServer().listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const port = (probe.address() as { port: number }).port;
  await new Promise((r) => probe.close(r));
  const d = await failure(new OAuth2TokenSource({ tokenUrl: `http://127.0.0.1:${port}/token`, clientId: 'x', clientSecret: 'y' }));
  assert.equal(d.code, 'SOURCE_CONNECT_REFUSED');
  assert.match(d.message, new RegExp(`^the token endpoint 127\\.0\\.0\\.1:${port} refused the connection`));
});

test('config check: incomplete or contradictory OAuth2 settings are refused with a sentence', () => {
  const base = { type: 'xoauth2', username: 'journal@example.com' };
  const msgs = (a: Record<string, unknown>): string[] => oauthProblems({ ...base, ...a } as Parameters<typeof oauthProblems>[0]).map((p) => `${p.key}: ${p.message}`);
  assert.deepEqual(msgs({ tokenUrl: 'https://login.example.com/t', clientId: 'c', clientSecret: 's' }), []);
  assert.deepEqual(msgs({ accessToken: 't' }), []);
  assert.deepEqual(msgs({ type: 'oauthbearer', tokenUrl: 'http://127.0.0.1:9/t', clientId: 'c', refreshToken: 'r' }), []);
  assert.match(msgs({})[0]!, /^: xoauth2 needs either tokenUrl with clientId and clientSecret \(or refreshToken\).*or accessToken/);
  assert.match(msgs({ tokenUrl: 'https://login.example.com/t', clientSecret: 's' })[0]!, /^clientId: is required with tokenUrl/);
  assert.match(msgs({ tokenUrl: 'https://login.example.com/t', clientId: 'c', clientSecret: 's', clientCertificate: 'pem' })[0]!, /^clientCertificate: give clientSecret or clientCertificate, not both/);
  assert.match(msgs({ tokenUrl: 'https://login.example.com/t', clientId: 'c', clientCertificate: 'pem' })[0]!, /^clientCertificate: must be PEM holding the certificate and its unencrypted RSA private key/);
  assert.deepEqual(msgs({ tokenUrl: 'https://login.example.com/t', clientId: 'c', clientCertificate: { file: '/etc/mailsluice/app.pem' } }), []);
  assert.match(msgs({ tokenUrl: 'https://login.example.com/t', clientId: 'c' })[0]!, /^: tokenUrl needs clientSecret .* or refreshToken/);
  assert.match(msgs({ accessToken: 't', tokenUrl: 'https://login.example.com/t', clientId: 'c', clientSecret: 's' })[0]!, /^accessToken: give accessToken .* or tokenUrl .*not both/);
  assert.match(msgs({ accessToken: 't', clientId: 'c' })[0]!, /^clientId: only applies with tokenUrl/);
  assert.match(msgs({ username: undefined, accessToken: 't' })[0]!, /needs username/);
  assert.match(msgs({ type: 'basic', password: 'p', clientSecret: 's' })[0]!, /^clientSecret: only applies with auth type xoauth2 or oauthbearer \(this connection uses basic\)/);
  assert.equal(tokenUrlProblem('https://login.microsoftonline.com/x/oauth2/v2.0/token'), undefined);
  assert.equal(tokenUrlProblem('http://localhost:8080/token'), undefined);
  assert.equal(tokenUrlProblem('http://[::1]:8080/token'), undefined);
  assert.match(tokenUrlProblem('http://login.example.com/token')!, /is http on login\.example\.com, beyond this machine.*use https/);
  assert.match(tokenUrlProblem('not a url')!, /is not a URL/);
  assert.match(tokenUrlProblem('ftp://x/y')!, /must be an https URL \(it is ftp\)/);
});

/** A self-signed certificate and its key as one PEM (`-newkey rsa:2048` or `ec`). */
function certificatePem(kind: 'rsa' | 'ec'): string {
  const dir = mkdtempSync(join(tmpdir(), 'oauth2-cert-'));
  try {
    const key = kind === 'rsa' ? ['-newkey', 'rsa:2048'] : ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1'];
    execFileSync('openssl', ['req', '-x509', ...key, '-nodes', '-keyout', join(dir, 'k.pem'), '-out', join(dir, 'c.pem'), '-days', '2', '-subj', '/CN=mailsluice-oauth-client'], { stdio: 'ignore' });
    return readFileSync(join(dir, 'c.pem'), 'utf8') + readFileSync(join(dir, 'k.pem'), 'utf8');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('a client certificate: an RS256 client assertion (x5t#S256, aud, iss, sub, jti, exp) instead of the secret', async () => {
  reset();
  const pem = certificatePem('rsa');
  ts.clientCertificatePem = pem;
  try {
    const s = source({ clientSecret: undefined, clientCertificatePem: pem });
    const t = await s.token();
    assert.equal(t, ts.issued.at(-1));
    const form = ts.tokenRequests.at(-1)!;
    assert.equal(form.client_assertion_type, 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer');
    assert.equal(form.client_secret, undefined, 'no secret is sent');
    assert.ok(!form.client_assertion!.includes('PRIVATE'), 'the key is not sent');
    const a = ts.assertions.at(-1)!;
    assert.equal(a.refused, '', 'the token server verified the signature and the claims');
    assert.equal(a.header.alg, 'RS256');
    assert.equal(a.header.typ, 'JWT');
    assert.deepEqual([a.claims.aud, a.claims.iss, a.claims.sub], [ts.tokenUrl, OAUTH_CLIENT_ID, OAUTH_CLIENT_ID]);
    assert.equal(Number(a.claims.exp) - Number(a.claims.nbf), 600);
    assert.match(s.describe(), /client "mailclient", a certificate credential\)/);
    // Another certificate than the one registered: refused by the endpoint, with its reason.
    const other = await failure(source({ clientSecret: undefined, clientCertificatePem: certificatePem('rsa') }));
    assert.equal(other.code, 'SOURCE_AUTH_REJECTED');
    assert.match(other.message, /invalid_client: client assertion refused: x5t#S256 names another certificate/);
  } finally {
    ts.clientCertificatePem = undefined;
  }
});

test('a client certificate that cannot sign RS256 is CONFIG_INVALID, without a request', async () => {
  reset();
  const ec = await failure(source({ clientSecret: undefined, clientCertificatePem: certificatePem('ec') }));
  assert.equal(ec.code, 'CONFIG_INVALID');
  assert.match(ec.message, /^auth\.clientCertificate holds a ec key; the assertion is signed RS256, which needs an RSA key/);
  const pem = certificatePem('rsa');
  const noKey = await failure(source({ clientSecret: undefined, clientCertificatePem: pem.slice(0, pem.indexOf('-----BEGIN PRIVATE KEY-----')) }));
  assert.equal(noKey.code, 'CONFIG_INVALID');
  assert.match(noKey.message, /lacks a PRIVATE KEY block/);
  assert.ok(!noKey.message.includes('BEGIN CERTIFICATE'));
  assert.equal(ts.tokenRequests.length, 0);
});
